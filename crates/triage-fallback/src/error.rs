//! The fallback crate's one error type, and the failure that carries the attempts made.

use serde::Serialize;
use triage_types::ChatResponse;

use crate::Attempt;

/// Why the executor could not produce an acceptable answer, or could not start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum FallbackError {
    /// The plan lists no model to try.
    #[error("the route plan lists no model")]
    EmptyPlan,
    /// Every model of the plan failed or was skipped.
    #[error("no model gave an acceptable answer ({attempts} attempts); last: {last}")]
    Exhausted {
        /// How many attempts were recorded.
        attempts: usize,
        /// The last attempt's outcome, in words.
        last: String,
    },
    /// The attempt budget ran out before an acceptable answer.
    #[error("gave up after the maximum of {max} attempts; last: {last}")]
    MaxAttempts {
        /// The budget.
        max: u32,
        /// The last attempt's outcome, in words.
        last: String,
    },
    /// The overall deadline passed before an acceptable answer.
    #[error("the deadline of {deadline_ms} ms passed before an acceptable answer")]
    DeadlineExceeded {
        /// The deadline.
        deadline_ms: u64,
    },
    /// The upstream said the request itself is invalid (HTTP 400), on a second provider too
    /// or with no other provider left: escalating it would only pay for more refusals.
    #[error("the request was rejected as invalid by {provider}: {message}")]
    InvalidRequest {
        /// The provider that rejected it last.
        provider: String,
        /// Its message.
        message: String,
    },
    /// A streamed answer failed after part of it had reached the caller, so it could not be
    /// replaced by another model's.
    #[error("the stream from {model} failed after output was sent: {message}")]
    StreamInterrupted {
        /// The model that was streaming.
        model: String,
        /// What went wrong.
        message: String,
    },
}

impl FallbackError {
    /// A short, stable name for the kind of error (`exhausted`, `deadline_exceeded`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            FallbackError::EmptyPlan => "empty_plan",
            FallbackError::Exhausted { .. } => "exhausted",
            FallbackError::MaxAttempts { .. } => "max_attempts",
            FallbackError::DeadlineExceeded { .. } => "deadline_exceeded",
            FallbackError::InvalidRequest { .. } => "invalid_request",
            FallbackError::StreamInterrupted { .. } => "stream_interrupted",
        }
    }
}

/// A request the executor could not answer acceptably: the error, every attempt made, and the
/// last answer that a quality check rejected, if any (a caller may prefer it to nothing).
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{error}")]
pub struct Failure {
    /// What went wrong.
    pub error: FallbackError,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
    /// The last answer that failed a quality check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_answer: Option<Box<ChatResponse>>,
}
