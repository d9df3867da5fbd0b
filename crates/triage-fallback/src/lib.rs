//! Walks a route plan until it gets an acceptable answer: quality checks, escalation to the
//! next tier, provider failover, retries within a budget, per-provider and per-model circuit
//! breakers, an attempt budget and an overall deadline, with every attempt recorded.
//!
//! - [`Executor::execute`] returns an [`Answer`] or a [`Failure`], both with every
//!   [`Attempt`].
//! - [`Executor::stream`] returns a [`FallbackStream`] of [`FallbackEvent`]s that ends with
//!   exactly one `Done` or `Error` event.
//! - [`QualityChecks`] are built per route from [`ChecksConfig`]; [`CircuitBreaker`] state is
//!   visible through [`CircuitBreaker::snapshot`].
#![deny(missing_docs)]

mod attempt;
pub mod breaker;
mod checks;
mod config;
mod error;
mod executor;
mod stream;

pub use attempt::{Attempt, AttemptKind, Next, Outcome};
pub use breaker::{BreakerConfig, BreakerSnapshot, BreakerState, CircuitBreaker, Clock};
pub use checks::{
    ChecksConfig, DEFAULT_JUDGE_RUBRIC, DEFAULT_REFUSAL_PATTERNS, FallbackConfigError, JudgeConfig,
    JudgeSettings, MAX_DEFAULT_MIN_CHARS, QualityChecks, QualityFailure, REFUSAL_WINDOW_CHARS,
    compile_json_schema, default_min_chars, judge_request, parse_judge_verdict,
};
pub use config::{FallbackConfig, FallbackSettings, StreamConfig};
pub use error::{Failure, FallbackError};
pub use executor::{Answer, Executor, ExecutorBuilder, total_cost, total_usage};
pub use stream::{FallbackEvent, FallbackStream, StreamSummary};
