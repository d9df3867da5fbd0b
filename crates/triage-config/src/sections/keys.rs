//! `[[server.keys]]`: per-client keys, each with the models it may use, spend budgets and rate
//! limits.

use rust_decimal::Decimal;
use serde::Deserialize;
use toml::Spanned;

use crate::sections::{invalid, model_ref};
use crate::{ConfigError, ModelRef};
use triage_catalog::Source;

/// One `[[server.keys]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClientKey {
    /// The key's name, recorded in the ledger and shown by `triage report --by key`: letters,
    /// digits, `-`, `_` and `.`.
    name: Spanned<String>,
    /// The key itself, as clients send it (`Authorization: Bearer KEY` or `x-api-key: KEY`).
    key: Option<Spanned<String>>,
    /// The environment variable holding the key, read when `triage serve` starts (instead of
    /// `key`, so the file holds no secret).
    key_env: Option<Spanned<String>>,
    /// The `model` values it may send: `auto`, route aliases, catalog ids. Default: all.
    models: Option<Vec<Spanned<String>>>,
    /// Spend allowed per UTC day, in US dollars (a number or a decimal string).
    daily_budget_usd: Option<Spanned<Money>>,
    /// Spend allowed per UTC calendar month, in US dollars.
    monthly_budget_usd: Option<Spanned<Money>>,
    /// Requests allowed per minute.
    requests_per_minute: Option<Spanned<u64>>,
    /// Tokens (input and output, every attempt) allowed per minute.
    tokens_per_minute: Option<Spanned<u64>>,
}

/// Dollars as TOML lets one write them: `5`, `2.5` or `"2.50"` (exact).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Money {
    Integer(i64),
    Float(f64),
    Text(String),
}

/// Where a client key's secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySecret {
    /// Written in the config file.
    Literal(String),
    /// Read from this environment variable when the gateway starts.
    Env(String),
}

/// A validated `[[server.keys]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKeySettings {
    /// The name recorded in the ledger.
    pub name: String,
    /// The key, or where to read it.
    pub secret: KeySecret,
    /// The `model` values it may send; empty means any.
    pub models: Vec<ModelRef>,
    /// Spend allowed per UTC day.
    pub daily_budget_usd: Option<Decimal>,
    /// Spend allowed per UTC calendar month.
    pub monthly_budget_usd: Option<Decimal>,
    /// Requests allowed per minute.
    pub requests_per_minute: Option<u64>,
    /// Tokens allowed per minute.
    pub tokens_per_minute: Option<u64>,
}

impl ClientKeySettings {
    /// Whether the key has any budget or rate limit (else only its name and models matter).
    pub fn is_limited(&self) -> bool {
        self.daily_budget_usd.is_some()
            || self.monthly_budget_usd.is_some()
            || self.requests_per_minute.is_some()
            || self.tokens_per_minute.is_some()
    }
}

pub(crate) fn validate(
    source: &Source<'_>,
    raw: Vec<Spanned<RawClientKey>>,
) -> Result<Vec<ClientKeySettings>, ConfigError> {
    let mut keys: Vec<ClientKeySettings> = Vec::with_capacity(raw.len());
    for (index, entry) in raw.into_iter().enumerate() {
        let span = entry.span();
        let entry = entry.into_inner();
        let at = |field: &str| format!("server.keys[{index}].{field}");
        let name = entry.name.get_ref().trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(invalid(
                source,
                &entry.name.span(),
                &at("name"),
                "a key's name is letters, digits, `-`, `_` and `.`",
            ));
        }
        if keys.iter().any(|key| key.name == name) {
            return Err(invalid(
                source,
                &entry.name.span(),
                &at("name"),
                format!("two keys are named `{name}`"),
            ));
        }
        let secret = match (entry.key, entry.key_env) {
            (Some(key), None) if key.get_ref().trim().is_empty() => {
                return Err(invalid(
                    source,
                    &key.span(),
                    &at("key"),
                    "a key cannot be empty",
                ));
            }
            (Some(key), None) => KeySecret::Literal(key.into_inner().trim().to_owned()),
            (None, Some(env)) if env.get_ref().trim().is_empty() => {
                return Err(invalid(
                    source,
                    &env.span(),
                    &at("key_env"),
                    "name the environment variable that holds the key",
                ));
            }
            (None, Some(env)) => KeySecret::Env(env.into_inner().trim().to_owned()),
            (Some(key), Some(_)) => {
                return Err(invalid(
                    source,
                    &key.span(),
                    &at("key"),
                    "set `key` or `key_env`, not both",
                ));
            }
            (None, None) => {
                return Err(invalid(
                    source,
                    &span,
                    &at("key"),
                    format!("key `{name}` needs `key = \"…\"` or `key_env = \"VARIABLE\"`"),
                ));
            }
        };
        if matches!(secret, KeySecret::Literal(_)) && keys.iter().any(|key| key.secret == secret) {
            return Err(invalid(
                source,
                &span,
                &at("key"),
                "two entries hold the same key",
            ));
        }
        let budget = |money: Option<Spanned<Money>>, field: &str| {
            money
                .map(|money| {
                    let span = money.span();
                    let amount = match money.into_inner() {
                        Money::Integer(value) => Some(Decimal::from(value)),
                        Money::Float(value) => Decimal::try_from(value).ok(),
                        Money::Text(text) => text.trim().parse::<Decimal>().ok(),
                    };
                    match amount {
                        Some(amount) if amount > Decimal::ZERO => Ok(amount.normalize()),
                        _ => Err(invalid(
                            source,
                            &span,
                            &at(field),
                            "a budget is a positive number of US dollars, such as 5 or \"2.50\"",
                        )),
                    }
                })
                .transpose()
        };
        let rate = |value: Option<Spanned<u64>>, field: &str| match value {
            Some(value) if *value.get_ref() == 0 => Err(invalid(
                source,
                &value.span(),
                &at(field),
                "must be greater than zero (leave it out for no limit)",
            )),
            other => Ok(other.map(Spanned::into_inner)),
        };
        keys.push(ClientKeySettings {
            name: name.to_owned(),
            secret,
            models: entry
                .models
                .unwrap_or_default()
                .iter()
                .map(|model| model_ref(source, model, &at("models")))
                .collect(),
            daily_budget_usd: budget(entry.daily_budget_usd, "daily_budget_usd")?,
            monthly_budget_usd: budget(entry.monthly_budget_usd, "monthly_budget_usd")?,
            requests_per_minute: rate(entry.requests_per_minute, "requests_per_minute")?,
            tokens_per_minute: rate(entry.tokens_per_minute, "tokens_per_minute")?,
        });
    }
    Ok(keys)
}
