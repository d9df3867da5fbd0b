//! Integration tests for the ledger: writing through the background thread, reading back,
//! and the report aggregates.

mod journal;
mod postgres;
mod roundtrip;
mod summary;

use std::time::Duration;

use rust_decimal::Decimal;
use time::OffsetDateTime;
use triage_ledger::{AttemptOutcome, AttemptRecord, RequestRecord};
use triage_types::{RouteClass, Usage};

/// The varying parts of a test request.
pub(crate) struct Spec<'a> {
    pub(crate) id: &'a str,
    pub(crate) at: OffsetDateTime,
    pub(crate) class: Option<RouteClass>,
    pub(crate) model: &'a str,
    pub(crate) cost: Decimal,
    pub(crate) baseline: Decimal,
    pub(crate) latency_ms: u64,
    /// A model that failed before `model` answered.
    pub(crate) fallback_from: Option<&'a str>,
}

/// A successful request answered by `model` at `cost` (one attempt), or by a failed attempt on
/// `fallback_from` first when given.
pub(crate) fn request(spec: Spec<'_>) -> RequestRecord {
    let Spec {
        id,
        at,
        class,
        model,
        cost,
        baseline,
        latency_ms,
        fallback_from,
    } = spec;
    let usage = Usage {
        input_tokens: 100,
        output_tokens: 20,
        ..Usage::default()
    };
    let mut attempts = Vec::new();
    if let Some(failed) = fallback_from {
        attempts.push(AttemptRecord {
            model: failed.to_owned(),
            provider: "mock".to_owned(),
            outcome: AttemptOutcome::Failed {
                error: "status 503".to_owned(),
            },
            judge: false,
            latency: Duration::from_millis(1),
            usage: Usage::default(),
            cost_usd: Decimal::ZERO,
        });
    }
    attempts.push(AttemptRecord {
        model: model.to_owned(),
        provider: "mock".to_owned(),
        outcome: AttemptOutcome::Success,
        judge: false,
        latency: Duration::from_millis(latency_ms),
        usage,
        cost_usd: cost,
    });
    RequestRecord {
        started_at: at,
        class,
        confidence: class.map(|_| 0.75),
        model: Some(model.to_owned()),
        provider: Some("mock".to_owned()),
        usage,
        cost_usd: cost,
        unpriced: None,
        baseline_model: Some("frontier".to_owned()),
        baseline_cost_usd: baseline,
        latency: Duration::from_millis(latency_ms),
        attempts,
        ..RequestRecord::new(id, "auto")
    }
}
