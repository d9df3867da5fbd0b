//! Config errors: each names the file, the line and column, and the key.

use time::macros::date;
use triage_catalog::Catalog;
use triage_config::Config;

/// A catalog fixed for these tests, so suggestions do not move with the embedded one.
const CATALOG: &str = r#"
[providers.openai]
protocol = "openai"
base_url = "https://api.openai.com/v1"

[routes]
extract = ["gpt-4o-mini"]
faq = ["gpt-4o-mini"]
transform = ["gpt-4o-mini"]
analyze = ["gpt-4o"]
reason = ["gpt-4o"]
critical = ["gpt-4o"]

[[models]]
id = "gpt-4o"
provider = "openai"
tier = 4
context_window = 128_000
max_output_tokens = 16_384
pricing.input = 2.5
pricing.output = 10
pricing.checked_on = 2026-11-01
pricing.source = "test"

[[models]]
id = "gpt-4o-mini"
provider = "openai"
tier = 2
context_window = 128_000
max_output_tokens = 16_384
pricing.input = 0.15
pricing.output = 0.6
pricing.checked_on = 2026-11-01
pricing.source = "test"
"#;

/// Parses `text` as `triage.toml`, checks models against a small catalog, and returns the
/// error's message.
fn error(text: &str) -> String {
    let config = match Config::parse(text, "triage.toml", None) {
        Ok(config) => config,
        Err(error) => return error.to_string(),
    };
    match config.check_models(
        &Catalog::parse(CATALOG, "catalog.toml").expect("the test catalog is valid"),
        date!(2026 - 11 - 29),
    ) {
        Ok(warnings) => panic!("no error; warnings: {warnings:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn errors_name_file_line_and_key() {
    let cases = [
        (
            "unknown_top_level_section",
            "[routing]\nstrategy = \"keyword\"\n\n[routng]\nx = 1\n",
        ),
        (
            "unknown_key_in_section",
            "[routing]\nstrategy = \"keyword\"\nlow_confidense = 0.3\n",
        ),
        ("malformed_toml", "[routing]\nstrategy = \"keyword\n"),
        ("wrong_type", "[routing]\nlow_confidence = \"high\"\n"),
        ("unknown_strategy", "[routing]\nstrategy = \"dice\"\n"),
        (
            "unknown_classifier_precision",
            "[classifier]\nprecision = \"fp16\"\n",
        ),
        (
            "threshold_out_of_range",
            "[routing]\nlow_confidence = 1.5\n",
        ),
        (
            "quality_knob_out_of_range",
            "[routing]\nstrategy = \"keyword\"\nquality = 1.5\n",
        ),
        (
            "unknown_reasoning_effort",
            "[routing]\nreasoning_effort = \"max\"\n",
        ),
        (
            "high_stakes_tier_out_of_range",
            "[routing]\nhigh_stakes = 0.4\nhigh_stakes_min_tier = 7\n",
        ),
        (
            "high_stakes_threshold_out_of_range",
            "[routing]\nhigh_stakes = 30\n",
        ),
        (
            "quality_entry_out_of_range",
            "[quality.reason]\n\"gpt-4o-mini\" = [0.9, 1.2, 0.5]\n",
        ),
        (
            "unknown_class_in_routes",
            "[routes]\nanlayze = [\"gpt-4o\"]\n",
        ),
        ("empty_route", "[routes]\nfaq = []\n"),
        (
            "unknown_model_in_routes",
            "[routes]\nfaq = [\"gpt-4o-mini\", \"gpt-4o-minni\"]\n",
        ),
        ("rule_without_matcher", "[[rules]]\nclass = \"critical\"\n"),
        (
            "rule_with_bad_regex",
            "[[rules]]\ncontains = \"a\"\nclass = \"faq\"\n\n[[rules]]\nregex = \"(unclosed\"\nclass = \"faq\"\n",
        ),
        (
            "rule_with_unknown_class",
            "[[rules]]\ncontains = \"contract\"\nclass = \"legal\"\n",
        ),
        (
            "rule_without_action",
            "[[rules]]\ncontains = \"contract\"\n",
        ),
        (
            "rule_with_unknown_model",
            "[[rules]]\ncontains = \"x\"\nmodel = \"gpt-7\"\n",
        ),
        (
            "alias_with_both",
            "[aliases.cheap]\nmodel = \"gpt-4o-mini\"\nfaq = [\"gpt-4o\"]\n",
        ),
        ("alias_empty", "[aliases.cheap]\n"),
        (
            "alias_unknown_key",
            "[aliases.cheap]\nmodels = \"gpt-4o-mini\"\n",
        ),
        (
            "length_bounds_not_increasing",
            "[length]\nbuckets = [{ below = 50, class = \"faq\" }, { below = 20, class = \"analyze\" }]\notherwise = \"transform\"\n",
        ),
        (
            "keyword_pattern_bad_regex",
            "[[keywords.patterns]]\nclass = \"faq\"\nregex = \"[\"\nweight = 1.0\n",
        ),
        ("keywords_unknown_class", "[keywords.poetry]\nrhyme = 2.0\n"),
        (
            "fallback_zero_attempts",
            "[fallback]\ndeadline_ms = 1000\nmax_attempts = 0\n",
        ),
        ("fallback_zero_deadline", "[fallback]\n\ndeadline_ms = 0\n"),
        (
            "fallback_moved_threshold",
            "[fallback]\nlow_confidence_threshold = 7.0\n",
        ),
        (
            "fallback_bad_refusal_pattern",
            "[fallback]\nmax_attempts = 2\n\n[fallback.checks]\nrefusal_patterns = [\"(\"]\n",
        ),
        (
            "fallback_typo_inside",
            "[fallback]\nmax_attempts = 2\nretries_per_modle = 1\n",
        ),
        (
            "fallback_route_bad_schema",
            "[fallback.routes.extract]\njson_schema = { type = 5 }\n",
        ),
        (
            "unknown_baseline",
            "[routing]\nbaseline = \"gpt-4-turbo\"\n",
        ),
        ("ledger_baseline_moved", "[ledger]\nbaseline = \"gpt-4o\"\n"),
        (
            "fallback_unknown_alias",
            "[aliases.cheap]\nmodel = \"gpt-4o-mini\"\n\n[fallback.aliases.cheep]\nmin_chars = 1\n",
        ),
        (
            "key_without_secret",
            "[[server.keys]]\nname = \"team-a\"\ndaily_budget_usd = 5\n",
        ),
        (
            "key_with_both_secrets",
            "[[server.keys]]\nname = \"team-a\"\nkey = \"sk-1\"\nkey_env = \"TEAM_A_KEY\"\n",
        ),
        (
            "key_names_repeat",
            "[[server.keys]]\nname = \"a\"\nkey = \"sk-1\"\n\n[[server.keys]]\nname = \"a\"\nkey = \"sk-2\"\n",
        ),
        (
            "key_bad_budget",
            "[[server.keys]]\nname = \"a\"\nkey = \"sk-1\"\nmonthly_budget_usd = \"ten\"\n",
        ),
        (
            "key_zero_rate",
            "[[server.keys]]\nname = \"a\"\nkey = \"sk-1\"\nrequests_per_minute = 0\n",
        ),
        (
            "key_unknown_model",
            "[[server.keys]]\nname = \"a\"\nkey = \"sk-1\"\nmodels = [\"auto\", \"gpt-4o-mni\"]\n",
        ),
        (
            "key_typo",
            "[[server.keys]]\nname = \"a\"\nkey = \"sk-1\"\ndaily_budget = 5\n",
        ),
        ("state_bad_url", "[state]\nredis_url = \"localhost:6379\"\n"),
        (
            "state_bad_policy",
            "[state]\nbudgets_when_unreachable = \"maybe\"\n",
        ),
        (
            "state_downshift_out_of_range",
            "[state]\ndownshift_at = 1.5\n",
        ),
    ];
    for (name, text) in cases {
        insta::assert_snapshot!(name, error(text), text);
    }
}

#[test]
fn a_missing_file_is_named() {
    let error = Config::load(std::path::Path::new("/nonexistent/triage.toml")).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("cannot read config file /nonexistent/triage.toml"),
        "{error}"
    );
}
