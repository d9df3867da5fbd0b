//! A full config: every section, the catalog overlay, the policy it yields.

use std::io::Write;

use time::macros::date;
use triage_catalog::Catalog;
use triage_config::{Alias, ClassifierPrecision, Config};
use triage_strategies::StrategyKind;
use triage_types::{ChatRequest, RouteClass};

const CATALOG: &str = r#"
[[models]]
id = "house-model"
provider = "openai"
api_name = "gpt-4o-mini"
tier = 2
context_window = 128_000
max_output_tokens = 16_384
capabilities = ["tools", "json_mode"]
pricing.input = 0.15
pricing.output = 0.60
pricing.checked_on = 2026-11-01
pricing.source = "https://example.com/pricing"
"#;

#[test]
fn every_section_is_read_and_applied() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::File::create(dir.path().join("extra.toml"))
        .unwrap()
        .write_all(CATALOG.as_bytes())
        .unwrap();
    let text = r#"
[routing]
strategy = "length"
low_confidence = 0.25

[routes]
faq = ["house-model", "gpt-4o-mini"]

[aliases.cheap-json]
model = "house-model"

[aliases.careful]
critical = ["gpt-4o"]

[[rules]]
name = "legal"
contains = "contract"
class = "critical"

[[rules]]
regex = '\bticket-\d+'
model = "cheap-json"

[keywords.critical]
"terms of service" = 9.0

[[keywords.patterns]]
class = "reason"
regex = '\bsudoku\b'
weight = 5.0

[length]
buckets = [{ below = 10, class = "faq" }]
otherwise = "analyze"

[catalog]
path = "extra.toml"

[[catalog.models]]
id = "inline-model"
provider = "openai"
api_name = "gpt-4o"
tier = 4
context_window = 128_000
max_output_tokens = 16_384
pricing.input = 2.5
pricing.output = 10
pricing.checked_on = 2026-11-01
pricing.source = "https://example.com/pricing"

[providers]
disabled = ["deepseek"]

[classifier]
model_dir = "models/custom"
precision = "f32"
"#;
    let path = dir.path().join("triage.toml");
    std::fs::write(&path, text).unwrap();
    let config = Config::load(&path).unwrap();
    assert_eq!(config.routing.strategy, Some(StrategyKind::Length));
    assert_eq!(config.routing.low_confidence, 0.25);
    assert_eq!(
        config.classifier.model_dir,
        Some(dir.path().join("models/custom"))
    );
    assert_eq!(config.classifier.precision, ClassifierPrecision::F32);
    assert!(matches!(config.aliases["cheap-json"], Alias::Model(_)));
    assert_eq!(config.rules.rules.len(), 2);
    assert_eq!(config.rules.rules[1].name, "rule 2");

    let catalog = config.catalog(Catalog::embedded()).unwrap();
    assert!(catalog.find("house-model").is_some());
    assert!(catalog.find("inline-model").is_some());
    config
        .check_models(&catalog, date!(2026 - 11 - 29))
        .unwrap();

    let policy = config.policy(&catalog);
    assert_eq!(
        policy.route(RouteClass::Faq),
        ["house-model", "gpt-4o-mini"]
    );
    assert!(!policy.providers().allows("deepseek"));

    let keyword = config.keyword_strategy().unwrap();
    assert_eq!(
        keyword
            .classify_text("please read the terms of service")
            .class,
        RouteClass::Critical
    );
    assert_eq!(
        keyword.classify_text("solve this sudoku").class,
        RouteClass::Reason
    );
    let length = config.length_strategy();
    assert_eq!(
        length
            .classify_text("a b c d e f g h i j k l m n o p")
            .class,
        RouteClass::Analyze
    );
    let request = ChatRequest::from_prompt("Draft a contract");
    assert_eq!(config.rules().first_match(&request).unwrap().name, "legal");
}

#[test]
fn the_empty_config_is_the_defaults() {
    let config = Config::parse("", "triage.toml", None).unwrap();
    assert_eq!(config.routing.strategy, None);
    assert!(config.routes.is_empty() && config.rules.rules.is_empty());
    assert!(
        config
            .check_models(Catalog::embedded(), date!(2026 - 11 - 29))
            .unwrap()
            .is_empty()
    );
}
