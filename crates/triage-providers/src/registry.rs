//! Builds a provider client from resolved settings: the one place that knows which module
//! serves which protocol.

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
    let protocol = settings.protocol;
    let transport = transport(settings, client)?;
    Ok(match protocol {
        Protocol::OpenAi | Protocol::OpenAiCompatible => Arc::new(OpenAiProvider::new(transport)),
        Protocol::Anthropic => Arc::new(AnthropicProvider::new(transport)),
        Protocol::Gemini => Arc::new(GeminiProvider::new(transport)),
    })
}

/// The HTTP transport for `settings.protocol` (its error mapping, the key it requires), on
/// `client`'s connection pool: what the live and the batch clients of a provider share.
pub(crate) fn transport(
    settings: ProviderSettings,
    client: reqwest::Client,
) -> Result<Transport, ProviderError> {
    let key = settings.required_key()?;
    let map_error = match settings.protocol {
        Protocol::OpenAi | Protocol::OpenAiCompatible => crate::openai::map_error,
        Protocol::Anthropic => crate::anthropic::map_error,
        Protocol::Gemini => crate::gemini::map_error,
    };
    Ok(Transport {
        client,
        settings,
        key,
        map_error,
    })
}
