//! The native schema and classic buckets an instrument registers its histogram families with.

use crate::registry::{Buckets, FamilyDef, Opts};

/// What an instrument builder's `schema` and `buckets` set, applied to each histogram family the
/// instrument registers. Instruments of one kind share their families in a registry, so all of
/// them must agree on it (another shape is a `RegistryError::ShapeMismatch`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HistogramShape {
    /// Native schema, 0 to 8 (checked at registration).
    pub(crate) schema: i32,
    /// Classic buckets; `None` keeps the default for the family's unit.
    pub(crate) buckets: Option<Buckets>,
}

impl Default for HistogramShape {
    fn default() -> Self {
        Self {
            schema: crate::recorder::Schema::DEFAULT.get(),
            buckets: None,
        }
    }
}

impl HistogramShape {
    /// The options of histogram family `def` in this shape.
    pub(crate) fn opts(&self, def: &FamilyDef) -> Opts {
        self.apply(def.opts())
    }

    /// `opts` in this shape.
    pub(crate) fn apply(&self, opts: Opts) -> Opts {
        let opts = opts.schema(self.schema);
        match &self.buckets {
            Some(buckets) => opts.buckets(buckets.clone()),
            None => opts,
        }
    }
}
