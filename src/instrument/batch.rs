//! `BatchRecorder`: items per batch and the batch's duration, recorded together (group commits,
//! write-behind flushes).

use super::HistogramShape;
use crate::clock::Clock;
use crate::recorder::Histogram;
use crate::registry::{Registry, RegistryError};
use std::fmt;
use std::time::Duration;

/// The families a [`BatchRecorder`] registers (shared by all recorders, by label `batch`).
pub(crate) mod families {
    use crate::recorder::Unit;
    use crate::registry::{FamilyDef, TableSpec};

    /// Items per batch.
    pub(crate) const SIZE: FamilyDef = FamilyDef::histogram("batch_size", "Items per batch.")
        .labels(&["batch"])
        .table(TableSpec::new("batches", "{batch}").with_rank(700));
    /// Time per batch.
    pub(crate) const DURATION: FamilyDef =
        FamilyDef::histogram("batch_duration_seconds", "Time to process a batch.")
            .unit(Unit::Seconds)
            .labels(&["batch"])
            .table(TableSpec::new("batch durations", "{batch}").with_rank(710));

    /// All of them.
    pub(crate) const ALL: &[&FamilyDef] = &[&SIZE, &DURATION];
}

/// Records each batch's size and duration together, by label `batch`:
/// `batch_size{batch}` (items; small integers are exact: 1–14 each have their own bucket, the
/// classic buckets are powers of two) and `batch_duration_seconds{batch}`.
///
/// ```
/// use perf_instrument::{BatchRecorder, Clock, Registry};
/// use std::time::Duration;
///
/// let registry = Registry::new();
/// let (clock, hand) = Clock::manual();
/// let commits = BatchRecorder::builder("wal_group_commit").clock(clock).build(&registry).unwrap();
/// let batch = commits.start();
/// hand.advance(Duration::from_micros(800)); // write + fsync
/// batch.finish(12);
/// commits.record(3, Duration::from_micros(300));
/// assert_eq!(commits.sizes().snapshot().max(), Some(12.0));
/// ```
#[derive(Clone)]
pub struct BatchRecorder {
    clock: Clock,
    size: Histogram,
    duration: Histogram,
}

/// Configures a [`BatchRecorder`].
///
/// ```
/// let b = perf_instrument::BatchRecorder::builder("flush");
/// # let _ = b;
/// ```
#[derive(Debug)]
pub struct BatchRecorderBuilder {
    batch: String,
    clock: Option<Clock>,
    shape: HistogramShape,
    size_buckets: Option<crate::registry::Buckets>,
}

impl BatchRecorderBuilder {
    /// Native schema of this instrument's histograms, 0 to 8 (default 3): see
    /// [`Opts::schema`](crate::Opts::schema). The families are shared by every instrument of this kind in a registry, so they must agree on it (another schema is a [`RegistryError::ShapeMismatch`](crate::RegistryError::ShapeMismatch)). Outside `0..=8`, `build` fails with
    /// [`RegistryError::InvalidSchema`](crate::RegistryError::InvalidSchema).
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// // Batch sizes need little precision: one bucket per power of two.
    /// assert!(perf_instrument::BatchRecorder::builder("wal").schema(0).build(&r).is_ok());
    /// ```
    #[must_use]
    pub fn schema(mut self, schema: i32) -> Self {
        self.shape.schema = schema;
        self
    }

    /// Classic buckets of `batch_duration_seconds` (batch sizes take [`size_buckets`](Self::size_buckets)) (default:
    /// [`Buckets::default_for`](crate::registry::Buckets::default_for) the unit). The families are
    /// shared by every instrument of this kind in a registry, so they must agree on them, as on
    /// the schema.
    ///
    /// ```
    /// use perf_instrument::{render_as, Buckets, Format, Registry, Unit};
    /// let r = Registry::new();
    /// let coarse = Buckets::from_values(Unit::Seconds, &[0.25, 1.0, 4.0]);
    /// let _it = perf_instrument::BatchRecorder::builder("flush").buckets(coarse).build(&r).unwrap();
    /// let text = String::from_utf8(render_as(&r, Format::PrometheusText)).unwrap();
    /// // Three bounds and `+Inf`.
    /// assert_eq!(text.lines().filter(|l| l.starts_with("batch_duration_seconds_bucket")).count(), 4);
    /// ```
    #[must_use]
    pub fn buckets(mut self, buckets: crate::registry::Buckets) -> Self {
        self.shape.buckets = Some(buckets);
        self
    }

    /// Classic buckets of `batch_size` (default:
    /// [`Buckets::default_for`](crate::registry::Buckets::default_for) counts, powers of two to 65,536).
    ///
    /// ```
    /// use perf_instrument::{render_as, BatchRecorder, Buckets, Format, Registry, Unit};
    /// let r = Registry::new();
    /// let sizes = Buckets::from_values(Unit::Count, &[1.0, 8.0, 64.0, 512.0]);
    /// let _b = BatchRecorder::builder("flush").size_buckets(sizes).build(&r).unwrap();
    /// let text = String::from_utf8(render_as(&r, Format::PrometheusText)).unwrap();
    /// assert_eq!(text.lines().filter(|l| l.starts_with("batch_size_bucket")).count(), 5);
    /// ```
    #[must_use]
    pub fn size_buckets(mut self, buckets: crate::registry::Buckets) -> Self {
        self.size_buckets = Some(buckets);
        self
    }

    /// The clock (default: the process clock).
    ///
    /// ```
    /// let b = perf_instrument::BatchRecorder::builder("b").clock(perf_instrument::Clock::manual().0);
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Registers the families (shared by all batch recorders) and resolves this one's series.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] if the families clash with others in `registry`.
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// assert!(perf_instrument::BatchRecorder::builder("b").build(&r).is_ok());
    /// ```
    pub fn build(self, registry: &Registry) -> Result<BatchRecorder, RegistryError> {
        let b = [self.batch.as_str()];
        Ok(BatchRecorder {
            clock: self.clock.unwrap_or_else(|| Clock::global().clone()),
            size: registry
                .register_histogram(
                    HistogramShape {
                        schema: self.shape.schema,
                        buckets: self.size_buckets,
                    }
                    .opts(&families::SIZE),
                )?
                .with_label_values(&b),
            duration: registry
                .register_histogram(self.shape.opts(&families::DURATION))?
                .with_label_values(&b),
        })
    }
}

impl BatchRecorder {
    /// A recorder for batch kind `batch` on the process clock.
    ///
    /// # Errors
    ///
    /// As [`BatchRecorderBuilder::build`].
    ///
    /// ```
    /// let r = perf_instrument::Registry::new();
    /// let flushes = perf_instrument::BatchRecorder::new(&r, "write_behind").unwrap();
    /// flushes.record(100, std::time::Duration::from_millis(4));
    /// ```
    pub fn new(registry: &Registry, batch: &str) -> Result<Self, RegistryError> {
        Self::builder(batch).build(registry)
    }

    /// A builder for batch kind `batch`.
    ///
    /// ```
    /// let b = perf_instrument::BatchRecorder::builder("write_behind");
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn builder(batch: impl Into<String>) -> BatchRecorderBuilder {
        BatchRecorderBuilder {
            batch: batch.into(),
            clock: None,
            shape: HistogramShape::default(),
            size_buckets: None,
        }
    }

    /// Records a batch of `items` that took `took`.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let b = perf_instrument::BatchRecorder::new(&r, "b").unwrap();
    /// b.record(7, std::time::Duration::from_millis(1));
    /// assert_eq!(b.sizes().snapshot().count(), 1);
    /// ```
    pub fn record(&self, items: u64, took: Duration) {
        self.size.record(items);
        self.duration.record_duration(took);
    }

    /// Starts timing a batch; [`BatchTimer::finish`] records it with its item count.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let b = perf_instrument::BatchRecorder::new(&r, "b").unwrap();
    /// let batch = b.start();
    /// batch.finish(2);
    /// ```
    pub fn start(&self) -> BatchTimer<'_> {
        BatchTimer {
            recorder: self,
            start: self.clock.raw(),
        }
    }

    /// The batch-size histogram.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let b = perf_instrument::BatchRecorder::new(&r, "b").unwrap();
    /// assert_eq!(b.sizes().snapshot().count(), 0);
    /// ```
    #[must_use]
    pub fn sizes(&self) -> &Histogram {
        &self.size
    }

    /// The batch-duration histogram.
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let b = perf_instrument::BatchRecorder::new(&r, "b").unwrap();
    /// assert_eq!(b.durations().snapshot().count(), 0);
    /// ```
    #[must_use]
    pub fn durations(&self) -> &Histogram {
        &self.duration
    }
}

impl fmt::Debug for BatchRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchRecorder")
            .field("batches", &self.size.snapshot().count())
            .finish()
    }
}

/// A batch being timed. Dropping it without [`finish`](BatchTimer::finish) records nothing
/// (the item count is not known).
///
/// ```
/// # let r = perf_instrument::Registry::new();
/// # let b = perf_instrument::BatchRecorder::new(&r, "b").unwrap();
/// drop(b.start()); // abandoned: not recorded
/// assert_eq!(b.sizes().snapshot().count(), 0);
/// ```
#[must_use = "a batch is recorded by `finish(items)`"]
pub struct BatchTimer<'a> {
    recorder: &'a BatchRecorder,
    start: u64,
}

impl BatchTimer<'_> {
    /// Records the batch: `items` and the time since [`BatchRecorder::start`].
    ///
    /// ```
    /// # let r = perf_instrument::Registry::new();
    /// # let b = perf_instrument::BatchRecorder::new(&r, "b").unwrap();
    /// let took = b.start().finish(64);
    /// assert!(took.as_secs() < 60);
    /// ```
    pub fn finish(self, items: u64) -> Duration {
        let clock = &self.recorder.clock;
        let nanos = clock.delta_nanos(self.start, clock.raw());
        self.recorder.size.record(items);
        self.recorder.duration.record(nanos);
        Duration::from_nanos(nanos)
    }
}

impl fmt::Debug for BatchTimer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchTimer")
            .field("start", &self.start)
            .finish()
    }
}
