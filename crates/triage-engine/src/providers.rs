//! Provider clients from the catalog's provider facts, the config's
//! `[providers.settings.<id>]` and the environment (read through a lookup the caller passes):
//! one client per provider whose key is set or needs none; the others are listed with the
//! variable that would enable them.

use std::collections::BTreeMap;
use std::sync::Arc;

use triage_catalog::Catalog;
use triage_catalog::ProviderInfo;
use triage_config::ProviderOverrides;
use triage_providers::{
    ApiKey, BatchProvider, Provider, ProviderError, ProviderSettings, build_batch_provider,
    build_provider,
};

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

/// Resolves a catalog provider into client settings, with `lookup` reading the environment.
///
/// The base URL is the catalog's `base_url_env` variable when set and not blank (as in the
/// providers' SDKs), else `[providers.settings.<id>] base_url`, else the catalog's `base_url`.
/// The key comes from the variable named by `[providers.settings.<id>] api_key_env`, else by
/// the catalog's `api_key_env`; a provider with neither needs no key and is never asked for one.
pub fn provider_settings(
    info: &ProviderInfo,
    overrides: Option<&ProviderOverrides>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> ProviderSettings {
    let present = |value: &String| !value.trim().is_empty();
    let base_url = info
        .base_url_env
        .as_deref()
        .and_then(lookup)
        .filter(present)
        .or_else(|| overrides.and_then(|settings| settings.base_url.clone()))
        .unwrap_or_else(|| info.base_url.clone());
    let api_key_env = overrides
        .and_then(|settings| settings.api_key_env.clone())
        .or_else(|| info.api_key_env.clone())
        .filter(present);
    let api_key = api_key_env
        .as_deref()
        .and_then(lookup)
        .filter(present)
        .map(ApiKey::new);
    ProviderSettings {
        api_key,
        api_key_env,
        ..ProviderSettings::new(info.id.clone(), info.protocol, base_url)
            .with_openai_quirks(info.openai_quirks)
    }
}

/// Clients for every catalog provider that can be called, and the status of each.
pub(crate) struct Clients {
    pub(crate) ready: Vec<Arc<dyn Provider>>,
    pub(crate) status: BTreeMap<String, ProviderStatus>,
    /// Batch API clients, for the ready providers that have a batch API.
    pub(crate) batch: BTreeMap<String, Arc<dyn BatchProvider>>,
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
            batch: BTreeMap::new(),
        };
        for info in catalog.providers() {
            let settings = provider_settings(info, overrides.get(&info.id), lookup);
            if let Ok(Some(batch)) = build_batch_provider(settings.clone(), http.clone()) {
                clients.batch.insert(info.id.clone(), batch);
            }
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

#[cfg(test)]
mod tests {
    use triage_providers::{MaxTokensField, OpenAiQuirks, Protocol};

    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "OPENAI_BASE_URL" => Some("http://127.0.0.1:9/v1".to_owned()),
            "OPENAI_API_KEY" => Some("sk-openai".to_owned()),
            "MY_KEY" => Some("sk-mine".to_owned()),
            "BLANK" => Some("  ".to_owned()),
            _ => None,
        }
    }

    fn info(id: &str) -> ProviderInfo {
        let catalog = Catalog::embedded();
        match catalog.provider(id) {
            Some(info) => info.clone(),
            None => ProviderInfo {
                id: id.to_owned(),
                protocol: Protocol::OpenAiCompatible,
                base_url: format!("http://{id}.local/v1"),
                base_url_env: None,
                api_key_env: None,
                openai_quirks: OpenAiQuirks::COMPATIBLE,
            },
        }
    }

    /// One resolution per line: base URL, key variable, whether a key was found, and what
    /// building the client would say about the key.
    fn check(cases: &[(&str, ProviderInfo, Option<ProviderOverrides>)]) -> String {
        let mut out = String::new();
        for (name, info, overrides) in cases {
            let settings = provider_settings(info, overrides.as_ref(), &env);
            out.push_str(&format!(
                "{name}: base_url={} api_key_env={:?} key={} quirks={}/{}\n",
                settings.base_url,
                settings.api_key_env,
                settings.api_key.as_ref().map_or("none", |key| key.expose()),
                settings.openai_quirks.max_tokens_field,
                settings.openai_quirks.json_schema,
            ));
        }
        out
    }

    #[test]
    fn resolution_follows_precedence_and_never_invents_keys() {
        let config = |base_url: Option<&str>, api_key_env: Option<&str>| {
            Some(ProviderOverrides {
                base_url: base_url.map(str::to_owned),
                api_key_env: api_key_env.map(str::to_owned),
            })
        };
        let cases = [
            (
                "openai: env base URL wins over config",
                info("openai"),
                config(Some("http://config/v1"), None),
            ),
            (
                "anthropic: catalog defaults, key unset",
                info("anthropic"),
                None,
            ),
            (
                "anthropic: config base URL, config key variable",
                info("anthropic"),
                config(Some("http://proxy.local"), Some("MY_KEY")),
            ),
            (
                "deepseek: catalog quirks, no base URL variable",
                info("deepseek"),
                None,
            ),
            (
                "keyless catalog provider",
                ProviderInfo {
                    protocol: Protocol::OpenAi,
                    ..info("ollama")
                },
                None,
            ),
            (
                "keyless provider given a key variable in config",
                info("together"),
                config(None, Some("MY_KEY")),
            ),
            (
                "blank variable values are absent",
                ProviderInfo {
                    base_url_env: Some("BLANK".to_owned()),
                    api_key_env: Some("BLANK".to_owned()),
                    ..info("blank")
                },
                None,
            ),
        ];
        insta::assert_snapshot!(check(&cases), @r#"
        openai: env base URL wins over config: base_url=http://127.0.0.1:9/v1 api_key_env=Some("OPENAI_API_KEY") key=sk-openai quirks=max_completion_tokens/true
        anthropic: catalog defaults, key unset: base_url=https://api.anthropic.com api_key_env=Some("ANTHROPIC_API_KEY") key=none quirks=max_tokens/true
        anthropic: config base URL, config key variable: base_url=http://proxy.local api_key_env=Some("MY_KEY") key=sk-mine quirks=max_tokens/true
        deepseek: catalog quirks, no base URL variable: base_url=https://api.deepseek.com/v1 api_key_env=Some("DEEPSEEK_API_KEY") key=none quirks=max_tokens/false
        keyless catalog provider: base_url=http://ollama.local/v1 api_key_env=None key=none quirks=max_tokens/true
        keyless provider given a key variable in config: base_url=http://together.local/v1 api_key_env=Some("MY_KEY") key=sk-mine quirks=max_tokens/true
        blank variable values are absent: base_url=http://blank.local/v1 api_key_env=Some("BLANK") key=none quirks=max_tokens/true
        "#);
        let keyless = provider_settings(&info("ollama"), None, &env);
        assert_eq!(
            keyless.openai_quirks.max_tokens_field,
            MaxTokensField::MaxTokens
        );
        assert!(
            triage_providers::build_provider(
                keyless,
                triage_providers::build_http_client(&Default::default()).unwrap()
            )
            .is_ok()
        );
    }
}
