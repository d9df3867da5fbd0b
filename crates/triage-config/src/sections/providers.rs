//! `[providers]`: which providers routing may use, and per-provider connection settings.
//!
//! ```toml
//! [providers]
//! disabled = ["deepseek"]
//!
//! [providers.settings.openai]
//! base_url = "https://my-proxy.example.com/v1"   # OpenAI-style URLs include /v1
//! api_key_env = "MY_OPENAI_KEY"
//! ```
//!
//! Per-provider tables sit under `settings` because `enabled` and `disabled` share the
//! `[providers]` table and every table keeps `deny_unknown_fields`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use toml::Spanned;
use triage_strategies::ProviderFilter;

use crate::ConfigError;
use crate::sections::invalid;
use triage_catalog::Source;

/// `[providers]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProviders {
    /// When set, only these provider ids may be routed to.
    enabled: Option<Vec<String>>,
    /// These provider ids are never routed to.
    #[serde(default)]
    disabled: Vec<String>,
    /// `[providers.settings.<id>]`: connection settings per catalog provider id.
    #[serde(default)]
    settings: BTreeMap<String, RawProviderSettings>,
}

/// `[providers.settings.<id>]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProviderSettings {
    /// The API's base URL, replacing the catalog's. The variable the catalog names in the
    /// provider's `base_url_env` (`OPENAI_BASE_URL`, `ANTHROPIC_BASE_URL`, `GEMINI_BASE_URL`)
    /// still wins, as in the providers' SDKs.
    base_url: Option<Spanned<String>>,
    /// The environment variable holding the API key, replacing the catalog's `api_key_env`
    /// (and giving a key to a provider the catalog lists as keyless).
    api_key_env: Option<String>,
}

/// Validated `[providers.settings.<id>]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderOverrides {
    /// The base URL to use instead of the catalog's.
    pub base_url: Option<String>,
    /// The key variable to read instead of the catalog's.
    pub api_key_env: Option<String>,
}

/// Validated `[providers]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvidersSection {
    /// Which providers routing may use.
    pub filter: ProviderFilter,
    /// Connection settings by provider id.
    pub overrides: BTreeMap<String, ProviderOverrides>,
}

pub(crate) fn validate(
    source: &Source<'_>,
    raw: RawProviders,
) -> Result<ProvidersSection, ConfigError> {
    let mut overrides = BTreeMap::new();
    for (id, settings) in raw.settings {
        let base_url = match settings.base_url {
            Some(url) => {
                let span = url.span();
                let url = url.into_inner();
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(invalid(
                        source,
                        &span,
                        &format!("providers.settings.{id}.base_url"),
                        format!("`{url}` is not an http:// or https:// URL"),
                    ));
                }
                Some(url.trim_end_matches('/').to_owned())
            }
            None => None,
        };
        overrides.insert(
            id,
            ProviderOverrides {
                base_url,
                api_key_env: settings.api_key_env,
            },
        );
    }
    Ok(ProvidersSection {
        filter: ProviderFilter {
            enabled: raw
                .enabled
                .map(|list| list.into_iter().collect::<BTreeSet<_>>()),
            disabled: raw.disabled.into_iter().collect(),
        },
        overrides,
    })
}
