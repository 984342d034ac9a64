//! `perf_instrument_integration_errors_total{integration,reason}`: what the integrations could
//! not take as given.

use crate::recorder::Counter;
use crate::registry::{Family, FamilyDef, Registry};

/// The family, shared by every integration.
pub(crate) const INTEGRATION_ERRORS: FamilyDef = FamilyDef::counter(
    "perf_instrument_integration_errors",
    "Registrations and values the #[timed], metrics and tracing integrations could not take as \
     given, by integration and reason.",
)
.labels(&["integration", "reason"])
.not_tabled("a counter");

/// The error counter family of `registry` (registered on first use), or `None` if the name is
/// taken by a family of another shape.
pub(crate) fn family(registry: &Registry) -> Option<Family<Counter>> {
    registry.register_counter(INTEGRATION_ERRORS.opts()).ok()
}

/// The counter for one `(integration, reason)`; a detached one if the family is unavailable.
pub(crate) fn counter(registry: &Registry, integration: &str, reason: &str) -> Counter {
    family(registry).map_or_else(Counter::new, |f| {
        f.with_label_values(&[integration, reason])
    })
}
