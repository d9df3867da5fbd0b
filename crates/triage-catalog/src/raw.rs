//! The catalog file as written: serde structs that mirror the TOML, with `deny_unknown_fields`
//! and spans, before any checking.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::{self, Visitor};
use toml::Spanned;
use toml::value::Datetime;

use triage_types::{MaxTokensField, Protocol, ReasoningEffort};

/// A whole catalog file. Every table is optional so that a user file can add one model.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCatalog {
    #[serde(default)]
    pub(crate) default_baseline: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) providers: BTreeMap<String, RawProvider>,
    #[serde(default)]
    pub(crate) routes: Option<RawRoutes>,
    #[serde(default)]
    pub(crate) models: Vec<RawModel>,
}

/// `[providers.<id>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProvider {
    pub(crate) protocol: Spanned<Protocol>,
    pub(crate) base_url: Spanned<String>,
    #[serde(default)]
    pub(crate) base_url_env: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) api_key_env: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) max_tokens_field: Option<Spanned<MaxTokensField>>,
    #[serde(default)]
    pub(crate) json_schema: Option<Spanned<bool>>,
}

/// `[routes]`: one ordered list of model ids per class.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoutes {
    pub(crate) extract: Option<Vec<Spanned<String>>>,
    pub(crate) faq: Option<Vec<Spanned<String>>>,
    pub(crate) transform: Option<Vec<Spanned<String>>>,
    pub(crate) analyze: Option<Vec<Spanned<String>>>,
    pub(crate) reason: Option<Vec<Spanned<String>>>,
    pub(crate) critical: Option<Vec<Spanned<String>>>,
}

impl RawRoutes {
    /// The lists in routing-table order, `None` where the file leaves a class out.
    pub(crate) fn into_array(self) -> [Option<Vec<Spanned<String>>>; 6] {
        [
            self.extract,
            self.faq,
            self.transform,
            self.analyze,
            self.reason,
            self.critical,
        ]
    }
}

/// One `[[models]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawModel {
    pub(crate) id: Spanned<String>,
    pub(crate) provider: String,
    #[serde(default)]
    pub(crate) api_name: Option<String>,
    pub(crate) tier: u8,
    pub(crate) context_window: u64,
    pub(crate) max_output_tokens: u64,
    #[serde(default)]
    pub(crate) capabilities: Vec<RawCapability>,
    /// How its reasoning is steered; unset: from the provider's protocol.
    #[serde(default)]
    pub(crate) reasoning_control: Option<RawReasoningControl>,
    /// The efforts it accepts; unset: the control's usual ones.
    #[serde(default)]
    pub(crate) reasoning_efforts: Option<Spanned<Vec<ReasoningEffort>>>,
    /// What it does when sent no effort; unset: the control's usual default.
    #[serde(default)]
    pub(crate) default_reasoning_effort: Option<Spanned<ReasoningEffort>>,
    #[serde(default)]
    pub(crate) released: Option<Datetime>,
    #[serde(default)]
    pub(crate) deprecated_on: Option<Datetime>,
    #[serde(default)]
    pub(crate) retires_on: Option<Datetime>,
    #[serde(default)]
    pub(crate) successor: Option<String>,
    pub(crate) pricing: RawPricing,
}

/// One capability name in a model's `capabilities` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawCapability {
    Tools,
    Vision,
    JsonMode,
    Reasoning,
}

/// A model's `reasoning_control`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawReasoningControl {
    Effort,
    ThinkingBudget,
    ExtendedThinking,
    AdaptiveThinking,
    None,
}

/// A model's `pricing` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPricing {
    pub(crate) input: RawPrice,
    pub(crate) output: RawPrice,
    #[serde(default)]
    pub(crate) cached_input: Option<RawPrice>,
    #[serde(default)]
    pub(crate) cache_write: Option<RawPrice>,
    #[serde(default)]
    pub(crate) batch_discount: Option<RawPrice>,
    pub(crate) checked_on: Datetime,
    pub(crate) source: String,
}

/// A price or fraction, written as a TOML number (`2.50`) or string (`"2.50"`), read exactly.
///
/// A TOML float reaches serde as an `f64`; its shortest round-trip text is the decimal that was
/// written (for the at most 15 significant digits a price has), so it is parsed from that text
/// rather than converted bit by bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawPrice(pub(crate) Decimal);

impl<'de> Deserialize<'de> for RawPrice {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PriceVisitor)
    }
}

struct PriceVisitor;

impl Visitor<'_> for PriceVisitor {
    type Value = RawPrice;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a decimal number such as 2.50 or \"2.50\"")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<RawPrice, E> {
        Ok(RawPrice(Decimal::from(value)))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<RawPrice, E> {
        Ok(RawPrice(Decimal::from(value)))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<RawPrice, E> {
        if !value.is_finite() {
            return Err(E::invalid_value(de::Unexpected::Float(value), &self));
        }
        Decimal::from_str(&value.to_string())
            .map(RawPrice)
            .map_err(|_| E::invalid_value(de::Unexpected::Float(value), &self))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<RawPrice, E> {
        Decimal::from_str(value.trim())
            .map(RawPrice)
            .map_err(|_| E::invalid_value(de::Unexpected::Str(value), &self))
    }
}
