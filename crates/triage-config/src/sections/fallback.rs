//! `[fallback]`: retries, failover, escalation, breakers and quality checks, validated by
//! `triage-fallback`'s own types; a bad value is reported at its key's line.

use std::collections::BTreeSet;
use std::ops::Range;

use toml::Spanned;
use triage_fallback::{FallbackConfig, FallbackConfigError, FallbackSettings};

use crate::ConfigError;
use crate::location::Source;

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
    let span = key_span(source.text, key).unwrap_or_else(|| section.clone());
    ConfigError::Invalid {
        location: source.span(&span),
        key: key.to_owned(),
        message,
    }
}

/// The span of a dotted key's value in a TOML document (the deepest part of the path that is
/// written), or `None` when none of it is.
fn key_span(text: &str, dotted: &str) -> Option<Range<usize>> {
    let document = toml::de::DeTable::parse(text).ok()?;
    let mut table = document.get_ref();
    let mut found = None;
    for part in dotted.split('.') {
        let (key, value) = table
            .iter()
            .find(|(key, _)| key.get_ref().as_ref() == part)?;
        found = Some(if value.span().is_empty() {
            key.span()
        } else {
            value.span()
        });
        match value.get_ref() {
            toml::de::DeValue::Table(inner) => table = inner,
            _ => break,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::key_span;

    #[test]
    fn finds_keys_in_headers_dotted_keys_and_inline_tables() {
        let text = "[fallback]\nmax_attempts = 0\n\n[fallback.routes.faq]\nmin_chars = 3\n\n[other]\nx = { y = { z = 1 } }\na.b = 2\n";
        let line = |dotted: &str| {
            key_span(text, dotted).map(|span| text[..span.start].matches('\n').count() + 1)
        };
        let cases = [
            ("fallback.max_attempts", Some(2)),
            ("fallback.routes.faq.min_chars", Some(5)),
            ("other.x.y.z", Some(8)),
            ("other.a.b", Some(9)),
            ("fallback.nothing", None),
        ];
        for (dotted, expected) in cases {
            assert_eq!(line(dotted), expected, "{dotted}");
        }
    }
}
