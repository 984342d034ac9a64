//! The background pusher: interval, final flush, retry with backoff, its own counters.

use super::families;
use crate::recorder::Counter;
use crate::registry::background::Background;
use crate::registry::{BackgroundThread, FamilySnapshot, Registry, RegistryError};
use crate::sync::{lock, Arc, Mutex};
use std::fmt;
use std::time::{Duration, SystemTime};

/// One snapshot of a registry, as a [`PushTarget`] receives it.
///
/// ```
/// use perf_instrument::export::PushBatch;
/// use std::time::SystemTime;
/// let now = SystemTime::now();
/// let batch = PushBatch { families: &[], const_labels: &[], time: now, start_time: now };
/// assert!(batch.families.is_empty());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct PushBatch<'a> {
    /// Every family of the registry, collected once for this push.
    pub families: &'a [FamilySnapshot],
    /// The registry's constant labels, to put first on every series.
    pub const_labels: &'a [(String, String)],
    /// When the snapshot was taken (the samples' timestamp).
    pub time: SystemTime,
    /// When the pusher started: the start of the cumulative counts (OTLP's
    /// `start_time_unix_nano`).
    pub start_time: SystemTime,
}

/// Why a push failed.
///
/// ```
/// use perf_instrument::export::PushError;
/// let refused = PushError::Refused { url: "http://gw/metrics".into(), status: 400, body: String::new() };
/// assert!(!refused.is_retryable());
/// let busy = PushError::Refused { url: "http://gw/metrics".into(), status: 503, body: String::new() };
/// assert!(busy.is_retryable());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The request did not get an answer (connection refused, timeout, reset). Retried: the
    /// receiver may be starting, restarting or slow.
    #[error("could not send to {url}: {message}; is the receiver running and reachable?")]
    Transport {
        /// Where the request went.
        url: String,
        /// The client's error.
        message: String,
    },
    /// The receiver answered with a status other than 2xx. Retried for 429 and 5xx (busy or
    /// failing receiver), not for other 4xx (the request itself is wrong: fix the URL, the
    /// labels or the receiver's settings).
    #[error("{url} answered HTTP {status}: {body}")]
    Refused {
        /// Where the request went.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the answer's body (at most 512 bytes).
        body: String,
    },
    /// The target was set up wrong (an invalid URL or label name); never retried.
    #[error("push target set up wrong: {0}")]
    Config(String),
}

impl PushError {
    /// Whether trying the same request again may succeed.
    ///
    /// ```
    /// use perf_instrument::export::PushError;
    /// let down = PushError::Transport { url: "http://127.0.0.1:1".into(), message: "refused".into() };
    /// assert!(down.is_retryable());
    /// assert!(!PushError::Config("bad label".into()).is_retryable());
    /// ```
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Refused { status, .. } => *status == 429 || *status >= 500,
            Self::Config(_) => false,
        }
    }
}

/// Where a [`Pusher`] sends the registry: implement it for a receiver the crate has no target
/// for. A call sends one batch once; the pusher retries.
///
/// ```
/// use perf_instrument::export::{PushBatch, PushError, PushTarget};
///
/// /// Counts the series it was given.
/// #[derive(Debug, Default)]
/// struct CountSeries(usize);
///
/// impl PushTarget for CountSeries {
///     fn name(&self) -> &str {
///         "count"
///     }
///     fn push(&mut self, batch: &PushBatch<'_>) -> Result<(), PushError> {
///         self.0 = batch.families.iter().map(|f| f.series.len()).sum();
///         Ok(())
///     }
/// }
/// let mut target = CountSeries::default();
/// let now = std::time::SystemTime::now();
/// target.push(&PushBatch { families: &[], const_labels: &[], time: now, start_time: now }).unwrap();
/// assert_eq!((target.name(), target.0), ("count", 0));
/// ```
pub trait PushTarget: fmt::Debug + Send {
    /// A short name: the `target` label of the push counters and the thread's name
    /// (`push-<name>`).
    ///
    /// ```
    /// # use perf_instrument::export::{PushBatch, PushError, PushTarget};
    /// # #[derive(Debug)] struct Sink;
    /// # impl PushTarget for Sink {
    /// #     fn name(&self) -> &str { "sink" }
    /// #     fn push(&mut self, _: &PushBatch<'_>) -> Result<(), PushError> { Ok(()) }
    /// # }
    /// assert_eq!(Sink.name(), "sink");
    /// ```
    fn name(&self) -> &str;

    /// Sends `batch` once.
    ///
    /// ```
    /// # use perf_instrument::export::{PushBatch, PushError, PushTarget};
    /// # #[derive(Debug)] struct Sink;
    /// # impl PushTarget for Sink {
    /// #     fn name(&self) -> &str { "sink" }
    /// #     fn push(&mut self, _: &PushBatch<'_>) -> Result<(), PushError> { Ok(()) }
    /// # }
    /// let now = std::time::SystemTime::now();
    /// assert!(Sink.push(&PushBatch { families: &[], const_labels: &[], time: now, start_time: now }).is_ok());
    /// ```
    fn push(&mut self, batch: &PushBatch<'_>) -> Result<(), PushError>;
}

/// How a failed push is retried: at most `attempts` tries in all, sleeping `first_backoff`
/// after the first failure, doubling up to `max_backoff`. The bound on the time one push can
/// take is [`budget`](Self::budget) plus `attempts` times the target's timeout.
///
/// ```
/// use perf_instrument::export::Retry;
/// use std::time::Duration;
/// let retry = Retry { attempts: 4, first_backoff: Duration::from_millis(100), max_backoff: Duration::from_millis(250) };
/// // Sleeps 100 ms, 200 ms, then 250 ms (capped) between the four tries.
/// assert_eq!(retry.budget(), Duration::from_millis(550));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    /// Tries per push, the first one included (0 reads as 1).
    pub attempts: u32,
    /// Sleep after the first failure.
    pub first_backoff: Duration,
    /// Longest sleep between two tries.
    pub max_backoff: Duration,
}

impl Default for Retry {
    /// Four tries, 200 ms doubling to 2 s: at most 1.4 s of sleeping per push.
    ///
    /// ```
    /// use perf_instrument::export::Retry;
    /// assert_eq!(Retry::default().attempts, 4);
    /// assert_eq!(Retry::default().budget(), std::time::Duration::from_millis(1400));
    /// ```
    fn default() -> Self {
        Self {
            attempts: 4,
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl Retry {
    /// Total sleep between the tries of one push that fails every time.
    ///
    /// ```
    /// use perf_instrument::export::Retry;
    /// let once = Retry { attempts: 1, ..Retry::default() };
    /// assert!(once.budget().is_zero());
    /// ```
    #[must_use]
    pub fn budget(&self) -> Duration {
        let mut total = Duration::ZERO;
        let mut backoff = self.first_backoff;
        for _ in 1..self.attempts.max(1) {
            total += backoff;
            backoff = (backoff * 2).min(self.max_backoff);
        }
        total
    }
}

/// What the pusher thread and its handle share.
struct Worker {
    registry: Registry,
    target: Box<dyn PushTarget>,
    retry: Retry,
    start_time: SystemTime,
    pushes: Counter,
    failures: Counter,
    dropped: Counter,
}

impl Worker {
    /// Collects the registry once and sends it, retrying within the budget.
    fn push(&mut self) -> Result<(), PushError> {
        let families = self.registry.collect();
        let batch = PushBatch {
            families: &families,
            const_labels: self.registry.const_labels(),
            time: SystemTime::now(),
            start_time: self.start_time,
        };
        let mut backoff = self.retry.first_backoff;
        let mut attempt = 1;
        loop {
            match self.target.push(&batch) {
                Ok(()) => {
                    self.pushes.inc();
                    return Ok(());
                }
                Err(error) => {
                    self.failures.inc();
                    if !error.is_retryable() || attempt >= self.retry.attempts {
                        self.dropped.inc();
                        tracing::warn!(target = self.target.name(), %error, attempt, "push given up");
                        return Err(error);
                    }
                }
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(self.retry.max_backoff);
            attempt += 1;
        }
    }
}

/// Sends a registry to a [`PushTarget`] every interval on its own thread, and once more when
/// it stops — on [`shutdown`](Self::shutdown) or on drop — so a run that ends between two
/// pushes loses nothing. Each push is retried with exponential backoff within a bounded
/// [`Retry`] budget; `perf_instrument_pushes_total{target}`,
/// `perf_instrument_push_failures_total{target}` and
/// `perf_instrument_push_dropped_batches_total{target}` count what happened, in the registry
/// pushed.
///
/// Keep the handle alive for the whole run (in `main`), and let it drop, or call `shutdown`,
/// before the process exits: `std::process::exit` skips destructors, and so skips the final
/// flush. Dropping blocks for the final push, bounded by the retry budget and the target's
/// timeout.
///
/// ```
/// use perf_instrument::export::{PushBatch, PushError, PushTarget, Pusher};
/// use perf_instrument::{Registry, SeriesValue};
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
///
/// /// Keeps the last value of `jobs_total` it was sent.
/// #[derive(Debug, Clone, Default)]
/// struct Last(Arc<Mutex<Option<u64>>>);
/// impl PushTarget for Last {
///     fn name(&self) -> &str { "memory" }
///     fn push(&mut self, batch: &PushBatch<'_>) -> Result<(), PushError> {
///         let jobs = batch.families.iter().find(|f| f.desc.name() == "jobs").unwrap();
///         if let SeriesValue::Unsigned(n) = jobs.series[0].value {
///             *self.0.lock().unwrap() = Some(n);
///         }
///         Ok(())
///     }
/// }
///
/// let registry = Registry::new();
/// let jobs = registry.counter("jobs", "Jobs done.").unwrap();
/// let last = Last::default();
/// let pusher = Pusher::builder(&registry, last.clone())
///     .interval(Duration::from_secs(3600))
///     .start()
///     .unwrap();
/// jobs.inc_by(3);
/// // The run ends long before the first interval: the final flush still sends it.
/// pusher.shutdown().unwrap();
/// assert_eq!(*last.0.lock().unwrap(), Some(3));
/// ```
#[must_use = "the pusher stops (after a final push) when the handle is dropped"]
pub struct Pusher {
    name: String,
    interval: Duration,
    worker: Arc<Mutex<Worker>>,
    last: Arc<Mutex<Option<Result<(), PushError>>>>,
    thread: Option<BackgroundThread>,
}

impl Pusher {
    /// A pusher of `registry` to `target`: every 10 s by default, [`Retry::default`].
    ///
    /// ```
    /// # use perf_instrument::export::{PushBatch, PushError, PushTarget, Pusher};
    /// # #[derive(Debug)] struct Sink;
    /// # impl PushTarget for Sink {
    /// #     fn name(&self) -> &str { "sink" }
    /// #     fn push(&mut self, _: &PushBatch<'_>) -> Result<(), PushError> { Ok(()) }
    /// # }
    /// let registry = perf_instrument::Registry::new();
    /// let pusher = Pusher::builder(&registry, Sink).start().unwrap();
    /// assert_eq!(pusher.interval(), std::time::Duration::from_secs(10));
    /// ```
    pub fn builder(registry: &Registry, target: impl PushTarget + 'static) -> PusherBuilder {
        PusherBuilder {
            registry: registry.clone(),
            target: Box::new(target),
            interval: Duration::from_secs(10),
            retry: Retry::default(),
        }
    }

    /// Pushes now, on the calling thread (retrying within the budget), besides the interval's
    /// pushes; they never run at the same time.
    ///
    /// ```
    /// # use perf_instrument::export::{PushBatch, PushError, PushTarget, Pusher};
    /// # #[derive(Debug)] struct Sink;
    /// # impl PushTarget for Sink {
    /// #     fn name(&self) -> &str { "sink" }
    /// #     fn push(&mut self, _: &PushBatch<'_>) -> Result<(), PushError> { Ok(()) }
    /// # }
    /// let registry = perf_instrument::Registry::new();
    /// let pusher = Pusher::builder(&registry, Sink).start().unwrap();
    /// pusher.push_now().unwrap();
    /// let text = String::from_utf8(perf_instrument::render_as(&registry, perf_instrument::Format::PrometheusText)).unwrap();
    /// assert!(text.contains("perf_instrument_pushes_total{target=\"sink\"} 1\n"));
    /// ```
    pub fn push_now(&self) -> Result<(), PushError> {
        lock(&self.worker).push()
    }

    /// Stops the thread, pushes a last time and returns how that push went.
    ///
    /// ```
    /// # use perf_instrument::export::{PushBatch, PushError, PushTarget, Pusher};
    /// # #[derive(Debug)] struct Down;
    /// # impl PushTarget for Down {
    /// #     fn name(&self) -> &str { "down" }
    /// #     fn push(&mut self, _: &PushBatch<'_>) -> Result<(), PushError> {
    /// #         Err(PushError::Refused { url: "http://x".into(), status: 404, body: String::new() })
    /// #     }
    /// # }
    /// let registry = perf_instrument::Registry::new();
    /// let pusher = Pusher::builder(&registry, Down).start().unwrap();
    /// assert!(matches!(pusher.shutdown(), Err(perf_instrument::export::PushError::Refused { status: 404, .. })));
    /// ```
    pub fn shutdown(mut self) -> Result<(), PushError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), PushError> {
        match self.thread.take() {
            Some(thread) => {
                thread.stop();
                // The thread ran the final push after its loop; a thread that never started
                // (the OS refused one) leaves it to us.
                let ran = lock(&self.last).take();
                ran.unwrap_or_else(|| lock(&self.worker).push())
            }
            None => Ok(()),
        }
    }

    /// The name of the target, as in the counters' `target` label.
    ///
    /// ```
    /// # use perf_instrument::export::{PushBatch, PushError, PushTarget, Pusher};
    /// # #[derive(Debug)] struct Sink;
    /// # impl PushTarget for Sink {
    /// #     fn name(&self) -> &str { "sink" }
    /// #     fn push(&mut self, _: &PushBatch<'_>) -> Result<(), PushError> { Ok(()) }
    /// # }
    /// let registry = perf_instrument::Registry::new();
    /// assert_eq!(Pusher::builder(&registry, Sink).start().unwrap().target(), "sink");
    /// ```
    #[must_use]
    pub fn target(&self) -> &str {
        &self.name
    }

    /// Time between two pushes.
    ///
    /// ```
    /// # use perf_instrument::export::{PushBatch, PushError, PushTarget, Pusher};
    /// # #[derive(Debug)] struct Sink;
    /// # impl PushTarget for Sink {
    /// #     fn name(&self) -> &str { "sink" }
    /// #     fn push(&mut self, _: &PushBatch<'_>) -> Result<(), PushError> { Ok(()) }
    /// # }
    /// let registry = perf_instrument::Registry::new();
    /// let pusher = Pusher::builder(&registry, Sink).interval(std::time::Duration::from_secs(1)).start().unwrap();
    /// assert_eq!(pusher.interval(), std::time::Duration::from_secs(1));
    /// ```
    #[must_use]
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

impl fmt::Debug for Pusher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pusher")
            .field("target", &self.name)
            .field("interval", &self.interval)
            .field(
                "running",
                &self.thread.as_ref().is_some_and(|t| t.is_running()),
            )
            .finish()
    }
}

/// Sets up a [`Pusher`] (from [`Pusher::builder`]).
///
/// ```
/// # use perf_instrument::export::{PushBatch, PushError, PushTarget, Pusher, Retry};
/// # #[derive(Debug)] struct Sink;
/// # impl PushTarget for Sink {
/// #     fn name(&self) -> &str { "sink" }
/// #     fn push(&mut self, _: &PushBatch<'_>) -> Result<(), PushError> { Ok(()) }
/// # }
/// use std::time::Duration;
/// let registry = perf_instrument::Registry::new();
/// let pusher = Pusher::builder(&registry, Sink)
///     .interval(Duration::from_secs(15))
///     .retry(Retry { attempts: 2, ..Retry::default() })
///     .start()
///     .unwrap();
/// assert_eq!(pusher.interval(), Duration::from_secs(15));
/// // A zero interval (a thread that would spin) is refused.
/// assert!(Pusher::builder(&registry, Sink).interval(Duration::ZERO).start().is_err());
/// ```
#[must_use]
pub struct PusherBuilder {
    registry: Registry,
    target: Box<dyn PushTarget>,
    interval: Duration,
    retry: Retry,
}

impl PusherBuilder {
    /// Time between two pushes (default 10 s; not zero).
    ///
    /// ```
    /// # use perf_instrument::export::{PushBatch, PushError, PushTarget, Pusher};
    /// # #[derive(Debug)] struct Sink;
    /// # impl PushTarget for Sink {
    /// #     fn name(&self) -> &str { "sink" }
    /// #     fn push(&mut self, _: &PushBatch<'_>) -> Result<(), PushError> { Ok(()) }
    /// # }
    /// let registry = perf_instrument::Registry::new();
    /// let every_5s = Pusher::builder(&registry, Sink).interval(std::time::Duration::from_secs(5));
    /// assert_eq!(every_5s.start().unwrap().interval().as_secs(), 5);
    /// ```
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// How failed pushes are retried (default [`Retry::default`]).
    ///
    /// ```
    /// # use perf_instrument::export::{PushBatch, PushError, PushTarget, Pusher, Retry};
    /// # #[derive(Debug)] struct Sink;
    /// # impl PushTarget for Sink {
    /// #     fn name(&self) -> &str { "sink" }
    /// #     fn push(&mut self, _: &PushBatch<'_>) -> Result<(), PushError> { Ok(()) }
    /// # }
    /// let registry = perf_instrument::Registry::new();
    /// let once = Pusher::builder(&registry, Sink).retry(Retry { attempts: 1, ..Retry::default() });
    /// assert!(once.start().is_ok());
    /// ```
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// Registers the push counters and starts the thread (`push-<target>`).
    ///
    /// # Errors
    ///
    /// [`RegistryError::ZeroSetting`] for a zero interval; a registration error if the
    /// registry already holds one of the push families with another shape.
    ///
    /// ```
    /// # use perf_instrument::export::{PushBatch, PushError, PushTarget, Pusher};
    /// # #[derive(Debug)] struct Sink;
    /// # impl PushTarget for Sink {
    /// #     fn name(&self) -> &str { "sink" }
    /// #     fn push(&mut self, _: &PushBatch<'_>) -> Result<(), PushError> { Ok(()) }
    /// # }
    /// let registry = perf_instrument::Registry::new();
    /// let pusher = Pusher::builder(&registry, Sink).start().unwrap();
    /// assert_eq!(pusher.target(), "sink");
    /// ```
    pub fn start(self) -> Result<Pusher, RegistryError> {
        let name = self.target.name().to_string();
        let counter = |def: &crate::registry::FamilyDef| -> Result<Counter, RegistryError> {
            Ok(self
                .registry
                .register_counter(def.opts())?
                .with_label_values(&[&name]))
        };
        let pushes = counter(&families::PUSHES)?;
        let failures = counter(&families::FAILURES)?;
        let dropped = counter(&families::DROPPED)?;
        let background = Background::new(&self.registry)?;
        let worker = Arc::new(Mutex::new(Worker {
            registry: self.registry,
            target: self.target,
            retry: self.retry,
            start_time: SystemTime::now(),
            pushes,
            failures,
            dropped,
        }));
        let last = Arc::new(Mutex::new(None));
        let (tick_worker, last_worker, last_result) =
            (worker.clone(), worker.clone(), last.clone());
        let thread = background.spawn_with_last(
            format!("push-{name}"),
            self.interval,
            move || {
                let _ = lock(&tick_worker).push();
                true
            },
            move || {
                let result = lock(&last_worker).push();
                *lock(&last_result) = Some(result);
            },
        )?;
        Ok(Pusher {
            name,
            interval: self.interval,
            worker,
            last,
            thread: Some(thread),
        })
    }
}

impl fmt::Debug for PusherBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PusherBuilder")
            .field("target", &self.target)
            .field("interval", &self.interval)
            .field("retry", &self.retry)
            .finish()
    }
}
