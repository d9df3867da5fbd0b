//! Builds a provider client from resolved settings: the one place that knows which module
//! serves which protocol.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::anthropic::AnthropicProvider;
use crate::gemini::GeminiProvider;
use crate::http::Transport;
use crate::openai::OpenAiProvider;
use crate::{Protocol, Provider, ProviderError, ProviderSettings};

/// Builds the client for `settings.protocol`, sharing `client`'s connection pool.
///
/// Fails with [`ProviderError::MissingApiKey`] (naming the variable) when the provider needs a
/// key (`settings.api_key_env` is set) and none was found.
///
/// ```
/// use triage_providers::{ApiKey, HttpClientOptions, Protocol, ProviderSettings, build_http_client, build_provider};
///
/// let client = build_http_client(&HttpClientOptions::default()).unwrap();
/// let settings = ProviderSettings::new("openai", Protocol::OpenAi, "https://api.openai.com/v1")
///     .with_api_key(ApiKey::new("sk-test"));
/// let provider = build_provider(settings, client).unwrap();
/// assert_eq!(provider.id(), "openai");
/// assert!(!format!("{provider:?}").contains("sk-test"));
/// ```
pub fn build_provider(
    settings: ProviderSettings,
    client: reqwest::Client,
) -> Result<Arc<dyn Provider>, ProviderError> {
    let key = settings.required_key()?;
    let protocol = settings.protocol;
    let transport = Transport {
        client,
        settings,
        key,
        map_error: match protocol {
            Protocol::OpenAi | Protocol::OpenAiCompatible => crate::openai::map_error,
            Protocol::Anthropic => crate::anthropic::map_error,
            Protocol::Gemini => crate::gemini::map_error,
        },
    };
    Ok(match protocol {
        Protocol::OpenAi | Protocol::OpenAiCompatible => Arc::new(OpenAiProvider::new(transport)),
        Protocol::Anthropic => Arc::new(AnthropicProvider::new(transport)),
        Protocol::Gemini => Arc::new(GeminiProvider::new(transport)),
    })
}

/// Every configured provider's client, built once over one shared HTTP client, or the reason
/// it could not be built (typically [`ProviderError::MissingApiKey`]), so that a caller can say
/// which key is missing and route around it.
///
/// Building from catalog entries (id, protocol name, base URL, key variable) and config, in
/// the CLI, the only place that reads the environment:
///
/// ```
/// use triage_providers::{
///     HttpClientOptions, Protocol, ProviderRegistry, ProviderSettings, ProviderSource,
///     build_http_client,
/// };
///
/// // Stand-ins for `catalog.providers()` and the process environment.
/// let catalog = [
///     ("openai", "openai", "https://api.openai.com/v1", Some("OPENAI_API_KEY")),
///     ("ollama", "openai-compatible", "http://localhost:11434/v1", None),
/// ];
/// let env = |name: &str| (name == "OPENAI_API_KEY").then(|| "sk-demo".to_owned());
///
/// let mut registry = ProviderRegistry::new(build_http_client(&HttpClientOptions::default()).unwrap());
/// for (id, protocol, base_url, api_key_env) in catalog {
///     let protocol: Protocol = protocol.parse().unwrap();
///     let source = ProviderSource {
///         base_url: Some(base_url.to_owned()),
///         api_key_env: api_key_env.map(str::to_owned),
///         config_base_url: None,    // triage.toml [providers.<id>] base_url
///         config_api_key_env: None, // triage.toml [providers.<id>] api_key_env
///     };
///     registry.insert(ProviderSettings::resolve(id, protocol, &source, env));
/// }
/// assert!(registry.get("openai").is_ok());
/// assert!(registry.is_available("ollama"));
/// ```
#[derive(Debug, Clone)]
pub struct ProviderRegistry {
    client: reqwest::Client,
    providers: BTreeMap<String, Result<Arc<dyn Provider>, ProviderError>>,
}

impl ProviderRegistry {
    /// An empty registry whose clients will share `client`.
    pub fn new(client: reqwest::Client) -> Self {
        ProviderRegistry {
            client,
            providers: BTreeMap::new(),
        }
    }

    /// Builds the client for `settings` and keeps it (or its build error) under
    /// `settings.provider_id`, replacing any earlier one.
    pub fn insert(&mut self, settings: ProviderSettings) {
        let id = settings.provider_id.clone();
        let built = build_provider(settings, self.client.clone());
        self.providers.insert(id, built);
    }

    /// Adds an already built provider (a test double, say).
    pub fn insert_provider(&mut self, provider: Arc<dyn Provider>) {
        self.providers
            .insert(provider.id().to_owned(), Ok(provider));
    }

    /// The client for `provider_id`: its build error if it has none, or
    /// [`ProviderError::NotFound`] when the id was never configured.
    pub fn get(&self, provider_id: &str) -> Result<Arc<dyn Provider>, ProviderError> {
        match self.providers.get(provider_id) {
            Some(Ok(provider)) => Ok(Arc::clone(provider)),
            Some(Err(error)) => Err(error.clone()),
            None => Err(ProviderError::NotFound {
                provider: provider_id.to_owned(),
                message: "no such provider is configured".to_owned(),
            }),
        }
    }

    /// Whether `provider_id` has a working client.
    pub fn is_available(&self, provider_id: &str) -> bool {
        matches!(self.providers.get(provider_id), Some(Ok(_)))
    }

    /// The ids of providers with a client, sorted.
    pub fn available(&self) -> impl Iterator<Item = &str> {
        self.providers
            .iter()
            .filter(|(_, built)| built.is_ok())
            .map(|(id, _)| id.as_str())
    }

    /// The providers that could not be built, and why, sorted by id.
    pub fn unavailable(&self) -> impl Iterator<Item = (&str, &ProviderError)> {
        self.providers.iter().filter_map(|(id, built)| match built {
            Ok(_) => None,
            Err(error) => Some((id.as_str(), error)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HttpClientOptions, ProviderSource, build_http_client};

    #[test]
    fn registry_keeps_clients_and_build_errors() {
        let client = build_http_client(&HttpClientOptions::default()).unwrap();
        let mut registry = ProviderRegistry::new(client);
        let env = |name: &str| (name == "OPENAI_API_KEY").then(|| "sk-x".to_owned());
        for (id, protocol) in [
            ("openai", Protocol::OpenAi),
            ("anthropic", Protocol::Anthropic),
        ] {
            registry.insert(ProviderSettings::resolve(
                id,
                protocol,
                &ProviderSource::default(),
                env,
            ));
        }
        assert!(registry.is_available("openai"));
        assert_eq!(registry.available().collect::<Vec<_>>(), ["openai"]);
        let missing: Vec<String> = registry
            .unavailable()
            .map(|(id, error)| format!("{id}: {error}"))
            .collect();
        assert_eq!(
            missing,
            ["anthropic: anthropic: no API key: set the environment variable ANTHROPIC_API_KEY"]
        );
        assert_eq!(registry.get("mistral").unwrap_err().kind(), "not_found");
    }
}
