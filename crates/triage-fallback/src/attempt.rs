//! The record of one attempt: which model, what happened, what it took and cost, and why the
//! executor moved on.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use triage_types::Usage;

use crate::QualityFailure;

/// What an attempt was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptKind {
    /// A call for the answer.
    Answer,
    /// A judge model grading an answer.
    Judge,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// The call succeeded and the answer passed the checks (for a judge: the judge answered).
    Ok,
    /// The provider call failed.
    ProviderError {
        /// The error kind (`rate_limited`, `server_error`, `timeout`, …).
        kind: String,
        /// Whether a retry could help.
        retryable: bool,
        /// The error, in words.
        message: String,
    },
    /// The answer came back but failed a quality check.
    QualityFailed {
        /// Which check, and why.
        failure: QualityFailure,
    },
    /// Not called: its circuit breaker is open.
    SkippedCircuitOpen {
        /// The open breaker (`provider:<id>` or `model:<id>`).
        breaker: String,
        /// Milliseconds until the breaker lets a probe through.
        retry_in_ms: u64,
    },
    /// Not called: no client is configured for its provider (typically a missing API key).
    SkippedNoClient {
        /// Why not.
        message: String,
    },
    /// The overall deadline passed during this attempt.
    Deadline,
    /// A streamed answer failed after part of it had reached the caller.
    Interrupted {
        /// What went wrong.
        message: String,
    },
    /// The caller went away during the call, which was stopped; its usage is what the
    /// provider had reported, the rest estimated.
    Cancelled,
}

impl Outcome {
    /// A short, stable name (`ok`, `provider_error`, `quality_failed`, …).
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ProviderError { .. } => "provider_error",
            Outcome::QualityFailed { .. } => "quality_failed",
            Outcome::SkippedCircuitOpen { .. } => "skipped_circuit_open",
            Outcome::SkippedNoClient { .. } => "skipped_no_client",
            Outcome::Deadline => "deadline",
            Outcome::Interrupted { .. } => "interrupted",
            Outcome::Cancelled => "client_cancelled",
        }
    }

    /// The outcome in a few words, for error messages.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Ok => "ok".to_owned(),
            Outcome::ProviderError { message, .. } => message.clone(),
            Outcome::QualityFailed { failure } => failure.to_string(),
            Outcome::SkippedCircuitOpen { breaker, .. } => {
                format!("skipped: circuit breaker {breaker} is open")
            }
            Outcome::SkippedNoClient { message } => format!("skipped: {message}"),
            Outcome::Deadline => "the deadline passed".to_owned(),
            Outcome::Interrupted { message } => format!("stream interrupted: {message}"),
            Outcome::Cancelled => {
                "client cancelled: the caller went away and the call was stopped".to_owned()
            }
        }
    }

    /// Whether the attempt made no call.
    pub fn is_skipped(&self) -> bool {
        matches!(
            self,
            Outcome::SkippedCircuitOpen { .. } | Outcome::SkippedNoClient { .. }
        )
    }
}

/// What the executor did after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Next {
    /// Took this answer.
    Accept,
    /// Called the same model again after a wait.
    Retry {
        /// The wait, in milliseconds.
        after_ms: u64,
    },
    /// Moved to another model of the same tier (another provider, or the next candidate).
    Failover,
    /// Moved up to a higher tier of the plan.
    Escalate,
    /// Went on to the next candidate of the plan.
    NextCandidate,
    /// Stopped: no candidate, attempt or time left, or the stream could not be replaced.
    GiveUp,
}

/// One attempt at answering (or grading) a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// What it was for.
    pub kind: AttemptKind,
    /// The model's catalog id.
    pub model: String,
    /// The provider's id.
    pub provider: String,
    /// The model's capability tier.
    pub tier: u8,
    /// How it ended.
    pub outcome: Outcome,
    /// Wall time of the call in milliseconds (0 when skipped).
    pub latency_ms: u64,
    /// Tokens used, when the provider reported them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// What the call cost in US dollars, when it could be priced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<Decimal>,
    /// Why the cost is unknown, when the call used tokens the catalog cannot price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_error: Option<String>,
    /// What the executor did next, and so why it moved on.
    pub next: Next,
}
