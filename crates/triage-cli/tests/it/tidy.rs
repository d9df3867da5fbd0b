//! Invariants of the source tree: the CLI names environment variables only through
//! `triage_config::env`'s constants (or the catalog's provider data), never as literals.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, sorted.
#[expect(
    clippy::unwrap_used,
    reason = "a test helper: an unreadable source tree fails the test"
)]
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn environment_variables_are_named_by_constants() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let forbidden = ["env = \"", "env::var(\"", "env::var_os(\"", "set_var(\""];
    let mut found = Vec::new();
    for file in rust_files(&src) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            if forbidden.iter().any(|pattern| line.contains(pattern)) {
                let relative = file.strip_prefix(&src).unwrap().display();
                found.push(format!("{relative}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "name environment variables with triage_config::env constants:\n{}",
        found.join("\n")
    );
}
