//! Which sagas to look at: [`SagaStatus`] lists of the stuck and the oldest active sagas,
//! gathered in a [`SagaReport`], rendered as bounded plain text or JSON.

use super::config::{MAX_REPORT_ENTRIES, VIEW_BYTES_MAX, VIEW_BYTES_MIN};
use super::id::{Key, SagaId};
use super::outcome::SagaStepState;
use super::tracker::SagaTracker;
use crate::sync;
use serde::{Serialize, Serializer};
use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::time::Duration;

/// One active saga, as an operator sees it.
///
/// Serialises with durations in seconds: `{"id":"o-17","step":"charge_payment",
/// "step_state":"running","age_seconds":412.0,"since_progress_seconds":401.0,"stuck":true}`.
///
/// ```
/// use perf_instrument::saga::{SagaId, SagaStepState};
/// use perf_instrument::{Clock, Registry, SagaTracker};
/// use std::time::Duration;
/// let (clock, hand) = Clock::manual();
/// let t = SagaTracker::builder("order").steps(["reserve"]).clock(clock)
///     .build(&Registry::new()).unwrap();
/// t.start("o-1");
/// t.step_started("o-1", t.step("reserve").unwrap());
/// hand.advance(Duration::from_secs(2));
/// let status = &t.oldest(1)[0];
/// assert_eq!(status.id, SagaId::Str("o-1".into()));
/// assert_eq!(status.step.as_deref(), Some("reserve"));
/// assert_eq!(status.step_state, Some(SagaStepState::Running));
/// assert_eq!(status.age, Duration::from_secs(2));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SagaStatus {
    /// The saga's id.
    pub id: SagaId,
    /// The step most recently touched, if any.
    pub step: Option<String>,
    /// Where that step stands.
    pub step_state: Option<SagaStepState>,
    /// Time since `start`.
    #[serde(rename = "age_seconds", serialize_with = "seconds")]
    pub age: Duration,
    /// Time since the last accepted event.
    #[serde(rename = "since_progress_seconds", serialize_with = "seconds")]
    pub since_progress: Duration,
    /// No progress for longer than the tracker's `stuck_after`, as of the report.
    pub stuck: bool,
}

/// The stuck and the oldest active sagas of one tracker, at one instant.
///
/// ```
/// # use perf_instrument::{Registry, SagaTracker};
/// let t = SagaTracker::builder("order").steps(["a"]).build(&Registry::new()).unwrap();
/// t.start("o-1");
/// let report = t.report(10);
/// assert_eq!((report.saga.as_str(), report.active, report.oldest.len()), ("order", 1, 1));
/// assert!(report.stuck.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SagaReport {
    /// The saga type.
    pub saga: String,
    /// Active sagas.
    pub active: usize,
    /// Active sagas without progress for longer than `stuck_after` (all of them, whatever
    /// the list's limit).
    pub stuck_count: usize,
    /// The tracker's deadline.
    #[serde(rename = "deadline_seconds", serialize_with = "seconds")]
    pub deadline: Duration,
    /// The tracker's stuck threshold.
    #[serde(rename = "stuck_after_seconds", serialize_with = "seconds")]
    pub stuck_after: Duration,
    /// Stuck sagas, longest without progress first.
    pub stuck: Vec<SagaStatus>,
    /// Active sagas, oldest first.
    pub oldest: Vec<SagaStatus>,
}

/// The format of [`SagaTracker::view`] (and of `Route::saga_view`, feature `http`).
///
/// ```
/// use perf_instrument::saga::SagaViewFormat;
/// assert_eq!(SagaViewFormat::Json.content_type(), "application/json");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SagaViewFormat {
    /// A plain-text table for people.
    Text,
    /// JSON ([`SagaReport`]'s fields, plus `"truncated"`).
    Json,
}

impl SagaViewFormat {
    /// The `Content-Type` to send.
    ///
    /// ```
    /// use perf_instrument::saga::SagaViewFormat;
    /// assert_eq!(SagaViewFormat::Text.content_type(), "text/plain; charset=utf-8");
    /// ```
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            SagaViewFormat::Text => "text/plain; charset=utf-8",
            SagaViewFormat::Json => "application/json",
        }
    }
}

fn seconds<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// A candidate for a list: ordered by `rank` only, so a min-heap of them keeps the top ranks.
struct Candidate {
    rank: u64,
    key: Key,
    step: Option<(u8, SagaStepState)>,
    age: u64,
    since_progress: u64,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.rank == other.rank
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.rank.cmp(&other.rank)
    }
}

/// The `limit` highest-ranked candidates seen.
struct Top {
    limit: usize,
    heap: BinaryHeap<Reverse<Candidate>>,
}

impl Top {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            heap: BinaryHeap::with_capacity(limit + 1),
        }
    }

    fn offer(&mut self, make: impl FnOnce() -> Candidate, rank: u64) {
        if self.limit == 0 {
            return;
        }
        if self.heap.len() == self.limit {
            match self.heap.peek() {
                Some(Reverse(lowest)) if lowest.rank >= rank => return,
                _ => {}
            }
            self.heap.pop();
        }
        self.heap.push(Reverse(make()));
    }

    /// Highest rank first.
    fn into_sorted(self) -> Vec<Candidate> {
        // `Reverse` ascending is rank descending.
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|r| r.0)
            .collect()
    }
}

impl SagaTracker {
    /// The stuck and the oldest active sagas, at most `limit` of each (up to 1,000), as of now.
    ///
    /// Takes each shard's lock in turn for a scan of its sagas (copying no strings under it).
    ///
    /// ```
    /// use perf_instrument::{Clock, Registry, SagaTracker};
    /// use std::time::Duration;
    /// let (clock, hand) = Clock::manual();
    /// let t = SagaTracker::builder("order").steps(["a"]).stuck_after(Duration::from_secs(5))
    ///     .clock(clock).build(&Registry::new()).unwrap();
    /// t.start("old");
    /// hand.advance(Duration::from_secs(6));
    /// t.start("new");
    /// let report = t.report(10);
    /// assert_eq!(report.stuck_count, 1);
    /// assert_eq!(report.stuck[0].id.to_string(), "old");
    /// assert_eq!(report.oldest.iter().map(|s| s.id.to_string()).collect::<Vec<_>>(), ["old", "new"]);
    /// ```
    #[must_use]
    pub fn report(&self, limit: usize) -> SagaReport {
        self.gather(limit, limit)
    }

    /// The stuck sagas (no progress for longer than `stuck_after`), longest without progress
    /// first, at most `limit` (up to 1,000).
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("order").steps(["a"]).build(&Registry::new()).unwrap();
    /// t.start("o-1");
    /// assert!(t.stuck(10).is_empty());
    /// ```
    #[must_use]
    pub fn stuck(&self, limit: usize) -> Vec<SagaStatus> {
        self.gather(limit, 0).stuck
    }

    /// The oldest active sagas, oldest first, at most `limit` (up to 1,000).
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("order").steps(["a"]).build(&Registry::new()).unwrap();
    /// t.start(1u64);
    /// t.start(2u64);
    /// assert_eq!(t.oldest(1).len(), 1);
    /// ```
    #[must_use]
    pub fn oldest(&self, limit: usize) -> Vec<SagaStatus> {
        self.gather(0, limit).oldest
    }

    /// The report rendered in `format` within the tracker's view limits
    /// ([`view_limits`](crate::saga::SagaTrackerBuilder::view_limits)); returns the content type and
    /// the body.
    ///
    /// ```
    /// # use perf_instrument::saga::SagaViewFormat;
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("order").steps(["a"]).build(&Registry::new()).unwrap();
    /// t.start("o-1");
    /// let (content_type, body) = t.view(SagaViewFormat::Json);
    /// assert_eq!(content_type, "application/json");
    /// let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    /// assert_eq!(json["oldest"][0]["id"], "o-1");
    /// ```
    #[must_use]
    pub fn view(&self, format: SagaViewFormat) -> (&'static str, Vec<u8>) {
        let report = self.report(self.inner.view_entries);
        let body = match format {
            SagaViewFormat::Text => report.to_text(self.inner.view_bytes),
            SagaViewFormat::Json => report.to_json(self.inner.view_bytes),
        };
        (format.content_type(), body.into_bytes())
    }

    fn gather(&self, stuck_limit: usize, oldest_limit: usize) -> SagaReport {
        let inner = &*self.inner;
        let now = self.now();
        let mut stuck = Top::new(stuck_limit.min(MAX_REPORT_ENTRIES));
        let mut oldest = Top::new(oldest_limit.min(MAX_REPORT_ENTRIES));
        let (mut active, mut stuck_count) = (0, 0);
        for shard in inner.shards.iter() {
            let shard = sync::lock(shard);
            for (key, saga) in &shard.active {
                let age = now.saturating_sub(saga.started);
                let since_progress = now.saturating_sub(saga.last_progress);
                let candidate = || Candidate {
                    rank: 0,
                    key: *key,
                    step: saga.current(),
                    age,
                    since_progress,
                };
                active += 1;
                if since_progress > inner.stuck_after_ns {
                    stuck_count += 1;
                    stuck.offer(
                        || Candidate {
                            rank: since_progress,
                            ..candidate()
                        },
                        since_progress,
                    );
                }
                oldest.offer(
                    || Candidate {
                        rank: age,
                        ..candidate()
                    },
                    age,
                );
            }
        }
        let status = |c: Candidate| SagaStatus {
            id: c.key.to_id(),
            step: c.step.map(|(i, _)| inner.steps[usize::from(i)].clone()),
            step_state: c.step.map(|(_, state)| state),
            age: Duration::from_nanos(c.age),
            since_progress: Duration::from_nanos(c.since_progress),
            stuck: c.since_progress > inner.stuck_after_ns,
        };
        SagaReport {
            saga: inner.name.clone(),
            active,
            stuck_count,
            deadline: Duration::from_nanos(inner.deadline_ns),
            stuck_after: Duration::from_nanos(inner.stuck_after_ns),
            stuck: stuck.into_sorted().into_iter().map(status).collect(),
            oldest: oldest.into_sorted().into_iter().map(status).collect(),
        }
    }
}

/// The JSON document: the report's fields, with lists cut to fit, and whether they were.
#[derive(Serialize)]
struct JsonView<'a> {
    saga: &'a str,
    active: usize,
    stuck_count: usize,
    #[serde(serialize_with = "seconds")]
    deadline_seconds: Duration,
    #[serde(serialize_with = "seconds")]
    stuck_after_seconds: Duration,
    stuck: &'a [SagaStatus],
    oldest: &'a [SagaStatus],
    truncated: bool,
}

impl SagaReport {
    /// The report as JSON of at most `max_bytes` (clamped to 1 KiB – 1 MiB): entries are left
    /// out from the end of the longer list until it fits, and `"truncated": true` says so.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("order").steps(["a"]).build(&Registry::new()).unwrap();
    /// for id in 0..100u64 { t.start(id); }
    /// let json = t.report(100).to_json(2048);
    /// assert!(json.len() <= 2048);
    /// let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    /// assert_eq!(v["truncated"], true);
    /// assert_eq!(v["active"], 100);
    /// ```
    #[must_use]
    pub fn to_json(&self, max_bytes: usize) -> String {
        let max = max_bytes.clamp(VIEW_BYTES_MIN, VIEW_BYTES_MAX);
        let render = |stuck: usize, oldest: usize, truncated: bool| {
            let view = JsonView {
                saga: &self.saga,
                active: self.active,
                stuck_count: self.stuck_count,
                deadline_seconds: self.deadline,
                stuck_after_seconds: self.stuck_after,
                stuck: &self.stuck[..stuck],
                oldest: &self.oldest[..oldest],
                truncated,
            };
            // Serialising plain data into a string cannot fail.
            serde_json::to_string(&view).unwrap_or_default()
        };
        let full = render(self.stuck.len(), self.oldest.len(), false);
        if full.len() <= max {
            return full;
        }
        // Fit entry by entry: the empty document, plus each entry and its comma.
        let size = |s: &SagaStatus| serde_json::to_string(s).map_or(0, |j| j.len()) + 1;
        let mut used = render(0, 0, true).len();
        let (mut stuck, mut oldest) = (0, 0);
        let mut stuck_open = true;
        let mut oldest_open = true;
        while stuck_open || oldest_open {
            // Alternate between the lists so that both show their worst entries.
            let take_stuck = stuck_open && (!oldest_open || stuck <= oldest);
            let (entry, open) = if take_stuck {
                (self.stuck.get(stuck), &mut stuck_open)
            } else {
                (self.oldest.get(oldest), &mut oldest_open)
            };
            match entry {
                Some(entry) if used + size(entry) <= max => {
                    used += size(entry);
                    if take_stuck {
                        stuck += 1;
                    } else {
                        oldest += 1;
                    }
                }
                _ => *open = false,
            }
        }
        let mut json = render(stuck, oldest, true);
        while json.len() > max && stuck + oldest > 0 {
            if stuck > oldest {
                stuck -= 1;
            } else {
                oldest -= 1;
            }
            json = render(stuck, oldest, true);
        }
        json
    }

    /// The report as plain text of at most `max_bytes` (clamped to 1 KiB – 1 MiB), one line
    /// per saga; string ids are quoted and escaped. Lines that do not fit are left out and
    /// counted in a last line.
    ///
    /// ```
    /// # use perf_instrument::{Registry, SagaTracker};
    /// let t = SagaTracker::builder("order").steps(["a"]).build(&Registry::new()).unwrap();
    /// t.start("o-1");
    /// let text = t.report(10).to_text(4096);
    /// assert!(text.starts_with("saga \"order\": 1 active, 0 stuck"));
    /// assert!(text.contains("\"o-1\""));
    /// ```
    #[must_use]
    pub fn to_text(&self, max_bytes: usize) -> String {
        let max = max_bytes.clamp(VIEW_BYTES_MIN, VIEW_BYTES_MAX);
        // Room kept for the last line, which says how many entries were left out.
        const TRAILER: usize = 64;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "saga {:?}: {} active, {} stuck (no progress for more than {:.3}s), deadline {:.3}s",
            self.saga,
            self.active,
            self.stuck_count,
            self.stuck_after.as_secs_f64(),
            self.deadline.as_secs_f64(),
        );
        let mut omitted = 0;
        let mut line = String::new();
        let sections = [
            ("stuck, longest without progress first", &self.stuck),
            ("oldest active, oldest first", &self.oldest),
        ];
        for (title, list) in sections {
            line.clear();
            let _ = writeln!(line, "{title} ({} shown):", list.len());
            if out.len() + line.len() + TRAILER > max {
                omitted += list.len();
                continue;
            }
            out.push_str(&line);
            for status in list.iter() {
                line.clear();
                write_status(&mut line, status);
                if out.len() + line.len() + TRAILER <= max {
                    out.push_str(&line);
                } else {
                    omitted += 1;
                }
            }
        }
        if omitted > 0 {
            let _ = writeln!(out, "({omitted} entries left out to fit {max} bytes)");
        }
        out
    }
}

fn write_status(out: &mut String, s: &SagaStatus) {
    let _ = match &s.id {
        SagaId::Str(id) => write!(out, "  {id:?}"),
        SagaId::Int(id) => write!(out, "  {id}"),
    };
    match (&s.step, s.step_state) {
        (Some(step), Some(state)) => {
            let _ = write!(out, "  step {step} ({})", state.label());
        }
        _ => out.push_str("  no step yet"),
    }
    let _ = writeln!(
        out,
        "  age {:.3}s  no progress for {:.3}s{}",
        s.age.as_secs_f64(),
        s.since_progress.as_secs_f64(),
        if s.stuck { "  STUCK" } else { "" }
    );
}
