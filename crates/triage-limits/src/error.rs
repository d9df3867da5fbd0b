//! Why a request was refused, and why the limits could not be set up.

use rust_decimal::Decimal;

use crate::window::{BudgetWindow, RateKind};

/// Why [`crate::Limits::admit`] refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A budget window is spent.
    #[error(
        "budget_exceeded: key `{key}` has spent its {window} budget of ${cap} (${spent} so far); it resets at {resets_at}"
    )]
    BudgetExceeded {
        /// The key's name.
        key: String,
        /// Which budget.
        window: BudgetWindow,
        /// The budget, in US dollars.
        cap: Decimal,
        /// What the window has spent and reserved so far.
        spent: Decimal,
        /// When the window starts again, RFC 3339 (UTC).
        resets_at: String,
        /// Seconds until then.
        retry_after_s: u64,
    },
    /// A per-minute rate limit is reached.
    #[error(
        "rate_limited: key `{key}` is at its limit of {limit} {kind} per minute; retry in {retry_after_s} s"
    )]
    RateLimited {
        /// The key's name.
        key: String,
        /// Requests or tokens.
        kind: RateKind,
        /// The limit per minute.
        limit: u64,
        /// Seconds until the next minute starts.
        retry_after_s: u64,
    },
    /// The shared store cannot be reached and the key's limit is configured to fail closed.
    #[error(
        "the shared limits store (Redis) cannot be reached and key `{key}` has a {what}, configured to fail closed: {reason}"
    )]
    Unavailable {
        /// The key's name.
        key: String,
        /// `budget` or `rate limit`.
        what: &'static str,
        /// The store's error.
        reason: String,
    },
}

impl Refusal {
    /// Seconds the client should wait before trying again (the `Retry-After` header).
    pub fn retry_after_s(&self) -> u64 {
        match self {
            Refusal::BudgetExceeded { retry_after_s, .. }
            | Refusal::RateLimited { retry_after_s, .. } => *retry_after_s,
            Refusal::Unavailable { .. } => 1,
        }
    }
}

/// The limits could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LimitsError {
    /// The Redis URL does not parse.
    #[error("invalid Redis URL {url}")]
    RedisUrl {
        /// The URL, its password hidden.
        url: String,
        /// Why.
        #[source]
        source: redis::RedisError,
    },
}
