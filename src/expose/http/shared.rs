//! What the server thread and the request handler share: the settings, the render slots, the
//! shared renders, the basic-auth failure budget and the event counters.

use super::auth::FailureBudget;
use super::share::SharedRenders;
use super::ServerBuilder;
use crate::recorder::Counter;
use crate::registry::{Opts, Registry};
use crate::sync::{AtomicUsize, Ordering};
use std::sync::Arc;

/// What the server thread shares between connections.
pub(super) struct Config {
    pub(super) settings: ServerBuilder,
    /// Renders running (each holds a [`Slot`] until its render ends): the render cap counts
    /// only these, never connections.
    pub(super) scrapes: Arc<AtomicUsize>,
    /// Recent and running renders that concurrent scrapes share.
    pub(super) renders: Arc<SharedRenders>,
    /// Failed basic-auth attempts per client address.
    pub(super) auth_failures: FailureBudget,
    pub(super) events: Events,
}

impl Config {
    pub(super) fn new(settings: ServerBuilder) -> Self {
        Self {
            scrapes: Arc::new(AtomicUsize::new(0)),
            renders: Arc::new(SharedRenders::new(settings.render_reuse)),
            auth_failures: FailureBudget::new(settings.auth_failures, settings.auth_failure_window),
            events: Events::register(&settings.registry),
            settings,
        }
    }
}

/// The endpoint's own counters, `perf_instrument_http_events_total{event}` in the served
/// registry (while its self metrics are on; counted but not exported otherwise).
#[derive(Clone, Debug, Default)]
pub(super) struct Events {
    /// A request refused with `401`.
    pub(super) auth_failed: Counter,
    /// A request refused with `429` because its client spent its failure budget.
    pub(super) auth_throttled: Counter,
    /// An idle connection closed to make room for a new one.
    pub(super) idle_closed: Counter,
    /// A new connection closed at once because every open one had a request in progress.
    pub(super) connection_refused: Counter,
    /// A scrape answered with a render it shared with other scrapes.
    pub(super) render_shared: Counter,
    /// A scrape refused with `503` because every render slot was taken.
    pub(super) busy: Counter,
}

/// The name of the endpoint's event counter family (without `_total`).
pub(super) const EVENTS_FAMILY: &str = "perf_instrument_http_events";

impl Events {
    fn register(registry: &Registry) -> Self {
        if registry.self_metrics().is_none() {
            return Self::default();
        }
        let opts = Opts::new(
            EVENTS_FAMILY,
            "Events of the HTTP endpoint that cost a client its answer or saved a render, by event.",
        )
        .labels(["event"]);
        let Ok(family) = registry.register_counter(opts) else {
            return Self::default();
        };
        let event = |name: &str| family.with_label_values(&[name]);
        Self {
            auth_failed: event("auth_failed"),
            auth_throttled: event("auth_throttled"),
            idle_closed: event("idle_closed"),
            connection_refused: event("connection_refused"),
            render_shared: event("render_shared"),
            busy: event("busy"),
        }
    }
}

/// One place on a counter of places taken, given back when dropped; owns its counter so it
/// can move into a render.
#[derive(Debug)]
pub struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One of `max` places on `counter`, or `None` when all are taken.
///
/// The counter is raised only from below `max` (a compare-and-swap), so it never exceeds the
/// budget: a refused request does not count itself even for a moment, and cannot make a
/// concurrent request see the places full while one is free (the loom model
/// `render_slots_never_exceed_the_budget_and_return_to_zero` checks it).
pub fn take_slot(counter: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .ok()
        .map(|_| Slot(counter.clone()))
}
