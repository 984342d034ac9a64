//! Compile-time behaviour of `#[timed]` (trybuild): every case in `ui/pass` compiles without
//! warnings under `#![deny(warnings, clippy::all, clippy::pedantic)]` and runs its assertions;
//! every case in `ui/fail` fails with exactly the diagnostics in its `.stderr` file, pointing at
//! the user's own tokens.
//!
//! Diagnostics are worded and placed slightly differently by each compiler release, so the
//! expected output is pinned to one toolchain: **Rust 1.95** (the toolchain of CI and of
//! `docs/BENCHMARKS.md`). On any other `rustc` this test skips the cases and says so. Regenerate
//! the `.stderr` files with `TRYBUILD=overwrite cargo test -p perf-instrument-macros --test ui`
//! and review the diff.

use std::process::Command;

const PINNED: &str = "rustc 1.95.";

fn rustc_version() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    Command::new(rustc)
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_default()
}

#[test]
fn ui() {
    let version = rustc_version();
    if !version.starts_with(PINNED) {
        eprintln!(
            "SKIPPED: the trybuild UI cases are pinned to {PINNED}x and this is {version:?}; \
             their expected diagnostics would not match"
        );
        return;
    }
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
