//! What a provider client needs to be built: protocol, base URL, key, timeouts, quirks, and the
//! shared HTTP client, all resolved. The crate knows no provider by id and reads no
//! environment variable: the catalog states each provider's facts, and the CLI resolves them
//! (with `triage.toml` and the environment) into [`ProviderSettings`].

use std::fmt;
use std::time::Duration;

use triage_types::{OpenAiQuirks, Protocol};

use crate::ProviderError;

/// An API key. Its `Debug` prints `ApiKey([redacted])`; it has no `Display` and no
/// `Serialize`, so it cannot leak into logs, errors or JSON by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key (surrounding whitespace removed).
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into().trim().to_owned())
    }

    /// The key itself, for the one header that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Removes the key from a text that might echo it (a provider's error message).
    pub(crate) fn scrub(&self, text: String) -> String {
        if self.0.len() < 4 || !text.contains(&self.0) {
            return text;
        }
        text.replace(&self.0, "[redacted]")
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

/// Per-call time limits. The connect timeout belongs to the shared HTTP client
/// ([`HttpClientOptions::connect_timeout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Until the response headers (non-streaming) or the first stream event (streaming),
    /// counted from the start of the call.
    pub first_token: Duration,
    /// The whole call, including reading the body or the stream.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            first_token: Duration::from_secs(60),
            total: Duration::from_secs(600),
        }
    }
}

/// Everything a client for one provider needs, resolved (no environment lookups left).
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSettings {
    /// The provider's id (`openai`, `anthropic`, `google`, `deepseek`, …), used in errors.
    pub provider_id: String,
    /// Its protocol.
    pub protocol: Protocol,
    /// The base URL, following the official SDKs: OpenAI's includes `/v1`, Anthropic's and
    /// Gemini's are the host root. A trailing `/` is ignored.
    pub base_url: String,
    /// The key, if one was found.
    pub api_key: Option<ApiKey>,
    /// The environment variable the key comes from, named in [`ProviderError::MissingApiKey`].
    /// `None` means the provider needs no key (a local Ollama or vLLM).
    pub api_key_env: Option<String>,
    /// Time limits.
    pub timeouts: Timeouts,
    /// Chat Completions differences, for the OpenAI protocols.
    pub openai_quirks: OpenAiQuirks,
    /// Anthropic's `max_tokens` is required: this is sent when the request gives none.
    pub default_max_output_tokens: u32,
}

impl ProviderSettings {
    /// Settings with the protocol's defaults ([`OpenAiQuirks::for_protocol`], default
    /// timeouts) and no key.
    pub fn new(
        provider_id: impl Into<String>,
        protocol: Protocol,
        base_url: impl Into<String>,
    ) -> Self {
        ProviderSettings {
            openai_quirks: OpenAiQuirks::for_protocol(protocol),
            provider_id: provider_id.into(),
            protocol,
            base_url: base_url.into(),
            api_key: None,
            api_key_env: None,
            timeouts: Timeouts::default(),
            default_max_output_tokens: 4096,
        }
    }

    /// Sets the key.
    pub fn with_api_key(mut self, key: ApiKey) -> Self {
        self.api_key = Some(key);
        self
    }

    /// Sets the Chat Completions quirks (the catalog's, for the provider).
    pub fn with_openai_quirks(mut self, quirks: OpenAiQuirks) -> Self {
        self.openai_quirks = quirks;
        self
    }

    /// The key, or [`ProviderError::MissingApiKey`] naming the variable when one is needed.
    pub(crate) fn required_key(&self) -> Result<Option<ApiKey>, ProviderError> {
        match (&self.api_key, &self.api_key_env) {
            (Some(key), _) => Ok(Some(key.clone())),
            (None, None) => Ok(None),
            (None, Some(env_var)) => Err(ProviderError::MissingApiKey {
                provider: self.provider_id.clone(),
                env_var: env_var.clone(),
            }),
        }
    }

    /// The base URL without a trailing slash.
    pub(crate) fn base(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }
}

/// Options for the one shared HTTP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpClientOptions {
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// How long idle pooled connections are kept.
    pub pool_idle_timeout: Duration,
}

impl Default for HttpClientOptions {
    fn default() -> Self {
        HttpClientOptions {
            connect_timeout: Duration::from_secs(10),
            pool_idle_timeout: Duration::from_secs(90),
        }
    }
}

/// Builds the shared, pooled HTTP client (rustls). Build it once and pass clones (they share
/// the pool) to every provider.
pub fn build_http_client(options: &HttpClientOptions) -> Result<reqwest::Client, ProviderError> {
    reqwest::Client::builder()
        .connect_timeout(options.connect_timeout)
        .pool_idle_timeout(options.pool_idle_timeout)
        .user_agent(concat!("triage/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| ProviderError::Connection {
            provider: "http".to_owned(),
            message: format!("cannot build the HTTP client: {error}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_debug_is_redacted() {
        let key = ApiKey::new(" sk-secret-123 ");
        assert_eq!(key.expose(), "sk-secret-123");
        assert_eq!(format!("{key:?}"), "ApiKey([redacted])");
        let settings =
            ProviderSettings::new("openai", Protocol::OpenAi, "http://x").with_api_key(key.clone());
        assert!(!format!("{settings:?}").contains("sk-secret-123"));
        assert_eq!(
            key.scrub("Incorrect API key provided: sk-secret-123.".into()),
            "Incorrect API key provided: [redacted]."
        );
    }

    #[test]
    fn keys_are_required_only_when_a_variable_is_named() {
        let keyless = ProviderSettings::new(
            "ollama",
            Protocol::OpenAiCompatible,
            "http://localhost:11434/v1",
        );
        assert_eq!(keyless.required_key(), Ok(None));
        let missing = ProviderSettings {
            api_key_env: Some("ANTHROPIC_API_KEY".to_owned()),
            ..ProviderSettings::new(
                "anthropic",
                Protocol::Anthropic,
                "https://api.anthropic.com",
            )
        };
        assert_eq!(
            missing.required_key().unwrap_err().to_string(),
            "anthropic: no API key: set the environment variable ANTHROPIC_API_KEY"
        );
        let given = missing.with_api_key(ApiKey::new("sk-ant"));
        assert_eq!(given.required_key(), Ok(Some(ApiKey::new("sk-ant"))));
    }

    #[test]
    fn new_takes_the_protocols_quirks() {
        for protocol in Protocol::ALL {
            let settings = ProviderSettings::new("p", protocol, "http://x");
            assert_eq!(settings.openai_quirks, OpenAiQuirks::for_protocol(protocol));
        }
    }
}
