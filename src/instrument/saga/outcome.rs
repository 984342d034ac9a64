//! What can happen to a saga and to an event: terminal [`Outcome`]s, [`SagaRejectReason`]s, the
//! [`SagaVerdict`] every event returns, and the [`SagaStepState`] reports show.

use serde::Serialize;

/// How a saga ended: the `outcome` label of `saga_finished_total` and `saga_duration_seconds`.
///
/// Every started saga ends with exactly one outcome (or is still active), so
/// `saga_started_total - sum(saga_finished_total) == saga_active` once the counters settle.
///
/// ```
/// use perf_instrument::saga::SagaOutcome;
/// assert_eq!(SagaOutcome::TimedOut.label(), "timed_out");
/// assert_eq!(SagaOutcome::ALL.len(), 5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SagaOutcome {
    /// [`completed`](crate::SagaTracker::completed): every step done.
    Completed,
    /// [`failed`](crate::SagaTracker::failed): ended in failure (with a reason).
    Failed,
    /// [`compensated_saga`](crate::SagaTracker::compensated_saga): rolled back by
    /// compensations.
    Compensated,
    /// Still active past its deadline when a sweep ran (the tracker's own outcome).
    TimedOut,
    /// Dropped to make room when the tracker was at its `max_active` capacity.
    Evicted,
}

impl SagaOutcome {
    /// Every outcome, in label order.
    ///
    /// ```
    /// assert_eq!(perf_instrument::saga::SagaOutcome::ALL[0].label(), "completed");
    /// ```
    pub const ALL: [SagaOutcome; 5] = [
        SagaOutcome::Completed,
        SagaOutcome::Failed,
        SagaOutcome::Compensated,
        SagaOutcome::TimedOut,
        SagaOutcome::Evicted,
    ];

    /// The label value: `completed`, `failed`, `compensated`, `timed_out` or `evicted`.
    ///
    /// ```
    /// assert_eq!(perf_instrument::saga::SagaOutcome::Evicted.label(), "evicted");
    /// ```
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            SagaOutcome::Completed => "completed",
            SagaOutcome::Failed => "failed",
            SagaOutcome::Compensated => "compensated",
            SagaOutcome::TimedOut => "timed_out",
            SagaOutcome::Evicted => "evicted",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// Why an event was refused: the `reason` label of `saga_events_rejected_total`.
///
/// A refused event changes nothing but that counter (no gauge moves, no saga is created or
/// ended), and is counted under exactly one reason. The checks run in this order: id length,
/// handle, then the saga's state. See [`SagaTracker`](crate::SagaTracker) for the policy of each.
///
/// ```
/// use perf_instrument::saga::SagaRejectReason;
/// assert_eq!(SagaRejectReason::AfterTerminal.label(), "after_terminal");
/// assert_eq!(SagaRejectReason::ALL.len(), 8);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SagaRejectReason {
    /// A step event for an id that is neither active nor recently finished.
    UnknownId,
    /// `start` for an id that is already active.
    DuplicateStart,
    /// A step event repeating one already accepted (started, completed, failed,
    /// compensating or compensated twice).
    DuplicateStep,
    /// A step event that does not fit the saga's state: completing a step that is not
    /// running, starting a step while another runs or behind one already started, a forward
    /// step after compensation began, compensating a step that never started.
    OutOfOrderStep,
    /// Any event, `start` included, for an id that finished recently (kept in a bounded
    /// memory of finished ids).
    AfterTerminal,
    /// A terminal event (`completed`, `failed`, `compensated_saga`) for an id never started.
    TerminalBeforeStart,
    /// A string id longer than [`MAX_SAGA_ID_LEN`](crate::saga::MAX_SAGA_ID_LEN) bytes.
    IdTooLong,
    /// A step or failure-reason handle from another tracker.
    InvalidHandle,
}

impl SagaRejectReason {
    /// Every reason, in label order.
    ///
    /// ```
    /// assert_eq!(perf_instrument::saga::SagaRejectReason::ALL[0].label(), "unknown_id");
    /// ```
    pub const ALL: [SagaRejectReason; 8] = [
        SagaRejectReason::UnknownId,
        SagaRejectReason::DuplicateStart,
        SagaRejectReason::DuplicateStep,
        SagaRejectReason::OutOfOrderStep,
        SagaRejectReason::AfterTerminal,
        SagaRejectReason::TerminalBeforeStart,
        SagaRejectReason::IdTooLong,
        SagaRejectReason::InvalidHandle,
    ];

    /// The label value, in snake case (`unknown_id`, `duplicate_start`, ...).
    ///
    /// ```
    /// assert_eq!(perf_instrument::saga::SagaRejectReason::IdTooLong.label(), "id_too_long");
    /// ```
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            SagaRejectReason::UnknownId => "unknown_id",
            SagaRejectReason::DuplicateStart => "duplicate_start",
            SagaRejectReason::DuplicateStep => "duplicate_step",
            SagaRejectReason::OutOfOrderStep => "out_of_order_step",
            SagaRejectReason::AfterTerminal => "after_terminal",
            SagaRejectReason::TerminalBeforeStart => "terminal_before_start",
            SagaRejectReason::IdTooLong => "id_too_long",
            SagaRejectReason::InvalidHandle => "invalid_handle",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// What a tracker did with an event. Events never panic; ignoring the verdict is fine (every
/// refusal is counted in `saga_events_rejected_total`).
///
/// ```
/// use perf_instrument::saga::{SagaRejectReason, SagaVerdict};
/// use perf_instrument::{Registry, SagaTracker};
/// let tracker = SagaTracker::builder("order").steps(["ship"]).build(&Registry::new()).unwrap();
/// assert_eq!(tracker.start("o-1"), SagaVerdict::Accepted);
/// assert_eq!(tracker.start("o-1"), SagaVerdict::Rejected(SagaRejectReason::DuplicateStart));
/// assert!(tracker.completed("o-1").is_accepted());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SagaVerdict {
    /// The event was applied.
    Accepted,
    /// The event was refused and counted under this reason.
    Rejected(SagaRejectReason),
    /// `start` found the tracker full and no older saga in the new saga's shard to evict, so
    /// the new saga was dropped at once: counted as started and as finished `evicted`.
    Dropped,
}

impl SagaVerdict {
    /// Whether the event was applied.
    ///
    /// ```
    /// assert!(perf_instrument::saga::SagaVerdict::Accepted.is_accepted());
    /// ```
    #[must_use]
    pub fn is_accepted(self) -> bool {
        self == SagaVerdict::Accepted
    }
}

/// Where a saga's current (most recently touched) step stands, as reports show it.
///
/// ```
/// use perf_instrument::saga::SagaStepState;
/// assert_eq!(SagaStepState::Compensating.label(), "compensating");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SagaStepState {
    /// Started, not yet completed or failed.
    Running,
    /// Completed.
    Completed,
    /// Failed.
    Failed,
    /// Its compensation started and has not finished.
    Compensating,
    /// Its compensation finished.
    Compensated,
}

impl SagaStepState {
    /// The state in snake case, as the text and JSON views print it.
    ///
    /// ```
    /// assert_eq!(perf_instrument::saga::SagaStepState::Running.label(), "running");
    /// ```
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            SagaStepState::Running => "running",
            SagaStepState::Completed => "completed",
            SagaStepState::Failed => "failed",
            SagaStepState::Compensating => "compensating",
            SagaStepState::Compensated => "compensated",
        }
    }
}
