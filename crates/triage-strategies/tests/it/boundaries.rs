//! The crate stays pure: no candle, no async runtime, no HTTP, in its own manifest or in the
//! internal crates it builds on.

use std::path::Path;

const FORBIDDEN: [&str; 6] = [
    "candle",
    "tokio",
    "reqwest",
    "axum",
    "triage-classifier",
    "triage-providers",
];

#[test]
fn no_inference_runtime_or_network_dependencies() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for member in ["triage-strategies", "triage-catalog", "triage-types"] {
        let manifest = std::fs::read_to_string(crates.join(member).join("Cargo.toml")).unwrap();
        let table: toml::Table = toml::from_str(&manifest).unwrap();
        for section in ["dependencies", "build-dependencies"] {
            let Some(dependencies) = table.get(section).and_then(toml::Value::as_table) else {
                continue;
            };
            for name in dependencies.keys() {
                assert!(
                    !FORBIDDEN
                        .iter()
                        .any(|forbidden| name.starts_with(forbidden)),
                    "{member} depends on {name}"
                );
            }
        }
    }
}
