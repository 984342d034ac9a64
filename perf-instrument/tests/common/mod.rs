//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod exposition;
#[cfg(perf_instrument_loom)]
pub mod loom_model;
