//! The runtime stall probe (feature `tokio`): a background thread hands a tiny probe task to
//! an async runtime every interval and measures how long the runtime took to poll it — its
//! scheduling delay. A delay past the threshold is a stall: the runtime was blocked (a
//! synchronous call inside a task, a long poll) and every task on it waited that long.
//!
//! Families, by label `runtime`: `runtime_scheduling_delay_seconds` (every probe),
//! `runtime_stalls_total`, `runtime_last_stall_seconds` and `runtime_last_stall_start_seconds`
//! (Unix time the last stall began), `runtime_longest_stall_seconds`, and
//! `runtime_unpolled_seconds` (how long the probe in flight has waited, read at scrape: a
//! runtime wedged right now shows here while it lasts), and `runtime_stall_threshold_seconds`.

/// The catalogue entries of the stall probe's families.
pub(crate) mod families {
    use crate::recorder::Unit;
    use crate::registry::{FamilyDef, TableSpec};

    /// Every probe's scheduling delay.
    pub(crate) const DELAY: FamilyDef = FamilyDef::histogram(
        "runtime_scheduling_delay_seconds",
        "Time from handing the probe task to the runtime to its first poll.",
    )
    .unit(Unit::Seconds)
    .labels(&["runtime"])
    .table(TableSpec::new("runtime scheduling delay", "{runtime}").with_rank(1_100));
    /// Stalls: probes polled later than the threshold.
    pub(crate) const STALLS: FamilyDef = FamilyDef::counter(
        "runtime_stalls",
        "Probes the runtime polled later than the stall threshold.",
    )
    .labels(&["runtime"])
    .not_tabled("a counter (the runtime-stall finding reads it)");
    /// The last stall's length.
    pub(crate) const LAST_STALL: FamilyDef = FamilyDef::gauge(
        "runtime_last_stall_seconds",
        "How long the last stall lasted (the probe's scheduling delay).",
    )
    .unit(Unit::Seconds)
    .labels(&["runtime"])
    .not_tabled("a gauge (the runtime-stall finding reads it)");
    /// When the last stall began.
    pub(crate) const LAST_STALL_START: FamilyDef = FamilyDef::gauge(
        "runtime_last_stall_start_seconds",
        "Unix time at which the last stall began (the probe was handed to the runtime).",
    )
    .unit(Unit::Seconds)
    .labels(&["runtime"])
    .not_tabled("a gauge (the runtime-stall finding reads it)");
    /// The longest stall.
    pub(crate) const LONGEST_STALL: FamilyDef =
        FamilyDef::gauge("runtime_longest_stall_seconds", "The longest stall seen.")
            .unit(Unit::Seconds)
            .labels(&["runtime"])
            .not_tabled("a gauge (the runtime-stall finding reads it)");
    /// How long the probe in flight has waited, read at scrape.
    pub(crate) const UNPOLLED: FamilyDef = FamilyDef::gauge(
        "runtime_unpolled_seconds",
        "How long the probe in flight has waited for its first poll (0 when none waits).",
    )
    .unit(Unit::Seconds)
    .labels(&["runtime"])
    .not_tabled("a gauge");
    /// The stall threshold.
    pub(crate) const THRESHOLD: FamilyDef = FamilyDef::gauge(
        "runtime_stall_threshold_seconds",
        "The scheduling delay past which a probe counts as a stall.",
    )
    .unit(Unit::Seconds)
    .labels(&["runtime"])
    .not_tabled("a gauge (the runtime-stall finding shows it as its threshold)");

    /// All of them.
    pub(crate) const ALL: &[&FamilyDef] = &[
        &DELAY,
        &STALLS,
        &LAST_STALL,
        &LAST_STALL_START,
        &LONGEST_STALL,
        &UNPOLLED,
        &THRESHOLD,
    ];
}

#[cfg(feature = "tokio")]
pub use probe::{RuntimeStallProbe, RuntimeStallProbeBuilder};

#[cfg(feature = "tokio")]
mod probe {
    use super::families as f;
    use crate::clock::Clock;
    use crate::recorder::{Counter, Histogram};
    use crate::registry::background::{Background, BackgroundThread};
    use crate::registry::{FnGauge, Registry, RegistryError};
    use crate::sync::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    const NONE: u64 = u64::MAX;

    struct State {
        clock: Clock,
        threshold_nanos: u64,
        /// Raw clock reading when the probe in flight was handed over (`NONE`: none waits).
        sent: AtomicU64,
        /// Unix nanoseconds when the probe in flight was handed over.
        sent_unix: AtomicU64,
        delay: Histogram,
        stalls: Counter,
        last: AtomicU64,
        last_start: AtomicU64,
        longest: AtomicU64,
    }

    impl State {
        /// The probe ran: records its delay, and a stall past the threshold.
        fn polled(&self) {
            let now = self.clock.raw();
            let sent = self.sent.load(Ordering::Acquire);
            if sent == NONE {
                return;
            }
            let nanos = self.clock.delta_nanos(sent, now);
            self.delay.record_duration(Duration::from_nanos(nanos));
            if nanos > self.threshold_nanos {
                self.stalls.inc();
                self.last.store(nanos, Ordering::Relaxed);
                self.last_start
                    .store(self.sent_unix.load(Ordering::Relaxed), Ordering::Relaxed);
                self.longest.fetch_max(nanos, Ordering::Relaxed);
                tracing::warn!(
                    stalled_for = ?Duration::from_nanos(nanos),
                    "async runtime did not poll its probe task for longer than the stall threshold: something blocked it"
                );
            }
            self.sent.store(NONE, Ordering::Release);
        }
    }

    /// Configures a [`RuntimeStallProbe`]: the probe interval and the stall threshold.
    ///
    /// ```
    /// use perf_instrument::RuntimeStallProbe;
    /// use std::time::Duration;
    /// let b = RuntimeStallProbe::builder("app").interval(Duration::from_millis(5))
    ///     .threshold(Duration::from_millis(50));
    /// assert!(format!("{b:?}").contains("50ms"));
    /// ```
    #[derive(Clone, Debug)]
    #[must_use = "a builder does nothing until `start` is called"]
    pub struct RuntimeStallProbeBuilder {
        name: String,
        interval: Duration,
        threshold: Duration,
    }

    impl RuntimeStallProbeBuilder {
        /// How often a probe is handed to the runtime (default 10 ms; a stall's measured length
        /// is short by at most this much). Zero is refused by `start`.
        ///
        /// ```
        /// let b = perf_instrument::RuntimeStallProbe::builder("app").interval(std::time::Duration::from_millis(1));
        /// assert!(format!("{b:?}").contains("1ms"));
        /// ```
        pub fn interval(mut self, interval: Duration) -> Self {
            self.interval = interval;
            self
        }

        /// Scheduling delay past which a probe counts as a stall (default 100 ms). Zero is
        /// refused by `start`.
        ///
        /// ```
        /// let b = perf_instrument::RuntimeStallProbe::builder("app").threshold(std::time::Duration::from_millis(20));
        /// assert!(format!("{b:?}").contains("20ms"));
        /// ```
        pub fn threshold(mut self, threshold: Duration) -> Self {
            self.threshold = threshold;
            self
        }

        /// Starts probing the runtime of `handle` from a background thread, until the
        /// returned probe drops.
        ///
        /// # Errors
        ///
        /// [`RegistryError`] if the families clash in `registry`;
        /// [`RegistryError::ZeroSetting`] for a zero interval or threshold.
        ///
        /// ```
        /// let registry = perf_instrument::Registry::new();
        /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        /// let probe = perf_instrument::RuntimeStallProbe::builder("app")
        ///     .start(rt.handle(), &registry).unwrap();
        /// assert_eq!(probe.stalls(), 0);
        /// ```
        pub fn start(
            self,
            handle: &tokio::runtime::Handle,
            registry: &Registry,
        ) -> Result<RuntimeStallProbe, RegistryError> {
            if self.threshold.is_zero() {
                return Err(RegistryError::ZeroSetting {
                    setting: "threshold",
                });
            }
            if self.interval.is_zero() {
                return Err(RegistryError::ZeroSetting {
                    setting: "interval",
                });
            }
            let l = [self.name.as_str()];
            let state = Arc::new(State {
                clock: Clock::global().clone(),
                threshold_nanos: u64::try_from(self.threshold.as_nanos()).unwrap_or(u64::MAX),
                sent: AtomicU64::new(NONE),
                sent_unix: AtomicU64::new(0),
                delay: registry
                    .register_histogram(f::DELAY.opts())?
                    .with_label_values(&l),
                stalls: registry
                    .register_counter(f::STALLS.opts())?
                    .with_label_values(&l),
                last: AtomicU64::new(0),
                last_start: AtomicU64::new(0),
                longest: AtomicU64::new(0),
            });
            let gauge = |def: &crate::registry::FamilyDef,
                         read: Box<dyn Fn(&State) -> f64 + Send + Sync>|
             -> Result<(), RegistryError> {
                let g: FnGauge = registry
                    .register_fn_gauge(def.opts())?
                    .with_label_values(&l);
                let weak = Arc::downgrade(&state);
                g.set_fn(move || Some(read(&*weak.upgrade()?)));
                Ok(())
            };
            let secs = |n: u64| n as f64 / 1e9;
            gauge(
                &f::LAST_STALL,
                Box::new(move |s| secs(s.last.load(Ordering::Relaxed))),
            )?;
            gauge(
                &f::LAST_STALL_START,
                Box::new(move |s| secs(s.last_start.load(Ordering::Relaxed))),
            )?;
            gauge(
                &f::LONGEST_STALL,
                Box::new(move |s| secs(s.longest.load(Ordering::Relaxed))),
            )?;
            gauge(
                &f::UNPOLLED,
                Box::new(move |s| match s.sent.load(Ordering::Acquire) {
                    NONE => 0.0,
                    sent => secs(s.clock.delta_nanos(sent, s.clock.raw())),
                }),
            )?;
            let threshold = self.threshold.as_secs_f64();
            gauge(&f::THRESHOLD, Box::new(move |_| threshold))?;
            let handle = handle.clone();
            let thread_state = Arc::clone(&state);
            let thread = Background::new(registry)?.spawn(
                format!("runtime-stall-probe-{}", self.name),
                self.interval,
                move || {
                    let s = &thread_state;
                    // One probe in flight at a time: a blocked runtime is not flooded.
                    if s.sent.load(Ordering::Acquire) == NONE {
                        let unix = SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(0));
                        s.sent_unix.store(unix, Ordering::Relaxed);
                        s.sent.store(s.clock.raw(), Ordering::Release);
                        let probe = Arc::clone(s);
                        drop(handle.spawn(async move { probe.polled() }));
                    }
                    true
                },
            )?;
            Ok(RuntimeStallProbe {
                name: self.name,
                state,
                _thread: thread,
            })
        }
    }

    /// Measures an async runtime's scheduling delay with a probe task, and reports stalls:
    /// times the runtime did not poll the probe for longer than the threshold (the report's
    /// runtime-stall finding says when and for how long). The probe is driven by a background
    /// thread, so it keeps measuring while the runtime is wedged. Stops when dropped.
    ///
    /// ```
    /// use perf_instrument::{Registry, RuntimeStallProbe};
    /// let registry = Registry::new();
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let probe = RuntimeStallProbe::builder("app").start(rt.handle(), &registry).unwrap();
    /// assert_eq!(probe.name(), "app");
    /// assert!(probe.longest_stall().is_none());
    /// ```
    pub struct RuntimeStallProbe {
        name: String,
        state: Arc<State>,
        _thread: BackgroundThread,
    }

    impl std::fmt::Debug for RuntimeStallProbe {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("RuntimeStallProbe")
                .field("name", &self.name)
                .field("stalls", &self.stalls())
                .finish_non_exhaustive()
        }
    }

    impl RuntimeStallProbe {
        /// A builder for a probe of the runtime named `name` (the `runtime` label).
        ///
        /// ```
        /// let b = perf_instrument::RuntimeStallProbe::builder("app");
        /// assert!(format!("{b:?}").contains("app"));
        /// ```
        pub fn builder(name: impl Into<String>) -> RuntimeStallProbeBuilder {
            RuntimeStallProbeBuilder {
                name: name.into(),
                interval: Duration::from_millis(10),
                threshold: Duration::from_millis(100),
            }
        }

        /// The runtime's name.
        ///
        /// ```
        /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        /// # let p = perf_instrument::RuntimeStallProbe::builder("app").start(rt.handle(), &perf_instrument::Registry::new()).unwrap();
        /// assert_eq!(p.name(), "app");
        /// ```
        #[must_use]
        pub fn name(&self) -> &str {
            &self.name
        }

        /// Stalls seen so far.
        ///
        /// ```
        /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        /// # let p = perf_instrument::RuntimeStallProbe::builder("app").start(rt.handle(), &perf_instrument::Registry::new()).unwrap();
        /// assert_eq!(p.stalls(), 0);
        /// ```
        #[must_use]
        pub fn stalls(&self) -> u64 {
            self.state.stalls.get()
        }

        /// The longest stall seen, if any.
        ///
        /// ```
        /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        /// # let p = perf_instrument::RuntimeStallProbe::builder("app").start(rt.handle(), &perf_instrument::Registry::new()).unwrap();
        /// assert_eq!(p.longest_stall(), None);
        /// ```
        #[must_use]
        pub fn longest_stall(&self) -> Option<Duration> {
            match self.state.longest.load(Ordering::Relaxed) {
                0 => None,
                n => Some(Duration::from_nanos(n)),
            }
        }
    }
}
