//! Parsing and validation: every kind of bad catalog gets a precise error naming file, line and key.

use triage_catalog::Catalog;

use crate::{BASE, base};

/// A complete model entry with `extra` lines added to its table.
fn model(id: &str, extra: &str) -> String {
    format!(
        r#"
[[models]]
id = "{id}"
provider = "openai"
tier = 2
context_window = 128_000
max_output_tokens = 16_384
pricing.input = 1
pricing.output = 2
pricing.checked_on = 2026-11-29
pricing.source = "https://example.com/pricing"
{extra}
"#
    )
}

/// Parses each case (`full:` a whole catalog, otherwise an overlay on [`BASE`]) and lists the
/// outcomes, one per line, for one snapshot.
fn check(cases: &[(&str, bool, String)]) -> String {
    let base = base();
    let mut out = String::new();
    for (name, full, text) in cases {
        let result = if *full {
            Catalog::parse(text, "user.toml")
        } else {
            base.overlay(text, "user.toml")
        };
        let outcome = match result {
            Ok(catalog) => format!("ok ({} models)", catalog.len()),
            Err(error) => error.to_string(),
        };
        out.push_str(&format!("{name}:\n  {}\n", outcome.replace('\n', "\n  ")));
    }
    out
}

#[test]
fn validation_errors() {
    let full_without_critical = BASE.replace("critical = [\"big\"]\n", "");
    let cases = vec![
        ("valid overlay adds a model", false, model("extra", "")),
        ("overlay overrides a model", false, model("small", "")),
        (
            "malformed toml",
            false,
            "[[models]\nid = \"x\"\n".to_owned(),
        ),
        (
            "unknown top-level key",
            false,
            "colour = \"red\"\n".to_owned(),
        ),
        ("unknown model key", false, model("x", "pricing.inptu = 1")),
        (
            "wrong type",
            false,
            model("x", "").replace("tier = 2", "tier = \"high\""),
        ),
        (
            "missing price",
            false,
            model("x", "").replace("pricing.output = 2\n", ""),
        ),
        (
            "missing model field",
            false,
            model("x", "").replace("tier = 2\n", ""),
        ),
        (
            "unknown capability",
            false,
            model("x", "capabilities = [\"telepathy\"]"),
        ),
        (
            "unknown protocol",
            false,
            "[providers.local]\nprotocol = \"grpc\"\nbase_url = \"http://127.0.0.1:8000\"\n"
                .to_owned(),
        ),
        (
            "unknown provider",
            false,
            model("x", "").replace("provider = \"openai\"", "provider = \"openia\""),
        ),
        (
            "unknown successor",
            false,
            model("x", "successor = \"bigg\""),
        ),
        (
            "successor cycle",
            false,
            model("bigger", "successor = \"big\""),
        ),
        ("self successor", false, model("x", "successor = \"x\"")),
        (
            "negative price",
            false,
            model("x", "pricing.cached_input = -0.5"),
        ),
        (
            "batch discount above 1",
            false,
            model("x", "pricing.batch_discount = 1.5"),
        ),
        (
            "price that is not a number",
            false,
            model("x", "pricing.cache_write = \"cheap\""),
        ),
        (
            "reasoning control without the reasoning capability",
            false,
            model("x", "reasoning_control = \"effort\""),
        ),
        (
            "reasoning control with the reasoning capability",
            false,
            model(
                "x",
                "capabilities = [\"reasoning\"]\nreasoning_control = \"thinking_budget\"",
            ),
        ),
        (
            "reasoning efforts without the reasoning capability",
            false,
            model("x", "reasoning_efforts = [\"low\"]"),
        ),
        (
            "reasoning efforts on a model that takes no control",
            false,
            model(
                "x",
                "capabilities = [\"reasoning\"]\nreasoning_control = \"none\"\nreasoning_efforts = [\"low\"]",
            ),
        ),
        (
            "empty reasoning efforts",
            false,
            model(
                "x",
                "capabilities = [\"reasoning\"]\nreasoning_control = \"effort\"\nreasoning_efforts = []",
            ),
        ),
        (
            "default effort the model does not take",
            false,
            model(
                "x",
                "capabilities = [\"reasoning\"]\nreasoning_control = \"effort\"\nreasoning_efforts = [\"none\", \"high\"]\ndefault_reasoning_effort = \"medium\"",
            ),
        ),
        (
            "unknown effort",
            false,
            model(
                "x",
                "capabilities = [\"reasoning\"]\nreasoning_efforts = [\"extreme\"]",
            ),
        ),
        (
            "adaptive thinking with its efforts and default",
            false,
            model(
                "x",
                "capabilities = [\"reasoning\"]\nreasoning_control = \"adaptive_thinking\"\nreasoning_efforts = [\"none\", \"low\", \"high\"]\ndefault_reasoning_effort = \"none\"",
            ),
        ),
        (
            "tier out of range",
            false,
            model("x", "").replace("tier = 2", "tier = 7"),
        ),
        (
            "date-time instead of date",
            false,
            model("x", "retires_on = 2026-06-15T00:00:00Z"),
        ),
        (
            "duplicate ids",
            false,
            format!("{}{}", model("x", ""), model("x", "")),
        ),
        (
            "route names unknown model",
            false,
            "[routes]\nfaq = [\"smal\"]\n".to_owned(),
        ),
        (
            "unknown route class",
            false,
            "[routes]\nexpert = [\"small\"]\n".to_owned(),
        ),
        ("empty route", false, "[routes]\nfaq = []\n".to_owned()),
        ("full catalog lacks a route", true, full_without_critical),
        ("full catalog with no providers", true, model("x", "")),
        (
            "full catalog with no routes",
            true,
            format!(
                "[providers.openai]\nprotocol = \"openai\"\nbase_url = \"https://api.openai.com/v1\"\n{}",
                model("x", "")
            ),
        ),
    ];
    insta::assert_snapshot!(check(&cases));
}

#[test]
fn prices_are_exact_decimals_whatever_their_spelling() {
    let catalog = base();
    let small = catalog.get("small").unwrap();
    assert_eq!(small.pricing.input.to_string(), "0.15");
    assert_eq!(small.pricing.cached_input.unwrap().to_string(), "0.075");
    let big = catalog.get("big").unwrap();
    assert_eq!(big.pricing.input.to_string(), "3.00");
    assert_eq!(big.pricing.output.to_string(), "15");
    assert_eq!(big.pricing.cache_write.unwrap().to_string(), "3.75");
    assert_eq!(big.pricing.batch_discount, None);
}

#[test]
fn overlay_overrides_and_extends_by_id() {
    let catalog = base()
        .overlay(
            &format!(
                "{}{}[routes]\nfaq = [\"extra\", \"small\"]\n",
                model("small", "").replace("pricing.input = 1", "pricing.input = 9"),
                model("extra", "")
            ),
            "user.toml",
        )
        .unwrap();
    let ids: Vec<&str> = catalog.models().map(|model| model.id.as_str()).collect();
    assert_eq!(
        ids,
        ["small", "big", "bigger", "old", "older-successor", "extra"]
    );
    let small = catalog.get("small").unwrap();
    assert_eq!(small.pricing.input.to_string(), "9");
    assert_eq!(small.api_name, "small", "the whole entry is replaced");
    assert_eq!(small.defined_at.origin, "user.toml");
    let faq = catalog.routes().models(triage_types::RouteClass::Faq);
    assert_eq!(faq, ["extra", "small"]);
    assert_eq!(
        catalog.routes().primary(triage_types::RouteClass::Extract),
        Some("small")
    );
}

#[test]
fn unknown_model_suggests_close_ids() {
    let error = base().get("smal").unwrap_err();
    insta::assert_snapshot!(error.to_string(), @"unknown model `smal`; did you mean `small`?");
    let error = base().get("zzzz").unwrap_err();
    insta::assert_snapshot!(error.to_string(), @"unknown model `zzzz`");
}

#[test]
fn providers_are_listed_by_id() {
    let catalog = base();
    let ids: Vec<&str> = catalog.providers().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["anthropic", "openai"]);
    let openai = catalog.provider("openai").unwrap();
    assert_eq!(openai.protocol, triage_catalog::Protocol::OpenAi);
    assert_eq!(openai.api_key_env.as_deref(), Some("OPENAI_API_KEY"));
    assert!(catalog.provider("google").is_none());
}

/// Reads each `[providers.x]` body as an overlay on [`BASE`] and lists what provider `x`
/// became, or the error, one case per line.
fn check_provider(cases: &[(&str, &str)]) -> String {
    let base = base();
    let mut out = String::new();
    for (name, body) in cases {
        let text = format!("[providers.x]\n{body}");
        let outcome = match base.overlay(&text, "user.toml") {
            Ok(catalog) => match catalog.provider("x") {
                Some(info) => format!(
                    "{} {} base_url_env={:?} api_key_env={:?} max_tokens_field={} json_schema={} stream_usage={}",
                    info.protocol,
                    info.base_url,
                    info.base_url_env,
                    info.api_key_env,
                    info.openai_quirks.max_tokens_field,
                    info.openai_quirks.json_schema,
                    info.openai_quirks.stream_usage,
                ),
                None => "no provider x".to_owned(),
            },
            Err(error) => error.to_string(),
        };
        out.push_str(&format!("{name}:\n  {}\n", outcome.replace('\n', "\n  ")));
    }
    out
}

#[test]
fn provider_fields() {
    let cases = [
        (
            "openai defaults",
            "protocol = \"openai\"\nbase_url = \"https://api.openai.com/v1\"\n",
        ),
        (
            "compatible defaults, keyless",
            "protocol = \"openai-compatible\"\nbase_url = \"http://localhost:11434/v1\"\n",
        ),
        (
            "every field",
            "protocol = \"openai-compatible\"\nbase_url = \"https://api.example.com/v1\"\nbase_url_env = \"EXAMPLE_BASE_URL\"\napi_key_env = \"EXAMPLE_API_KEY\"\nmax_tokens_field = \"max_completion_tokens\"\njson_schema = false\n",
        ),
        (
            "anthropic without quirks",
            "protocol = \"anthropic\"\nbase_url = \"https://api.anthropic.com\"\napi_key_env = \"ANTHROPIC_API_KEY\"\n",
        ),
        (
            "quirk on a non-OpenAI protocol",
            "protocol = \"gemini\"\nbase_url = \"https://generativelanguage.googleapis.com\"\njson_schema = false\n",
        ),
        (
            "max_tokens_field on anthropic",
            "protocol = \"anthropic\"\nbase_url = \"https://api.anthropic.com\"\nmax_tokens_field = \"max_tokens\"\n",
        ),
        (
            "unknown max_tokens_field",
            "protocol = \"openai\"\nbase_url = \"https://api.openai.com/v1\"\nmax_tokens_field = \"max_output_tokens\"\n",
        ),
        (
            "json_schema not a boolean",
            "protocol = \"openai\"\nbase_url = \"https://api.openai.com/v1\"\njson_schema = \"yes\"\n",
        ),
        (
            "base_url not http",
            "protocol = \"openai\"\nbase_url = \"api.openai.com/v1\"\n",
        ),
        (
            "api_key_env not a variable name",
            "protocol = \"openai\"\nbase_url = \"https://api.openai.com/v1\"\napi_key_env = \"OPENAI API KEY\"\n",
        ),
        (
            "empty base_url_env",
            "protocol = \"openai\"\nbase_url = \"https://api.openai.com/v1\"\nbase_url_env = \"\"\n",
        ),
        (
            "unknown provider field",
            "protocol = \"openai\"\nbase_url = \"https://api.openai.com/v1\"\napi_key = \"sk-oops\"\n",
        ),
        (
            "protocol alias is not a catalog name",
            "protocol = \"openai_compatible\"\nbase_url = \"http://localhost:8000/v1\"\n",
        ),
    ];
    insta::assert_snapshot!(check_provider(&cases));
}

#[test]
fn embedded_providers_state_their_facts() {
    let catalog = Catalog::embedded();
    let facts: Vec<String> = catalog
        .providers()
        .map(|info| {
            format!(
                "{} {} {} base_url_env={:?} api_key_env={:?} max_tokens_field={} json_schema={}",
                info.id,
                info.protocol,
                info.base_url,
                info.base_url_env,
                info.api_key_env,
                info.openai_quirks.max_tokens_field,
                info.openai_quirks.json_schema,
            )
        })
        .collect();
    insta::assert_snapshot!(facts.join("\n"));
}
