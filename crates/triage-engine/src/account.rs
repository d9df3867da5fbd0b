//! Accounting: every request, however it ends, is recorded once — in the ledger (without
//! blocking) and through the observer (the server's metrics) — and priced, failing closed: an
//! attempt the catalog cannot price makes the request's cost unknown, never $0.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use time::OffsetDateTime;
use triage_catalog::{CostOptions, Model};
use triage_fallback::{Attempt, AttemptKind, Outcome};
use triage_ledger::{AttemptOutcome, AttemptRecord, RequestOutcome, RequestRecord};
use triage_limits::{Admission, ClientKey, Spent};
use triage_types::{RouteClass, Usage};

use crate::engine::{Engine, Planned, Target};
use crate::observe::Report;

/// What a finished request cost, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accounted {
    /// The id the request is recorded under.
    pub request_id: String,
    /// Every attempt's cost together; an error naming the attempt the catalog could not
    /// price.
    pub cost: Result<Decimal, String>,
    /// How many attempts were recorded (skipped ones included).
    pub attempts: usize,
    /// Every attempt's tokens together, as recorded (what `cost` paid for).
    pub usage: Usage,
}

/// Who is asking, for the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The entry point: the client's protocol (`openai`, `anthropic`) or `cli`.
    pub entry: String,
    /// Whether the answer is streamed.
    pub streamed: bool,
    /// The client key the request came with (`[[server.keys]]`), whose models, budgets and
    /// rate limits apply; `None` for none.
    pub key: Option<Arc<ClientKey>>,
}

impl Caller {
    /// A caller without a client key.
    pub fn new(entry: impl Into<String>, streamed: bool) -> Caller {
        Caller {
            entry: entry.into(),
            streamed,
            key: None,
        }
    }
}

/// One request from arrival to its record.
#[derive(Debug)]
pub(crate) struct Ticket {
    pub(crate) request_id: String,
    pub(crate) caller: Caller,
    pub(crate) route: String,
    pub(crate) started: Instant,
    pub(crate) started_at: OffsetDateTime,
    pub(crate) class: Option<RouteClass>,
    pub(crate) confidence: Option<f32>,
    /// The retired model the caller named, replaced by its successor.
    pub(crate) resolved_from: Option<String>,
    /// The plan's warnings, as sent to the caller.
    pub(crate) warnings: Vec<String>,
    /// What the client key's limits reserved, settled when the request ends.
    pub(crate) admission: Option<Admission>,
    /// Why the key's budget routed the request cheaper.
    pub(crate) budget_note: Option<String>,
    /// The prompt's hashes, for cache affinity (routed requests only).
    pub(crate) prompt_keys: Option<crate::affinity::PromptKeys>,
}

/// How a request ended.
pub(crate) struct Ending<'a> {
    /// The answering model and provider.
    pub(crate) answered: Option<(&'a str, &'a str)>,
    /// The answer's own usage, for the baseline cost.
    pub(crate) answer_usage: Option<Usage>,
    /// Every attempt.
    pub(crate) attempts: &'a [Attempt],
    /// The outcome's kind, when the request failed.
    pub(crate) failure: Option<&'a str>,
}

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(0);

/// A random tag drawn once per process, so that replicas sharing one ledger never give two
/// requests the same id (each counts its own sequence from zero).
fn process_tag() -> u32 {
    static TAG: OnceLock<u32> = OnceLock::new();
    *TAG.get_or_init(rand::random)
}

impl Ticket {
    pub(crate) fn new(caller: Caller, route: &str) -> Ticket {
        let started_at = OffsetDateTime::now_utc();
        let sequence = NEXT_REQUEST.fetch_add(1, Ordering::Relaxed);
        Ticket {
            request_id: format!(
                "{:x}{:08x}{:06x}",
                started_at.unix_timestamp_nanos() / 1_000_000,
                process_tag(),
                sequence & 0xff_ffff
            ),
            caller,
            route: route.to_owned(),
            started: Instant::now(),
            started_at,
            class: None,
            confidence: None,
            resolved_from: None,
            warnings: Vec::new(),
            admission: None,
            budget_note: None,
            prompt_keys: None,
        }
    }

    pub(crate) fn planned(&mut self, planned: &Planned) {
        self.class = planned.class();
        self.confidence = planned.confidence();
        // Only a model the caller named counts as "resolved from": a route's own retired
        // entries are the configuration's business, not the caller's.
        self.resolved_from = match &planned.target {
            Target::Model { requested } if *requested != planned.plan.primary.id => {
                Some(requested.clone())
            }
            _ => None,
        };
        self.warnings = planned.warnings().to_vec();
        self.budget_note.clone_from(&planned.budget_note);
    }
}

impl Engine {
    /// Records a finished request in the ledger and tells the observer; the one place either
    /// happens.
    pub(crate) fn finish(&self, ticket: &Ticket, ending: &Ending<'_>) -> Accounted {
        let latency = ticket.started.elapsed();
        let usage = triage_fallback::total_usage(ending.attempts);
        let cost = triage_fallback::total_cost(ending.attempts);
        let priced_usd = ending
            .attempts
            .iter()
            .filter_map(|attempt| attempt.cost_usd)
            .sum::<Decimal>();
        if let Err(reason) = &cost {
            tracing::warn!(request = %ticket.request_id, %reason, "the request's cost is unknown");
        }
        let baseline = self.baseline_model();
        let baseline_cost_usd = match (baseline, &ending.answered, &ending.answer_usage) {
            (Some(baseline), Some(_), Some(answer_usage)) => baseline_cost(baseline, answer_usage),
            _ => Decimal::ZERO,
        };
        let outcome = match ending.failure {
            Some(kind) => RequestOutcome::Failure {
                kind: kind.to_owned(),
            },
            None => RequestOutcome::Success,
        };
        if let Some(observer) = self.inner.observer.get() {
            observer.finished(&Report {
                entry: &ticket.caller.entry,
                class: ticket.class,
                model: ending.answered.map(|(model, _)| model),
                outcome: outcome.as_str(),
                latency,
                usage,
                priced_usd,
                attempts: ending.attempts,
            });
        }
        // A stream its client left mid-answer has no usage to settle with: its reservation
        // (the plan's estimate) stands as its spend, rather than $0, so leaving early is no
        // way around a budget.
        let usage_unknown = ending.answered.is_some() && ending.answer_usage.is_none();
        if let Some(admission) = ticket.admission.as_ref().filter(|_| !usage_unknown) {
            self.inner.limits.settle(
                admission,
                Spent {
                    cost_usd: priced_usd,
                    tokens: usage.input_tokens.saturating_add(usage.output_tokens),
                },
            );
        }
        if let (None, Some((model, _)), Some(keys), Some(class)) = (
            ending.failure,
            ending.answered,
            &ticket.prompt_keys,
            ticket.class,
        ) {
            self.inner.affinity.remember(keys, model, class);
        }
        if let Some(ledger) = &self.inner.ledger {
            ledger.record(RequestRecord {
                request_id: ticket.request_id.clone(),
                started_at: ticket.started_at,
                protocol: ticket.caller.entry.clone(),
                route: ticket.route.clone(),
                resolved_from: ticket.resolved_from.clone(),
                warnings: ticket.warnings.clone(),
                class: ticket.class,
                confidence: ticket.confidence,
                outcome,
                model: ending.answered.map(|(model, _)| model.to_owned()),
                provider: ending.answered.map(|(_, provider)| provider.to_owned()),
                usage,
                cost_usd: priced_usd,
                unpriced: cost.as_ref().err().cloned(),
                baseline_model: baseline.map(|model| model.id.clone()),
                baseline_cost_usd,
                latency,
                streamed: ticket.caller.streamed,
                attempts: ending.attempts.iter().map(attempt_record).collect(),
                client_key: ticket.caller.key.as_ref().map(|key| key.name.clone()),
                budget_note: ticket.budget_note.clone(),
            });
        }
        Accounted {
            request_id: ticket.request_id.clone(),
            cost,
            attempts: ending.attempts.len(),
            usage,
        }
    }
}

/// What `usage` would have cost on the baseline model; cached tokens count as plain input
/// when the baseline has no cached price.
fn baseline_cost(model: &Model, usage: &Usage) -> Decimal {
    model
        .cost(usage, CostOptions::default())
        .or_else(|_| {
            let plain = Usage {
                cached_read_tokens: 0,
                cache_write_tokens: 0,
                ..*usage
            };
            model.cost(&plain, CostOptions::default())
        })
        .unwrap_or(Decimal::ZERO)
}

fn attempt_record(attempt: &Attempt) -> AttemptRecord {
    let outcome = match &attempt.outcome {
        Outcome::Ok => AttemptOutcome::Success,
        Outcome::QualityFailed { failure } => AttemptOutcome::Rejected {
            reason: failure.to_string(),
        },
        other => AttemptOutcome::Failed {
            error: other.describe(),
        },
    };
    AttemptRecord {
        model: attempt.model.clone(),
        provider: attempt.provider.clone(),
        outcome,
        judge: attempt.kind == AttemptKind::Judge,
        latency: Duration::from_millis(attempt.latency_ms),
        usage: attempt.usage.unwrap_or_default(),
        cost_usd: attempt.cost_usd.unwrap_or(Decimal::ZERO),
    }
}
