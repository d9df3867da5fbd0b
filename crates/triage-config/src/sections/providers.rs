//! `[providers]`: which providers routing may use.
//!
//! Later sections about providers (base URLs, keys, timeouts) belong in their own fields of
//! [`RawProviders`]; per-provider tables can be added as named fields or, for open-ended
//! provider ids, as a `BTreeMap<String, RawProviderSettings>` field named `settings`
//! (`[providers.settings.openai]`), keeping `deny_unknown_fields` on every struct.

use std::collections::BTreeSet;

use serde::Deserialize;
use triage_strategies::ProviderFilter;

use crate::ConfigError;
use crate::location::Source;

/// `[providers]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProviders {
    /// When set, only these provider ids may be routed to.
    enabled: Option<Vec<String>>,
    /// These provider ids are never routed to.
    #[serde(default)]
    disabled: Vec<String>,
}

pub(crate) fn validate(
    _source: &Source<'_>,
    raw: RawProviders,
) -> Result<ProviderFilter, ConfigError> {
    Ok(ProviderFilter {
        enabled: raw
            .enabled
            .map(|list| list.into_iter().collect::<BTreeSet<_>>()),
        disabled: raw.disabled.into_iter().collect(),
    })
}
