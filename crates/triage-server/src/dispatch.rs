//! The protocol-neutral middle of every chat request: resolving `model` to a plan, and
//! accounting for the outcome (ledger record, metrics, response headers).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use rust_decimal::Decimal;
use time::OffsetDateTime;
use triage_catalog::CostOptions;
use triage_fallback::{Attempt, AttemptKind, ExecutionPlan, Outcome, QualityChecks};
use triage_ledger::{AttemptOutcome, AttemptRecord, RequestOutcome, RequestRecord};
use triage_strategies::StrategyError;
use triage_types::{ChatRequest, RouteClass, Usage};

use crate::error::Protocol;
use crate::metrics::Observation;
use crate::state::Inner;
use crate::{AUTO_MODEL, ServerError};

/// Header: the routing class (`none` when the request was not classified).
pub const HEADER_CLASS: &str = "x-triage-class";
/// Header: the catalog id of the model that answered.
pub const HEADER_MODEL: &str = "x-triage-model";
/// Header: what the request cost in US dollars, every attempt included.
pub const HEADER_COST: &str = "x-triage-cost-usd";
/// Header: how many model calls the request took.
pub const HEADER_ATTEMPTS: &str = "x-triage-attempts";
/// Header: the gateway's id for the request, as recorded in the ledger.
pub const HEADER_REQUEST_ID: &str = "x-triage-request-id";

/// A request's plan and what the router knew.
#[derive(Debug, Clone)]
pub(crate) struct Routed {
    pub(crate) plan: ExecutionPlan,
    pub(crate) class: Option<RouteClass>,
    pub(crate) confidence: Option<f32>,
    pub(crate) checks: QualityChecks,
}

/// Turns the `model` a client sent into a plan: `auto` routes by the default policy, an alias
/// by its own, and a catalog id passes through unclassified with the policy's ladder behind it.
pub(crate) fn resolve(
    state: &Inner,
    model: &str,
    request: &ChatRequest,
) -> Result<Routed, ServerError> {
    let gateway = &state.gateway;
    let catalog = &gateway.catalog;
    let router = &gateway.router;
    let today = gateway
        .as_of
        .unwrap_or_else(|| OffsetDateTime::now_utc().date());
    let mut checks = &gateway.checks;
    let route = if model == AUTO_MODEL {
        router.route(catalog, request, today)
    } else if let Some(route) = router.route_alias(catalog, model, request, today) {
        if let Some(alias_checks) = gateway.alias_checks.get(model) {
            checks = alias_checks;
        }
        route
    } else if catalog.find(model).is_some() {
        return pass_through(state, model, request, today);
    } else {
        return Err(ServerError::UnknownModel {
            model: model.to_owned(),
            choices: state.model_names.clone(),
        });
    };
    let route = route.map_err(|error| match error {
        StrategyError::NoCandidate { .. } => ServerError::NoProvider { attempts: 0 },
        StrategyError::Catalog(error) => ServerError::InvalidRequest {
            message: format!("model `{model}` cannot be used: {error}"),
        },
        other => {
            tracing::error!(error = %other, "routing failed");
            ServerError::Internal
        }
    })?;
    let ids: Vec<&str> = std::iter::once(route.plan.primary.id.as_str())
        .chain(route.plan.fallbacks.iter().map(|model| model.id.as_str()))
        .collect();
    let plan = ExecutionPlan::from_models(catalog, &ids).map_err(|missing| {
        tracing::error!(model = %missing, "a planned model is not in the catalog");
        ServerError::Internal
    })?;
    let decision = &route.decision;
    let class = decision.class;
    let confidence = decision.confidence;
    // The executor starts an unsure plan one tier higher; a class the router already moved up
    // (or a rule forced) is not moved up again, so the confidence goes on only when the router
    // kept the strategy's own best class.
    let best = decision
        .scores
        .iter()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(class, _)| *class);
    let kept_class = decision.rule.is_none() && best == Some(class);
    Ok(Routed {
        plan: plan.with_class(class, kept_class.then_some(confidence)),
        class: Some(class),
        confidence: Some(confidence),
        checks: checks.clone(),
    })
}

/// A concrete catalog model: no classification (the caller chose); the model first, then the
/// policy's ladder from the first class whose route lists it (all classes when none does), so
/// failover still has somewhere to go.
fn pass_through(
    state: &Inner,
    model: &str,
    request: &ChatRequest,
    today: time::Date,
) -> Result<Routed, ServerError> {
    let gateway = &state.gateway;
    let policy = gateway.router.policy();
    let class = RouteClass::ALL
        .into_iter()
        .find(|class| policy.route(*class).iter().any(|listed| listed == model))
        .unwrap_or(RouteClass::Extract);
    let route_plan = policy
        .plan_forced(&gateway.catalog, model, class, request, today)
        .map_err(|error| ServerError::InvalidRequest {
            message: format!("model `{model}` cannot be used: {error}"),
        })?;
    let ids: Vec<&str> = std::iter::once(route_plan.primary.id.as_str())
        .chain(
            route_plan
                .fallbacks
                .iter()
                .map(|planned| planned.id.as_str()),
        )
        .collect();
    let mut plan = ExecutionPlan::from_models(&gateway.catalog, &ids).map_err(|missing| {
        tracing::error!(model = %missing, "a planned model is not in the catalog");
        ServerError::Internal
    })?;
    // The class only scales the default minimum answer length; it is not recorded, since no
    // classifier chose it.
    plan.class = Some(class);
    Ok(Routed {
        plan,
        class: None,
        confidence: None,
        checks: gateway.checks.clone(),
    })
}

/// One request from arrival to its ledger record.
#[derive(Debug)]
pub(crate) struct Ticket {
    pub(crate) request_id: String,
    pub(crate) protocol: Protocol,
    pub(crate) route: String,
    pub(crate) started: Instant,
    pub(crate) started_at: OffsetDateTime,
    pub(crate) streamed: bool,
    pub(crate) class: Option<RouteClass>,
    pub(crate) confidence: Option<f32>,
}

/// How a request ended, for [`Ticket::finish`].
pub(crate) struct Ending<'a> {
    /// The answering model and provider, on success.
    pub(crate) answered_by: Option<(&'a str, &'a str)>,
    /// The answer's own usage, for the baseline cost.
    pub(crate) answer_usage: Option<Usage>,
    /// Every attempt.
    pub(crate) attempts: &'a [Attempt],
    /// The error, on failure.
    pub(crate) error: Option<&'a ServerError>,
    /// A failure that is not a [`ServerError`] (a client that went away).
    pub(crate) other_failure: Option<&'a str>,
}

/// What a finished request cost, for headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Accounted {
    pub(crate) cost_usd: Decimal,
    pub(crate) attempts: usize,
}

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(0);

impl Ticket {
    pub(crate) fn new(protocol: Protocol, route: &str, streamed: bool) -> Ticket {
        let started_at = OffsetDateTime::now_utc();
        let sequence = NEXT_REQUEST.fetch_add(1, Ordering::Relaxed);
        Ticket {
            request_id: format!(
                "{:x}{:06x}",
                started_at.unix_timestamp_nanos() / 1_000_000,
                sequence & 0xff_ffff
            ),
            protocol,
            route: route.to_owned(),
            started: Instant::now(),
            started_at,
            streamed,
            class: None,
            confidence: None,
        }
    }

    /// Records the outcome in the ledger (without blocking) and the metrics.
    pub(crate) fn finish(&self, state: &Inner, ending: &Ending<'_>) -> Accounted {
        let latency = self.started.elapsed();
        let usage = triage_fallback::total_usage(ending.attempts);
        let cost_usd = ending
            .attempts
            .iter()
            .filter_map(|attempt| attempt.cost_usd)
            .sum::<Decimal>();
        let baseline_cost_usd = match (ending.answered_by, &ending.answer_usage) {
            (Some(_), Some(answer_usage)) => baseline_cost(state, answer_usage),
            _ => Decimal::ZERO,
        };
        let outcome = match (ending.error, ending.other_failure) {
            (Some(error), _) => RequestOutcome::Failure {
                kind: error.kind().to_owned(),
            },
            (None, Some(kind)) => RequestOutcome::Failure {
                kind: kind.to_owned(),
            },
            (None, None) => RequestOutcome::Success,
        };
        let answer_attempts = ending
            .attempts
            .iter()
            .filter(|attempt| attempt.kind == AttemptKind::Answer)
            .count();
        let class_label = self.class.map_or("none", RouteClass::as_str);
        let model_label = ending.answered_by.map_or("none", |(model, _)| model);
        for attempt in ending.attempts {
            state
                .metrics
                .attempt(&attempt.model, &attempt.provider, attempt.outcome.status());
        }
        state.metrics.observe(&Observation {
            protocol: self.protocol.as_str(),
            class: class_label,
            model: model_label,
            outcome: outcome.as_str(),
            seconds: latency.as_secs_f64(),
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cost_usd: decimal_f64(cost_usd),
            fell_back: answer_attempts > 1,
        });
        if let Some(ledger) = &state.gateway.ledger {
            ledger.record(RequestRecord {
                request_id: self.request_id.clone(),
                started_at: self.started_at,
                protocol: self.protocol.as_str().to_owned(),
                route: self.route.clone(),
                class: self.class,
                confidence: self.confidence,
                outcome,
                model: ending.answered_by.map(|(model, _)| model.to_owned()),
                provider: ending.answered_by.map(|(_, provider)| provider.to_owned()),
                usage,
                cost_usd,
                baseline_model: state.gateway.baseline_model.clone(),
                baseline_cost_usd,
                latency,
                streamed: self.streamed,
                attempts: ending.attempts.iter().map(attempt_record).collect(),
            });
        }
        Accounted {
            cost_usd,
            attempts: ending.attempts.len(),
        }
    }

    /// The `x-triage-*` headers of a routed answer; `cost` is left out when not yet known (a
    /// stream's headers go out before its cost is).
    pub(crate) fn headers(
        &self,
        model: &str,
        accounted: Option<Accounted>,
        attempts: usize,
    ) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let mut set = |name: &'static str, value: &str| {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        };
        set(HEADER_REQUEST_ID, &self.request_id);
        set(HEADER_CLASS, self.class.map_or("none", RouteClass::as_str));
        set(HEADER_MODEL, model);
        if let Some(accounted) = accounted {
            set(HEADER_COST, &accounted.cost_usd.normalize().to_string());
            set(HEADER_ATTEMPTS, &accounted.attempts.to_string());
        } else {
            set(HEADER_ATTEMPTS, &attempts.to_string());
        }
        headers
    }
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

/// What `usage` would have cost on the baseline model; cached tokens count as plain input when
/// the baseline has no cached price.
fn baseline_cost(state: &Inner, usage: &Usage) -> Decimal {
    let Some(baseline) = &state.gateway.baseline_model else {
        return Decimal::ZERO;
    };
    let Some(model) = state.gateway.catalog.find(baseline) else {
        return Decimal::ZERO;
    };
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

fn decimal_f64(amount: Decimal) -> f64 {
    amount.normalize().to_string().parse().unwrap_or(0.0)
}

/// Maps the executor's failure to the client's error.
pub(crate) fn fallback_error(
    error: &triage_fallback::FallbackError,
    attempts: usize,
) -> ServerError {
    use triage_fallback::FallbackError;
    match error {
        FallbackError::DeadlineExceeded { deadline_ms } => ServerError::Timeout {
            after_ms: *deadline_ms,
        },
        FallbackError::StreamInterrupted { .. } => ServerError::StreamInterrupted,
        FallbackError::Config { message } => {
            tracing::error!(%message, "fallback configuration error");
            ServerError::Internal
        }
        FallbackError::EmptyPlan
        | FallbackError::Exhausted { .. }
        | FallbackError::MaxAttempts { .. } => ServerError::NoProvider { attempts },
    }
}
