//! Integration tests of the catalog: parsing and validation, cost math, lifecycle resolution.

mod cost;
mod embedded;
mod import;
mod lifecycle;
mod parse;

/// A small complete catalog that the tests extend or break.
pub(crate) const BASE: &str = r#"
[providers.openai]
protocol = "openai"
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"

[providers.anthropic]
protocol = "anthropic"
base_url = "https://api.anthropic.com"
api_key_env = "ANTHROPIC_API_KEY"

[routes]
extract = ["small"]
faq = ["small"]
transform = ["small"]
analyze = ["big"]
reason = ["old"]
critical = ["big"]

[[models]]
id = "small"
provider = "openai"
api_name = "small-2025-01-01"
tier = 1
context_window = 128_000
max_output_tokens = 16_384
capabilities = ["tools", "json_mode"]
pricing.input = 0.15
pricing.output = 0.60
pricing.cached_input = 0.075
pricing.batch_discount = 0.5
pricing.checked_on = 2026-11-29
pricing.source = "https://example.com/pricing"

[[models]]
id = "big"
provider = "anthropic"
tier = 5
context_window = 200_000
max_output_tokens = 64_000
capabilities = ["tools", "vision", "json_mode", "reasoning"]
released = 2025-09-29
retires_on = 2027-01-01
successor = "bigger"
pricing.input = "3.00"
pricing.output = 15
pricing.cached_input = 0.30
pricing.cache_write = 3.75
pricing.checked_on = 2026-11-29
pricing.source = "https://example.com/pricing"

[[models]]
id = "bigger"
provider = "anthropic"
tier = 5
context_window = 200_000
max_output_tokens = 64_000
pricing.input = 5
pricing.output = 25
pricing.checked_on = 2026-11-29
pricing.source = "https://example.com/pricing"

[[models]]
id = "old"
provider = "anthropic"
tier = 4
context_window = 200_000
max_output_tokens = 64_000
retires_on = 2026-06-15
successor = "older-successor"
pricing.input = 3
pricing.output = 15
pricing.checked_on = 2026-11-29
pricing.source = "https://example.com/pricing"

[[models]]
id = "older-successor"
provider = "anthropic"
tier = 4
context_window = 200_000
max_output_tokens = 64_000
retires_on = 2026-09-01
successor = "big"
pricing.input = 3
pricing.output = 15
pricing.checked_on = 2026-11-29
pricing.source = "https://example.com/pricing"
"#;

/// The base catalog, parsed.
pub(crate) fn base() -> triage_catalog::Catalog {
    triage_catalog::Catalog::parse(BASE, "base.toml").expect("the base catalog parses")
}
