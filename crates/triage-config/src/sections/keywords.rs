//! `[keywords]`: changes to the keyword strategy's learned table. `[keywords.<class>]` maps a
//! keyword (a word, two words, or a longer phrase) to a weight, added or replacing the default
//! (0 removes it); `[[keywords.patterns]]` adds case-insensitive regular expressions.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;
use triage_strategies::{KeywordOverrides, KeywordPattern};
use triage_types::RouteClass;

use super::{class, invalid};
use crate::ConfigError;
use triage_catalog::Source;

/// `[keywords]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKeywords {
    /// Keyword weights for `extract`.
    extract: Option<BTreeMap<String, f32>>,
    /// Keyword weights for `faq`.
    faq: Option<BTreeMap<String, f32>>,
    /// Keyword weights for `transform`.
    transform: Option<BTreeMap<String, f32>>,
    /// Keyword weights for `analyze`.
    analyze: Option<BTreeMap<String, f32>>,
    /// Keyword weights for `reason`.
    reason: Option<BTreeMap<String, f32>>,
    /// Keyword weights for `critical`.
    critical: Option<BTreeMap<String, f32>>,
    /// Extra patterns.
    #[serde(default)]
    patterns: Vec<RawPattern>,
}

/// One `[[keywords.patterns]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPattern {
    /// The class it votes for.
    class: Spanned<String>,
    /// The regular expression, matched case-insensitively against the whole text.
    regex: Spanned<String>,
    /// What a match adds to the class's score (learned keywords weigh about 0.5 to 4).
    weight: f32,
    /// A few words for `--explain`; defaults to the regex.
    why: Option<String>,
}

pub(crate) fn validate(
    source: &Source<'_>,
    raw: RawKeywords,
) -> Result<KeywordOverrides, ConfigError> {
    let mut overrides = KeywordOverrides::default();
    let lists = [
        raw.extract,
        raw.faq,
        raw.transform,
        raw.analyze,
        raw.reason,
        raw.critical,
    ];
    for (class, list) in RouteClass::ALL.into_iter().zip(lists) {
        if let Some(list) = list {
            overrides.weights.insert(class, list);
        }
    }
    for (index, pattern) in raw.patterns.into_iter().enumerate() {
        let key = format!("keywords.patterns[{index}]");
        let class = class(source, &pattern.class, &format!("{key}.class"))?;
        let why = pattern
            .why
            .unwrap_or_else(|| format!("pattern {:?}", pattern.regex.get_ref()));
        let compiled = KeywordPattern::new(class, pattern.regex.get_ref(), pattern.weight, why)
            .map_err(|error| {
                invalid(
                    source,
                    &pattern.regex.span(),
                    &format!("{key}.regex"),
                    error.to_string(),
                )
            })?;
        overrides.patterns.push(compiled);
    }
    Ok(overrides)
}
