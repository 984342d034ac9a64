//! Not published: the criterion benches in `benches/` measure perf-instrument beside the
//! peer metrics crates (prometheus, prometheus-client, metrics-exporter-prometheus, metered,
//! hdrhistogram), so the core crate's dev-dependencies stay light.
