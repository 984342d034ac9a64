//! What a finding is: its kind, severity, threshold, evidence and suggested next step, and the
//! order a report lists findings in.

use serde::Serialize;

/// What a [`Finding`] is about.
///
/// ```
/// use perf_instrument::FindingKind;
/// assert_eq!(FindingKind::GrowingQueue.name(), "growing_queue");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// Sagas with no progress past their threshold.
    StuckSagas,
    /// Fewer than 95% of finished sagas completed (at least 20 finished).
    LowSagaCompletion,
    /// A stage whose declared workers are busy at least 90% of the window while its input
    /// queue grows by at least 5 items: it limits throughput, whatever its latency share.
    ThroughputBottleneck,
    /// A queue's depth grew by at least 10 items and half its starting depth over the window,
    /// or its wait grew: the window's p99 wait at least twice, and 1 ms more than, the p99
    /// before the window (at least 20 waits on each side).
    GrowingQueue,
    /// The pipeline stage (or the wait before it) with the largest share of end-to-end time,
    /// when that share is at least 25%.
    BottleneckStage,
    /// The most contended lock (at least 10 contended acquisitions), with the call sites that
    /// waited most and the holders' sites that made them wait most.
    ContendedLock,
    /// A lock held past its watchdog threshold.
    LongLockHold,
    /// Tracked locks taken in orders that form a cycle (AB/BA or longer): a deadlock waiting
    /// for an unlucky interleaving. Names the call sites of each order.
    LockOrderCycle,
    /// An async runtime that did not poll its stall probe for longer than the probe's
    /// threshold: something blocked it, and every task on it waited.
    RuntimeStall,
    /// CPU busy above 75% (the process's, of the cores it may use, or the machine's) while
    /// throughput is below 80% of the target, when one is given.
    CpuSaturated,
    /// Memory above 80% of a limit (the cgroup's `memory.max`, the machine's, a declared one);
    /// critical above 95%.
    MemoryPressure,
    /// A disk busy more than 80% of the window.
    IoSaturated,
    /// Pending entries orphaned (timed out, evicted for capacity, dropped).
    OrphanedPending,
    /// Panics caught in background threads.
    BackgroundPanics,
}

impl FindingKind {
    /// The snake-case name used in JSON and text.
    ///
    /// ```
    /// assert_eq!(perf_instrument::FindingKind::StuckSagas.name(), "stuck_sagas");
    /// ```
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::StuckSagas => "stuck_sagas",
            Self::LowSagaCompletion => "low_saga_completion",
            Self::ThroughputBottleneck => "throughput_bottleneck",
            Self::GrowingQueue => "growing_queue",
            Self::BottleneckStage => "bottleneck_stage",
            Self::ContendedLock => "contended_lock",
            Self::LongLockHold => "long_lock_hold",
            Self::LockOrderCycle => "lock_order_cycle",
            Self::RuntimeStall => "runtime_stall",
            Self::CpuSaturated => "cpu_saturated",
            Self::MemoryPressure => "memory_pressure",
            Self::IoSaturated => "io_saturated",
            Self::OrphanedPending => "orphaned_pending",
            Self::BackgroundPanics => "background_panics",
        }
    }

    /// How serious a finding of this kind is: `Critical` for what stops work (stuck sagas, a
    /// lock held past its watchdog, a lock-order cycle, background panics), `Warning` for what degrades it
    /// (growing queues, contention, orphans, failed sagas), `Info` for where the time goes
    /// (the stage with the largest latency share).
    ///
    /// ```
    /// use perf_instrument::{FindingKind, Severity};
    /// assert_eq!(FindingKind::LongLockHold.severity(), Severity::Critical);
    /// assert_eq!(FindingKind::BottleneckStage.severity(), Severity::Info);
    /// ```
    #[must_use]
    pub fn severity(self) -> Severity {
        match self {
            Self::StuckSagas
            | Self::LongLockHold
            | Self::LockOrderCycle
            | Self::RuntimeStall
            | Self::BackgroundPanics => Severity::Critical,
            Self::LowSagaCompletion
            | Self::ThroughputBottleneck
            | Self::GrowingQueue
            | Self::ContendedLock
            | Self::CpuSaturated
            | Self::MemoryPressure
            | Self::IoSaturated
            | Self::OrphanedPending => Severity::Warning,
            Self::BottleneckStage => Severity::Info,
        }
    }
}

/// How much a finding matters; a report lists `Critical` findings first.
///
/// ```
/// use perf_instrument::Severity;
/// assert!(Severity::Critical > Severity::Warning && Severity::Warning > Severity::Info);
/// assert_eq!(Severity::Warning.name(), "warning");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Where the time goes; nothing is wrong by itself.
    Info,
    /// Work is degraded: it waits, queues up, fails or is lost.
    Warning,
    /// Work is stopped or about to be: a stall, a stuck saga, a lock-order cycle.
    Critical,
}

impl Severity {
    /// `info`, `warning` or `critical`.
    ///
    /// ```
    /// assert_eq!(perf_instrument::Severity::Critical.name(), "critical");
    /// ```
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// The threshold a finding fired on: its value, and where that value is set.
///
/// ```
/// let t = perf_instrument::Threshold::new("25% of end-to-end time", "fixed by the report");
/// assert_eq!(t.to_string(), "25% of end-to-end time (fixed by the report)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Threshold {
    /// The value, with its unit (`25% of end-to-end time`, `1.00s`).
    pub value: String,
    /// Where it is set: a builder setting (`Mutex::builder(..).watchdog(..)`) or the report's
    /// own fixed rule.
    pub set_by: String,
}

impl Threshold {
    /// A threshold of `value`, set by `set_by`.
    ///
    /// ```
    /// let t = perf_instrument::Threshold::new("1.00s", "watchdog(..)");
    /// assert_eq!(t.value, "1.00s");
    /// ```
    #[must_use]
    pub fn new(value: impl Into<String>, set_by: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            set_by: set_by.into(),
        }
    }
}

impl std::fmt::Display for Threshold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.value, self.set_by)
    }
}

/// Where the report's fixed thresholds are set, as a finding names it.
pub(crate) const FIXED: &str = "fixed by the report";

/// One thing the report says, and the numbers behind it.
///
/// ```
/// let report = perf_instrument::Report::from_registry(&perf_instrument::Registry::new());
/// for finding in report.findings() {
///     println!("[{}] {}: {}", finding.severity.name(), finding.kind.name(), finding.summary);
///     println!("  threshold: {}", finding.threshold);
///     for line in &finding.evidence {
///         println!("  - {line}");
///     }
///     println!("  next: {}", finding.next_step);
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// What kind of finding.
    pub kind: FindingKind,
    /// How much it matters (the report's order).
    pub severity: Severity,
    /// What it is about: a `pipeline/stage`, a queue, a lock, a saga, a tracker.
    pub subject: String,
    /// One sentence.
    pub summary: String,
    /// The threshold it fired on, and where that is set.
    pub threshold: Threshold,
    /// The numbers that support it.
    pub evidence: Vec<String>,
    /// What to look at or change next.
    pub next_step: String,
}

impl Finding {
    /// A finding of `kind` (at the kind's [severity](FindingKind::severity)) about `subject`.
    pub(crate) fn new(
        kind: FindingKind,
        subject: impl Into<String>,
        summary: impl Into<String>,
        threshold: Threshold,
        evidence: Vec<String>,
        next_step: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            severity: kind.severity(),
            subject: subject.into(),
            summary: summary.into(),
            threshold,
            evidence,
            next_step: next_step.into(),
        }
    }
}

/// Orders findings most important first: by severity (critical first), then kind, then
/// subject, so one report's order is stable.
///
/// ```
/// # use perf_instrument::{Finding, FindingKind, Severity};
/// let report = perf_instrument::Report::from_registry(&perf_instrument::Registry::new());
/// let mut findings: Vec<Finding> = report.findings().to_vec();
/// perf_instrument::sort_findings(&mut findings);
/// assert!(findings.windows(2).all(|w| w[0].severity >= w[1].severity));
/// ```
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.kind.cmp(&b.kind))
            .then_with(|| a.subject.cmp(&b.subject))
    });
}
