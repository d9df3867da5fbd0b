//! `[length]`: the length strategy's buckets.

use serde::Deserialize;
use toml::Spanned;
use triage_strategies::{LengthBucket, LengthThresholds};

use super::{class, invalid};
use crate::ConfigError;
use triage_catalog::Source;

/// `[length]` as written:
/// `buckets = [{ below = 16, class = "faq" }, { below = 1024, class = "analyze" }]` and
/// `otherwise = "transform"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLength {
    /// Buckets with increasing `below` bounds, in tokens.
    buckets: Spanned<Vec<RawBucket>>,
    /// The class for prompts longer than the last bound.
    otherwise: Spanned<String>,
}

/// One bucket.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBucket {
    /// Exclusive upper bound in tokens.
    below: u64,
    /// The class for prompts in this bucket.
    class: Spanned<String>,
}

pub(crate) fn validate(
    source: &Source<'_>,
    raw: RawLength,
) -> Result<LengthThresholds, ConfigError> {
    let span = raw.buckets.span();
    let mut buckets = Vec::new();
    for (index, bucket) in raw.buckets.into_inner().into_iter().enumerate() {
        buckets.push(LengthBucket {
            below: bucket.below,
            class: class(
                source,
                &bucket.class,
                &format!("length.buckets[{index}].class"),
            )?,
        });
    }
    let otherwise = class(source, &raw.otherwise, "length.otherwise")?;
    LengthThresholds::new(buckets, otherwise)
        .map_err(|error| invalid(source, &span, "length.buckets", error.to_string()))
}
