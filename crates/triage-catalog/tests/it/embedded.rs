//! The embedded default catalog: it parses, covers the providers and the seed routing table.

use std::collections::BTreeMap;

use rust_decimal_macros::dec;
use time::macros::date;
use triage_catalog::{Catalog, CostOptions, EMBEDDED_ORIGIN, EMBEDDED_TOML, ModelStatus};
use triage_types::Usage;

const TODAY: time::Date = date!(2026 - 11 - 29);

#[test]
fn embedded_catalog_is_valid() {
    let parsed = Catalog::parse(EMBEDDED_TOML, EMBEDDED_ORIGIN).unwrap();
    assert_eq!(&parsed, Catalog::embedded());
}

#[test]
fn covers_at_least_25_models_from_four_providers() {
    let catalog = Catalog::embedded();
    assert!(catalog.len() >= 25, "{} models", catalog.len());
    let mut per_provider: BTreeMap<&str, usize> = BTreeMap::new();
    for model in catalog.models() {
        *per_provider.entry(model.provider.as_str()).or_default() += 1;
        assert!(model.pricing.source.starts_with("https://"), "{}", model.id);
        assert_eq!(model.pricing.checked_on, TODAY, "{}", model.id);
    }
    let providers: Vec<&str> = per_provider.keys().copied().collect();
    assert_eq!(providers, ["anthropic", "deepseek", "google", "openai"]);
}

#[test]
fn providers_have_their_default_endpoints() {
    let catalog = Catalog::embedded();
    let endpoints: Vec<String> = catalog
        .providers()
        .map(|provider| {
            format!(
                "{} {} {} {}",
                provider.id,
                provider.protocol,
                provider.base_url,
                provider.api_key_env.as_deref().unwrap_or("-")
            )
        })
        .collect();
    insta::assert_snapshot!(endpoints.join("\n"), @r"
    anthropic anthropic https://api.anthropic.com ANTHROPIC_API_KEY
    deepseek openai-compatible https://api.deepseek.com/v1 DEEPSEEK_API_KEY
    google gemini https://generativelanguage.googleapis.com GEMINI_API_KEY
    openai openai https://api.openai.com/v1 OPENAI_API_KEY
    ");
}

#[test]
fn seed_routing_table_with_its_prices() {
    let catalog = Catalog::embedded();
    let mut lines = Vec::new();
    for (class, models) in catalog.routes().iter() {
        let seed = catalog.get(&models[0]).unwrap();
        let resolved = catalog.resolve(&models[0], TODAY).unwrap();
        lines.push(format!(
            "{class}: {} (${} / ${}, {}) -> {}{}",
            seed.id,
            seed.pricing.input,
            seed.pricing.output,
            seed.status(TODAY),
            resolved.model.id,
            resolved
                .warning
                .map(|warning| format!(" [{warning}]"))
                .unwrap_or_default(),
        ));
    }
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn seed_retirements_follow_the_issue() {
    let catalog = Catalog::embedded();
    for id in ["claude-sonnet-4", "claude-opus-4"] {
        let model = catalog.get(id).unwrap();
        assert_eq!(model.lifecycle.retires_on, Some(date!(2026 - 06 - 15)));
        assert_eq!(model.status(TODAY), ModelStatus::Retired);
    }
    let resolved = catalog.resolve("claude-sonnet-4", TODAY).unwrap();
    assert_eq!(
        resolved.warning.unwrap().to_string(),
        "claude-sonnet-4 retired on 2026-06-15; using its successor claude-sonnet-4-5"
    );
}

/// The shipped routes name current models only, so a user who configures nothing sees no
/// lifecycle warning caused by the defaults (on the catalog's price date and a week later).
#[test]
fn shipped_routes_name_only_active_models() {
    let catalog = Catalog::embedded();
    for day in [TODAY, date!(2026 - 12 - 06)] {
        for (class, models) in catalog.routes().iter() {
            for id in models {
                let model = catalog.get(id).unwrap();
                assert_eq!(
                    model.status(day),
                    ModelStatus::Active,
                    "{class}: {id} on {day}"
                );
            }
        }
    }
}

#[test]
fn default_baseline_is_a_current_general_model() {
    let catalog = Catalog::embedded();
    let id = catalog.default_baseline().unwrap();
    let resolved = catalog.resolve(id, TODAY).unwrap();
    assert_eq!(resolved.model.id, "gpt-5.4");
    assert_eq!(resolved.warning, None);
    // gpt-4o's successor, the lifecycle data's own answer.
    assert_eq!(
        catalog
            .get("gpt-4o")
            .unwrap()
            .lifecycle
            .successor
            .as_deref(),
        Some(id)
    );
}

#[test]
fn default_baseline_must_exist_and_not_be_retired() {
    let base = Catalog::embedded();
    let unknown = base
        .overlay("default_baseline = \"gpt-5.5\"\n", "user.toml")
        .unwrap_err();
    let retired = base
        .overlay("default_baseline = \"claude-opus-4\"\n", "user.toml")
        .unwrap_err();
    insta::assert_snapshot!(format!("{unknown}\n{retired}"), @r"
    user.toml:1:20: default_baseline names unknown model `gpt-5.5`; did you mean `gpt-5`, `gpt-5.1`, `gpt-5.2`?
    user.toml:1:20: default_baseline `claude-opus-4` retired on 2026-06-15, before its prices were checked on 2026-11-29; name a current model
    ");
    let chosen = base
        .overlay("default_baseline = \"claude-sonnet-4-6\"\n", "user.toml")
        .unwrap();
    assert_eq!(chosen.default_baseline(), Some("claude-sonnet-4-6"));
}

#[test]
fn classic_example_costs_225_dollars_a_month_on_gpt_4o() {
    let model = Catalog::embedded().get("gpt-4o").unwrap();
    let per_request = model
        .cost(
            &Usage {
                input_tokens: 1_000,
                output_tokens: 500,
                ..Usage::default()
            },
            CostOptions::default(),
        )
        .unwrap();
    assert_eq!(per_request * dec!(1000) * dec!(30), dec!(225));
}

/// How each reasoning model of the embedded catalog takes reasoning: the form, the efforts it
/// accepts and its default (GPT-5.1 and later do not reason unless asked; Claude 4.6 and later
/// think adaptively).
#[test]
fn reasoning_models_with_their_efforts() {
    let lines: Vec<String> = Catalog::embedded()
        .models()
        .filter_map(|model| {
            let spec = model.capabilities.reasoning_spec?;
            let efforts: Vec<&str> = spec.efforts.iter().map(|effort| effort.as_str()).collect();
            Some(format!(
                "{:<24} {:<18} default {:<7} {}",
                model.id,
                spec.control.as_str(),
                spec.default_effort.as_str(),
                efforts.join(" ")
            ))
        })
        .collect();
    insta::assert_snapshot!(lines.join("\n"));
}
