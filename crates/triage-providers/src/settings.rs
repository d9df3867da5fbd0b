//! What a provider client needs to be built: protocol, base URL, key, timeouts, quirks, and the
//! shared HTTP client. The library never reads environment variables; [`env_vars`] names them
//! for the CLI, which resolves them with [`ProviderSettings::resolve`].

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ProviderError;

/// The environment variables triage reads (in `triage-cli` only), in one place.
pub mod env_vars {
    /// OpenAI's API key.
    pub const OPENAI_API_KEY: &str = "OPENAI_API_KEY";
    /// Anthropic's API key.
    pub const ANTHROPIC_API_KEY: &str = "ANTHROPIC_API_KEY";
    /// Google Gemini's API key.
    pub const GEMINI_API_KEY: &str = "GEMINI_API_KEY";
    /// DeepSeek's API key.
    pub const DEEPSEEK_API_KEY: &str = "DEEPSEEK_API_KEY";
    /// Overrides OpenAI's base URL; includes `/v1` (`https://api.openai.com/v1`), as in the
    /// official SDK.
    pub const OPENAI_BASE_URL: &str = "OPENAI_BASE_URL";
    /// Overrides Anthropic's base URL: the host root (`https://api.anthropic.com`).
    pub const ANTHROPIC_BASE_URL: &str = "ANTHROPIC_BASE_URL";
    /// Overrides Gemini's base URL: the host root (`https://generativelanguage.googleapis.com`).
    pub const GEMINI_BASE_URL: &str = "GEMINI_BASE_URL";
}

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

/// The wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// OpenAI Chat Completions at `{base}/chat/completions`, base including `/v1`.
    #[serde(rename = "openai")]
    OpenAi,
    /// Anthropic Messages at `{base}/v1/messages`, base the host root.
    Anthropic,
    /// Google Gemini `generateContent` at `{base}/v1beta/models/{model}:…`, base the host root.
    Gemini,
    /// Chat Completions as served by DeepSeek, Groq, Together, Ollama, vLLM…: the OpenAI module
    /// with [`OpenAiQuirks`] for the provider.
    #[serde(rename = "openai-compatible", alias = "openai_compatible")]
    OpenAiCompatible,
}

impl Protocol {
    /// Every protocol.
    pub const ALL: [Protocol; 4] = [
        Protocol::OpenAi,
        Protocol::Anthropic,
        Protocol::Gemini,
        Protocol::OpenAiCompatible,
    ];

    /// The name used in catalogs and config (the same names as `triage_catalog::Protocol`,
    /// so a catalog entry converts with `catalog_protocol.as_str().parse()`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::OpenAi => "openai",
            Protocol::Anthropic => "anthropic",
            Protocol::Gemini => "gemini",
            Protocol::OpenAiCompatible => "openai-compatible",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown provider protocol `{given}` (expected one of: openai, anthropic, gemini, openai-compatible)"
)]
pub struct ParseProtocolError {
    /// The text that was given.
    pub given: String,
}

impl FromStr for Protocol {
    type Err = ParseProtocolError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "openai" => Ok(Protocol::OpenAi),
            "anthropic" => Ok(Protocol::Anthropic),
            "gemini" | "google" => Ok(Protocol::Gemini),
            "openai_compatible" | "openai_compat" => Ok(Protocol::OpenAiCompatible),
            _ => Err(ParseProtocolError {
                given: s.to_owned(),
            }),
        }
    }
}

/// Which field carries the output-token limit in a Chat Completions request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MaxTokensField {
    /// `max_completion_tokens`: OpenAI's current name; reasoning models reject `max_tokens`.
    MaxCompletionTokens,
    /// `max_tokens`: what most OpenAI-compatible servers still expect.
    MaxTokens,
}

/// Differences between OpenAI itself and servers that speak its protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpenAiQuirks {
    /// The output-limit field.
    pub max_tokens_field: MaxTokensField,
    /// Send `stream_options: {"include_usage": true}` when streaming.
    pub stream_usage: bool,
    /// Whether `response_format: {"type": "json_schema"}` is understood; when not, a schema
    /// request is sent as `json_object` (the schema still goes to the quality checks).
    pub json_schema: bool,
}

impl OpenAiQuirks {
    /// OpenAI itself.
    pub const OPENAI: OpenAiQuirks = OpenAiQuirks {
        max_tokens_field: MaxTokensField::MaxCompletionTokens,
        stream_usage: true,
        json_schema: true,
    };

    /// A generic OpenAI-compatible server (vLLM, Together, Ollama, LM Studio…).
    pub const COMPATIBLE: OpenAiQuirks = OpenAiQuirks {
        max_tokens_field: MaxTokensField::MaxTokens,
        stream_usage: true,
        json_schema: true,
    };

    /// The quirks for a known provider id; unknown ids get [`OpenAiQuirks::COMPATIBLE`].
    ///
    /// DeepSeek takes `max_tokens` and only `json_object`; Groq takes `max_completion_tokens`.
    pub fn for_provider(provider_id: &str) -> OpenAiQuirks {
        match provider_id {
            "openai" => OpenAiQuirks::OPENAI,
            "deepseek" => OpenAiQuirks {
                json_schema: false,
                ..OpenAiQuirks::COMPATIBLE
            },
            "groq" => OpenAiQuirks {
                max_tokens_field: MaxTokensField::MaxCompletionTokens,
                ..OpenAiQuirks::COMPATIBLE
            },
            _ => OpenAiQuirks::COMPATIBLE,
        }
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

/// The per-provider facts settings are resolved from: a catalog entry, overridden by config.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProviderSource {
    /// Base URL from the catalog (or the protocol's default when `None`).
    pub base_url: Option<String>,
    /// Key variable from the catalog (or the protocol's default when `None`).
    pub api_key_env: Option<String>,
    /// Base URL from `triage.toml`'s `[providers.<id>]`, which wins over the catalog.
    pub config_base_url: Option<String>,
    /// Key variable from `triage.toml`'s `[providers.<id>]`, which wins over the catalog.
    pub config_api_key_env: Option<String>,
}

impl ProviderSettings {
    /// Settings with the protocol's defaults and no key.
    pub fn new(
        provider_id: impl Into<String>,
        protocol: Protocol,
        base_url: impl Into<String>,
    ) -> Self {
        let provider_id = provider_id.into();
        ProviderSettings {
            openai_quirks: match protocol {
                Protocol::OpenAi => OpenAiQuirks::OPENAI,
                _ => OpenAiQuirks::for_provider(&provider_id),
            },
            provider_id,
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

    /// Resolves settings the way the CLI does, with `lookup` reading the environment (the
    /// library itself never does). Precedence for the base URL: the protocol's environment
    /// override (`OPENAI_BASE_URL`… for the first-party providers `openai`, `anthropic`,
    /// `google`/`gemini` only), then `triage.toml`, then the catalog, then the protocol's
    /// default. The key comes from the variable named in config, else the catalog, else the
    /// protocol's default; a provider with no variable anywhere needs no key.
    pub fn resolve(
        provider_id: &str,
        protocol: Protocol,
        source: &ProviderSource,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> ProviderSettings {
        let env_base = first_party_base_url_env(provider_id, protocol)
            .and_then(&lookup)
            .filter(|value| !value.trim().is_empty());
        let base_url = env_base
            .or_else(|| source.config_base_url.clone())
            .or_else(|| source.base_url.clone())
            .unwrap_or_else(|| default_base_url(protocol).to_owned());
        let api_key_env = source
            .config_api_key_env
            .clone()
            .or_else(|| source.api_key_env.clone())
            .or_else(|| default_api_key_env(provider_id, protocol).map(str::to_owned))
            .filter(|name| !name.trim().is_empty());
        let api_key = api_key_env
            .as_deref()
            .and_then(&lookup)
            .filter(|value| !value.trim().is_empty())
            .map(ApiKey::new);
        ProviderSettings {
            api_key,
            api_key_env,
            ..ProviderSettings::new(provider_id, protocol, base_url)
        }
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

/// The protocol's public endpoint.
pub fn default_base_url(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::OpenAi | Protocol::OpenAiCompatible => "https://api.openai.com/v1",
        Protocol::Anthropic => "https://api.anthropic.com",
        Protocol::Gemini => "https://generativelanguage.googleapis.com",
    }
}

/// The conventional key variable for a provider: by id for the known ones, else by protocol
/// for the first-party protocols; `None` for an unknown OpenAI-compatible server.
pub fn default_api_key_env(provider_id: &str, protocol: Protocol) -> Option<&'static str> {
    match (provider_id, protocol) {
        ("deepseek", _) => Some(env_vars::DEEPSEEK_API_KEY),
        (_, Protocol::OpenAi) => Some(env_vars::OPENAI_API_KEY),
        (_, Protocol::Anthropic) => Some(env_vars::ANTHROPIC_API_KEY),
        (_, Protocol::Gemini) => Some(env_vars::GEMINI_API_KEY),
        (_, Protocol::OpenAiCompatible) => None,
    }
}

/// The base-URL override variable for the first-party providers.
pub fn first_party_base_url_env(provider_id: &str, protocol: Protocol) -> Option<&'static str> {
    match (provider_id, protocol) {
        ("openai", Protocol::OpenAi) => Some(env_vars::OPENAI_BASE_URL),
        ("anthropic", Protocol::Anthropic) => Some(env_vars::ANTHROPIC_BASE_URL),
        ("google" | "gemini", Protocol::Gemini) => Some(env_vars::GEMINI_BASE_URL),
        _ => None,
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
    fn protocol_names_round_trip() {
        for protocol in Protocol::ALL {
            assert_eq!(protocol.as_str().parse::<Protocol>(), Ok(protocol));
            let json = serde_json::to_string(&protocol).unwrap();
            assert_eq!(json, format!("\"{protocol}\""));
        }
        assert_eq!("openai_compatible".parse(), Ok(Protocol::OpenAiCompatible));
        assert!("grpc".parse::<Protocol>().is_err());
    }

    #[test]
    fn resolve_follows_precedence_and_never_invents_keys() {
        let env = |name: &str| match name {
            "OPENAI_BASE_URL" => Some("http://127.0.0.1:9/v1".to_owned()),
            "OPENAI_API_KEY" => Some("sk-openai".to_owned()),
            "MY_KEY" => Some("sk-mine".to_owned()),
            _ => None,
        };
        let openai = ProviderSettings::resolve(
            "openai",
            Protocol::OpenAi,
            &ProviderSource {
                config_base_url: Some("http://config/v1".into()),
                ..ProviderSource::default()
            },
            env,
        );
        assert_eq!(openai.base_url, "http://127.0.0.1:9/v1");
        assert_eq!(openai.api_key, Some(ApiKey::new("sk-openai")));

        let anthropic = ProviderSettings::resolve(
            "anthropic",
            Protocol::Anthropic,
            &ProviderSource::default(),
            env,
        );
        assert_eq!(anthropic.base_url, "https://api.anthropic.com");
        assert_eq!(
            anthropic.required_key().unwrap_err().to_string(),
            "anthropic: no API key: set the environment variable ANTHROPIC_API_KEY"
        );

        let custom = ProviderSettings::resolve(
            "together",
            Protocol::OpenAiCompatible,
            &ProviderSource {
                base_url: Some("https://api.together.xyz/v1".into()),
                config_api_key_env: Some("MY_KEY".into()),
                ..ProviderSource::default()
            },
            env,
        );
        assert_eq!(custom.api_key, Some(ApiKey::new("sk-mine")));
        assert_eq!(
            custom.openai_quirks.max_tokens_field,
            MaxTokensField::MaxTokens
        );

        let ollama = ProviderSettings::resolve(
            "ollama",
            Protocol::OpenAiCompatible,
            &ProviderSource {
                base_url: Some("http://localhost:11434/v1".into()),
                ..ProviderSource::default()
            },
            env,
        );
        assert_eq!(ollama.required_key(), Ok(None));
    }
}
