//! The engine's errors: why a request got no answer (per request), and why an engine could not
//! be built (at start-up).

use triage_types::RouteClass;

/// Why a request got no answer. Every variant is safe to show to a client.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
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
    /// The model exists but cannot serve (retired with no successor, and the like).
    #[error("model `{model}` cannot be used: {reason}")]
    UnusableModel {
        /// The name asked for.
        model: String,
        /// Why, in the catalog's words.
        reason: String,
    },
    /// No model of the routes can serve this request (context window, capabilities, disabled
    /// providers).
    #[error("no model can serve this {class} request: {}", rejected.join("; "))]
    NoCandidate {
        /// The class routed.
        class: RouteClass,
        /// Each candidate and why it was left out.
        rejected: Vec<String>,
    },
    /// The prompt is larger than the context window of every model that could serve it: a
    /// client error, answered before any upstream call.
    #[error("the prompt does not fit any model's context window: {}", rejected.join("; "))]
    PromptTooLarge {
        /// The class routed.
        class: RouteClass,
        /// Each candidate and why it was left out.
        rejected: Vec<String>,
    },
    /// An upstream said the request itself is invalid (HTTP 400), on the one other provider
    /// tried too: not escalated, and the client's to fix.
    #[error("{message}")]
    InvalidRequest {
        /// The upstream's words.
        message: String,
    },
    /// Every model of the plan was skipped because its provider has no API key.
    #[error("no provider key set for any model of the plan: set {}", variables.join(" or "))]
    NoProviderKey {
        /// The variables that would enable a planned model.
        variables: Vec<String>,
    },
    /// Every model of the plan failed or was skipped, or the attempt budget ran out.
    #[error("{message}")]
    Exhausted {
        /// How many attempts were recorded.
        attempts: usize,
        /// What the executor said, with the last attempt's outcome.
        message: String,
    },
    /// The request took longer than its timeout or the fallback deadline.
    #[error("the request timed out after {after_ms} ms")]
    Timeout {
        /// The limit that passed.
        after_ms: u64,
    },
    /// A streamed answer broke after output had been sent.
    #[error("the stream from {model} failed after output was sent: {message}")]
    StreamInterrupted {
        /// The model that was streaming.
        model: String,
        /// What went wrong.
        message: String,
    },
    /// The client's key may not send this `model`.
    #[error("key `{key}` may not use model `{model}`; it may use: {}", allowed.join(", "))]
    ModelNotAllowed {
        /// The key's name.
        key: String,
        /// The `model` it sent.
        model: String,
        /// What it may send.
        allowed: Vec<String>,
    },
    /// The client's key is over a budget or a rate limit, or its limits cannot be checked.
    #[error(transparent)]
    Limited(#[from] triage_limits::Refusal),
    /// Something inside triage failed (the classifier, say); details are logged.
    #[error("internal error: {message}")]
    Internal {
        /// What failed.
        message: String,
    },
}

impl EngineError {
    /// A short stable name, recorded as the request's outcome in the ledger and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            EngineError::UnknownModel { .. } => "unknown_model",
            EngineError::UnusableModel { .. }
            | EngineError::PromptTooLarge { .. }
            | EngineError::InvalidRequest { .. } => "invalid_request",
            EngineError::NoCandidate { .. }
            | EngineError::NoProviderKey { .. }
            | EngineError::Exhausted { .. } => "no_provider",
            EngineError::Timeout { .. } => "timeout",
            EngineError::StreamInterrupted { .. } => "stream_interrupted",
            EngineError::ModelNotAllowed { .. } => "model_not_allowed",
            EngineError::Limited(refusal) => match refusal {
                triage_limits::Refusal::BudgetExceeded { .. } => "budget_exceeded",
                triage_limits::Refusal::RateLimited { .. } => "rate_limited",
                triage_limits::Refusal::Unavailable { .. } => "state_unavailable",
            },
            EngineError::Internal { .. } => "internal",
        }
    }
}

/// Why an engine could not be built from a configuration.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The baseline model is not in the catalog.
    #[error("baseline model: {0}")]
    Baseline(#[source] triage_catalog::CatalogError),
    /// The expected-quality table could not be loaded.
    #[error(transparent)]
    Quality(#[from] triage_config::ConfigError),
    /// The limits store could not be set up (`[state] redis_url`).
    #[error(transparent)]
    Limits(#[from] triage_limits::LimitsError),
    /// A `[[server.keys]]` entry reads its key from an environment variable that is not set.
    #[error("key `{key}` reads its secret from {env_var}, which is not set (or empty)")]
    MissingKeyEnv {
        /// The key's name.
        key: String,
        /// The variable.
        env_var: String,
    },
    /// The shared HTTP client could not be built.
    #[error(transparent)]
    Http(#[from] triage_providers::ProviderError),
}
