//! One active saga's state, and the step-event rules it enforces.
//!
//! Fixed size (no allocation per saga beyond its map slot): steps are bits of `u64` masks, so
//! a saga type has at most [`MAX_STEPS`] steps.

use super::outcome::{SagaRejectReason, SagaStepState};

/// Most steps a saga type may declare (one bit each in the step masks).
pub(super) const MAX_STEPS: usize = 64;

/// A step event, as the state machine sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StepEvent {
    Started,
    Completed,
    Failed,
    Compensating,
    Compensated,
}

/// What an accepted step event asks the tracker to record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Effect {
    /// Nothing beyond progress.
    None,
    /// The step completed after this many nanoseconds.
    StepDuration(u64),
    /// The step failed.
    StepFailed,
    /// A compensation of the step started.
    CompensationStarted,
}

/// Which step is running, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Running {
    Nothing,
    Forward(u8),
    Compensation(u8),
}

/// An active saga.
#[derive(Clone, Copy, Debug)]
pub(super) struct Saga {
    /// Start order within its shard (to tell a live entry of the eviction queue from a stale one).
    pub(super) seq: u64,
    /// Clock nanoseconds at `start`.
    pub(super) started: u64,
    /// Clock nanoseconds of the last accepted event.
    pub(super) last_progress: u64,
    /// Clock nanoseconds at which the running step (or compensation) started.
    step_started: u64,
    started_steps: u64,
    done_steps: u64,
    failed_steps: u64,
    compensating_steps: u64,
    compensated_steps: u64,
    /// One past the highest step index started (0: none).
    highest: u8,
    /// The step most recently touched, and where it stands.
    current: Option<(u8, SagaStepState)>,
    running: Running,
    /// Compensation began: no forward step may start any more.
    compensating: bool,
    /// Marked by a sweep (no progress for longer than the threshold); cleared by progress.
    pub(super) stuck: bool,
}

impl Saga {
    pub(super) fn new(seq: u64, now: u64) -> Self {
        Self {
            seq,
            started: now,
            last_progress: now,
            step_started: now,
            started_steps: 0,
            done_steps: 0,
            failed_steps: 0,
            compensating_steps: 0,
            compensated_steps: 0,
            highest: 0,
            current: None,
            running: Running::Nothing,
            compensating: false,
            stuck: false,
        }
    }

    /// The step most recently touched (index) and its state.
    pub(super) fn current(&self) -> Option<(u8, SagaStepState)> {
        self.current
    }

    /// Applies a step event for step `step` (an index below [`MAX_STEPS`]) at `now`.
    ///
    /// Forward steps run one at a time, in declaration order, and may be skipped (conditional
    /// steps); a failed step may be started again (a retry). Compensations run one at a time,
    /// in any order, for steps that started; once one starts, no forward step may.
    pub(super) fn apply(
        &mut self,
        event: StepEvent,
        step: u8,
        now: u64,
    ) -> Result<Effect, SagaRejectReason> {
        use SagaRejectReason::{DuplicateStep, OutOfOrderStep};
        let bit = 1u64 << step;
        let effect = match event {
            StepEvent::Started => {
                if self.running == Running::Forward(step) || self.done_steps & bit != 0 {
                    return Err(DuplicateStep);
                }
                let retry = self.failed_steps & bit != 0;
                if self.started_steps & bit != 0 && !retry {
                    return Err(DuplicateStep);
                }
                if self.compensating
                    || self.running != Running::Nothing
                    || (!retry && step < self.highest)
                {
                    return Err(OutOfOrderStep);
                }
                self.started_steps |= bit;
                self.failed_steps &= !bit;
                self.highest = self.highest.max(step + 1);
                self.running = Running::Forward(step);
                self.step_started = now;
                self.current = Some((step, SagaStepState::Running));
                Effect::None
            }
            StepEvent::Completed | StepEvent::Failed => {
                let (mask, state) = if event == StepEvent::Completed {
                    (self.done_steps, SagaStepState::Completed)
                } else {
                    (self.failed_steps, SagaStepState::Failed)
                };
                if self.running != Running::Forward(step) {
                    return Err(if mask & bit != 0 {
                        DuplicateStep
                    } else {
                        OutOfOrderStep
                    });
                }
                self.running = Running::Nothing;
                self.current = Some((step, state));
                if event == StepEvent::Completed {
                    self.done_steps |= bit;
                    Effect::StepDuration(now.saturating_sub(self.step_started))
                } else {
                    self.failed_steps |= bit;
                    Effect::StepFailed
                }
            }
            StepEvent::Compensating => {
                if self.running == Running::Compensation(step) || self.compensating_steps & bit != 0
                {
                    return Err(DuplicateStep);
                }
                if self.running != Running::Nothing || self.started_steps & bit == 0 {
                    return Err(OutOfOrderStep);
                }
                self.compensating = true;
                self.compensating_steps |= bit;
                self.running = Running::Compensation(step);
                self.step_started = now;
                self.current = Some((step, SagaStepState::Compensating));
                Effect::CompensationStarted
            }
            StepEvent::Compensated => {
                if self.running != Running::Compensation(step) {
                    return Err(if self.compensated_steps & bit != 0 {
                        DuplicateStep
                    } else {
                        OutOfOrderStep
                    });
                }
                self.compensated_steps |= bit;
                self.running = Running::Nothing;
                self.current = Some((step, SagaStepState::Compensated));
                Effect::None
            }
        };
        self.progress(now);
        Ok(effect)
    }

    /// Records progress at `now` (readings taken before the lock may arrive out of order).
    fn progress(&mut self, now: u64) {
        self.last_progress = self.last_progress.max(now);
    }
}

#[cfg(test)]
mod tests {
    use super::SagaRejectReason::{DuplicateStep, OutOfOrderStep};
    use super::StepEvent::*;
    use super::*;

    #[test]
    fn forward_steps_in_order_with_skips_and_retries() {
        let mut s = Saga::new(0, 0);
        assert_eq!(s.apply(Completed, 0, 1), Err(OutOfOrderStep));
        assert_eq!(s.apply(Started, 0, 10), Ok(Effect::None));
        assert_eq!(s.apply(Started, 0, 11), Err(DuplicateStep));
        assert_eq!(s.apply(Started, 1, 11), Err(OutOfOrderStep));
        assert_eq!(s.apply(Completed, 0, 15), Ok(Effect::StepDuration(5)));
        assert_eq!(s.apply(Completed, 0, 16), Err(DuplicateStep));
        assert_eq!(s.apply(Started, 0, 16), Err(DuplicateStep));
        // Skip step 1.
        assert_eq!(s.apply(Started, 2, 20), Ok(Effect::None));
        assert_eq!(s.apply(Failed, 2, 30), Ok(Effect::StepFailed));
        assert_eq!(s.apply(Failed, 2, 31), Err(DuplicateStep));
        assert_eq!(s.apply(Started, 1, 31), Err(OutOfOrderStep));
        // Retry step 2.
        assert_eq!(s.apply(Started, 2, 40), Ok(Effect::None));
        assert_eq!(s.apply(Completed, 2, 41), Ok(Effect::StepDuration(1)));
        assert_eq!(s.current(), Some((2, SagaStepState::Completed)));
        assert_eq!(s.last_progress, 41);
    }

    #[test]
    fn compensations_follow_started_steps_and_stop_forward_progress() {
        let mut s = Saga::new(0, 0);
        assert_eq!(s.apply(Compensating, 0, 1), Err(OutOfOrderStep));
        s.apply(Started, 0, 1).unwrap();
        assert_eq!(s.apply(Compensating, 0, 2), Err(OutOfOrderStep)); // still running
        s.apply(Completed, 0, 3).unwrap();
        s.apply(Started, 1, 4).unwrap();
        s.apply(Failed, 1, 5).unwrap();
        assert_eq!(s.apply(Compensated, 1, 6), Err(OutOfOrderStep));
        assert_eq!(s.apply(Compensating, 1, 6), Ok(Effect::CompensationStarted));
        assert_eq!(s.apply(Compensating, 1, 6), Err(DuplicateStep));
        assert_eq!(s.apply(Compensating, 0, 6), Err(OutOfOrderStep));
        assert_eq!(s.apply(Compensated, 1, 7), Ok(Effect::None));
        assert_eq!(s.apply(Compensated, 1, 7), Err(DuplicateStep));
        assert_eq!(s.apply(Compensating, 1, 7), Err(DuplicateStep));
        assert_eq!(s.apply(Started, 2, 8), Err(OutOfOrderStep));
        assert_eq!(s.apply(Compensating, 0, 9), Ok(Effect::CompensationStarted));
        assert_eq!(s.current(), Some((0, SagaStepState::Compensating)));
        assert_eq!(s.apply(Compensated, 0, 9), Ok(Effect::None));
    }

    #[test]
    fn progress_never_goes_back() {
        let mut s = Saga::new(0, 100);
        s.apply(Started, 0, 90).unwrap();
        assert_eq!(s.last_progress, 100);
        s.apply(Completed, 0, 80).unwrap_or(Effect::None);
        assert_eq!(s.last_progress, 100);
    }
}
