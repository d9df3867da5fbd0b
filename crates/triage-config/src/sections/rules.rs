//! `[[rules]]`: user rules evaluated before any strategy. Each matches `contains` (a substring)
//! or `regex`, case-insensitively, and forces a `class`, a `model`, or both.

use serde::Deserialize;
use toml::Spanned;
use triage_strategies::{Rule, RuleAction, RuleMatcher};

use super::{class, invalid, model_ref};
use crate::{ConfigError, ModelRef};
use triage_catalog::Source;

/// One `[[rules]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    /// A name for reasons and logs; defaults to `rule N` (1-based).
    name: Option<String>,
    /// Match when the request's text contains this, ignoring case.
    contains: Option<Spanned<String>>,
    /// Match when this regular expression matches, ignoring case.
    regex: Option<Spanned<String>>,
    /// Force this class.
    class: Option<Spanned<String>>,
    /// Force this model (a catalog id or an alias).
    model: Option<Spanned<String>>,
}

/// Validated rules, with the location of each forced model for catalog checks.
#[derive(Debug, Clone, Default)]
pub struct RuleSettings {
    /// The rules, in order.
    pub rules: Vec<Rule>,
    /// Forced models, with where they were written.
    pub models: Vec<ModelRef>,
}

pub(crate) fn validate(
    source: &Source<'_>,
    raw: Vec<Spanned<RawRule>>,
) -> Result<RuleSettings, ConfigError> {
    let mut settings = RuleSettings::default();
    for (index, entry) in raw.into_iter().enumerate() {
        let span = entry.span();
        let entry = entry.into_inner();
        let table = format!("rules[{index}]");
        let matcher = match (&entry.contains, &entry.regex) {
            (Some(needle), None) => {
                if needle.get_ref().is_empty() {
                    return Err(invalid(
                        source,
                        &needle.span(),
                        &table,
                        "`contains` must not be empty",
                    ));
                }
                RuleMatcher::contains(needle.get_ref())
            }
            (None, Some(pattern)) => RuleMatcher::regex(pattern.get_ref()).map_err(|error| {
                invalid(
                    source,
                    &pattern.span(),
                    &format!("{table}.regex"),
                    error.to_string(),
                )
            })?,
            _ => {
                return Err(ConfigError::Invalid {
                    location: source.span(&span),
                    key: table,
                    message: "a rule needs exactly one of `contains` or `regex`".to_owned(),
                });
            }
        };
        let forced_class = match &entry.class {
            Some(written) => Some(class(source, written, &format!("{table}.class"))?),
            None => None,
        };
        let model = entry
            .model
            .as_ref()
            .map(|written| model_ref(source, written, &format!("{table}.model")));
        if forced_class.is_none() && model.is_none() {
            return Err(ConfigError::Invalid {
                location: source.span(&span),
                key: table,
                message: "a rule needs `class`, `model` or both".to_owned(),
            });
        }
        settings.rules.push(Rule {
            name: entry.name.unwrap_or_else(|| format!("rule {}", index + 1)),
            matcher,
            action: RuleAction {
                class: forced_class,
                model: model.as_ref().map(|model| model.id.clone()),
            },
        });
        settings.models.extend(model);
    }
    Ok(settings)
}
