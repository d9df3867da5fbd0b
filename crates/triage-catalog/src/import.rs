//! A public price list read into a catalog overlay, for `triage catalog import`: LiteLLM's
//! `model_prices_and_context_window.json` (one object per model name, prices in dollars per
//! token). Only prices change hands: each catalog model found in the list is written back as a
//! whole `[[models]]` entry (an overlay replaces a model by id) with the list's prices and the
//! import's source and date; tiers, limits, capabilities and lifecycle stay the catalog's.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Deserialize;
use time::Date;

use crate::model::{Model, Pricing};
use crate::{Catalog, Location};

/// Why a price list could not be imported.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    /// The file is not JSON, or not an object of model entries.
    #[error("{location}: not a LiteLLM price list: {message}")]
    Syntax {
        /// Where the problem is.
        location: Box<Location>,
        /// The parser's description.
        message: String,
    },
    /// An entry's price is not a non-negative number.
    #[error("{origin}: entry `{entry}`: `{field}` must be a non-negative number, not {value}")]
    Price {
        /// The file.
        origin: String,
        /// The entry's key.
        entry: String,
        /// The field.
        field: &'static str,
        /// What it holds.
        value: String,
    },
}

/// What an import found: the overlay, and what it did for each model.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The overlay, in the catalog's format: one `[[models]]` entry per priced model.
    pub overlay: String,
    /// The catalog models the list prices, in catalog order.
    pub priced: Vec<ImportedPrice>,
    /// Catalog models the list has no price for, or whose provider the embedded catalog does
    /// not define (the overlay could not be laid over it alone); they keep the catalog's.
    pub unpriced: Vec<String>,
    /// Chat entries of the list that match no catalog model (a tier is the catalog's call, so
    /// they are not added).
    pub unmatched: usize,
}

/// One catalog model's prices as imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedPrice {
    /// The catalog id.
    pub model: String,
    /// The list's key it was found under.
    pub entry: String,
    /// Whether any price differs from the catalog's.
    pub changed: bool,
    /// The imported prices.
    pub pricing: Pricing,
}

/// The fields of a LiteLLM entry that triage reads (the rest are ignored).
#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(default)]
    litellm_provider: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    input_cost_per_token: Option<serde_json::Value>,
    #[serde(default)]
    output_cost_per_token: Option<serde_json::Value>,
    #[serde(default)]
    cache_read_input_token_cost: Option<serde_json::Value>,
    #[serde(default)]
    cache_creation_input_token_cost: Option<serde_json::Value>,
    #[serde(default)]
    input_cost_per_token_batches: Option<serde_json::Value>,
}

/// LiteLLM's provider names for a catalog provider id (`google` is LiteLLM's `gemini`; an
/// OpenAI-compatible provider of your own goes by its own id).
fn litellm_providers(provider: &str) -> &[&str] {
    match provider {
        "google" => &["gemini"],
        "openai" => &["openai"],
        "anthropic" => &["anthropic"],
        "deepseek" => &["deepseek"],
        _ => &[],
    }
}

/// Reads `json` (a LiteLLM price list, from `origin`) against `base`: every model of `base`
/// whose provider and API name (or id) the list has gets the list's prices, dated
/// `checked_on` and credited to `source`. Prices the list leaves out (cache, batch) keep the
/// catalog's.
pub fn import_litellm(
    base: &Catalog,
    json: &str,
    origin: &str,
    source: &str,
    checked_on: Date,
) -> Result<Imported, ImportError> {
    let entries: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(json).map_err(|error| ImportError::Syntax {
            location: Box::new(Location {
                origin: origin.to_owned(),
                line: error.line(),
                column: error.column(),
            }),
            // The location is given once, in front.
            message: error
                .to_string()
                .trim_end_matches(&format!(
                    " at line {} column {}",
                    error.line(),
                    error.column()
                ))
                .to_owned(),
        })?;
    // Entries that are not objects of the expected shape (LiteLLM's `sample_spec` documents
    // the format) are not models.
    let entries: BTreeMap<&str, Entry> = entries
        .iter()
        .filter(|(key, _)| key.as_str() != "sample_spec")
        .filter_map(|(key, value)| {
            let entry = Entry::deserialize(value).ok()?;
            let chat = entry.mode.as_deref().is_none_or(|mode| mode == "chat");
            chat.then_some((key.as_str(), entry))
        })
        .collect();
    let mut matched = std::collections::BTreeSet::new();
    let mut priced = Vec::new();
    let mut unpriced = Vec::new();
    for model in base.models() {
        // The overlay is laid over the embedded catalog, which must know the provider.
        let known_provider = Catalog::embedded().provider(&model.provider).is_some();
        let found = find(&entries, model).filter(|_| known_provider);
        let Some((key, entry)) = found else {
            unpriced.push(model.id.clone());
            continue;
        };
        matched.insert(key);
        let price = |field: &'static str, value: &Option<serde_json::Value>| {
            per_million(value.as_ref(), origin, key, field)
        };
        let (Some(input), Some(output)) = (
            price("input_cost_per_token", &entry.input_cost_per_token)?,
            price("output_cost_per_token", &entry.output_cost_per_token)?,
        ) else {
            unpriced.push(model.id.clone());
            continue;
        };
        let old = &model.pricing;
        let batch_discount = match price(
            "input_cost_per_token_batches",
            &entry.input_cost_per_token_batches,
        )? {
            // A discount the catalog can hold (more than nothing, at most all); a batch price
            // at or above the plain one is no discount, so the catalog's stands.
            Some(batch) if input > Decimal::ZERO && batch < input => {
                Some((Decimal::ONE - batch / input).round_dp(4).normalize())
            }
            _ => old.batch_discount,
        };
        let pricing = Pricing {
            input,
            output,
            cached_input: price(
                "cache_read_input_token_cost",
                &entry.cache_read_input_token_cost,
            )?
            .or(old.cached_input),
            cache_write: price(
                "cache_creation_input_token_cost",
                &entry.cache_creation_input_token_cost,
            )?
            .or(old.cache_write),
            batch_discount,
            checked_on,
            source: source.to_owned(),
        };
        let changed = (
            pricing.input,
            pricing.output,
            pricing.cached_input,
            pricing.cache_write,
            pricing.batch_discount,
        ) != (
            old.input,
            old.output,
            old.cached_input,
            old.cache_write,
            old.batch_discount,
        );
        priced.push(ImportedPrice {
            model: model.id.clone(),
            entry: key.to_owned(),
            changed,
            pricing,
        });
    }
    let unmatched = entries.keys().filter(|key| !matched.contains(*key)).count();
    let overlay = overlay(base, &priced, origin, checked_on);
    Ok(Imported {
        overlay,
        priced,
        unpriced,
        unmatched,
    })
}

/// The list's entry for `model`: under its API name or id, bare or with LiteLLM's provider
/// prefix (`gemini/gemini-2.0-flash`), from the same provider (an `azure/` or `openrouter/`
/// price is another seller's).
fn find<'a>(entries: &'a BTreeMap<&'a str, Entry>, model: &Model) -> Option<(&'a str, &'a Entry)> {
    let providers = match litellm_providers(&model.provider) {
        [] => &[model.provider.as_str()][..],
        known => known,
    };
    let names = [model.api_name.as_str(), model.id.as_str()];
    let bare = names.iter().map(|name| (*name).to_owned());
    let prefixed = providers
        .iter()
        .flat_map(|provider| names.iter().map(move |name| format!("{provider}/{name}")));
    bare.chain(prefixed).find_map(|key| {
        let (&key, entry) = entries.get_key_value(key.as_str())?;
        let same_seller = entry
            .litellm_provider
            .as_deref()
            .is_some_and(|seller| providers.contains(&seller));
        same_seller.then_some((key, entry))
    })
}

/// A per-token price in dollars per million tokens, read exactly from its JSON text.
fn per_million(
    value: Option<&serde_json::Value>,
    origin: &str,
    entry: &str,
    field: &'static str,
) -> Result<Option<Decimal>, ImportError> {
    let Some(value) = value.filter(|value| !value.is_null()) else {
        return Ok(None);
    };
    let invalid = || ImportError::Price {
        origin: origin.to_owned(),
        entry: entry.to_owned(),
        field,
        value: value.to_string(),
    };
    let number = value
        .as_f64()
        .filter(|number| number.is_finite() && *number >= 0.0);
    let number = number.ok_or_else(invalid)?;
    // `f64`'s shortest round-trip text is the decimal the file wrote (2.5e-06 → 0.0000025).
    let exact = Decimal::from_str(&number.to_string())
        .or_else(|_| Decimal::from_scientific(&format!("{number:e}")))
        .map_err(|_| invalid())?;
    Ok(Some(
        (exact * Decimal::from(1_000_000)).round_dp(6).normalize(),
    ))
}

/// The overlay text: a header naming the list and the day, then one whole entry per priced
/// model, in the embedded catalog's layout.
fn overlay(base: &Catalog, priced: &[ImportedPrice], origin: &str, checked_on: Date) -> String {
    let mut text = format!(
        "# Prices imported by `triage catalog import` from {origin} on {checked_on}.\n\
         # Lay it over the embedded catalog with `--catalog FILE` or `[catalog] path`;\n\
         # `triage catalog diff FILE` lists what it changes.\n"
    );
    for imported in priced {
        let Some(model) = base.find(&imported.model) else {
            continue;
        };
        write_model(&mut text, model, &imported.pricing);
    }
    text
}

fn write_model(text: &mut String, model: &Model, pricing: &Pricing) {
    let quote = |value: &str| toml::Value::String(value.to_owned()).to_string();
    let _ = writeln!(text, "\n[[models]]");
    let _ = writeln!(text, "id = {}", quote(&model.id));
    let _ = writeln!(text, "provider = {}", quote(&model.provider));
    let _ = writeln!(text, "api_name = {}", quote(&model.api_name));
    let _ = writeln!(text, "tier = {}", model.tier);
    let _ = writeln!(text, "context_window = {}", model.context_window);
    let _ = writeln!(text, "max_output_tokens = {}", model.max_output_tokens);
    let capabilities = model.capabilities;
    let names: Vec<String> = [
        (capabilities.tools, "tools"),
        (capabilities.vision, "vision"),
        (capabilities.json_mode, "json_mode"),
        (capabilities.reasoning, "reasoning"),
    ]
    .into_iter()
    .filter(|(has, _)| *has)
    .map(|(_, name)| quote(name))
    .collect();
    let _ = writeln!(text, "capabilities = [{}]", names.join(", "));
    let lifecycle = &model.lifecycle;
    for (field, day) in [
        ("released", lifecycle.released),
        ("deprecated_on", lifecycle.deprecated_on),
        ("retires_on", lifecycle.retires_on),
    ] {
        if let Some(day) = day {
            let _ = writeln!(text, "{field} = {day}");
        }
    }
    if let Some(successor) = &lifecycle.successor {
        let _ = writeln!(text, "successor = {}", quote(successor));
    }
    let _ = writeln!(text, "pricing.input = {}", pricing.input);
    let _ = writeln!(text, "pricing.output = {}", pricing.output);
    for (field, price) in [
        ("cached_input", pricing.cached_input),
        ("cache_write", pricing.cache_write),
        ("batch_discount", pricing.batch_discount),
    ] {
        if let Some(price) = price {
            let _ = writeln!(text, "pricing.{field} = {price}");
        }
    }
    let _ = writeln!(text, "pricing.checked_on = {}", pricing.checked_on);
    let _ = writeln!(text, "pricing.source = {}", quote(&pricing.source));
}
