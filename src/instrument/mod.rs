//! Layer 5: instruments — the domain types built from recorders and the registry: pipeline
//! stages, queue waits, in-flight work, pending completions, batches, locks, sagas.
//!
//! Each instrument declares its families once, in a `families` module of catalogue entries
//! (listed in `docs/ARCHITECTURE.md`), registers them in the registry it is given, takes a
//! [`Clock`](crate::Clock) (the process clock unless told otherwise; a manual one in tests),
//! bounds its memory, and counts what it refuses by reason.

mod active_set;
mod batch;
pub mod channel;
pub mod lock;
mod long_task;
mod pending;
mod pipeline;
mod queue;
pub mod saga;
mod shape;
mod stall;

pub(crate) use shape::HistogramShape;

/// The catalogue entries of the instruments' families, one module per instrument.
pub(crate) mod families {
    pub(crate) use super::batch::families as batch;
    pub(crate) use super::lock::families as lock;
    pub(crate) use super::long_task::families as long_task;
    pub(crate) use super::pending::families as pending;
    pub(crate) use super::pipeline::families as pipeline;
    pub(crate) use super::queue::families as queue;
    pub(crate) use super::saga::families as saga;
    pub(crate) use super::stall::families as stall;
}

pub use batch::{BatchRecorder, BatchRecorderBuilder, BatchTimer};
#[cfg(perf_instrument_loom)]
pub use lock::{Held, HeldRecord, ReadHeld, ReadStretch, Sites, MAX_SITES};
pub use lock::{Mutex, RwLock};
pub use long_task::{LongTask, LongTaskTimer, LongTaskTimerBuilder};
pub use pending::{
    PendingKey, PendingTracker, PendingTrackerBuilder, DEFAULT_MAX_PENDING_KEY_BYTES,
};
pub use pipeline::{EventToken, Pipeline, PipelineBuilder, RemoteToken, Stage, StageGuard};
pub use queue::{QueueProbe, QueueProbeBuilder, Stamp};
pub use saga::SagaTracker;
#[cfg(feature = "tokio")]
pub use stall::{RuntimeStallProbe, RuntimeStallProbeBuilder};
