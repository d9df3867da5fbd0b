//! `[routing]`: which strategy classifies by default, and the low-confidence threshold.

use serde::Deserialize;
use toml::Spanned;
use triage_strategies::{DEFAULT_LOW_CONFIDENCE, StrategyKind};

use super::invalid;
use crate::ConfigError;
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
}

/// Validated `[routing]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Routing {
    /// The default strategy, if the file sets one.
    pub strategy: Option<StrategyKind>,
    /// The low-confidence threshold, in 0..=1.
    pub low_confidence: f32,
}

impl Default for Routing {
    fn default() -> Self {
        Routing {
            strategy: None,
            low_confidence: DEFAULT_LOW_CONFIDENCE,
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
            let value = *written.get_ref();
            if !(0.0..=1.0).contains(&value) {
                return Err(invalid(
                    source,
                    &written.span(),
                    "routing.low_confidence",
                    format!("{value} is not between 0 and 1"),
                ));
            }
            value
        }
        None => DEFAULT_LOW_CONFIDENCE,
    };
    Ok(Routing {
        strategy,
        low_confidence,
    })
}
