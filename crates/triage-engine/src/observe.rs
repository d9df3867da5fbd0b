//! The observer seam: how an edge (the gateway's Prometheus metrics) hears about every finished
//! request, without the engine knowing what it does with it.

use std::time::Duration;

use rust_decimal::Decimal;
use triage_fallback::Attempt;
use triage_types::{RouteClass, Usage};

/// Told about every finished request, once (the gateway's Prometheus metrics implement it).
pub trait Observer: Send + Sync {
    /// A request finished.
    fn finished(&self, report: &Report<'_>);
}

/// What an [`Observer`] hears about a finished request.
#[derive(Debug)]
pub struct Report<'a> {
    /// Who asked: the client's protocol (`openai`, `anthropic`) or `cli`.
    pub entry: &'a str,
    /// The class, when the request was classified.
    pub class: Option<RouteClass>,
    /// The model that answered.
    pub model: Option<&'a str>,
    /// `success` or the error's kind.
    pub outcome: &'a str,
    /// From arrival to the end of the answer.
    pub latency: Duration,
    /// Tokens of every attempt.
    pub usage: Usage,
    /// What was priced (the whole cost unless [`crate::Accounted::cost`] is unknown).
    pub priced_usd: Decimal,
    /// Every attempt.
    pub attempts: &'a [Attempt],
}
