//! The `ui/pass` cases as modules of one test crate, so that `cargo clippy --all-targets` lints
//! the expansions under the cases' own `#![deny(warnings, clippy::all, clippy::pedantic)]`, and
//! the cases run on every toolchain (the trybuild test runs them only on the pinned one).
//!
//! `family_options.rs` changes the label keys and buckets of the shared families, so it runs in
//! its own test binary (`expansions_family_options.rs`).

#[path = "ui/pass/async_functions.rs"]
mod async_functions;
#[path = "ui/pass/free_functions.rs"]
mod free_functions;
#[path = "ui/pass/methods.rs"]
mod methods;
#[path = "ui/pass/options.rs"]
mod options;

#[test]
fn free_functions_record_each_outcome() {
    free_functions::main();
}

#[test]
fn methods_record_each_outcome() {
    methods::main();
}

#[test]
fn async_functions_record_ok_error_cancelled_and_panicked() {
    async_functions::main();
}

#[test]
fn options_change_names_families_and_outcomes() {
    options::main();
}
