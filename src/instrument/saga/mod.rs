//! The saga tracker: active, stuck and timed-out sagas, per-step and end-to-end durations by
//! outcome, and which sagas an operator should look at.
//!
//! * `id`: the ids callers pass and the fixed-size keys stored;
//! * `outcome`: outcomes, reject reasons, verdicts, step states;
//! * `config`: the builder, its errors, step and failure-reason handles;
//! * `state`: one saga's state and the step-event rules;
//! * `shard`: one shard's active sagas, start order and finished-id memory;
//! * `metrics`: the families and one tracker's resolved handles;
//! * `tracker`: [`SagaTracker`] and its events;
//! * `sweep`: time-outs, stuck marking and the background sweeper thread;
//! * `report`: the stuck and oldest lists, their text and JSON views, the route.

mod config;
mod id;
mod metrics;
mod outcome;
mod report;
mod shard;
mod state;
mod sweep;
mod tracker;

pub use config::{SagaError, SagaFailureReason, SagaStep, SagaTrackerBuilder};
pub use id::{SagaId, SagaIdRef, MAX_SAGA_ID_LEN};
pub(crate) use metrics::families;
pub use outcome::{SagaOutcome, SagaRejectReason, SagaStepState, SagaVerdict};
pub use report::{SagaReport, SagaStatus, SagaViewFormat};
pub use sweep::SagaSweepSummary;
pub use tracker::{SagaMemory, SagaTracker};
