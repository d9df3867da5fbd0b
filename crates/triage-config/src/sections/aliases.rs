//! `[aliases.<name>]`: names clients may use as their `model`, mapped to a fixed model or to
//! their own per-class routes.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;
use triage_types::RouteClass;

use super::{RawClassLists, class_lists, model_ref};
use crate::{ConfigError, ModelRef};
use triage_catalog::Source;

/// One `[aliases.<name>]` table as written: either `model = "…"` or per-class lists.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAlias {
    /// Always route to this model.
    model: Option<Spanned<String>>,
    /// Or per-class lists, replacing the policy's for the classes named: models for `extract`.
    extract: Option<Spanned<Vec<Spanned<String>>>>,
    /// Models for `faq`.
    faq: Option<Spanned<Vec<Spanned<String>>>>,
    /// Models for `transform`.
    transform: Option<Spanned<Vec<Spanned<String>>>>,
    /// Models for `analyze`.
    analyze: Option<Spanned<Vec<Spanned<String>>>>,
    /// Models for `reason`.
    reason: Option<Spanned<Vec<Spanned<String>>>>,
    /// Models for `critical`.
    critical: Option<Spanned<Vec<Spanned<String>>>>,
}

/// A validated alias.
#[derive(Debug, Clone, PartialEq)]
pub enum Alias {
    /// A fixed model.
    Model(ModelRef),
    /// Per-class lists.
    Routes(BTreeMap<RouteClass, Vec<ModelRef>>),
}

pub(crate) fn validate(
    source: &Source<'_>,
    raw: BTreeMap<String, Spanned<RawAlias>>,
) -> Result<BTreeMap<String, Alias>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, alias) in raw {
        let span = alias.span();
        let alias = alias.into_inner();
        let table = format!("aliases.{name}");
        let classes = RawClassLists {
            extract: alias.extract,
            faq: alias.faq,
            transform: alias.transform,
            analyze: alias.analyze,
            reason: alias.reason,
            critical: alias.critical,
        };
        let lists = class_lists(source, classes, &table)?;
        let validated = match (alias.model, lists.is_empty()) {
            (Some(model), true) => {
                Alias::Model(model_ref(source, &model, &format!("{table}.model")))
            }
            (None, false) => Alias::Routes(lists.into_iter().collect()),
            (Some(model), false) => {
                return Err(super::invalid(
                    source,
                    &model.span(),
                    &table,
                    "an alias has either `model` or per-class lists, not both",
                ));
            }
            (None, true) => {
                return Err(ConfigError::Invalid {
                    location: source.span(&span),
                    key: table,
                    message: "an alias needs `model = \"…\"` or at least one per-class list"
                        .to_owned(),
                });
            }
        };
        out.insert(name, validated);
    }
    Ok(out)
}
