//! `[routing]`: which strategy classifies by default, the low-confidence threshold, the
//! cost-quality knob with the models it may choose from, and how reasoning effort is set.

use serde::Deserialize;
use toml::Spanned;
use triage_strategies::{DEFAULT_LOW_CONFIDENCE, ReasoningSetting, StrategyKind};

use super::{invalid, model_ref};
use crate::{ConfigError, ModelRef};
use triage_catalog::Source;

/// `[routing]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRouting {
    /// `model`, `keyword` or `length`; the command line's `--strategy` wins.
    strategy: Option<Spanned<String>>,
    /// Below this confidence, a close call goes to the pricier of the two top classes;
    /// 0 turns it off.
    low_confidence: Option<Spanned<f32>>,
    /// The cost-quality knob in 0..=1: 0 = the cheapest adequate model, 1 = the best expected
    /// quality whatever it costs; `--quality` wins.
    quality: Option<Spanned<f64>>,
    /// The models the knob may choose from (default: every model of the routes).
    candidates: Option<Spanned<Vec<Spanned<String>>>>,
    /// How reasoning effort is set where the client set none: `auto` (by class and
    /// difficulty), `off`, or one effort (`low`, `medium`, `high`, …) for every request.
    reasoning_effort: Option<Spanned<String>>,
    /// The model the user would otherwise send everything to: what savings are measured
    /// against, and the price ceiling of the knob below 1. Default: the catalog's
    /// `default_baseline`; `--baseline` wins.
    baseline: Option<Spanned<String>>,
}

/// Validated `[routing]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Routing {
    /// The default strategy, if the file sets one.
    pub strategy: Option<StrategyKind>,
    /// The low-confidence threshold, in 0..=1.
    pub low_confidence: f32,
    /// The cost-quality knob, in 0..=1; `None`: the quality table's recommended value.
    pub quality: Option<f64>,
    /// The models the knob may choose from, if restricted.
    pub candidates: Option<Vec<ModelRef>>,
    /// How reasoning effort is set where the client set none.
    pub reasoning_effort: ReasoningSetting,
    /// The baseline model, if configured.
    pub baseline: Option<ModelRef>,
}

impl Default for Routing {
    fn default() -> Self {
        Routing {
            strategy: None,
            low_confidence: DEFAULT_LOW_CONFIDENCE,
            quality: None,
            candidates: None,
            reasoning_effort: ReasoningSetting::Auto,
            baseline: None,
        }
    }
}

pub(crate) fn validate(source: &Source<'_>, raw: RawRouting) -> Result<Routing, ConfigError> {
    let strategy =
        match raw.strategy {
            Some(written) => Some(written.get_ref().parse::<StrategyKind>().map_err(
                |message| invalid(source, &written.span(), "routing.strategy", message),
            )?),
            None => None,
        };
    let low_confidence = match raw.low_confidence {
        Some(written) => {
            crate::sections::unit_interval(source, &written, "routing.low_confidence")?
        }
        None => DEFAULT_LOW_CONFIDENCE,
    };
    let quality = raw
        .quality
        .map(|written| crate::sections::unit_interval(source, &written, "routing.quality"))
        .transpose()?;
    let candidates = match raw.candidates {
        Some(list) => {
            if list.get_ref().is_empty() {
                return Err(invalid(
                    source,
                    &list.span(),
                    "routing.candidates",
                    "the knob needs at least one candidate",
                ));
            }
            Some(
                list.get_ref()
                    .iter()
                    .map(|model| model_ref(source, model, "routing.candidates"))
                    .collect(),
            )
        }
        None => None,
    };
    let reasoning_effort = match raw.reasoning_effort {
        Some(written) => written
            .get_ref()
            .parse::<ReasoningSetting>()
            .map_err(|message| {
                invalid(source, &written.span(), "routing.reasoning_effort", message)
            })?,
        None => ReasoningSetting::Auto,
    };
    Ok(Routing {
        strategy,
        low_confidence,
        quality,
        candidates,
        reasoning_effort,
        baseline: raw
            .baseline
            .map(|baseline| model_ref(source, &baseline, "routing.baseline")),
    })
}
