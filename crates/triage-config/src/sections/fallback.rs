//! `[fallback]`: retries, failover, escalation, breakers and quality checks, validated by
//! `triage-fallback`'s own types; a bad value is reported at its key's line.

use std::collections::BTreeSet;
use std::ops::Range;

use toml::Spanned;
use triage_fallback::{FallbackConfig, FallbackConfigError, FallbackSettings};

use crate::ConfigError;
use triage_catalog::Source;

/// The old executor-side threshold, folded into `[routing] low_confidence`.
pub(crate) const MOVED_LOW_CONFIDENCE: &str = "low_confidence_threshold";

/// Validates `[fallback]` (the defaults when absent); `aliases` are the route aliases the
/// config defines, which `[fallback.aliases.<name>]` must name.
pub(crate) fn validate(
    source: &Source<'_>,
    raw: Option<Spanned<FallbackConfig>>,
    aliases: &BTreeSet<&str>,
) -> Result<FallbackSettings, ConfigError> {
    let Some(raw) = raw else {
        return Ok(FallbackSettings::default());
    };
    let section = raw.span();
    let config = raw.into_inner();
    for alias in config.aliases.keys() {
        if !aliases.contains(alias.as_str()) {
            let key = format!("fallback.aliases.{alias}");
            return Err(located(
                source,
                &key,
                &section,
                format!("no route alias `{alias}` is defined in [aliases]"),
            ));
        }
    }
    FallbackSettings::from_config(&config).map_err(|FallbackConfigError { key, message }| {
        located(source, &format!("fallback.{key}"), &section, message)
    })
}

fn located(source: &Source<'_>, key: &str, section: &Range<usize>, message: String) -> ConfigError {
    let path: Vec<&str> = key.split('.').collect();
    let span = source.key_span(&path).unwrap_or_else(|| section.clone());
    ConfigError::Invalid {
        location: source.span(&span),
        key: key.to_owned(),
        message,
    }
}
