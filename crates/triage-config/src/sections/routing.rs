//! `[routing]`: which strategy classifies by default, the low-confidence threshold, the
//! cost-quality knob with the models it may choose from and its floor under high-stakes
//! requests, and how reasoning effort is set.

use serde::Deserialize;
use toml::Spanned;
use triage_strategies::{
    DEFAULT_HIGH_STAKES, DEFAULT_LOW_CONFIDENCE, HighStakes, ReasoningSetting, StrategyKind,
};

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
    /// The `critical` probability at or above which the knob treats a request as high stakes
    /// and holds it to `high_stakes_min_tier`.
    high_stakes: Option<Spanned<f32>>,
    /// The lowest tier, 1 to 5, a high-stakes request may go to under the knob; 1 turns the
    /// floor off.
    high_stakes_min_tier: Option<Spanned<u8>>,
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
    /// The knob's floor under high-stakes requests.
    pub high_stakes: HighStakes,
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
            high_stakes: DEFAULT_HIGH_STAKES,
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
    let threshold = raw
        .high_stakes
        .map(|written| crate::sections::unit_interval(source, &written, "routing.high_stakes"))
        .transpose()?
        .unwrap_or(DEFAULT_HIGH_STAKES.threshold);
    let min_tier = match raw.high_stakes_min_tier {
        Some(written) if !(1..=5).contains(written.get_ref()) => {
            return Err(invalid(
                source,
                &written.span(),
                "routing.high_stakes_min_tier",
                format!("{} is not a tier (1 to 5)", written.get_ref()),
            ));
        }
        Some(written) => *written.get_ref(),
        None => DEFAULT_HIGH_STAKES.min_tier,
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
        high_stakes: HighStakes {
            threshold,
            min_tier,
        },
    })
}
