//! Lifecycle: statuses against a given day, and resolution of retired and deprecated models.

use time::macros::date;
use triage_catalog::{CatalogError, LifecycleWarning, ModelStatus};

use crate::base;

#[test]
fn status_depends_on_the_day() {
    let catalog = base();
    let big = catalog.get("big").unwrap();
    let old = catalog.get("old").unwrap();
    let bigger = catalog.get("bigger").unwrap();
    assert_eq!(old.status(date!(2026 - 06 - 14)), ModelStatus::Deprecated);
    assert_eq!(old.status(date!(2026 - 06 - 15)), ModelStatus::Retired);
    assert_eq!(big.status(date!(2026 - 11 - 29)), ModelStatus::Deprecated);
    assert_eq!(big.status(date!(2027 - 01 - 01)), ModelStatus::Retired);
    assert_eq!(bigger.status(date!(2030 - 01 - 01)), ModelStatus::Active);
}

#[test]
fn retired_models_resolve_to_their_successor_transitively() {
    let catalog = base();
    let resolved = catalog.resolve("old", date!(2026 - 11 - 29)).unwrap();
    // old (retired) -> older-successor (retired) -> big (deprecated, still served).
    assert_eq!(resolved.model.id, "big");
    assert_eq!(resolved.requested, "old");
    let warning = resolved.warning.unwrap();
    assert_eq!(
        warning,
        LifecycleWarning::Retired {
            requested: "old".to_owned(),
            retired_on: date!(2026 - 06 - 15),
            successor: "big".to_owned(),
        }
    );
    insta::assert_snapshot!(warning.to_string(), @"old retired on 2026-06-15; using its successor big");

    // Once big retires too, the chain ends at bigger.
    let later = catalog.resolve("old", date!(2027 - 02 - 01)).unwrap();
    assert_eq!(later.model.id, "bigger");
}

#[test]
fn deprecated_models_resolve_to_themselves_with_a_warning() {
    let catalog = base();
    let resolved = catalog.resolve("big", date!(2026 - 11 - 29)).unwrap();
    assert_eq!(resolved.model.id, "big");
    let warning = resolved.warning.unwrap().to_string();
    insta::assert_snapshot!(warning, @"big is deprecated and retires on 2027-01-01; move to bigger");
}

#[test]
fn active_models_resolve_without_warning() {
    let catalog = base();
    let resolved = catalog.resolve("small", date!(2026 - 11 - 29)).unwrap();
    assert_eq!(resolved.model.id, "small");
    assert_eq!(resolved.warning, None);
}

#[test]
fn retired_without_successor_is_an_error() {
    let catalog = base()
        .overlay(
            r#"
[[models]]
id = "gone"
provider = "openai"
tier = 1
context_window = 1_000
max_output_tokens = 1_000
retires_on = 2025-01-01
pricing.input = 1
pricing.output = 1
pricing.checked_on = 2026-11-29
pricing.source = "https://example.com/pricing"
"#,
            "user.toml",
        )
        .unwrap();
    let error = catalog.resolve("gone", date!(2026 - 11 - 29)).unwrap_err();
    assert_eq!(
        error,
        CatalogError::RetiredWithoutSuccessor {
            id: "gone".to_owned(),
            retired_on: date!(2025 - 01 - 01)
        }
    );
    assert_eq!(
        error.to_string(),
        "model `gone` retired on 2025-01-01 and has no successor"
    );
}

#[test]
fn unknown_ids_do_not_resolve() {
    let error = base().resolve("bigg", date!(2026 - 11 - 29)).unwrap_err();
    assert!(matches!(error, CatalogError::UnknownModel { .. }));
}
