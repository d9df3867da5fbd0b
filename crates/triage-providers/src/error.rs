//! The one error type every provider call returns, and whether a retry may help.

use std::fmt;
use std::time::Duration;

/// Which timeout expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeoutPhase {
    /// Opening the TCP/TLS connection (the shared HTTP client's connect timeout).
    Connect,
    /// Waiting for the response headers (non-streaming) or the first stream event (streaming).
    FirstToken,
    /// The whole call, body or stream included.
    Total,
}

impl fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutPhase::Connect => "connect",
            TimeoutPhase::FirstToken => "first token",
            TimeoutPhase::Total => "total",
        })
    }
}

/// Everything that can go wrong calling a provider, mapped from each protocol's HTTP status and
/// error body in one place per protocol (`map_error` in each wire module).
///
/// `provider` is the provider's id (`openai`, `deepseek`, …). Messages are the provider's own,
/// with the API key removed should it ever echo it; they never contain the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The key was refused (HTTP 401, or Gemini's `API_KEY_INVALID`).
    #[error("{provider}: authentication failed: {message}")]
    Authentication {
        /// Provider id.
        provider: String,
        /// The provider's message.
        message: String,
    },
    /// The key is valid but may not do this, or the account has no quota left (HTTP 403).
    #[error("{provider}: permission denied: {message}")]
    Permission {
        /// Provider id.
        provider: String,
        /// The provider's message.
        message: String,
    },
    /// Unknown model or endpoint (HTTP 404).
    #[error("{provider}: not found: {message}")]
    NotFound {
        /// Provider id.
        provider: String,
        /// The provider's message.
        message: String,
    },
    /// Too many requests (HTTP 429); `retry_after` from `Retry-After` or the body, when given.
    #[error("{provider}: rate limited{}: {message}", retry_suffix(.retry_after))]
    RateLimited {
        /// Provider id.
        provider: String,
        /// How long the provider asked us to wait.
        retry_after: Option<Duration>,
        /// The provider's message.
        message: String,
    },
    /// The provider is overloaded (HTTP 503, Anthropic's 529 `overloaded_error`).
    #[error("{provider}: overloaded{}: {message}", retry_suffix(.retry_after))]
    Overloaded {
        /// Provider id.
        provider: String,
        /// How long the provider asked us to wait.
        retry_after: Option<Duration>,
        /// The provider's message.
        message: String,
    },
    /// The prompt does not fit the model's context window (or the request is too large).
    #[error("{provider}: context too long: {message}")]
    ContextTooLong {
        /// Provider id.
        provider: String,
        /// The provider's message.
        message: String,
    },
    /// A safety filter refused the prompt.
    #[error("{provider}: content filtered: {message}")]
    ContentFiltered {
        /// Provider id.
        provider: String,
        /// The provider's message.
        message: String,
    },
    /// The provider rejected the request as invalid (HTTP 400, 422).
    #[error("{provider}: bad request: {message}")]
    BadRequest {
        /// Provider id.
        provider: String,
        /// The provider's message.
        message: String,
    },
    /// The provider failed (HTTP 5xx other than overload, or an unexpected status).
    #[error("{provider}: server error (HTTP {status}): {message}")]
    ServerError {
        /// Provider id.
        provider: String,
        /// The HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// A timeout expired.
    #[error("{provider}: timed out ({phase})")]
    Timeout {
        /// Provider id.
        provider: String,
        /// Which one.
        phase: TimeoutPhase,
    },
    /// The connection failed or broke, including a stream that ended before its terminal event.
    #[error("{provider}: connection failed: {message}")]
    Connection {
        /// Provider id.
        provider: String,
        /// What happened.
        message: String,
    },
    /// The provider answered something that is not its documented format.
    #[error("{provider}: malformed response: {message}")]
    MalformedResponse {
        /// Provider id.
        provider: String,
        /// What was wrong.
        message: String,
    },
    /// The provider needs a key and none was configured.
    #[error("{provider}: no API key: set the environment variable {env_var}")]
    MissingApiKey {
        /// Provider id.
        provider: String,
        /// The environment variable that should hold it.
        env_var: String,
    },
}

fn retry_suffix(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(delay) => format!(" (retry after {:.1}s)", delay.as_secs_f64()),
        None => String::new(),
    }
}

impl ProviderError {
    /// Whether the same request may succeed if sent again to the same provider later: rate
    /// limits, overload, server errors, timeouts and connection failures. Everything else
    /// (bad key, bad request, context too long, filtered, malformed answer) needs a change
    /// of request or provider.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProviderError::RateLimited { .. }
            | ProviderError::Overloaded { .. }
            | ProviderError::ServerError { .. }
            | ProviderError::Timeout { .. }
            | ProviderError::Connection { .. } => true,
            ProviderError::Authentication { .. }
            | ProviderError::Permission { .. }
            | ProviderError::NotFound { .. }
            | ProviderError::ContextTooLong { .. }
            | ProviderError::ContentFiltered { .. }
            | ProviderError::BadRequest { .. }
            | ProviderError::MalformedResponse { .. }
            | ProviderError::MissingApiKey { .. } => false,
        }
    }

    /// Whether the error says the provider is unhealthy (connection errors, timeouts, rate
    /// limits, overload and 5xx), as opposed to the request being refused: only these count
    /// against a circuit breaker.
    pub fn is_health_failure(&self) -> bool {
        self.is_retryable()
    }

    /// Whether the provider said the request itself is invalid (HTTP 400, 422): another
    /// provider may accept it (the 400 may be provider-specific), but retrying or escalating
    /// it to a larger model will not help.
    pub fn is_client_error(&self) -> bool {
        matches!(self, ProviderError::BadRequest { .. })
    }

    /// How long the provider asked us to wait before retrying, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::RateLimited { retry_after, .. }
            | ProviderError::Overloaded { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The provider id the error came from.
    pub fn provider(&self) -> &str {
        match self {
            ProviderError::Authentication { provider, .. }
            | ProviderError::Permission { provider, .. }
            | ProviderError::NotFound { provider, .. }
            | ProviderError::RateLimited { provider, .. }
            | ProviderError::Overloaded { provider, .. }
            | ProviderError::ContextTooLong { provider, .. }
            | ProviderError::ContentFiltered { provider, .. }
            | ProviderError::BadRequest { provider, .. }
            | ProviderError::ServerError { provider, .. }
            | ProviderError::Timeout { provider, .. }
            | ProviderError::Connection { provider, .. }
            | ProviderError::MalformedResponse { provider, .. }
            | ProviderError::MissingApiKey { provider, .. } => provider,
        }
    }

    /// A short, stable name for the kind of error, for logs, metrics and JSON output
    /// (`rate_limited`, `timeout`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderError::Authentication { .. } => "authentication",
            ProviderError::Permission { .. } => "permission",
            ProviderError::NotFound { .. } => "not_found",
            ProviderError::RateLimited { .. } => "rate_limited",
            ProviderError::Overloaded { .. } => "overloaded",
            ProviderError::ContextTooLong { .. } => "context_too_long",
            ProviderError::ContentFiltered { .. } => "content_filtered",
            ProviderError::BadRequest { .. } => "bad_request",
            ProviderError::ServerError { .. } => "server_error",
            ProviderError::Timeout { .. } => "timeout",
            ProviderError::Connection { .. } => "connection",
            ProviderError::MalformedResponse { .. } => "malformed_response",
            ProviderError::MissingApiKey { .. } => "missing_api_key",
        }
    }
}

/// The parts of an HTTP error answer every protocol's mapping looks at.
#[derive(Debug)]
pub(crate) struct HttpFailure<'a> {
    pub(crate) provider: &'a str,
    pub(crate) status: u16,
    /// `Retry-After` (or `retry-after-ms`) already parsed.
    pub(crate) retry_after: Option<Duration>,
}

/// An error body as a message when it is not the protocol's error JSON: trimmed and cut to
/// 300 characters, or `(empty body)`.
pub(crate) fn body_message(body: &str) -> String {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        "(empty body)".to_owned()
    } else {
        trimmed.chars().take(300).collect()
    }
}

impl HttpFailure<'_> {
    /// The mapping shared by all protocols once the body's own type has been consulted:
    /// by status, with a few message sniffs for context-length errors.
    pub(crate) fn by_status(&self, message: String) -> ProviderError {
        let provider = self.provider.to_owned();
        let retry_after = self.retry_after;
        if looks_like_context_overflow(&message) {
            return ProviderError::ContextTooLong { provider, message };
        }
        match self.status {
            401 => ProviderError::Authentication { provider, message },
            403 => ProviderError::Permission { provider, message },
            404 => ProviderError::NotFound { provider, message },
            413 => ProviderError::ContextTooLong { provider, message },
            429 => ProviderError::RateLimited {
                provider,
                retry_after,
                message,
            },
            503 | 529 => ProviderError::Overloaded {
                provider,
                retry_after,
                message,
            },
            400 | 405 | 409 | 415 | 422 => ProviderError::BadRequest { provider, message },
            408 => ProviderError::Timeout {
                provider,
                phase: TimeoutPhase::Total,
            },
            status => ProviderError::ServerError {
                provider,
                status,
                message,
            },
        }
    }
}

/// Context-window errors come as plain 400s; their messages are the only tell.
fn looks_like_context_overflow(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    [
        "context_length_exceeded",
        "maximum context length",
        "context length",
        "prompt is too long",
        "exceeds the maximum number of tokens",
        "too many tokens",
        "context window",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_kinds() {
        let provider = "p".to_owned();
        let retryable = ProviderError::RateLimited {
            provider: provider.clone(),
            retry_after: Some(Duration::from_secs(2)),
            message: "slow down".into(),
        };
        assert!(retryable.is_retryable());
        assert_eq!(retryable.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(
            retryable.to_string(),
            "p: rate limited (retry after 2.0s): slow down"
        );
        let fatal = ProviderError::MissingApiKey {
            provider,
            env_var: "OPENAI_API_KEY".into(),
        };
        assert!(!fatal.is_retryable());
        assert_eq!(
            fatal.to_string(),
            "p: no API key: set the environment variable OPENAI_API_KEY"
        );
    }

    #[test]
    fn status_mapping_sniffs_context_errors() {
        let failure = HttpFailure {
            provider: "p",
            status: 400,
            retry_after: None,
        };
        assert_eq!(
            failure
                .by_status("prompt is too long: 210000 tokens > 200000 maximum".into())
                .kind(),
            "context_too_long"
        );
        assert_eq!(failure.by_status("bad".into()).kind(), "bad_request");
    }
}
