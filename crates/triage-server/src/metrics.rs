//! Prometheus metrics: requests, latency, tokens, cost and fallbacks by class and model, and the
//! circuit breakers' state, served at `GET /metrics` in the OpenMetrics text format.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use rust_decimal::prelude::ToPrimitive;
use triage_engine::{Observer, Report};
use triage_fallback::{AttemptKind, BreakerSnapshot, BreakerState};
use triage_types::RouteClass;

/// Counts a request as in flight until dropped.
pub(crate) struct InFlight(Gauge);

impl InFlight {
    pub(crate) fn new(metrics: &Metrics) -> InFlight {
        let gauge = metrics.in_flight().clone();
        gauge.inc();
        InFlight(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Labels of a finished request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    protocol: String,
    class: String,
    model: String,
    outcome: String,
}

/// Labels of per-class, per-model series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassModelLabels {
    class: String,
    model: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    class: String,
    model: String,
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    model: String,
    provider: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BreakerLabels {
    breaker: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The gateway's metrics. Cheap to clone (the series are shared).
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<ClassModelLabels>,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<ClassModelLabels, Counter<f64, AtomicU64>>,
    fallbacks: Family<ClassModelLabels, Counter>,
    attempts: Family<AttemptLabels, Counter>,
    breakers: Family<BreakerLabels, Gauge>,
    in_flight: Gauge,
    ledger_dropped: Gauge,
    overloaded: Counter,
    limits_store_errors: Gauge,
    budget_refusals: Gauge,
    rate_refusals: Gauge,
}

/// What one finished request contributes.
pub(crate) struct Observation<'a> {
    pub(crate) protocol: &'a str,
    pub(crate) class: &'a str,
    pub(crate) model: &'a str,
    pub(crate) outcome: &'a str,
    pub(crate) seconds: f64,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) cost_usd: f64,
    pub(crate) fell_back: bool,
}

impl Metrics {
    /// Registers every series in a new registry.
    pub(crate) fn new() -> (Metrics, Registry) {
        let metrics = Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(|| {
                // 1 ms to ~33 s.
                Histogram::new(exponential_buckets(0.001, 2.0, 16))
            }),
            tokens: Family::default(),
            cost: Family::default(),
            fallbacks: Family::default(),
            attempts: Family::default(),
            breakers: Family::default(),
            in_flight: Gauge::default(),
            ledger_dropped: Gauge::default(),
            overloaded: Counter::default(),
            limits_store_errors: Gauge::default(),
            budget_refusals: Gauge::default(),
            rate_refusals: Gauge::default(),
        };
        let mut registry = Registry::with_prefix("triage");
        registry.register(
            "requests",
            "Requests finished, by protocol, class, answering model and outcome",
            metrics.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "End-to-end request latency (to the last byte when streaming)",
            metrics.latency.clone(),
        );
        registry.register(
            "tokens",
            "Tokens used, by class, model and kind (input, output)",
            metrics.tokens.clone(),
        );
        registry.register(
            "cost_usd",
            "What requests cost in US dollars, every attempt included",
            metrics.cost.clone(),
        );
        registry.register(
            "fallbacks",
            "Requests that needed more than one attempt",
            metrics.fallbacks.clone(),
        );
        registry.register(
            "attempts",
            "Model calls, by model, provider and status",
            metrics.attempts.clone(),
        );
        registry.register(
            "circuit_breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open",
            metrics.breakers.clone(),
        );
        registry.register(
            "in_flight_requests",
            "Requests being answered now",
            metrics.in_flight.clone(),
        );
        registry.register(
            "ledger_dropped_records",
            "Ledger records dropped because the writer could not keep up",
            metrics.ledger_dropped.clone(),
        );
        registry.register(
            "overloaded_requests",
            "Requests refused with 503 because max_concurrent_requests were being answered",
            metrics.overloaded.clone(),
        );
        registry.register(
            "limits_store_errors",
            "Calls to the limits store (Redis) that failed or timed out since start; each request \
             then followed [state] budgets_when_unreachable / rate_limits_when_unreachable",
            metrics.limits_store_errors.clone(),
        );
        registry.register(
            "budget_refusals",
            "Requests refused with 429 because their key's budget was spent, since start",
            metrics.budget_refusals.clone(),
        );
        registry.register(
            "rate_limit_refusals",
            "Requests refused with 429 because their key was over a rate limit, since start",
            metrics.rate_refusals.clone(),
        );
        (metrics, registry)
    }

    /// Counts a request refused because the gateway was at its concurrency limit.
    pub(crate) fn overloaded(&self) {
        self.overloaded.inc();
    }

    /// Counts a finished request.
    pub(crate) fn observe(&self, observation: &Observation<'_>) {
        self.requests
            .get_or_create(&RequestLabels {
                protocol: observation.protocol.to_owned(),
                class: observation.class.to_owned(),
                model: observation.model.to_owned(),
                outcome: observation.outcome.to_owned(),
            })
            .inc();
        let labels = ClassModelLabels {
            class: observation.class.to_owned(),
            model: observation.model.to_owned(),
        };
        self.latency
            .get_or_create(&labels)
            .observe(observation.seconds);
        for (kind, count) in [
            ("input", observation.input_tokens),
            ("output", observation.output_tokens),
        ] {
            if count > 0 {
                self.tokens
                    .get_or_create(&TokenLabels {
                        class: observation.class.to_owned(),
                        model: observation.model.to_owned(),
                        kind: kind.to_owned(),
                    })
                    .inc_by(count);
            }
        }
        if observation.cost_usd > 0.0 {
            self.cost
                .get_or_create(&labels)
                .inc_by(observation.cost_usd);
        }
        if observation.fell_back {
            self.fallbacks.get_or_create(&labels).inc();
        }
    }

    /// Counts one model call.
    pub(crate) fn attempt(&self, model: &str, provider: &str, status: &str) {
        self.attempts
            .get_or_create(&AttemptLabels {
                model: model.to_owned(),
                provider: provider.to_owned(),
                status: status.to_owned(),
            })
            .inc();
    }

    /// The in-flight gauge, for a guard to increment and decrement.
    pub(crate) fn in_flight(&self) -> &Gauge {
        &self.in_flight
    }

    /// Refreshes the series read from elsewhere at scrape time.
    pub(crate) fn refresh(
        &self,
        breakers: &[BreakerSnapshot],
        ledger_dropped: u64,
        limits: triage_limits::LimitsStats,
    ) {
        let gauge = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        self.limits_store_errors.set(gauge(limits.store_errors));
        self.budget_refusals.set(gauge(limits.budget_refusals));
        self.rate_refusals.set(gauge(limits.rate_refusals));
        self.breakers.clear();
        for breaker in breakers {
            let state = match breaker.state {
                BreakerState::Closed => 0,
                BreakerState::HalfOpen => 1,
                BreakerState::Open => 2,
            };
            self.breakers
                .get_or_create(&BreakerLabels {
                    breaker: breaker.key.clone(),
                })
                .set(state);
        }
        self.ledger_dropped
            .set(i64::try_from(ledger_dropped).unwrap_or(i64::MAX));
    }
}

impl Observer for Metrics {
    fn finished(&self, report: &Report<'_>) {
        for attempt in report.attempts {
            self.attempt(&attempt.model, &attempt.provider, attempt.outcome.status());
        }
        let answer_attempts = report
            .attempts
            .iter()
            .filter(|attempt| attempt.kind == AttemptKind::Answer)
            .count();
        self.observe(&Observation {
            protocol: report.entry,
            class: report.class.map_or("none", RouteClass::as_str),
            model: report.model.unwrap_or("none"),
            outcome: report.outcome,
            seconds: report.latency.as_secs_f64(),
            input_tokens: report.usage.input_tokens,
            output_tokens: report.usage.output_tokens,
            cost_usd: report.priced_usd.to_f64().unwrap_or(0.0),
            fell_back: answer_attempts > 1,
        });
    }
}
