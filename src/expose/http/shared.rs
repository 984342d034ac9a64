//! What the server thread and the request handler share: the settings, and the counters of
//! renders and connections with their slots.

use super::ServerBuilder;
use crate::sync::{AtomicUsize, Ordering};
use std::sync::Arc;

/// What the server thread shares between connections: the settings and two counters.
pub(super) struct Config {
    pub(super) settings: ServerBuilder,
    /// Renders running (each holds a [`Slot`] until its render ends).
    pub(super) scrapes: Arc<AtomicUsize>,
    pub(super) connections: Arc<AtomicUsize>,
}

/// Decrements a counter when dropped; owns its counter so it can move into a render.
pub(super) struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One of `max` places on `counter`, or `None` when all are taken.
pub(super) fn take_slot(counter: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
    let before = counter.fetch_add(1, Ordering::AcqRel);
    let slot = Slot(counter.clone());
    (before < max).then_some(slot)
}
