//! The server's one error type and the one place errors become HTTP responses, in the shape of
//! the protocol the caller speaks.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Header on a `budget_exceeded` refusal: when the budget starts again, RFC 3339 (UTC).
pub const HEADER_BUDGET_RESET: &str = "x-triage-budget-reset";

/// The API dialect a client speaks on an endpoint (not a provider's wire protocol, which is
/// `triage_types::Protocol`): it decides the shape of bodies, streams and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// OpenAI Chat Completions (`/v1/chat/completions`, `/v1/models`).
    OpenAi,
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// OpenAI Responses (`/v1/responses`); errors take OpenAI's shape.
    Responses,
}

impl Dialect {
    /// The name recorded in the ledger and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::OpenAi => "openai",
            Dialect::Anthropic => "anthropic",
            Dialect::Responses => "openai-responses",
        }
    }

    /// The protocol an endpoint path belongs to.
    pub fn of_path(path: &str) -> Dialect {
        if path.starts_with("/v1/messages") {
            Dialect::Anthropic
        } else if path.starts_with("/v1/responses") {
            Dialect::Responses
        } else {
            Dialect::OpenAi
        }
    }
}

/// Why the gateway could not answer a request. Messages are safe to show to clients: they
/// never carry upstream bodies, keys or internal details.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ServerError {
    /// The body is not JSON, or not the JSON the endpoint expects.
    #[error("malformed request body: {message}")]
    MalformedJson {
        /// What the parser said (positions and field names only).
        message: String,
    },
    /// The body parsed but asks for something invalid.
    #[error("{message}")]
    InvalidRequest {
        /// What is wrong.
        message: String,
    },
    /// The body is larger than the configured limit.
    #[error("request body larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body did not arrive in full within the body-read timeout (a slow or stalled
    /// client).
    #[error("the request body did not arrive within {after_ms} ms")]
    BodyTimeout {
        /// The limit that passed.
        after_ms: u64,
    },
    /// The gateway is already answering as many requests as it is configured for.
    #[error(
        "the gateway is at its limit of {limit} concurrent requests; retry in {retry_after_s} s"
    )]
    Overloaded {
        /// The configured limit (`[server] max_concurrent_requests`).
        limit: usize,
        /// What the `Retry-After` header says, in seconds.
        retry_after_s: u64,
    },
    /// No or a wrong proxy key.
    #[error("missing or invalid API key for this gateway")]
    Unauthorized,
    /// The client's key may not send this `model` (403).
    #[error("{message}")]
    ModelNotAllowed {
        /// What the engine said.
        message: String,
    },
    /// The client's key has spent a budget (429); `resets_at` is RFC 3339.
    #[error("{message}")]
    BudgetExceeded {
        /// What the limits said, with the budget and when it resets.
        message: String,
        /// When the budget starts again.
        resets_at: String,
        /// Seconds until then.
        retry_after_s: u64,
    },
    /// The client's key is over a per-minute rate limit (429).
    #[error("{message}")]
    RateLimited {
        /// What the limits said.
        message: String,
        /// `requests` or `tokens`.
        kind: &'static str,
        /// Seconds until the next minute.
        retry_after_s: u64,
    },
    /// The key's limits cannot be checked (Redis unreachable) and fail closed (503).
    #[error("{message}")]
    StateUnavailable {
        /// What the limits said.
        message: String,
    },
    /// No route alias or catalog model has this name.
    #[error(
        "model `{model}` does not exist; use `auto`, a route alias or a catalog model id: {}",
        choices.join(", ")
    )]
    UnknownModel {
        /// The name asked for.
        model: String,
        /// Every valid name.
        choices: Vec<String>,
    },
    /// No path exists here.
    #[error("no such endpoint: {method} {path}")]
    NotFound {
        /// The HTTP method.
        method: String,
        /// The path asked for.
        path: String,
    },
    /// The path exists, but not for this method.
    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed {
        /// The HTTP method.
        method: String,
        /// The path asked for.
        path: String,
    },
    /// Every model of the plan failed or was skipped (provider errors, open circuits, missing
    /// keys, rejected answers).
    #[error("no provider could answer this request ({attempts} attempts)")]
    NoProvider {
        /// How many attempts were made.
        attempts: usize,
    },
    /// Every model of the plan was skipped because no provider key is set for it.
    #[error("no provider key set: set {} to enable a model for this request", variables.join(" or "))]
    NoProviderKey {
        /// The variables that would enable a planned model.
        variables: Vec<String>,
    },
    /// The request took longer than the per-request timeout or the fallback deadline.
    #[error("the request timed out after {after_ms} ms")]
    Timeout {
        /// The limit that passed.
        after_ms: u64,
    },
    /// A streamed answer broke after output had been sent.
    #[error("the upstream stream broke after output was sent")]
    StreamInterrupted,
    /// Something inside the gateway failed; details are logged, not shown.
    #[error("internal gateway error")]
    Internal,
}

impl ServerError {
    /// A body that is not the JSON the endpoint expects.
    pub(crate) fn malformed(error: serde_json::Error) -> ServerError {
        ServerError::MalformedJson {
            message: error.to_string(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ServerError::MalformedJson { .. } | ServerError::InvalidRequest { .. } => {
                StatusCode::BAD_REQUEST
            }
            ServerError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ServerError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ServerError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ServerError::Unauthorized => StatusCode::UNAUTHORIZED,
            ServerError::ModelNotAllowed { .. } => StatusCode::FORBIDDEN,
            ServerError::BudgetExceeded { .. } | ServerError::RateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ServerError::StateUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ServerError::UnknownModel { .. } | ServerError::NotFound { .. } => {
                StatusCode::NOT_FOUND
            }
            ServerError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ServerError::NoProvider { .. } | ServerError::NoProviderKey { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ServerError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ServerError::StreamInterrupted => StatusCode::BAD_GATEWAY,
            ServerError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short stable name, recorded as the request's outcome in the ledger and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ServerError::MalformedJson { .. } => "malformed_json",
            ServerError::InvalidRequest { .. } => "invalid_request",
            ServerError::PayloadTooLarge { .. } => "payload_too_large",
            ServerError::BodyTimeout { .. } => "body_timeout",
            ServerError::Overloaded { .. } => "overloaded",
            ServerError::Unauthorized => "unauthorized",
            ServerError::ModelNotAllowed { .. } => "model_not_allowed",
            ServerError::BudgetExceeded { .. } => "budget_exceeded",
            ServerError::RateLimited { .. } => "rate_limited",
            ServerError::StateUnavailable { .. } => "state_unavailable",
            ServerError::UnknownModel { .. } => "unknown_model",
            ServerError::NotFound { .. } => "not_found",
            ServerError::MethodNotAllowed { .. } => "method_not_allowed",
            ServerError::NoProvider { .. } | ServerError::NoProviderKey { .. } => "no_provider",
            ServerError::Timeout { .. } => "timeout",
            ServerError::StreamInterrupted => "stream_interrupted",
            ServerError::Internal => "internal",
        }
    }

    /// OpenAI's `error.type` and `error.code` for this error.
    fn openai_type_and_code(&self) -> (&'static str, &'static str) {
        match self {
            ServerError::MalformedJson { .. } | ServerError::InvalidRequest { .. } => {
                ("invalid_request_error", "invalid_request")
            }
            ServerError::PayloadTooLarge { .. } => ("invalid_request_error", "request_too_large"),
            ServerError::BodyTimeout { .. } => ("invalid_request_error", "request_timeout"),
            ServerError::Overloaded { .. } => ("server_error", "overloaded"),
            ServerError::Unauthorized => ("invalid_request_error", "invalid_api_key"),
            ServerError::ModelNotAllowed { .. } => ("invalid_request_error", "model_not_allowed"),
            ServerError::BudgetExceeded { .. } => ("budget_exceeded", "budget_exceeded"),
            // OpenAI's own rate-limit errors: type `requests` or `tokens`.
            ServerError::RateLimited { kind, .. } => (kind, "rate_limit_exceeded"),
            ServerError::StateUnavailable { .. } => ("server_error", "state_unavailable"),
            ServerError::UnknownModel { .. } => ("invalid_request_error", "model_not_found"),
            ServerError::NotFound { .. } => ("invalid_request_error", "not_found"),
            ServerError::MethodNotAllowed { .. } => ("invalid_request_error", "method_not_allowed"),
            ServerError::NoProvider { .. } => ("server_error", "no_provider_available"),
            ServerError::NoProviderKey { .. } => ("server_error", "no_provider_key"),
            ServerError::Timeout { .. } => ("server_error", "timeout"),
            ServerError::StreamInterrupted => ("server_error", "stream_interrupted"),
            ServerError::Internal => ("server_error", "internal_error"),
        }
    }

    /// Anthropic's `error.type` for this error.
    fn anthropic_type(&self) -> &'static str {
        match self {
            ServerError::MalformedJson { .. } | ServerError::InvalidRequest { .. } => {
                "invalid_request_error"
            }
            ServerError::PayloadTooLarge { .. } => "request_too_large",
            ServerError::BodyTimeout { .. } => "invalid_request_error",
            ServerError::Overloaded { .. } => "overloaded_error",
            ServerError::Unauthorized => "authentication_error",
            ServerError::ModelNotAllowed { .. } => "permission_error",
            ServerError::BudgetExceeded { .. } | ServerError::RateLimited { .. } => {
                "rate_limit_error"
            }
            ServerError::StateUnavailable { .. } => "api_error",
            ServerError::UnknownModel { .. } | ServerError::NotFound { .. } => "not_found_error",
            ServerError::MethodNotAllowed { .. } => "invalid_request_error",
            ServerError::NoProvider { .. } => "overloaded_error",
            ServerError::NoProviderKey { .. } => "api_error",
            ServerError::Timeout { .. }
            | ServerError::StreamInterrupted
            | ServerError::Internal => "api_error",
        }
    }

    /// The error body in `protocol`'s shape.
    pub fn body(&self, protocol: Dialect) -> serde_json::Value {
        let message = self.to_string();
        match protocol {
            Dialect::OpenAi | Dialect::Responses => {
                let (kind, code) = self.openai_type_and_code();
                let param = matches!(self, ServerError::UnknownModel { .. }).then_some("model");
                json!({ "error": { "message": message, "type": kind, "param": param, "code": code } })
            }
            Dialect::Anthropic => {
                json!({ "type": "error", "error": { "type": self.anthropic_type(), "message": message } })
            }
        }
    }

    /// How long the client should wait before trying again (`Retry-After`), for the refusals
    /// that pass.
    pub fn retry_after_s(&self) -> Option<u64> {
        match self {
            ServerError::Overloaded { retry_after_s, .. }
            | ServerError::RateLimited { retry_after_s, .. }
            | ServerError::BudgetExceeded { retry_after_s, .. } => Some(*retry_after_s),
            ServerError::StateUnavailable { .. } => Some(1),
            _ => None,
        }
    }

    /// Pairs the error with the protocol whose shape its response takes.
    pub fn speaking(self, protocol: Dialect) -> ApiError {
        ApiError {
            protocol,
            error: self,
        }
    }
}

/// A [`ServerError`] on its way to a client that speaks `protocol`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The caller's protocol.
    pub protocol: Dialect,
    /// The error.
    pub error: ServerError,
}

/// The one mapping from errors to HTTP responses.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.error.status();
        let mut response = (status, Json(self.error.body(self.protocol))).into_response();
        let headers = response.headers_mut();
        if let Some(seconds) = self.error.retry_after_s() {
            headers.insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        match &self.error {
            ServerError::Unauthorized => {
                headers.insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer"),
                );
            }
            ServerError::BudgetExceeded { resets_at, .. } => {
                if let Ok(value) = HeaderValue::from_str(resets_at) {
                    headers.insert(HEADER_BUDGET_RESET, value);
                }
            }
            _ => {}
        }
        response.headers_mut().insert(
            "x-triage-error",
            HeaderValue::from_static(self.error.kind()),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_shapes() {
        let unknown = ServerError::UnknownModel {
            model: "gpt-9".to_owned(),
            choices: vec!["auto".to_owned(), "cheap".to_owned()],
        };
        assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
        let openai = unknown.body(Dialect::OpenAi);
        assert_eq!(openai["error"]["code"], "model_not_found");
        assert_eq!(openai["error"]["param"], "model");
        assert!(
            openai["error"]["message"]
                .as_str()
                .unwrap()
                .contains("auto, cheap")
        );
        let anthropic = unknown.body(Dialect::Anthropic);
        assert_eq!(anthropic["type"], "error");
        assert_eq!(anthropic["error"]["type"], "not_found_error");
        assert_eq!(
            ServerError::NoProvider { attempts: 2 }.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            ServerError::PayloadTooLarge { limit: 1 }.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(Dialect::of_path("/v1/messages"), Dialect::Anthropic);
    }
}
