//! `ui/pass/family_options.rs` in a process of its own: its `labels` and `buckets` fix the shape
//! of the shared `#[timed]` families, which the other cases register without them.

#[path = "ui/pass/family_options.rs"]
mod family_options;

#[test]
fn labels_and_buckets_reach_the_exposition() {
    family_options::main();
}
