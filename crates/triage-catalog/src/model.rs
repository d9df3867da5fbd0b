//! Validated catalog entries: models, their prices, limits, capabilities and lifecycle, and
//! providers.

use std::fmt;

use rust_decimal::Decimal;
use serde::Serialize;
use time::Date;

use triage_types::{EffortSet, OpenAiQuirks, Protocol, ReasoningControl, ReasoningEffort};

use crate::location::Location;

/// One model as the catalog knows it, after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// triage's id for the model (`gpt-4o`, `claude-sonnet-4-5`), unique in a catalog.
    pub id: String,
    /// The id of the provider that serves it, a key of the catalog's `[providers]` table.
    pub provider: String,
    /// The model name the provider's API expects (`claude-sonnet-4-5-20250929`).
    pub api_name: String,
    /// What it costs, per million tokens.
    pub pricing: Pricing,
    /// The most tokens (prompt and answer together) one request may hold.
    pub context_window: u64,
    /// The most answer tokens one request may produce.
    pub max_output_tokens: u64,
    /// What it can do besides plain chat.
    pub capabilities: Capabilities,
    /// Capability tier, 1 (cheapest, weakest) to 5 (frontier); see [`Tier`].
    pub tier: u8,
    /// Release, deprecation and retirement dates, and the successor.
    pub lifecycle: Lifecycle,
    /// Where the entry was defined (file and line), for messages.
    pub defined_at: Location,
}

/// The capability tier scale, from 1 to 5, as the embedded catalog assigns it.
///
/// - 1: nano and flash-lite models for labels, extraction and one-line answers (GPT-4.1 nano,
///   GPT-5 nano, Gemini Flash-Lite).
/// - 2: small general models (GPT-4o mini, Gemini 2.0 / 2.5 Flash, Claude 3.5 Haiku).
/// - 3: fast mid-size models for rewriting, summaries and routine code (Claude Haiku 4.5,
///   GPT-4.1 mini, GPT-5 mini, Gemini 3 Flash, DeepSeek chat models).
/// - 4: strong general and reasoning models for analysis, code and planning (GPT-4o, GPT-4.1,
///   o3-mini, o4-mini, Claude Sonnet, Gemini 2.5 Pro, DeepSeek reasoner and V4 Pro).
/// - 5: frontier models for the hardest and highest-stakes work (Claude Opus, GPT-5 and later,
///   o1, o3, Gemini 3.1 Pro).
#[derive(Debug, Clone, Copy)]
pub struct Tier;

impl Tier {
    /// The lowest tier.
    pub const MIN: u8 = 1;
    /// The highest tier.
    pub const MAX: u8 = 5;
}

/// Prices of one model in US dollars per million tokens, with where and when they were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pricing {
    /// Prompt tokens not served from or written to a cache.
    pub input: Decimal,
    /// Answer tokens, reasoning tokens included.
    pub output: Decimal,
    /// Prompt tokens read from the provider's cache; `None` when the price is unknown or the
    /// provider does not cache.
    pub cached_input: Option<Decimal>,
    /// Prompt tokens written to the cache (Anthropic's 5-minute cache write); `None` when unknown
    /// or not billed separately.
    pub cache_write: Option<Decimal>,
    /// Fraction taken off every price by the provider's batch API (0.5 = half price); `None`
    /// when the provider offers no batch API.
    pub batch_discount: Option<Decimal>,
    /// The day the prices were read from `source`.
    pub checked_on: Date,
    /// The provider's public pricing page.
    pub source: String,
}

/// What a model can do besides plain chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Capabilities {
    /// Function or tool calling.
    pub tools: bool,
    /// Image input.
    pub vision: bool,
    /// A JSON output mode (JSON object or JSON schema).
    pub json_mode: bool,
    /// Hidden reasoning ("thinking") before the answer.
    pub reasoning: bool,
    /// How its reasoning is steered on its provider's API, and which efforts it takes; `None`
    /// when it cannot be (not a reasoning model, or one whose provider takes no control). Set
    /// in the catalog with `reasoning_control`, `reasoning_efforts` and
    /// `default_reasoning_effort`, else from the provider's protocol
    /// ([`ReasoningSpec::of_protocol`]).
    pub reasoning_spec: Option<ReasoningSpec>,
}

/// How a reasoning model takes a reasoning control: the form its API steers thinking in, the
/// efforts it accepts, and what it does when a request sets none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct ReasoningSpec {
    /// The form.
    pub control: ReasoningControl,
    /// The efforts it accepts; never empty. An effort it does not take is sent as the nearest
    /// one it does ([`ReasoningSpec::effort_sent`]).
    pub efforts: EffortSet,
    /// What it does when sent no effort (`none`: it does not think), one of `efforts`.
    pub default_effort: ReasoningEffort,
}

/// The least room for an answer beside a thinking budget: an effort whose budget leaves less of
/// a model's `max_output_tokens` is not one it takes.
pub const MIN_ANSWER_TOKENS: u64 = 1_024;

impl ReasoningSpec {
    /// The usual spec of a reasoning model on a provider of `protocol`, whose answers hold at
    /// most `max_output_tokens`: OpenAI's effort (`low`, `medium`, `high`; `medium` by
    /// default, as the o-series and GPT-5 models), Anthropic's extended thinking and Gemini's
    /// thinking budget ([`ReasoningSpec::of_control`]); none for OpenAI-compatible servers.
    pub fn of_protocol(protocol: Protocol, max_output_tokens: u64) -> Option<ReasoningSpec> {
        let control = match protocol {
            Protocol::OpenAi => ReasoningControl::Effort,
            Protocol::Anthropic => ReasoningControl::ExtendedThinking,
            Protocol::Gemini => ReasoningControl::ThinkingBudget,
            Protocol::OpenAiCompatible => return None,
        };
        Some(ReasoningSpec::of_control(control, max_output_tokens))
    }

    /// The usual efforts and default of `control`, on a model whose answers hold at most
    /// `max_output_tokens`: efforts `low` to `high`, default `medium` (OpenAI effort); every
    /// effort from `minimal`, default `medium` (Gemini's dynamic thinking); every effort,
    /// default off (extended thinking); every effort but `minimal`, default off (adaptive
    /// thinking). A budget control drops the efforts whose budget leaves no room for an answer.
    pub fn of_control(control: ReasoningControl, max_output_tokens: u64) -> ReasoningSpec {
        use ReasoningEffort::{High, Low, Medium, Minimal, None};
        let (efforts, default_effort) = match control {
            ReasoningControl::Effort => (EffortSet::of(&[Low, Medium, High]), Medium),
            ReasoningControl::ThinkingBudget => (EffortSet::ALL.without(None), Medium),
            ReasoningControl::ExtendedThinking => (EffortSet::ALL, None),
            ReasoningControl::AdaptiveThinking => (EffortSet::ALL.without(Minimal), None),
        };
        ReasoningSpec {
            control,
            efforts: ReasoningSpec::fitting(control, efforts, max_output_tokens),
            default_effort,
        }
    }

    /// `efforts` without those whose thinking budget (under a budget control) leaves less than
    /// [`MIN_ANSWER_TOKENS`] of `max_output_tokens`.
    pub fn fitting(
        control: ReasoningControl,
        efforts: EffortSet,
        max_output_tokens: u64,
    ) -> EffortSet {
        match control {
            ReasoningControl::ThinkingBudget | ReasoningControl::ExtendedThinking => efforts
                .iter()
                .filter(|effort| {
                    !control.thinks_at(*effort)
                        || u64::from(effort.thinking_budget()) + MIN_ANSWER_TOKENS
                            <= max_output_tokens
                })
                .collect(),
            ReasoningControl::Effort | ReasoningControl::AdaptiveThinking => efforts,
        }
    }

    /// The effort a request asking for `wanted` sends this model: the nearest it accepts;
    /// `None` when that sends nothing (extended thinking below `medium`, adaptive thinking at
    /// `none`: the model does not think).
    pub fn effort_sent(self, wanted: ReasoningEffort) -> Option<ReasoningEffort> {
        let effort = self.efforts.nearest(wanted)?;
        match self.control {
            ReasoningControl::ExtendedThinking | ReasoningControl::AdaptiveThinking
                if !self.control.thinks_at(effort) =>
            {
                None
            }
            _ => Some(effort),
        }
    }

    /// What a request asking for `wanted` (none: the model's default) sends, in words.
    pub fn sends(self, wanted: Option<ReasoningEffort>) -> String {
        match wanted.and_then(|wanted| self.effort_sent(wanted)) {
            Some(effort) if Some(effort) != wanted => {
                format!(
                    "{} (the nearest effort it takes)",
                    self.control.sends(effort)
                )
            }
            Some(effort) => self.control.sends(effort),
            None if wanted.is_some() => "no thinking".to_owned(),
            None => format!(
                "nothing (the model's default: {})",
                self.control.sends(self.default_effort)
            ),
        }
    }

    /// The hidden reasoning tokens a request asking for `wanted` (none: the model's default)
    /// is assumed to spend, for estimates (billed as output): a quarter of the budget the
    /// effort sent stands for ([`ReasoningEffort::thinking_budget`]: 128 at `minimal`, 256 at
    /// `low`, 1,024 at `medium`, 4,096 at `high`, 8,192 at `xhigh`), for every control;
    /// nothing where the model does not think. A prior, not a measurement: models stop
    /// thinking well short of their budgets on most prompts, and no provider publishes
    /// figures.
    pub fn expected_reasoning_tokens(self, wanted: Option<ReasoningEffort>) -> u64 {
        let effort = match wanted {
            Some(wanted) => self.effort_sent(wanted),
            None => Some(self.default_effort),
        };
        match effort {
            Some(effort) if self.control.thinks_at(effort) => {
                u64::from(effort.thinking_budget() / 4)
            }
            _ => 0,
        }
    }
}

/// A model's life: when it came, when it was deprecated, when it stops answering, and what
/// replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lifecycle {
    /// The release date, when known.
    pub released: Option<Date>,
    /// The day the provider announced its deprecation.
    pub deprecated_on: Option<Date>,
    /// The day the provider stops serving it.
    pub retires_on: Option<Date>,
    /// The id of the model that replaces it, in the same catalog.
    pub successor: Option<String>,
}

/// Whether a model can be used on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelStatus {
    /// Served, not deprecated.
    Active,
    /// Still served, but deprecated: it has a retirement date or a successor to move to.
    Deprecated,
    /// No longer served.
    Retired,
}

impl ModelStatus {
    /// The status as it appears in output: `active`, `deprecated` or `retired`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ModelStatus::Active => "active",
            ModelStatus::Deprecated => "deprecated",
            ModelStatus::Retired => "retired",
        }
    }
}

impl fmt::Display for ModelStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Model {
    /// The model's status on `today`: retired from its retirement day on; deprecated from its
    /// deprecation day on, or as soon as a retirement date is announced; active otherwise.
    pub fn status(&self, today: Date) -> ModelStatus {
        let lifecycle = &self.lifecycle;
        if lifecycle.retires_on.is_some_and(|day| day <= today) {
            return ModelStatus::Retired;
        }
        if lifecycle.retires_on.is_some() || lifecycle.deprecated_on.is_some_and(|day| day <= today)
        {
            return ModelStatus::Deprecated;
        }
        ModelStatus::Active
    }
}

/// How to reach one provider: its protocol, default endpoint, the variables holding its key
/// and overriding its endpoint, and its Chat Completions quirks. The catalog is the only place
/// that knows these facts; the CLI resolves them (with `triage.toml` and the environment) into
/// the provider clients' settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderInfo {
    /// The provider's id (`openai`, `anthropic`, `google`, `deepseek`, …).
    pub id: String,
    /// The wire protocol.
    pub protocol: Protocol,
    /// The default base URL. OpenAI-style URLs include the version (`https://api.openai.com/v1`);
    /// Anthropic's and Gemini's do not.
    pub base_url: String,
    /// The environment variable that overrides the base URL, as the provider's SDK reads it
    /// (`OPENAI_BASE_URL`); `None` when there is none.
    pub base_url_env: Option<String>,
    /// The environment variable that holds the API key; `None` means the provider needs no key
    /// (a local Ollama or vLLM), and no key is asked for.
    pub api_key_env: Option<String>,
    /// Chat Completions differences, for the OpenAI protocols: the file's `max_tokens_field` and
    /// `json_schema` over [`OpenAiQuirks::for_protocol`].
    pub openai_quirks: OpenAiQuirks,
}
