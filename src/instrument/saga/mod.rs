//! The saga tracker: active, stuck and timed-out sagas, per-step and end-to-end durations by
//! outcome, and which sagas an operator should look at.
//!
//! [`SagaTracker`] (also at the crate root) follows the sagas of one type, made by
//! [`SagaTracker::builder`] → [`SagaTrackerBuilder`]. Its events (`start`, `step_started`,
//! `completed`, …) take a [`SagaIdRef`] and a [`SagaStep`] handle and return a [`SagaVerdict`];
//! its counts read as counts (`active_count`, `started_count`, `finished_count`,
//! `rejected_count`, `stuck_count`); `sweep` returns a [`SagaSweepSummary`]; `report` a
//! [`SagaReport`] of [`SagaStatus`] entries, viewed as [`SagaViewFormat`] text or JSON.
//!
//! ```
//! use perf_instrument::saga::{SagaOutcome, SagaVerdict};
//! use perf_instrument::{Registry, SagaTracker};
//! let orders = SagaTracker::builder("order").steps(["reserve", "charge"]).build(&Registry::new()).unwrap();
//! let charge = orders.step("charge").unwrap();
//! orders.start("o-1");
//! assert_eq!(orders.step_started("o-1", charge), SagaVerdict::Accepted);
//! orders.step_completed("o-1", charge);
//! orders.completed("o-1");
//! assert_eq!((orders.active_count(), orders.finished_count(SagaOutcome::Completed)), (0, 1));
//! ```
//!
//! Inside: `id` (the ids callers pass and the fixed-size keys stored), `outcome`, `config`
//! (the builder, its errors, step and failure-reason handles), `state` (one saga's step-event
//! rules), `shard`, `metrics` (the families), `tracker`, `sweep` (time-outs, stuck marking, the
//! background sweeper thread), `report` (the stuck and oldest lists and their views, served over HTTP by
//! `Route::saga_view`).

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
