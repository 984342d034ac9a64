//! The layering check (`scripts/check-layers.sh`): passes on the crate's own source, and fails
//! on a copy with a deliberate upward import, a root re-export and a circle between siblings.
#![cfg(not(perf_instrument_loom))]

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the checker on `src`; returns whether it passed and what it printed.
fn check(src: &Path) -> (bool, String) {
    let out = Command::new("python3")
        .arg(root().join("scripts/check-layers.py"))
        .arg(src)
        .output()
        .expect("python3 runs the layering check");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success(), text)
}

/// A copy of `src/` in a fresh temporary directory.
fn copy_of_src(tag: &str) -> PathBuf {
    let dest = std::env::temp_dir().join(format!(
        "perf-instrument-layers-{tag}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dest);
    copy_dir(&root().join("src"), &dest);
    dest
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn append(file: &Path, text: &str) {
    let mut contents = std::fs::read_to_string(file).unwrap();
    contents.push_str(text);
    std::fs::write(file, contents).unwrap();
}

#[test]
fn the_crate_keeps_its_layers() {
    let (ok, out) = check(&root().join("src"));
    assert!(ok, "layering violations:\n{out}");
}

#[test]
fn an_upward_import_fails_the_check_and_names_the_file() {
    let src = copy_of_src("upward");
    append(
        &src.join("recorder/counter.rs"),
        "\n#[allow(unused_imports)]\nuse crate::registry::Registry;\n",
    );
    let (ok, out) = check(&src);
    let _ = std::fs::remove_dir_all(&src);
    assert!(!ok, "an upward import passed:\n{out}");
    assert!(
        out.contains("recorder/counter.rs") && out.contains("names `registry`"),
        "{out}"
    );
}

#[test]
fn a_root_re_export_and_a_sibling_circle_fail_the_check() {
    let src = copy_of_src("root");
    append(
        &src.join("registry/name.rs"),
        "\n#[allow(unused_imports)]\nuse crate::Counter;\n",
    );
    // The lock core names the watchdog, which already names the core: a circle.
    append(
        &src.join("instrument/lock/core.rs"),
        "\n#[allow(unused_imports)]\nuse super::watchdog::LockWatchdog;\n",
    );
    let (ok, out) = check(&src);
    let _ = std::fs::remove_dir_all(&src);
    assert!(!ok, "{out}");
    assert!(
        out.contains("registry/name.rs") && out.contains("through the crate root"),
        "{out}"
    );
    assert!(out.contains("import each other"), "{out}");
}

#[test]
fn comments_and_strings_are_not_imports() {
    let src = copy_of_src("comments");
    append(
        &src.join("sync.rs"),
        "\n// crate::registry::Registry in a comment\n/* crate::expose */\n#[allow(dead_code)]\nconst _NOTE: &str = \"crate::integrations\";\n",
    );
    let (ok, out) = check(&src);
    let _ = std::fs::remove_dir_all(&src);
    assert!(ok, "{out}");
}
