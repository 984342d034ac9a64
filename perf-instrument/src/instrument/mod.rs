//! Layer 5: instruments — the domain types built from recorders and the registry: pipeline
//! stages, queue waits, in-flight work, pending completions, batches, locks, sagas.
//!
//! Each instrument registers its own families (names as in `docs/ARCHITECTURE.md`) in the
//! registry it is given, takes a [`Clock`](crate::Clock) (the process clock unless told
//! otherwise; a manual one in tests), bounds its memory, and counts what it refuses by reason.

mod saga;

pub use saga::{
    SagaError, SagaFailureReason, SagaId, SagaIdRef, SagaMemory, SagaOutcome, SagaRejectReason,
    SagaReport, SagaStatus, SagaStep, SagaStepState, SagaSweepSummary, SagaSweeper, SagaTracker,
    SagaTrackerBuilder, SagaVerdict, SagaViewFormat, MAX_SAGA_ID_LEN,
};
