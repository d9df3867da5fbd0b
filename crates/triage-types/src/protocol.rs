//! The wire protocols a provider can speak, and the Chat Completions differences between
//! servers that speak OpenAI's: one vocabulary from the catalog to the provider clients.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The wire protocol a provider speaks, named as catalogs write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Protocol {
    /// OpenAI Chat Completions at `{base}/chat/completions`, base including `/v1`.
    #[serde(rename = "openai")]
    OpenAi,
    /// Anthropic Messages at `{base}/v1/messages`, base the host root.
    #[serde(rename = "anthropic")]
    Anthropic,
    /// Google Gemini `generateContent` at `{base}/v1beta/models/{model}:…`, base the host root.
    #[serde(rename = "gemini")]
    Gemini,
    /// Chat Completions as served by DeepSeek, Groq, Together, Ollama, vLLM…: the OpenAI client
    /// with the provider's [`OpenAiQuirks`].
    #[serde(rename = "openai-compatible")]
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

    /// The name used in catalog files: `openai`, `anthropic`, `gemini`, `openai-compatible`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::OpenAi => "openai",
            Protocol::Anthropic => "anthropic",
            Protocol::Gemini => "gemini",
            Protocol::OpenAiCompatible => "openai-compatible",
        }
    }

    /// Whether the protocol is OpenAI's Chat Completions (first-party or compatible), the
    /// protocols [`OpenAiQuirks`] apply to.
    pub const fn is_openai_style(self) -> bool {
        matches!(self, Protocol::OpenAi | Protocol::OpenAiCompatible)
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
    "unknown provider protocol `{given}` (expected one of: {})",
    expected_names()
)]
pub struct ParseProtocolError {
    /// The text that was given.
    pub given: String,
}

fn expected_names() -> String {
    Protocol::ALL.map(Protocol::as_str).join(", ")
}

impl FromStr for Protocol {
    type Err = ParseProtocolError;

    /// Accepts exactly the catalog names ([`Protocol::as_str`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Protocol::ALL
            .into_iter()
            .find(|protocol| protocol.as_str() == s)
            .ok_or_else(|| ParseProtocolError {
                given: s.to_owned(),
            })
    }
}

/// Which field carries the output-token limit in a Chat Completions request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxTokensField {
    /// `max_completion_tokens`: OpenAI's current name; reasoning models reject `max_tokens`.
    MaxCompletionTokens,
    /// `max_tokens`: what most OpenAI-compatible servers still expect.
    MaxTokens,
}

impl MaxTokensField {
    /// The field's name on the wire (and in catalog files).
    pub const fn as_str(self) -> &'static str {
        match self {
            MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
            MaxTokensField::MaxTokens => "max_tokens",
        }
    }
}

impl fmt::Display for MaxTokensField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Differences between OpenAI itself and servers that speak its protocol. Which provider has
/// which is catalog data (`max_tokens_field`, `json_schema` in the catalog's `[providers.<id>]`).
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

    /// The defaults for a protocol: [`OpenAiQuirks::OPENAI`] for OpenAI itself,
    /// [`OpenAiQuirks::COMPATIBLE`] otherwise (unused outside the OpenAI protocols).
    pub const fn for_protocol(protocol: Protocol) -> OpenAiQuirks {
        match protocol {
            Protocol::OpenAi => OpenAiQuirks::OPENAI,
            Protocol::Anthropic | Protocol::Gemini | Protocol::OpenAiCompatible => {
                OpenAiQuirks::COMPATIBLE
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_from_str_display_and_serde() {
        for protocol in Protocol::ALL {
            assert_eq!(protocol.as_str().parse::<Protocol>(), Ok(protocol));
            assert_eq!(protocol.to_string(), protocol.as_str());
            let json = serde_json::to_string(&protocol).unwrap();
            assert_eq!(json, format!("\"{protocol}\""));
            assert_eq!(serde_json::from_str::<Protocol>(&json).unwrap(), protocol);
        }
    }

    #[test]
    fn from_str_accepts_only_catalog_names() {
        for given in [
            "google",
            "openai_compatible",
            "openai_compat",
            "OpenAI",
            " openai",
            "grpc",
        ] {
            assert_eq!(
                given.parse::<Protocol>().unwrap_err().to_string(),
                format!(
                    "unknown provider protocol `{given}` (expected one of: openai, anthropic, gemini, openai-compatible)"
                ),
            );
        }
    }

    #[test]
    fn max_tokens_field_names_match_serde() {
        for field in [
            MaxTokensField::MaxCompletionTokens,
            MaxTokensField::MaxTokens,
        ] {
            let json = serde_json::to_string(&field).unwrap();
            assert_eq!(json, format!("\"{field}\""));
        }
    }
}
