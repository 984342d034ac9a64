//! Queue waits: how long items wait between submit and pickup, and how many are waiting.

use super::HistogramShape;
use crate::clock::Clock;
use crate::recorder::{Counter, Histogram};
use crate::registry::{Registry, RegistryError};
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// The families a [`QueueProbe`] registers (shared by all probes, by label `queue`).
pub(crate) mod families {
    use crate::recorder::Unit;
    use crate::registry::{FamilyDef, TableSpec};

    /// Waits of items picked up.
    pub(crate) const WAIT: FamilyDef = FamilyDef::histogram(
        "queue_wait_seconds",
        "Time items waited between submit and pickup.",
    )
    .unit(Unit::Seconds)
    .labels(&["queue"])
    .table(TableSpec::new("queues", "{queue}").with_rank(200));
    /// Items submitted.
    pub(crate) const ENQUEUED: FamilyDef = FamilyDef::counter("queue_enqueued", "Items submitted.")
        .labels(&["queue"])
        .not_tabled("a counter");
    /// Items picked up.
    pub(crate) const DEQUEUED: FamilyDef = FamilyDef::counter("queue_dequeued", "Items picked up.")
        .labels(&["queue"])
        .not_tabled("a counter");
    /// Items dropped unreceived.
    pub(crate) const DROPPED: FamilyDef =
        FamilyDef::counter("queue_dropped", "Items dropped without being picked up.")
            .labels(&["queue"])
            .not_tabled("a counter");
    /// Waits of items dropped unreceived.
    pub(crate) const DROPPED_WAIT: FamilyDef = FamilyDef::histogram(
        "queue_dropped_wait_seconds",
        "Time items dropped without pickup had waited.",
    )
    .unit(Unit::Seconds)
    .labels(&["queue"])
    .not_tabled(
        "items dropped at shutdown or with the last receiver, not a wait the service served; \
         the queues table holds the waits of items picked up",
    );
    /// Depth, read at scrape.
    pub(crate) const DEPTH: FamilyDef = FamilyDef::gauge(
        "queue_depth",
        "Items submitted and not yet picked up or dropped.",
    )
    .labels(&["queue"])
    .not_tabled("a gauge");

    /// All of them.
    pub(crate) const ALL: &[&FamilyDef] =
        &[&WAIT, &ENQUEUED, &DEQUEUED, &DROPPED, &DROPPED_WAIT, &DEPTH];
}

/// When an item was submitted (a raw reading of the probe's clock). `Copy` and `Send`: it
/// travels with the item.
///
/// ```
/// let registry = perf_instrument::Registry::new();
/// let probe = perf_instrument::QueueProbe::new(&registry, "jobs").unwrap();
/// let stamp = probe.submit();
/// let copy = stamp; // Copy
/// probe.pickup(copy);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp(u64);

/// Measures a hand-off between threads or services: stamp an item on submit, record its wait
/// on pickup, keep the depth.
///
/// Families, by label `queue`: `queue_wait_seconds` (submit to pickup), `queue_depth` (items
/// submitted and neither picked up nor discarded), `queue_enqueued_total`,
/// `queue_dequeued_total`, and for items dropped unreceived `queue_dropped_total` with their
/// wait until then in `queue_dropped_wait_seconds` — counted, not lost. Cloning shares the probe.
/// `queue_depth` is computed at scrape while a clone of the probe (or a channel using it) is
/// alive; once the last is dropped the series is left out.
///
/// ```
/// use perf_instrument::{Clock, QueueProbe, Registry};
/// use std::time::Duration;
///
/// let registry = Registry::new();
/// let (clock, hand) = Clock::manual();
/// let probe = QueueProbe::builder("ingest").clock(clock).build(&registry).unwrap();
/// let stamp = probe.submit();
/// assert_eq!(probe.depth(), 1);
/// hand.advance(Duration::from_millis(40));
/// assert_eq!(probe.pickup(stamp), Duration::from_millis(40));
/// assert_eq!(probe.depth(), 0);
/// ```
#[derive(Clone)]
pub struct QueueProbe {
    inner: Arc<ProbeInner>,
}

struct ProbeInner {
    clock: Clock,
    wait: Histogram,
    enqueued: Counter,
    dequeued: Counter,
    dropped: Counter,
    dropped_wait: Histogram,
}

/// Configures a [`QueueProbe`].
///
/// ```
/// let b = perf_instrument::QueueProbe::builder("ingest");
/// # let _ = b;
/// ```
#[derive(Debug)]
pub struct QueueProbeBuilder {
    queue: String,
    clock: Option<Clock>,
    shape: HistogramShape,
}

impl QueueProbeBuilder {
    /// Native schema of this instrument's histograms, 0 to 8 (default 3): see
    /// [`Opts::schema`](crate::Opts::schema). The families are shared by every instrument of this kind in a registry, so they must agree on it (another schema is a [`RegistryError::ShapeMismatch`](crate::RegistryError::ShapeMismatch)). Outside `0..=8`, `build` fails with
    /// [`RegistryError::InvalidSchema`](crate::RegistryError::InvalidSchema).
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// assert!(perf_instrument::QueueProbe::builder("q").schema(6).build(&r).is_ok());
    /// assert!(perf_instrument::QueueProbe::builder("q2").schema(3).build(&r).is_err()); // one schema per family
    /// ```
    #[must_use]
    pub fn schema(mut self, schema: i32) -> Self {
        self.shape.schema = schema;
        self
    }

    /// Classic buckets of the queue wait histograms (`queue_wait_seconds` and the wait of dropped items) (default:
    /// [`Buckets::default_for`](crate::registry::Buckets::default_for) the unit). The families are
    /// shared by every instrument of this kind in a registry, so they must agree on them, as on
    /// the schema.
    ///
    /// ```
    /// use perf_instrument::{render_as, Buckets, Format, Registry, Unit};
    /// let r = Registry::new();
    /// let coarse = Buckets::from_values(Unit::Seconds, &[0.25, 1.0, 4.0]);
    /// let _it = perf_instrument::QueueProbe::builder("q").buckets(coarse).build(&r).unwrap();
    /// let text = String::from_utf8(render_as(&r, Format::PrometheusText)).unwrap();
    /// // Three bounds and `+Inf`.
    /// assert_eq!(text.lines().filter(|l| l.starts_with("queue_wait_seconds_bucket")).count(), 4);
    /// ```
    #[must_use]
    pub fn buckets(mut self, buckets: crate::registry::Buckets) -> Self {
        self.shape.buckets = Some(buckets);
        self
    }

    /// The clock (default: the process clock).
    ///
    /// ```
    /// let b = perf_instrument::QueueProbe::builder("q").clock(perf_instrument::Clock::manual().0);
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Registers the families (shared by all queues) and resolves this queue's series.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] if the queue families clash with others in `registry`.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// assert!(perf_instrument::QueueProbe::builder("q").build(&r).is_ok());
    /// ```
    pub fn build(self, registry: &Registry) -> Result<QueueProbe, RegistryError> {
        let q = [self.queue.as_str()];
        use families as f;
        let probe = ProbeInner {
            clock: self.clock.unwrap_or_else(|| Clock::global().clone()),
            wait: registry
                .register_histogram(self.shape.opts(&f::WAIT))?
                .with_label_values(&q),
            enqueued: registry
                .register_counter(f::ENQUEUED.opts())?
                .with_label_values(&q),
            dequeued: registry
                .register_counter(f::DEQUEUED.opts())?
                .with_label_values(&q),
            dropped: registry
                .register_counter(f::DROPPED.opts())?
                .with_label_values(&q),
            dropped_wait: registry
                .register_histogram(self.shape.opts(&f::DROPPED_WAIT))?
                .with_label_values(&q),
        };
        let probe = QueueProbe {
            inner: Arc::new(probe),
        };
        // The depth is computed at scrape from the (sharded) counters, so submit and pickup
        // do not contend on one shared gauge; a `Weak`, so a dropped probe's series leaves.
        let weak: Weak<ProbeInner> = Arc::downgrade(&probe.inner);
        registry
            .register_fn_gauge(f::DEPTH.opts())?
            .with_label_values(&q)
            .set_fn(move || Some(weak.upgrade()?.depth() as f64));
        Ok(probe)
    }
}

impl QueueProbe {
    /// A probe for queue `queue` on the process clock.
    ///
    /// # Errors
    ///
    /// As [`QueueProbeBuilder::build`].
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// let probe = perf_instrument::QueueProbe::new(&r, "emails").unwrap();
    /// # let _ = probe;
    /// ```
    pub fn new(registry: &Registry, queue: &str) -> Result<Self, RegistryError> {
        Self::builder(queue).build(registry)
    }

    /// A builder for queue `queue`.
    ///
    /// ```
    /// let b = perf_instrument::QueueProbe::builder("emails");
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn builder(queue: impl Into<String>) -> QueueProbeBuilder {
        QueueProbeBuilder {
            queue: queue.into(),
            clock: None,
            shape: HistogramShape::default(),
        }
    }

    /// An item enters the queue.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let probe = perf_instrument::QueueProbe::new(&r, "q").unwrap();
    /// let stamp = probe.submit();
    /// # probe.pickup(stamp);
    /// ```
    #[inline]
    pub fn submit(&self) -> Stamp {
        self.inner.enqueued.inc();
        Stamp(self.inner.clock.raw())
    }

    /// The item stamped `stamp` leaves the queue; records and returns its wait.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let probe = perf_instrument::QueueProbe::new(&r, "q").unwrap();
    /// let waited = probe.pickup(probe.submit());
    /// assert!(waited.as_secs() < 60);
    /// ```
    #[inline]
    pub fn pickup(&self, stamp: Stamp) -> Duration {
        let nanos = self.inner.waited(stamp);
        self.inner.wait.record(nanos);
        self.inner.dequeued.inc();
        Duration::from_nanos(nanos)
    }

    /// The item stamped `stamp` is dropped without pickup: counted, and its wait recorded in
    /// `queue_dropped_wait_seconds`.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let probe = perf_instrument::QueueProbe::new(&r, "q").unwrap();
    /// probe.discard(probe.submit());
    /// assert_eq!(probe.depth(), 0);
    /// ```
    pub fn discard(&self, stamp: Stamp) {
        let nanos = self.inner.waited(stamp);
        self.inner.dropped_wait.record(nanos);
        self.inner.dropped.inc();
    }

    /// Items in the queue now.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let probe = perf_instrument::QueueProbe::new(&r, "q").unwrap();
    /// assert_eq!(probe.depth(), 0);
    /// ```
    #[must_use]
    pub fn depth(&self) -> i64 {
        self.inner.depth()
    }

    /// A stamp without counting a submit (a send that may still fail).
    pub(crate) fn stamp(&self) -> Stamp {
        Stamp(self.inner.clock.raw())
    }

    /// Counts a submit stamped earlier with [`stamp`](Self::stamp), once the send succeeded.
    pub(crate) fn submitted(&self) {
        self.inner.enqueued.inc();
    }
}

impl ProbeInner {
    /// Nanoseconds since `stamp`.
    #[inline]
    fn waited(&self, stamp: Stamp) -> u64 {
        self.clock.delta_nanos(stamp.0, self.clock.raw())
    }

    fn depth(&self) -> i64 {
        // Read the leaving counts first: they can only trail the submits they follow. (A channel
        // counts a send once it succeeded, possibly just after its receiver picked the item up,
        // hence the saturation.)
        let gone = self.dequeued.get().wrapping_add(self.dropped.get());
        let submitted = self.enqueued.get();
        i64::try_from(submitted.saturating_sub(gone)).unwrap_or(i64::MAX)
    }
}

impl fmt::Debug for QueueProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueProbe")
            .field("depth", &self.depth())
            .finish()
    }
}
