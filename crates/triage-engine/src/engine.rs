//! The engine: everything a request needs, built once from a validated configuration, and the
//! first step of every request, turning the `model` a caller sent into one plan.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use time::{Date, OffsetDateTime};
use triage_catalog::{Catalog, Model};
use triage_config::{Config, StateSettings, WhenUnreachable};
use triage_fallback::{Executor, FallbackSettings, QualityChecks};
use triage_ledger::Ledger;
use triage_limits::{Limits, LimitsOptions};
use triage_providers::{HttpClientOptions, build_http_client};
use triage_strategies::{Decision, RoutePlan, Router, Strategy, StrategyError};
use triage_types::{ChatRequest, RouteClass};

use crate::observe::Observer;
use crate::providers::{Clients, EnvLookup, ProviderStatus};
use crate::{AUTO_MODEL, BuildError, EngineError};

/// What the caller supplies besides the configuration: the strategy (loading the classifier is
/// the caller's job), where the environment is read, the ledger, and the day lifecycles are
/// judged on.
pub struct EngineOptions {
    /// How `auto` requests are classified.
    pub strategy: Arc<dyn Strategy>,
    /// Reads provider keys and base-URL overrides.
    pub env: EnvLookup,
    /// Where every request is recorded; `None` records nothing.
    pub ledger: Option<Ledger>,
    /// The day model lifecycles are judged on; `None` judges each request on its own date.
    pub as_of: Option<Date>,
    /// The longest a request may take (for a stream: until its first event); `None` leaves
    /// only the fallback deadline.
    pub request_timeout: Option<Duration>,
}

/// The request pipeline. Cheap to clone: clones share the circuit breakers, the provider
/// clients and the ledger.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) router: Router,
    pub(crate) executor: Executor,
    pub(crate) fallback: FallbackSettings,
    pub(crate) baseline: Option<String>,
    pub(crate) ledger: Option<Ledger>,
    pub(crate) as_of: Option<Date>,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) providers: BTreeMap<String, ProviderStatus>,
    pub(crate) model_names: Vec<String>,
    pub(crate) observer: OnceLock<Arc<dyn Observer>>,
    pub(crate) limits: Limits,
    /// Records of streams their clients left, still waiting for the call to stop.
    pub(crate) pending: crate::pending::Pending,
    /// The long prompts answered lately, and by which model.
    pub(crate) affinity: crate::affinity::Affinity,
    /// Batch API clients of the providers that have one and can be called.
    pub(crate) batch_clients: BTreeMap<String, Arc<dyn triage_providers::BatchProvider>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("router", &self.inner.router)
            .field("executor", &self.inner.executor)
            .field("baseline", &self.inner.baseline)
            .field("providers", &self.inner.providers)
            .finish_non_exhaustive()
    }
}

/// Which way a request's `model` was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `auto`: classified and routed by the default policy.
    Auto,
    /// A route alias from the config, routed by its own policy.
    Alias(String),
    /// A catalog model, called first without classification; `requested` is the id the caller
    /// sent (a retired id resolves to its successor, with a warning).
    Model {
        /// The id as sent.
        requested: String,
    },
}

/// One request's plan: how its `model` was read, the routing decision (none for a catalog
/// model), the models to call in order with the reasons, and the checks its answers must pass.
#[derive(Debug, Clone)]
pub struct Planned {
    /// How `model` was read.
    pub target: Target,
    /// How the class was decided; `None` when the caller named a catalog model.
    pub decision: Option<Decision>,
    /// The models to call, in order, with reasons and warnings.
    pub plan: RoutePlan,
    /// The quality checks for this request's class and alias (compiled once, shared).
    pub checks: Arc<QualityChecks>,
    /// Why the client key's budget routed the request one tier cheaper (`x-triage-budget`);
    /// `None` when it did not. Set when the request is admitted, after planning.
    pub budget_note: Option<String>,
}

impl Planned {
    /// The class the request was routed as; `None` when it was not classified.
    pub fn class(&self) -> Option<RouteClass> {
        self.decision.as_ref().map(|decision| decision.class)
    }

    /// The classifier's confidence in [`Planned::class`].
    pub fn confidence(&self) -> Option<f32> {
        self.decision.as_ref().map(|decision| decision.confidence)
    }

    /// Warnings the caller should see (a retired model replaced by its successor, a
    /// constraint a forced model misses).
    pub fn warnings(&self) -> &[String] {
        &self.plan.warnings
    }
}

impl Engine {
    /// Builds the engine: the router from the config's rules and policy, provider clients for
    /// every catalog provider whose key is set, the executor, the baseline.
    pub fn new(
        config: &Config,
        catalog: Catalog,
        options: EngineOptions,
    ) -> Result<Engine, BuildError> {
        // The configured baseline, else the catalog's `default_baseline` (data, not code);
        // either is resolved through its lifecycle on the day it is used.
        let baseline = config.baseline(&catalog);
        let router = config.router(
            &catalog,
            options.strategy,
            config.quality_policy(baseline.clone())?,
        );
        if let Some(baseline) = &baseline {
            let today = options
                .as_of
                .unwrap_or_else(|| OffsetDateTime::now_utc().date());
            catalog
                .resolve(baseline, today)
                .map_err(BuildError::Baseline)?;
        }
        let http = build_http_client(&HttpClientOptions::default())?;
        let clients = Clients::build(
            &catalog,
            &config.providers.overrides,
            options.env.as_ref(),
            &http,
        );
        let catalog = Arc::new(catalog);
        let batch_clients = clients.batch;
        let mut builder = Executor::builder(Arc::clone(&catalog), config.fallback.clone());
        for client in clients.ready {
            builder = builder.provider(client);
        }
        for (provider, status) in &clients.status {
            match status {
                ProviderStatus::Ready => {}
                ProviderStatus::MissingKey { env_var } => {
                    builder =
                        builder.unavailable(provider.clone(), format!("no API key: set {env_var}"));
                }
                ProviderStatus::Unavailable { reason } => {
                    builder = builder.unavailable(provider.clone(), reason.clone());
                }
            }
        }
        let mut model_names = vec![AUTO_MODEL.to_owned()];
        model_names.extend(router.policy().aliases().keys().cloned());
        model_names.extend(catalog.models().map(|model| model.id.clone()));
        Ok(Engine {
            inner: Arc::new(Inner {
                catalog,
                router,
                executor: builder.build(),
                fallback: config.fallback.clone(),
                baseline,
                ledger: options.ledger,
                as_of: options.as_of,
                request_timeout: options.request_timeout,
                providers: clients.status,
                model_names,
                observer: OnceLock::new(),
                limits: limits(&config.state)?,
                pending: crate::pending::Pending::default(),
                affinity: crate::affinity::Affinity::default(),
                batch_clients,
            }),
        })
    }

    /// Sets the observer told about every finished request (the server's metrics); the first
    /// one set stays.
    pub fn observe_with(&self, observer: Arc<dyn Observer>) {
        if self.inner.observer.set(observer).is_err() {
            tracing::debug!("the engine already has an observer");
        }
    }

    /// The catalog (with the config's overlays).
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// Rules, strategy and policy.
    pub fn router(&self) -> &Router {
        &self.inner.router
    }

    /// The fallback executor (its circuit breakers, for status output and metrics).
    pub fn executor(&self) -> &Executor {
        &self.inner.executor
    }

    /// The model savings are measured against as configured (`[ledger] baseline`, else the
    /// catalog's `default_baseline`), before lifecycle resolution.
    pub fn baseline(&self) -> Option<&str> {
        self.inner.baseline.as_deref()
    }

    /// The baseline model in use today: [`Engine::baseline`] resolved through its lifecycle
    /// (a retired baseline is measured on its successor). Its `pricing.checked_on` is the
    /// date of the prices savings are computed with.
    pub fn baseline_model(&self) -> Option<&Model> {
        let baseline = self.inner.baseline.as_deref()?;
        match self.inner.catalog.resolve(baseline, self.today()) {
            Ok(resolved) => Some(resolved.model),
            Err(error) => {
                tracing::warn!(%baseline, %error, "the baseline model cannot be used");
                None
            }
        }
    }

    /// The client keys' budgets and rate limits (`[state]`).
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Waits until every stream whose client left has been recorded (each waits for its
    /// upstream call to stop, at most a few seconds). Call it before closing the ledger.
    pub async fn settled(&self) {
        self.inner.pending.settled().await;
    }

    /// The ledger, to flush or close on shutdown (after [`Engine::settled`]).
    pub fn ledger(&self) -> Option<&Ledger> {
        self.inner.ledger.as_ref()
    }

    /// Each catalog provider and whether it can be called.
    pub fn providers(&self) -> &BTreeMap<String, ProviderStatus> {
        &self.inner.providers
    }

    /// The route classes none of whose own models can be called today (their provider has
    /// no key or no client), in routing-table order: their requests can only escalate to
    /// other classes' models, or fail.
    pub fn classes_without_a_ready_model(&self) -> Vec<RouteClass> {
        let today = self.today();
        let policy = self.inner.router.policy();
        RouteClass::ALL
            .into_iter()
            .filter(|class| {
                !policy.route(*class).iter().any(|id| {
                    self.inner
                        .catalog
                        .resolve(id, today)
                        .ok()
                        .and_then(|resolved| self.inner.providers.get(&resolved.model.provider))
                        .is_some_and(|status| *status == ProviderStatus::Ready)
                })
            })
            .collect()
    }

    /// `auto`, the aliases and every catalog id: what a caller may send as `model`.
    pub fn model_names(&self) -> &[String] {
        &self.inner.model_names
    }

    /// The day lifecycles are judged on.
    pub fn today(&self) -> Date {
        self.inner
            .as_of
            .unwrap_or_else(|| OffsetDateTime::now_utc().date())
    }

    /// Turns the `model` a caller sent into a plan: `auto` routes by the default policy, a
    /// route alias by its own, and a catalog id (a retired one resolves to its successor,
    /// with a warning) is called first with the policy's ladder behind it, unclassified.
    /// `triage route` shows exactly this plan, and `ask` and the gateway run it.
    pub fn plan(&self, model: &str, request: &ChatRequest) -> Result<Planned, EngineError> {
        let inner = &self.inner;
        let catalog = inner.catalog.as_ref();
        let today = self.today();
        let (target, route) = if model == AUTO_MODEL {
            (Target::Auto, inner.router.route(catalog, request, today))
        } else if let Some(route) = inner.router.route_alias(catalog, model, request, today) {
            (Target::Alias(model.to_owned()), route)
        } else if catalog.find(model).is_some() {
            return self.pass_through(model, request, today);
        } else {
            return Err(EngineError::UnknownModel {
                model: model.to_owned(),
                choices: inner.model_names.clone(),
            });
        };
        let route = route.map_err(|error| strategy_error(model, error))?;
        let alias = match &target {
            Target::Alias(alias) => Some(alias.as_str()),
            _ => None,
        };
        let checks = inner
            .fallback
            .checks(Some(route.decision.class), alias)
            .clone();
        Ok(Planned {
            target,
            decision: Some(route.decision),
            plan: route.plan,
            checks,
            budget_note: None,
        })
    }

    /// A concrete catalog model: no classification (the caller chose); the model first, then
    /// the policy's ladder from the first class whose route lists it (all classes when none
    /// does), so failover still has somewhere to go.
    fn pass_through(
        &self,
        model: &str,
        request: &ChatRequest,
        today: Date,
    ) -> Result<Planned, EngineError> {
        let inner = &self.inner;
        let policy = inner.router.policy();
        let class = RouteClass::ALL
            .into_iter()
            .find(|class| policy.route(*class).iter().any(|listed| listed == model))
            .unwrap_or(RouteClass::Extract);
        let plan = policy
            .plan_named(inner.catalog.as_ref(), model, class, request, today)
            .map_err(|error| strategy_error(model, error))?;
        Ok(Planned {
            target: Target::Model {
                requested: model.to_owned(),
            },
            decision: None,
            plan,
            checks: inner.fallback.checks(None, None).clone(),
            budget_note: None,
        })
    }
}

/// The limits store `[state]` asks for: Redis, or this process.
fn limits(state: &StateSettings) -> Result<Limits, BuildError> {
    let policy = |when: WhenUnreachable| match when {
        WhenUnreachable::Closed => triage_limits::WhenUnreachable::Closed,
        WhenUnreachable::Open => triage_limits::WhenUnreachable::Open,
    };
    let options = LimitsOptions {
        key_prefix: state.key_prefix.clone(),
        timeout: state.timeout,
        budgets_when_unreachable: policy(state.budgets_when_unreachable),
        rate_limits_when_unreachable: policy(state.rate_limits_when_unreachable),
        downshift_at: state.downshift_at,
    };
    Ok(match &state.redis_url {
        Some(url) => Limits::redis(url, options)?,
        None => Limits::in_process(options),
    })
}

/// How the policy words a candidate left out because the prompt does not fit it
/// (`triage_strategies::policy`).
const CONTEXT_REJECTION: &str = "-token context window";

fn strategy_error(model: &str, error: StrategyError) -> EngineError {
    match error {
        StrategyError::NoCandidate { class, rejected }
            if !rejected.is_empty()
                && rejected
                    .iter()
                    .all(|reason| reason.ends_with(CONTEXT_REJECTION)) =>
        {
            EngineError::PromptTooLarge { class, rejected }
        }
        StrategyError::NoCandidate { class, rejected } => {
            EngineError::NoCandidate { class, rejected }
        }
        StrategyError::Catalog(error) => EngineError::UnusableModel {
            model: model.to_owned(),
            reason: error.to_string(),
        },
        other => {
            tracing::error!(error = %other, "routing failed");
            EngineError::Internal {
                message: other.to_string(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_only_rejections_are_a_client_error() {
        let no_candidate = |rejected: &[&str]| StrategyError::NoCandidate {
            class: RouteClass::Faq,
            rejected: rejected.iter().map(|reason| (*reason).to_owned()).collect(),
        };
        let too_big = "m: ~300000 tokens do not fit its 200000-token context window";
        let cases = [
            (no_candidate(&[too_big, too_big]), "invalid_request"),
            (
                no_candidate(&[too_big, "n: provider disabled"]),
                "no_provider",
            ),
            (no_candidate(&[]), "no_provider"),
        ];
        for (error, kind) in cases {
            let mapped = strategy_error("auto", error);
            assert_eq!(mapped.kind(), kind, "{mapped}");
        }
    }
}
