//! `[routes]`: per class, the ordered models that replace the catalog's seed routes.

use std::collections::BTreeMap;

use triage_types::RouteClass;

use super::{RawClassLists, class_lists};
use crate::{ConfigError, ModelRef};
use triage_catalog::Source;

/// `[routes]` as written: `faq = ["gemini-2.0-flash", "gpt-4o-mini"]`, one key per class.
pub(crate) type RawRoutes = RawClassLists;

pub(crate) fn validate(
    source: &Source<'_>,
    raw: RawRoutes,
) -> Result<BTreeMap<RouteClass, Vec<ModelRef>>, ConfigError> {
    Ok(class_lists(source, raw, "routes")?.into_iter().collect())
}
