//! Provider clients from the catalog's provider facts, the config's
//! `[providers.settings.<id>]` and the environment (read through a lookup the caller passes):
//! one client per provider whose key is set or needs none; the others are listed with the
//! variable that would enable them.

use std::collections::BTreeMap;
use std::sync::Arc;

use triage_catalog::Catalog;
use triage_config::ProviderOverrides;
use triage_providers::{Provider, ProviderError, ProviderSettings, ProviderSource, build_provider};

/// Reads an environment variable; the engine itself never touches the process environment.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Whether a provider can be called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderStatus {
    /// Its key is set (or it needs none).
    Ready,
    /// It needs a key that is not set: set this variable.
    MissingKey {
        /// The variable.
        env_var: String,
    },
    /// Its client could not be built for another reason.
    Unavailable {
        /// Why.
        reason: String,
    },
}

/// A catalog provider's connection settings: the catalog's base URL and key variable, replaced
/// by `[providers.settings.<id>]`, then the environment (`OPENAI_BASE_URL` and the like win
/// over both, as in the providers' SDKs; the key is read from the chosen variable).
pub fn provider_settings(
    catalog: &Catalog,
    overrides: &BTreeMap<String, ProviderOverrides>,
    provider: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Option<ProviderSettings> {
    let info = catalog.provider(provider)?;
    let protocol: triage_providers::Protocol = info.protocol.as_str().parse().ok()?;
    let configured = overrides.get(provider);
    let source = ProviderSource {
        base_url: Some(info.base_url.clone()),
        api_key_env: info.api_key_env.clone(),
        config_base_url: configured.and_then(|settings| settings.base_url.clone()),
        config_api_key_env: configured.and_then(|settings| settings.api_key_env.clone()),
    };
    Some(ProviderSettings::resolve(
        provider, protocol, &source, lookup,
    ))
}

/// Clients for every catalog provider that can be called, and the status of each.
pub(crate) struct Clients {
    pub(crate) ready: Vec<Arc<dyn Provider>>,
    pub(crate) status: BTreeMap<String, ProviderStatus>,
}

impl Clients {
    pub(crate) fn build(
        catalog: &Catalog,
        overrides: &BTreeMap<String, ProviderOverrides>,
        lookup: &dyn Fn(&str) -> Option<String>,
        http: &reqwest::Client,
    ) -> Clients {
        let mut clients = Clients {
            ready: Vec::new(),
            status: BTreeMap::new(),
        };
        for info in catalog.providers() {
            let Some(settings) = provider_settings(catalog, overrides, &info.id, lookup) else {
                clients.status.insert(
                    info.id.clone(),
                    ProviderStatus::Unavailable {
                        reason: format!("unknown protocol {}", info.protocol),
                    },
                );
                continue;
            };
            let status = match build_provider(settings, http.clone()) {
                Ok(client) => {
                    clients.ready.push(client);
                    ProviderStatus::Ready
                }
                Err(ProviderError::MissingApiKey { env_var, .. }) => {
                    ProviderStatus::MissingKey { env_var }
                }
                Err(error) => ProviderStatus::Unavailable {
                    reason: error.to_string(),
                },
            };
            clients.status.insert(info.id.clone(), status);
        }
        clients
    }
}
