//! The catalog's errors: unreadable files, invalid entries, unknown models.

use rust_decimal::Decimal;
use time::Date;
use triage_types::RouteClass;

use crate::location::Location;

/// Why a catalog could not be read, or a model could not be found or used.
///
/// Locations are boxed to keep the error small, as it travels inside other crates' errors.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CatalogError {
    /// The file is not valid TOML, or a key is unknown, missing or of the wrong type.
    #[error("{location}: invalid catalog{}: {message}", key_suffix(key.as_deref()))]
    Syntax {
        /// Where the problem is.
        location: Box<Location>,
        /// The dotted key path (`models[3].pricing.input`), when one could be found.
        key: Option<String>,
        /// The parser's description.
        message: String,
    },
    /// A date field holds a date-time or a time instead of a plain date.
    #[error(
        "{location}: `{field}` of model `{model}` must be a plain date like 2025-01-31, not `{value}`"
    )]
    InvalidDate {
        /// Where the model is defined.
        location: Box<Location>,
        /// The model's id.
        model: String,
        /// The field's name.
        field: String,
        /// What was written.
        value: String,
    },
    /// Two models in one file share an id.
    #[error("{location}: duplicate model id `{id}` (first defined at {first})")]
    DuplicateModel {
        /// Where the second one is defined.
        location: Box<Location>,
        /// The shared id.
        id: String,
        /// Where the first one is defined.
        first: Location,
    },
    /// A model names a provider that the catalog does not define.
    #[error(
        "{location}: model `{model}` names unknown provider `{provider}` (known: {})",
        list_or_none(known)
    )]
    UnknownProvider {
        /// Where the model is defined.
        location: Box<Location>,
        /// The model's id.
        model: String,
        /// The provider it names.
        provider: String,
        /// The providers the catalog defines.
        known: Vec<String>,
    },
    /// A provider's field holds a value it cannot.
    #[error("{location}: provider `{provider}` has {field} = {value}: {problem}")]
    InvalidProvider {
        /// Where the value is written.
        location: Box<Location>,
        /// The provider's id.
        provider: String,
        /// The field's name (`base_url`, `api_key_env`, …).
        field: String,
        /// What was written, as a TOML value (strings quoted).
        value: String,
        /// What is wrong with it.
        problem: ProviderFieldProblem,
    },
    /// A price is negative.
    #[error("{location}: model `{model}` has a negative {kind} price ({value})")]
    NegativePrice {
        /// Where the model is defined.
        location: Box<Location>,
        /// The model's id.
        model: String,
        /// Which price.
        kind: crate::PriceKind,
        /// The price written.
        value: Decimal,
    },
    /// A batch discount is not a fraction in (0, 1].
    #[error(
        "{location}: model `{model}` has batch_discount {value}; it must be a fraction above 0 and at most 1"
    )]
    InvalidBatchDiscount {
        /// Where the model is defined.
        location: Box<Location>,
        /// The model's id.
        model: String,
        /// The discount written.
        value: Decimal,
    },
    /// A model that is not a reasoning model names how its reasoning is steered.
    #[error(
        "{location}: model `{model}` sets {field} but lacks the \"reasoning\" capability; add it to capabilities or remove {field}"
    )]
    ReasoningControlWithoutReasoning {
        /// Where the field is written (or the model defined).
        location: Box<Location>,
        /// The model's id.
        model: String,
        /// The field (`reasoning_control`, `reasoning_efforts`, `default_reasoning_effort`).
        field: &'static str,
    },
    /// A model that takes no reasoning control lists efforts.
    #[error(
        "{location}: model `{model}` sets {field} but takes no reasoning control (its reasoning_control is \"none\", or its provider is OpenAI-compatible); set reasoning_control or remove {field}"
    )]
    ReasoningEffortWithoutControl {
        /// Where the field is written.
        location: Box<Location>,
        /// The model's id.
        model: String,
        /// The field (`reasoning_efforts`, `default_reasoning_effort`).
        field: &'static str,
    },
    /// A model's `reasoning_efforts` names no effort it can take.
    #[error(
        "{location}: model `{model}` has an empty reasoning_efforts (under a thinking budget, an effort counts only where its budget leaves {min} tokens of max_output_tokens for the answer)",
        min = crate::MIN_ANSWER_TOKENS
    )]
    NoReasoningEfforts {
        /// Where the list is written.
        location: Box<Location>,
        /// The model's id.
        model: String,
    },
    /// A model's default effort is not one it accepts.
    #[error(
        "{location}: model `{model}` has default_reasoning_effort \"{default_effort}\", which is not in its reasoning_efforts ({efforts}); add it or change the default"
    )]
    DefaultEffortNotAccepted {
        /// Where the default (or the list) is written.
        location: Box<Location>,
        /// The model's id.
        model: String,
        /// The default.
        default_effort: &'static str,
        /// The efforts it accepts, comma-separated.
        efforts: String,
    },
    /// A tier is outside 1..=5.
    #[error(
        "{location}: model `{model}` has tier {tier}; tiers run from 1 (cheapest) to 5 (frontier)"
    )]
    InvalidTier {
        /// Where the model is defined.
        location: Box<Location>,
        /// The model's id.
        model: String,
        /// The tier written.
        tier: u8,
    },
    /// A model's successor is not in the catalog.
    #[error(
        "{location}: model `{model}` names unknown successor `{successor}`{}",
        suggestion_suffix(suggestions)
    )]
    UnknownSuccessor {
        /// Where the model is defined.
        location: Box<Location>,
        /// The model's id.
        model: String,
        /// The successor it names.
        successor: String,
        /// The closest known ids.
        suggestions: Vec<String>,
    },
    /// Successors form a loop.
    #[error("{location}: successors form a cycle: {}", cycle.join(" -> "))]
    SuccessorCycle {
        /// Where the first model of the cycle is defined.
        location: Box<Location>,
        /// The ids around the loop, the first repeated at the end.
        cycle: Vec<String>,
    },
    /// A route names a model the catalog does not hold.
    #[error(
        "{location}: route `{class}` names unknown model `{model}`{}",
        suggestion_suffix(suggestions)
    )]
    UnknownRouteModel {
        /// Where the route is written.
        location: Box<Location>,
        /// The route's class.
        class: RouteClass,
        /// The model it names.
        model: String,
        /// The closest known ids.
        suggestions: Vec<String>,
    },
    /// A full catalog lacks a route, or gives one an empty list.
    #[error("{origin}: route `{class}` needs at least one model in the [routes] table")]
    MissingRoute {
        /// The catalog file.
        origin: String,
        /// The class without models.
        class: RouteClass,
    },
    /// `default_baseline` names a model the catalog does not have.
    #[error(
        "{location}: default_baseline names unknown model `{model}`{}",
        suggestion_suffix(suggestions)
    )]
    UnknownBaseline {
        /// Where `default_baseline` is written.
        location: Box<Location>,
        /// The model it names.
        model: String,
        /// The closest known ids.
        suggestions: Vec<String>,
    },
    /// `default_baseline` names a model that retired by the day the catalog's prices were
    /// read: savings against it would compare with a price nobody pays.
    #[error(
        "{location}: default_baseline `{model}` retired on {retired_on}, before its prices were checked on {checked_on}; name a current model"
    )]
    RetiredBaseline {
        /// Where `default_baseline` is written.
        location: Box<Location>,
        /// The model it names.
        model: String,
        /// Its retirement date.
        retired_on: Date,
        /// The day its prices were read.
        checked_on: Date,
    },
    /// A model id is not in the catalog.
    #[error("unknown model `{id}`{}", suggestion_suffix(suggestions))]
    UnknownModel {
        /// The id asked for.
        id: String,
        /// The closest known ids, best first.
        suggestions: Vec<String>,
    },
    /// A model is retired and has no successor to use instead.
    #[error("model `{id}` retired on {retired_on} and has no successor")]
    RetiredWithoutSuccessor {
        /// The retired model reached (the one asked for, or the end of its successor chain).
        id: String,
        /// Its retirement date.
        retired_on: Date,
    },
}

/// Why a provider field was rejected ([`CatalogError::InvalidProvider`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProviderFieldProblem {
    /// A base URL that is not `http://` or `https://`.
    #[error("not an http:// or https:// URL")]
    NotHttpUrl,
    /// An environment variable name that is empty or has characters other than ASCII letters,
    /// digits and `_`, or starts with a digit.
    #[error(
        "not an environment variable name (ASCII letters, digits and `_`, not starting with a digit)"
    )]
    NotEnvVarName,
    /// A Chat Completions quirk on a provider that does not speak that protocol.
    #[error(
        "only providers with protocol \"openai\" or \"openai-compatible\" take it, not \"{protocol}\""
    )]
    NotOpenAiStyle {
        /// The provider's protocol.
        protocol: triage_types::Protocol,
    },
}

fn key_suffix(key: Option<&str>) -> String {
    match key {
        Some(key) => format!(" at key `{key}`"),
        None => String::new(),
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        return "none".to_owned();
    }
    items.join(", ")
}

fn suggestion_suffix(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        return String::new();
    }
    let quoted: Vec<String> = suggestions.iter().map(|id| format!("`{id}`")).collect();
    format!("; did you mean {}?", quoted.join(", "))
}
