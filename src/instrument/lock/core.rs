//! What every instrumented lock shares: its metrics, its call-site table, and the record of the
//! current exclusive holder that the watchdog reads.

use crate::clock::Clock;
use crate::recorder::{Counter, Histogram};
use crate::registry::FnGauge;
use crate::registry::{Family, Registry, RegistryError};
use crate::sync::{lock, AtomicU64, AtomicUsize, Mutex, OnceLock, Ordering};
use std::fmt;
use std::panic::Location;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// The families every instrumented lock registers (shared by all locks, by label `lock`).
pub(crate) mod families {
    use crate::recorder::Unit;
    use crate::registry::{FamilyDef, TableSpec};

    /// Contended waits.
    pub(crate) const WAIT: FamilyDef = FamilyDef::histogram(
        "lock_wait_seconds",
        "Time spent waiting for a contended lock.",
    )
    .unit(Unit::Seconds)
    .labels(&["lock"])
    .table(TableSpec::new("lock waits", "{lock}").with_rank(300));
    /// Holds (locks with hold timing on).
    pub(crate) const HOLD: FamilyDef = FamilyDef::histogram(
        "lock_hold_seconds",
        "Time a lock was held (locks with hold timing on).",
    )
    .unit(Unit::Seconds)
    .labels(&["lock"])
    .table(TableSpec::new("lock holds", "{lock}").with_rank(400));
    /// Contended acquisitions.
    pub(crate) const CONTENDED: FamilyDef = FamilyDef::counter(
        "lock_contended",
        "Acquisitions that found the lock taken and had to wait.",
    )
    .labels(&["lock"])
    .not_tabled("a counter (the contended-lock finding reads it)");
    /// Holds past the watchdog threshold.
    pub(crate) const HELD_TOO_LONG: FamilyDef = FamilyDef::counter(
        "lock_held_too_long",
        "Holds that outlasted the lock's watchdog threshold.",
    )
    .labels(&["lock"])
    .not_tabled("a counter (the long-lock-hold finding reads it)");
    /// Contended acquisitions by call site and role.
    pub(crate) const CONTENDED_BY_SITE: FamilyDef = FamilyDef::counter(
        "lock_contended_by_site",
        "Contended acquisitions by call site: of the waiter, and of the holder it waited for.",
    )
    .labels(&["lock", "site", "role"])
    .not_tabled("a counter (the contended-lock finding names its top sites)");
    /// Time waited by call site and role.
    pub(crate) const WAIT_BY_SITE: FamilyDef = FamilyDef::counter(
        "lock_wait_by_site_seconds",
        "Time spent waiting for a contended lock, by call site: of the waiter, and of the holder it waited for.",
    )
    .unit(Unit::Seconds)
    .labels(&["lock", "site", "role"])
    .not_tabled("a counter (the contended-lock finding names its top sites)");
    /// Holds past the watchdog threshold, by the holder's call site.
    pub(crate) const HELD_TOO_LONG_BY_SITE: FamilyDef = FamilyDef::counter(
        "lock_held_too_long_by_site",
        "Holds that outlasted the lock's watchdog threshold, by the holder's call site.",
    )
    .labels(&["lock", "site"])
    .not_tabled("a counter (the long-lock-hold finding names the holder's site)");
    /// The watchdog threshold of a lock with one.
    pub(crate) const WATCHDOG_THRESHOLD: FamilyDef = FamilyDef::gauge(
        "lock_watchdog_threshold_seconds",
        "The hold duration past which the watchdog reports a hold (locks with a watchdog).",
    )
    .unit(Unit::Seconds)
    .labels(&["lock"])
    .not_tabled("a gauge (the long-lock-hold finding shows it as its threshold)");
    pub(crate) use super::super::order::families::{
        ORDER_CYCLES, ORDER_CYCLE_EDGE, ORDER_EDGES_DROPPED,
    };
    /// The current holder's hold, read at scrape.
    pub(crate) const CURRENT_LONGEST_HOLD: FamilyDef = FamilyDef::gauge(
        "lock_current_longest_hold_seconds",
        "How long the current holder has held the lock (0 when free; locks with a watchdog).",
    )
    .unit(Unit::Seconds)
    .labels(&["lock"])
    .not_tabled("a gauge");

    /// All of them.
    pub(crate) const ALL: &[&FamilyDef] = &[
        &WAIT,
        &HOLD,
        &CONTENDED,
        &HELD_TOO_LONG,
        &CONTENDED_BY_SITE,
        &WAIT_BY_SITE,
        &CURRENT_LONGEST_HOLD,
        &HELD_TOO_LONG_BY_SITE,
        &WATCHDOG_THRESHOLD,
        &ORDER_CYCLES,
        &ORDER_CYCLE_EDGE,
        &ORDER_EDGES_DROPPED,
    ];
}

/// Most distinct call sites kept per lock; others are reported as [`OTHER_SITE`].
pub const MAX_SITES: usize = 32;

/// The `site` label of call sites beyond the 32 kept per lock.
///
/// Kept sites are labelled `file:line` (the column is left out, so the label stays the same
/// when code on the line moves); this value cannot be mistaken for one.
///
/// ```
/// use perf_instrument::lock::OTHER_SITE;
/// let here = std::panic::Location::caller();
/// let site = format!("{}:{}", here.file(), here.line()); // how a kept site is labelled
/// assert_eq!(site.matches(':').count(), 1);
/// assert!(!OTHER_SITE.contains(':'));
/// ```
pub const OTHER_SITE: &str = "__other__";

/// Per-lock interning of `#[track_caller]` locations into small indexes.
///
/// Lookups scan an array of atomics (lock-free); a miss takes a mutex, appends the location and
/// only then publishes its key, so an index found by a lookup always has its location.
pub struct Sites {
    keys: [AtomicUsize; MAX_SITES],
    locations: Mutex<Vec<&'static Location<'static>>>,
}

impl fmt::Debug for Sites {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sites")
            .field("len", &lock(&self.locations).len())
            .finish()
    }
}

impl Sites {
    /// An empty table.
    pub fn new() -> Self {
        Self {
            keys: std::array::from_fn(|_| AtomicUsize::new(0)),
            locations: Mutex::new(Vec::new()),
        }
    }

    /// The index of `site` (`MAX_SITES` when the table is full).
    #[inline]
    pub fn index(&self, site: &'static Location<'static>) -> usize {
        let key = std::ptr::from_ref(site) as usize;
        for (i, slot) in self.keys.iter().enumerate() {
            match slot.load(Ordering::Acquire) {
                k if k == key => return i,
                0 => return self.insert(site, key),
                _ => {}
            }
        }
        MAX_SITES
    }

    #[cold]
    fn insert(&self, site: &'static Location<'static>, key: usize) -> usize {
        let mut locations = lock(&self.locations);
        for (i, slot) in self.keys.iter().enumerate().take(locations.len()) {
            if slot.load(Ordering::Relaxed) == key {
                return i;
            }
        }
        let i = locations.len();
        if i >= MAX_SITES {
            return MAX_SITES;
        }
        locations.push(site);
        self.keys[i].store(key, Ordering::Release);
        i
    }

    /// The `file:line` label of a site index.
    pub fn label(&self, index: usize) -> String {
        lock(&self.locations).get(index).map_or_else(
            || OTHER_SITE.to_string(),
            |l| format!("{}:{}", l.file(), l.line()),
        )
    }
}

/// Who holds the lock exclusively now, and since when — written by the holder (holders are
/// serialised by the lock itself, so plain stores suffice), read by the watchdog and scrapes.
///
/// A sequence lock: the writer makes `seq` odd, fences, writes `since` and `site`, and makes
/// `seq` even again; a reader that sees the same even `seq` before and after its reads has a
/// whole record. `since == NOT_HELD` means free.
#[derive(Debug)]
pub struct HeldRecord {
    seq: AtomicU64,
    since: AtomicU64,
    site: AtomicUsize,
}

const NOT_HELD: u64 = u64::MAX;

/// Reads retried while a hand-over races them (few under loom, to keep the model small).
const READ_ATTEMPTS: u32 = if cfg!(perf_instrument_loom) { 3 } else { 64 };

/// One observed hold: which episode, since when (raw clock), which site index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    /// Different for every acquisition.
    pub episode: u64,
    /// Raw clock reading at acquisition.
    pub since: u64,
    /// Site index of the holder.
    pub site: usize,
}

impl Default for HeldRecord {
    fn default() -> Self {
        Self {
            seq: AtomicU64::new(0),
            since: AtomicU64::new(NOT_HELD),
            site: AtomicUsize::new(0),
        }
    }
}

impl HeldRecord {
    /// The holder records itself (called with the lock held, by its only holder).
    #[inline]
    pub fn acquire(&self, since: u64, site: usize) {
        self.write(since.min(NOT_HELD - 1), site);
    }

    /// The holder leaves (called before the lock is released).
    #[inline]
    pub fn release(&self) {
        self.write(NOT_HELD, MAX_SITES);
    }

    #[inline]
    fn write(&self, since: u64, site: usize) {
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq | 1, Ordering::Relaxed);
        crate::sync::fence_release();
        self.since.store(since, Ordering::Relaxed);
        self.site.store(site, Ordering::Relaxed);
        self.seq.store((seq | 1) + 1, Ordering::Release);
    }

    /// The current hold, if any, read consistently (retried while a hand-over races the read).
    pub fn read(&self) -> Option<Held> {
        for step in 0..READ_ATTEMPTS {
            let before = self.seq.load(Ordering::Acquire);
            if before & 1 == 0 {
                let since = self.since.load(Ordering::Relaxed);
                let site = self.site.load(Ordering::Relaxed);
                crate::sync::fence_acquire();
                if self.seq.load(Ordering::Relaxed) == before {
                    return (since != NOT_HELD).then_some(Held {
                        episode: before,
                        since,
                        site,
                    });
                }
            }
            crate::sync::spin_wait(step);
        }
        None
    }
}

/// The current stretch of overlapping read holds of an `RwLock`: how many readers hold it, and
/// the start and call site of the stretch — written by the readers, read by the watchdog and
/// scrapes.
///
/// One word packs the reader count (low 32 bits), the stretch's generation (bits 32..63) and a
/// *starting* flag (bit 63). The reader that takes the count from 0 starts a new stretch: it
/// sets the flag and the next generation in the same compare-exchange, fences, writes `since`
/// and `site`, and clears the flag. Other readers join by a compare-exchange that only succeeds
/// on a non-zero count, so a count of 0 becomes 1 only through a start. A reader of the record
/// therefore never pairs a count with the start of an earlier stretch: it skips a stretch
/// still starting, and keeps `since` and `site` only if the generation did not change while it
/// read them.
#[derive(Debug)]
pub struct ReadStretch {
    word: AtomicU64,
    since: AtomicU64,
    site: AtomicUsize,
}

const STARTING: u64 = 1 << 63;
const COUNT_MASK: u64 = (1 << 32) - 1;
const GENERATION_ONE: u64 = 1 << 32;
const GENERATION_MASK: u64 = !COUNT_MASK & !STARTING;

/// One observed stretch of read holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadHeld {
    /// Different for every stretch (until the 31-bit generation wraps).
    pub stretch: u64,
    /// Raw clock reading at the stretch's start.
    pub since: u64,
    /// Site index of the reader that began it.
    pub site: usize,
}

impl Default for ReadStretch {
    fn default() -> Self {
        Self {
            word: AtomicU64::new(0),
            since: AtomicU64::new(0),
            site: AtomicUsize::new(MAX_SITES),
        }
    }
}

impl ReadStretch {
    /// A reader takes the lock at `since` (raw clock), at call site `site`.
    #[inline]
    pub fn enter(&self, since: u64, site: usize) {
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            if word & COUNT_MASK == 0 {
                // Start a new stretch: flag it, next generation, one reader. Acquire: the
                // previous stretch's `since` and `site` stores then precede ours, so a reader
                // that sees this stretch cannot read theirs as the latest.
                let started = STARTING | (word.wrapping_add(GENERATION_ONE) & GENERATION_MASK) | 1;
                match self.word.compare_exchange_weak(
                    word,
                    started,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        crate::sync::fence_release();
                        self.since.store(since, Ordering::Relaxed);
                        self.site.store(site, Ordering::Relaxed);
                        self.word.fetch_and(!STARTING, Ordering::Release);
                        return;
                    }
                    Err(now) => word = now,
                }
            } else {
                match self.word.compare_exchange_weak(
                    word,
                    word + 1,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return,
                    Err(now) => word = now,
                }
            }
        }
    }

    /// A reader that [entered](Self::enter) leaves.
    #[inline]
    pub fn leave(&self) {
        self.word.fetch_sub(1, Ordering::Release);
    }

    /// The site index of the reader that began the current stretch (`MAX_SITES` if unknown).
    #[inline]
    pub(crate) fn site(&self) -> usize {
        self.site.load(Ordering::Relaxed)
    }

    /// The current stretch, if readers hold the lock and its start is published: read
    /// consistently (retried while a stretch is starting or the generation moves).
    pub fn read(&self) -> Option<ReadHeld> {
        for step in 0..READ_ATTEMPTS {
            let before = self.word.load(Ordering::Acquire);
            if before & COUNT_MASK == 0 {
                return None;
            }
            if before & STARTING == 0 {
                let since = self.since.load(Ordering::Relaxed);
                let site = self.site.load(Ordering::Relaxed);
                crate::sync::fence_acquire();
                let after = self.word.load(Ordering::Relaxed);
                if after & !COUNT_MASK == before & !COUNT_MASK {
                    return (after & COUNT_MASK != 0).then_some(ReadHeld {
                        stretch: (before & GENERATION_MASK) >> 32,
                        since,
                        site,
                    });
                }
            }
            crate::sync::spin_wait(step);
        }
        None
    }
}

/// Configuration shared by the lock builders.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) name: String,
    pub(crate) hold_timing: bool,
    pub(crate) watchdog: Option<Duration>,
    pub(crate) clock: Option<Clock>,
    pub(crate) shape: crate::instrument::HistogramShape,
    pub(crate) track_order: bool,
}

/// The metrics and bookkeeping of one lock.
pub(crate) struct Core {
    pub(crate) name: String,
    pub(crate) clock: Clock,
    pub(crate) hold_timing: bool,
    /// Threshold in nanoseconds; `None`: no holder timestamps, no watchdog.
    pub(crate) watchdog_nanos: Option<u64>,
    pub(crate) wait: Histogram,
    pub(crate) hold: Histogram,
    pub(crate) contended: Counter,
    pub(crate) held_too_long: Counter,
    by_site: Family<Counter>,
    wait_by_site: Family<Counter>,
    /// With a watchdog: `lock_held_too_long_by_site_total`, by the holder's site.
    held_too_long_by_site: Option<Family<Counter>>,
    /// Per site index: the waiter's and the holder's counters.
    site_counters: Box<[OnceLock<[SiteCounters; 2]>]>,
    pub(crate) sites: Sites,
    /// Site index of the latest exclusive acquisition (kept even without timestamps, to name
    /// the holder a contended waiter waited for).
    pub(crate) holder_site: AtomicUsize,
    pub(crate) held: HeldRecord,
    /// With a watchdog: the readers holding an `RwLock` now and the stretch of overlapping
    /// read holds they belong to.
    pub(crate) reading: ReadStretch,
    /// Without a watchdog: the site index of the latest read acquisition (stored only when it
    /// changes), to name the holder a contended writer waited for.
    pub(crate) last_read_site: AtomicUsize,
    /// The last hold episode the watchdog reported.
    pub(crate) reported: AtomicU64,
    /// With order tracking: the lock's node in the order graph.
    pub(crate) order: Option<super::order::OrderNode>,
}

impl Core {
    pub(crate) fn new(config: Config, registry: &Registry) -> Result<Arc<Self>, RegistryError> {
        let name = config.name.clone();
        let l = [name.as_str()];
        use families as f;
        let core = Arc::new(Self {
            clock: config.clock.unwrap_or_else(|| Clock::global().clone()),
            hold_timing: config.hold_timing,
            watchdog_nanos: config
                .watchdog
                .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            wait: registry
                .register_histogram(config.shape.opts(&f::WAIT))?
                .with_label_values(&l),
            hold: registry
                .register_histogram(config.shape.opts(&f::HOLD))?
                .with_label_values(&l),
            contended: registry
                .register_counter(f::CONTENDED.opts())?
                .with_label_values(&l),
            held_too_long: registry
                .register_counter(f::HELD_TOO_LONG.opts())?
                .with_label_values(&l),
            by_site: registry.register_counter(f::CONTENDED_BY_SITE.opts())?,
            wait_by_site: registry.register_counter(f::WAIT_BY_SITE.opts())?,
            held_too_long_by_site: match config.watchdog {
                Some(_) => Some(registry.register_counter(f::HELD_TOO_LONG_BY_SITE.opts())?),
                None => None,
            },
            site_counters: (0..=MAX_SITES).map(|_| OnceLock::new()).collect(),
            sites: Sites::new(),
            holder_site: AtomicUsize::new(MAX_SITES),
            held: HeldRecord::default(),
            reading: ReadStretch::default(),
            last_read_site: AtomicUsize::new(MAX_SITES),
            reported: AtomicU64::new(0),
            order: if config.track_order {
                Some(super::order::OrderNode::new(&name, registry)?)
            } else {
                None
            },
            name: config.name,
        });
        let weak: Weak<Core> = Arc::downgrade(&core);
        let longest: FnGauge = registry
            .register_fn_gauge(f::CURRENT_LONGEST_HOLD.opts())?
            .with_label_values(&l);
        longest.set_fn(move || {
            let core = weak.upgrade()?;
            core.watchdog_nanos?;
            Some(core.current_hold().map_or(0.0, |(_, d, _)| d.as_secs_f64()))
        });
        if let Some(threshold) = config.watchdog {
            let seconds = threshold.as_secs_f64();
            let gauge: FnGauge = registry
                .register_fn_gauge(f::WATCHDOG_THRESHOLD.opts())?
                .with_label_values(&l);
            gauge.set_fn(move || Some(seconds));
        }
        Ok(core)
    }

    /// Counts a hold past the watchdog threshold, by the holder's site label.
    pub(crate) fn held_too_long(&self, site: &str) {
        self.held_too_long.inc();
        if let Some(family) = &self.held_too_long_by_site {
            family.with_label_values(&[&self.name, site]).inc();
        }
    }

    /// Whether acquisitions timestamp themselves (for the watchdog or hold timing).
    #[inline]
    pub(crate) fn timestamps(&self) -> bool {
        self.hold_timing || self.watchdog_nanos.is_some()
    }

    /// The longest current hold — exclusive, or the current stretch of shared holds — as
    /// (episode, duration, site index).
    pub(crate) fn current_hold(&self) -> Option<(u64, Duration, usize)> {
        self.watchdog_nanos?;
        let now = self.clock.raw();
        let exclusive = self.held.read().map(|h| (h.episode, h.since, h.site));
        // Read stretches are told apart by their generation (the high bit keeps them apart
        // from exclusive episodes).
        let shared = self
            .reading
            .read()
            .map(|r| (r.stretch | 1 << 63, r.since, r.site));
        [exclusive, shared]
            .into_iter()
            .flatten()
            .map(|(episode, since, site)| {
                (
                    episode,
                    Duration::from_nanos(self.clock.delta_nanos(since, now)),
                    site,
                )
            })
            .max_by_key(|(_, d, _)| *d)
    }

    /// A contended acquisition at site `waiter`, about to block behind the holder at site
    /// `holder`: counts it now (so the count shows while the wait lasts) and returns the
    /// measurement to [`end`](Contention::end) once the lock is taken.
    #[cold]
    pub(crate) fn contention(&self, waiter: usize, holder: usize) -> Contention<'_> {
        self.contended.inc();
        let site = |index: usize, role: usize| -> &SiteCounters {
            let index = index.min(MAX_SITES);
            // Resolved on a site's first contention, then read without a lock.
            &self.site_counters[index].get_or_init(|| {
                let label = self.sites.label(index);
                let resolve = |role: &str| SiteCounters {
                    count: self.by_site.with_label_values(&[&self.name, &label, role]),
                    waited: self
                        .wait_by_site
                        .with_label_values(&[&self.name, &label, role]),
                };
                [resolve("waiter"), resolve("holder")]
            })[role]
        };
        let sites = [site(waiter, 0), site(holder, 1)];
        for s in &sites {
            s.count.inc();
        }
        Contention {
            core: self,
            sites,
            start: self.clock.raw(),
        }
    }
}

/// The bookkeeping of one hold: set up when the lock is taken, undone when the guard drops.
/// Guards hold it as their *first* field, so it is undone before the lock is released (also
/// while unwinding, and on whichever thread drops the guard).
pub(crate) struct Hold<'a> {
    core: &'a Core,
    acquired: u64,
    shared: bool,
    /// With order tracking: this hold's entry in the thread's held locks (0: none).
    order_token: u64,
}

impl<'a> Hold<'a> {
    /// An exclusive hold (a mutex, a write lock) taken at call site `site` (the caller's
    /// location, for order tracking).
    #[inline]
    #[track_caller]
    pub(crate) fn exclusive(core: &'a Core, site: usize) -> Self {
        let mut hold = Self::exclusive_in_task(core, site);
        if let Some(order) = &core.order {
            hold.order_token = order.acquire(Location::caller());
        }
        hold
    }

    /// An exclusive hold by an async task (not order-tracked: a task moves between threads).
    #[inline]
    pub(crate) fn exclusive_in_task(core: &'a Core, site: usize) -> Self {
        core.holder_site.store(site, Ordering::Relaxed);
        let acquired = if core.timestamps() {
            let now = core.clock.raw();
            if core.watchdog_nanos.is_some() {
                core.held.acquire(now, site);
            }
            now
        } else {
            0
        };
        Self {
            core,
            acquired,
            shared: false,
            order_token: 0,
        }
    }

    /// A shared hold (a read lock) taken at call site `site`.
    #[inline]
    #[track_caller]
    pub(crate) fn shared(core: &'a Core, site: usize) -> Self {
        let acquired = if core.timestamps() {
            let now = core.clock.raw();
            if core.watchdog_nanos.is_some() {
                core.reading.enter(now, site);
            }
            now
        } else {
            0
        };
        if core.watchdog_nanos.is_none() && core.last_read_site.load(Ordering::Relaxed) != site {
            core.last_read_site.store(site, Ordering::Relaxed);
        }
        let order_token = match &core.order {
            Some(order) => order.acquire(Location::caller()),
            None => 0,
        };
        Self {
            core,
            acquired,
            shared: true,
            order_token,
        }
    }
}

impl Drop for Hold<'_> {
    #[inline]
    fn drop(&mut self) {
        let core = self.core;
        if self.order_token != 0 {
            super::order::OrderNode::release(self.order_token);
        }
        if !core.timestamps() {
            return;
        }
        if core.watchdog_nanos.is_some() {
            if self.shared {
                core.reading.leave();
            } else {
                core.held.release();
            }
        }
        if core.hold_timing {
            core.hold
                .record_elapsed(&core.clock, self.acquired, core.clock.raw());
        }
    }
}

/// The counters of one call site in one role.
pub(crate) struct SiteCounters {
    count: Counter,
    /// Nanoseconds waited (exported in seconds).
    waited: Counter,
}

/// A contended acquisition being waited for. Its wait is recorded when it ends — when the lock
/// is taken, or when the wait is given up (a cancelled `AsyncMutex::lock` future drops it).
pub(crate) struct Contention<'a> {
    core: &'a Core,
    sites: [&'a SiteCounters; 2],
    start: u64,
}

impl Contention<'_> {
    /// The lock was taken: records the wait, by lock and by the waiter's and holder's sites.
    #[inline]
    pub(crate) fn end(self) {
        drop(self);
    }
}

impl Drop for Contention<'_> {
    fn drop(&mut self) {
        let clock = &self.core.clock;
        let end = clock.raw();
        self.core.wait.record_elapsed(clock, self.start, end);
        let nanos = clock.delta_nanos(self.start, end);
        for s in &self.sites {
            s.waited.inc_by(nanos);
        }
    }
}

#[cfg(all(test, not(perf_instrument_loom)))]
mod tests {
    use super::*;

    #[track_caller]
    fn here() -> &'static Location<'static> {
        Location::caller()
    }

    #[test]
    fn sites_are_interned_up_to_the_cap_then_folded() {
        let sites = Sites::new();
        // Forty distinct call sites: one line, forty columns.
        #[rustfmt::skip]
        let all = [here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here(), here()];
        let indexes: Vec<usize> = all.iter().map(|l| sites.index(l)).collect();
        assert_eq!(
            &indexes[..MAX_SITES],
            &(0..MAX_SITES).collect::<Vec<_>>()[..]
        );
        assert!(indexes[MAX_SITES..].iter().all(|&i| i == MAX_SITES));
        assert_eq!(sites.index(all[3]), 3, "lookups are stable");
        assert_eq!(sites.label(MAX_SITES), OTHER_SITE);
        assert!(sites.label(0).starts_with("src/instrument/lock/core.rs:"));
    }

    #[test]
    fn a_held_record_reads_whole_holds_only() {
        let record = HeldRecord::default();
        assert_eq!(record.read(), None);
        record.acquire(100, 3);
        let held = record.read().unwrap();
        assert_eq!((held.since, held.site), (100, 3));
        record.release();
        assert_eq!(record.read(), None);
        record.acquire(200, 4);
        assert_ne!(record.read().unwrap().episode, held.episode);
        assert_eq!(record.read().unwrap().since, 200);
    }

    #[test]
    fn a_read_stretch_lasts_while_readers_overlap_and_starts_afresh() {
        let stretch = ReadStretch::default();
        assert_eq!(stretch.read(), None);
        stretch.enter(100, 1);
        stretch.enter(150, 2);
        stretch.leave();
        let first = stretch.read().unwrap();
        assert_eq!(
            (first.since, first.site),
            (100, 1),
            "from the start, by its starter"
        );
        stretch.leave();
        assert_eq!(stretch.read(), None);
        stretch.enter(300, 3);
        let second = stretch.read().unwrap();
        assert_eq!((second.since, second.site), (300, 3));
        assert_ne!(second.stretch, first.stretch);
        stretch.leave();
        assert_eq!(stretch.read(), None);
    }
}
