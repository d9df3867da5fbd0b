//! One module per top-level section of `triage.toml`: the raw serde struct as written and its
//! validation into typed settings.
//!
//! To add a section: create `sections/<name>.rs` with a `Raw<Name>` struct
//! (`#[serde(deny_unknown_fields)]`, every field documented) and a validated type, add one
//! field to [`crate::raw::RawConfig`] and one to [`crate::Config`], and call the validation in
//! `Config::parse`.

pub(crate) mod aliases;
pub(crate) mod catalog;
pub(crate) mod classifier;
pub(crate) mod fallback;
pub(crate) mod keys;
pub(crate) mod keywords;
pub(crate) mod ledger;
pub(crate) mod length;
pub(crate) mod providers;
pub(crate) mod quality;
pub(crate) mod routes;
pub(crate) mod routing;
pub(crate) mod rules;
pub(crate) mod server;
pub(crate) mod state;

use std::ops::Range;

use toml::Spanned;
use triage_types::RouteClass;

use crate::{ConfigError, ModelRef};
use triage_catalog::Source;

/// An [`ConfigError::Invalid`] at a span.
pub(crate) fn invalid(
    source: &Source<'_>,
    span: &Range<usize>,
    fallback_key: &str,
    message: impl Into<String>,
) -> ConfigError {
    ConfigError::Invalid {
        location: source.span(span),
        key: source
            .key_path(span)
            .unwrap_or_else(|| fallback_key.to_owned()),
        message: message.into(),
    }
}

/// A routing class written as a string.
pub(crate) fn class(
    source: &Source<'_>,
    written: &Spanned<String>,
    key: &str,
) -> Result<RouteClass, ConfigError> {
    written
        .get_ref()
        .parse()
        .map_err(|error: triage_types::ParseClassError| {
            invalid(source, &written.span(), key, error.to_string())
        })
}

/// A model id with where it was written.
pub(crate) fn model_ref(source: &Source<'_>, written: &Spanned<String>, key: &str) -> ModelRef {
    ModelRef {
        id: written.get_ref().clone(),
        location: source.span(&written.span()),
        key: key.to_owned(),
    }
}

/// The six optional per-class lists of a `[routes]`-shaped table.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClassLists {
    /// Models for `extract`, best first.
    pub(crate) extract: Option<Spanned<Vec<Spanned<String>>>>,
    /// Models for `faq`.
    pub(crate) faq: Option<Spanned<Vec<Spanned<String>>>>,
    /// Models for `transform`.
    pub(crate) transform: Option<Spanned<Vec<Spanned<String>>>>,
    /// Models for `analyze`.
    pub(crate) analyze: Option<Spanned<Vec<Spanned<String>>>>,
    /// Models for `reason`.
    pub(crate) reason: Option<Spanned<Vec<Spanned<String>>>>,
    /// Models for `critical`.
    pub(crate) critical: Option<Spanned<Vec<Spanned<String>>>>,
}

impl RawClassLists {
    /// The lists in class order.
    pub(crate) fn into_array(self) -> [Option<Spanned<Vec<Spanned<String>>>>; 6] {
        [
            self.extract,
            self.faq,
            self.transform,
            self.analyze,
            self.reason,
            self.critical,
        ]
    }
}

/// Validates per-class model lists: each list written must be non-empty.
pub(crate) fn class_lists(
    source: &Source<'_>,
    raw: RawClassLists,
    table: &str,
) -> Result<Vec<(RouteClass, Vec<ModelRef>)>, ConfigError> {
    let mut out = Vec::new();
    for (class, list) in RouteClass::ALL.into_iter().zip(raw.into_array()) {
        let Some(list) = list else { continue };
        let key = format!("{table}.{class}");
        if list.get_ref().is_empty() {
            return Err(ConfigError::Invalid {
                location: source.span(&list.span()),
                key,
                message: "a route needs at least one model".to_owned(),
            });
        }
        let models = list
            .get_ref()
            .iter()
            .map(|model| model_ref(source, model, &key))
            .collect();
        out.push((class, models));
    }
    Ok(out)
}

/// A value written under `key` that must lie in 0..=1, or the error naming its place.
pub(crate) fn unit_interval<T>(
    source: &Source<'_>,
    written: &Spanned<T>,
    key: &str,
) -> Result<T, ConfigError>
where
    T: Copy + PartialOrd + From<u8> + std::fmt::Display,
{
    let value = *written.get_ref();
    if !(T::from(0)..=T::from(1)).contains(&value) {
        return Err(invalid(
            source,
            &written.span(),
            key,
            format!("{value} is not between 0 and 1"),
        ));
    }
    Ok(value)
}
