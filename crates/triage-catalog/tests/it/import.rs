//! `import_litellm`: a LiteLLM price list read into an overlay of the embedded catalog — which
//! entries match (provider and API name or id, bare or prefixed), exact prices, the overlay
//! round-tripping through `Catalog::overlay`, and errors that name the file and entry.

use rust_decimal_macros::dec;
use time::macros::date;
use triage_catalog::{Catalog, Change, ImportError, import_litellm};

/// A few entries in LiteLLM's shape: models the catalog has under their API name, their id
/// and a provider prefix; another seller's price for one of them; a model the catalog lacks;
/// an embedding model; and the format's own `sample_spec`.
const LIST: &str = r#"{
    "sample_spec": {"max_tokens": "LEGACY parameter", "input_cost_per_token": 0.0, "litellm_provider": "one of https://docs.litellm.ai/docs/providers", "mode": "one of: chat, embedding, completion"},
    "gpt-4o-2024-08-06": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05, "cache_read_input_token_cost": 1.25e-06, "input_cost_per_token_batches": 1.25e-06, "litellm_provider": "openai", "mode": "chat"},
    "azure/gpt-4o-mini": {"input_cost_per_token": 1.65e-07, "output_cost_per_token": 6.6e-07, "litellm_provider": "azure", "mode": "chat"},
    "gpt-4o-mini": {"input_cost_per_token": 1.2e-07, "output_cost_per_token": 6e-07, "litellm_provider": "openai", "mode": "chat"},
    "claude-sonnet-4-5-20250929": {"input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05, "cache_creation_input_token_cost": 3.75e-06, "cache_read_input_token_cost": 3e-07, "litellm_provider": "anthropic", "mode": "chat"},
    "gemini/gemini-2.0-flash": {"input_cost_per_token": 1e-07, "output_cost_per_token": 4.5e-07, "litellm_provider": "gemini", "mode": "chat"},
    "text-embedding-3-small": {"input_cost_per_token": 2e-08, "output_cost_per_token": 0.0, "litellm_provider": "openai", "mode": "embedding"},
    "some-new-model": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06, "litellm_provider": "openai", "mode": "chat"}
}"#;

#[test]
fn a_price_list_becomes_an_overlay_of_the_models_it_prices() {
    let embedded = Catalog::embedded();
    let imported = import_litellm(
        embedded,
        LIST,
        "prices.json",
        "LiteLLM prices.json",
        date!(2026 - 12 - 03),
    )
    .unwrap();
    let priced: Vec<(&str, &str, bool)> = imported
        .priced
        .iter()
        .map(|price| (price.model.as_str(), price.entry.as_str(), price.changed))
        .collect();
    assert_eq!(
        priced,
        [
            ("gpt-4o-mini", "gpt-4o-mini", true),
            ("gpt-4o", "gpt-4o-2024-08-06", false),
            ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929", false),
            ("gemini-2.0-flash", "gemini/gemini-2.0-flash", true),
        ]
    );
    // The Azure price and the model the catalog lacks; not the embedding model.
    assert_eq!(imported.unmatched, 2);
    assert_eq!(imported.unpriced.len(), embedded.len() - 4);
    insta::assert_snapshot!(imported.overlay);

    // The overlay is a catalog file: laid over the embedded catalog, it changes exactly the
    // prices that moved, and dates and credits every imported entry.
    let overlaid = embedded.overlay(&imported.overlay, "prices.toml").unwrap();
    let mini = overlaid.get("gpt-4o-mini").unwrap();
    assert_eq!(mini.pricing.input, dec!(0.12));
    // Kept from the catalog: the list has no cache or batch price for it.
    assert_eq!(mini.pricing.cached_input, Some(dec!(0.075)));
    assert_eq!(mini.pricing.batch_discount, Some(dec!(0.5)));
    assert_eq!(mini.pricing.checked_on, date!(2026 - 12 - 03));
    assert_eq!(mini.pricing.source, "LiteLLM prices.json");
    assert_eq!(mini.tier, embedded.get("gpt-4o-mini").unwrap().tier);
    let changes: Vec<String> = triage_catalog::diff(embedded, &overlaid)
        .iter()
        .map(|change| match change {
            Change::Price {
                model, field, new, ..
            } => format!("{model} {field} {}", new.unwrap_or_default()),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        changes,
        ["gemini-2.0-flash output 0.45", "gpt-4o-mini input 0.12"]
    );
}

#[test]
fn a_bad_list_is_an_error_naming_the_file_and_entry() {
    let embedded = Catalog::embedded();
    let import = |json: &str| {
        import_litellm(embedded, json, "prices.json", "test", date!(2026 - 12 - 03))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        import("{\n  \"gpt-4o\": {\"input_cost_per_token\": 1e-06,}\n}"),
        "prices.json:2:44: not a LiteLLM price list: trailing comma"
    );
    assert_eq!(
        import(
            r#"{"gpt-4o-mini": {"input_cost_per_token": -1e-06, "output_cost_per_token": 6e-07, "litellm_provider": "openai"}}"#
        ),
        "prices.json: entry `gpt-4o-mini`: `input_cost_per_token` must be a non-negative number, not -1e-6"
    );
    assert!(matches!(
        import_litellm(
            embedded,
            "[1, 2]",
            "prices.json",
            "test",
            date!(2026 - 12 - 03)
        ),
        Err(ImportError::Syntax { .. })
    ));
}
