//! The plan executor: walks a plan's models with retries, failover, escalation on failed
//! quality checks, circuit breakers, an attempt budget and a deadline, recording every attempt.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Serialize;
use tokio::time::Instant;
use triage_catalog::{Catalog, CostOptions};
use triage_providers::{Provider, ProviderError, TimeoutPhase};
use triage_strategies::{PlannedModel, ReasoningPlan, RoutePlan};
use triage_types::{ChatRequest, ChatResponse, ReasoningEffort, RouteClass, Usage};

use crate::breaker::Admission;
use crate::checks::{judge_request, parse_judge_verdict};
use crate::{
    Attempt, AttemptKind, CircuitBreaker, Failure, FallbackError, FallbackSettings, Next, Outcome,
    QualityChecks, QualityFailure,
};

/// An acceptable answer, the model that gave it, and every attempt made on the way.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    /// The answer.
    pub response: ChatResponse,
    /// The catalog id of the model that gave it.
    pub model: String,
    /// Its provider.
    pub provider: String,
    /// Its tier.
    pub tier: u8,
    /// Every attempt, in order; the accepted one is the last of kind answer.
    pub attempts: Vec<Attempt>,
}

impl Answer {
    /// What the accepted call cost, when it could be priced.
    pub fn cost_usd(&self) -> Option<Decimal> {
        self.attempts
            .iter()
            .rev()
            .find(|attempt| attempt.kind == AttemptKind::Answer)
            .and_then(|attempt| attempt.cost_usd)
    }

    /// Tokens used by every attempt together, judge calls included.
    pub fn total_usage(&self) -> Usage {
        total_usage(&self.attempts)
    }

    /// What every attempt cost together; an error naming the first attempt that used tokens
    /// the catalog cannot price (fail closed: never an undercount).
    pub fn total_cost(&self) -> Result<Decimal, String> {
        total_cost(&self.attempts)
    }
}

/// Tokens used by a list of attempts.
pub fn total_usage(attempts: &[Attempt]) -> Usage {
    let mut usage = Usage::default();
    for attempt in attempts {
        if let Some(used) = &attempt.usage {
            usage.add(used);
        }
    }
    usage
}

/// What a list of attempts cost; an error when one of them could not be priced.
pub fn total_cost(attempts: &[Attempt]) -> Result<Decimal, String> {
    let mut total = Decimal::ZERO;
    for attempt in attempts {
        if let Some(error) = &attempt.cost_error {
            return Err(format!("{}: {error}", attempt.model));
        }
        if let Some(cost) = attempt.cost_usd {
            total += cost;
        }
    }
    Ok(total)
}

/// Runs route plans against provider clients. Cheap to clone; clones share the circuit
/// breakers.
#[derive(Debug, Clone)]
pub struct Executor {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) providers: BTreeMap<String, Arc<dyn Provider>>,
    pub(crate) unavailable: BTreeMap<String, String>,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) breaker: CircuitBreaker,
    pub(crate) settings: FallbackSettings,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("providers", &self.providers.keys().collect::<Vec<_>>())
            .field("unavailable", &self.unavailable)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Builds an [`Executor`].
pub struct ExecutorBuilder {
    providers: BTreeMap<String, Arc<dyn Provider>>,
    unavailable: BTreeMap<String, String>,
    catalog: Arc<Catalog>,
    breaker: Option<CircuitBreaker>,
    settings: FallbackSettings,
}

impl ExecutorBuilder {
    /// Adds a provider client, under its [`Provider::id`].
    pub fn provider(mut self, provider: Arc<dyn Provider>) -> Self {
        self.providers.insert(provider.id().to_owned(), provider);
        self
    }

    /// Marks a provider as having no client, with the reason (such as a missing API key):
    /// plan steps on it are recorded as skipped with that reason.
    pub fn unavailable(mut self, provider: impl Into<String>, reason: impl Into<String>) -> Self {
        self.unavailable.insert(provider.into(), reason.into());
        self
    }

    /// Shares existing circuit breakers (a server keeps one set for all requests); by default
    /// the executor makes its own from the settings.
    pub fn breaker(mut self, breaker: CircuitBreaker) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// The executor.
    pub fn build(self) -> Executor {
        let breaker = self
            .breaker
            .unwrap_or_else(|| CircuitBreaker::new(self.settings.breaker));
        Executor {
            inner: Arc::new(Inner {
                providers: self.providers,
                unavailable: self.unavailable,
                catalog: self.catalog,
                breaker,
                settings: self.settings,
            }),
        }
    }
}

impl Executor {
    /// Starts building an executor that prices and looks up models in `catalog`.
    pub fn builder(catalog: Arc<Catalog>, settings: FallbackSettings) -> ExecutorBuilder {
        ExecutorBuilder {
            providers: BTreeMap::new(),
            unavailable: BTreeMap::new(),
            catalog,
            breaker: None,
            settings,
        }
    }

    /// The circuit breakers, for status output and metrics.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.inner.breaker
    }

    /// The settings.
    pub fn settings(&self) -> &FallbackSettings {
        &self.inner.settings
    }

    /// Walks `plan` for a complete (non-streamed) answer that passes `checks`.
    ///
    /// Always returns: the accepted answer with every attempt, or a [`Failure`] with the
    /// error, every attempt and the last answer a check rejected.
    pub async fn execute(
        &self,
        plan: &RoutePlan,
        request: &ChatRequest,
        checks: &QualityChecks,
    ) -> Result<Answer, Failure> {
        self.execute_within(plan, request, checks, None).await
    }

    /// [`Executor::execute`] within `limit` when it is shorter than the fallback deadline
    /// (a request timeout): when it passes, the failure still carries every attempt made,
    /// the one cut short included, so what was spent can be recorded.
    pub async fn execute_within(
        &self,
        plan: &RoutePlan,
        request: &ChatRequest,
        checks: &QualityChecks,
        limit: Option<Duration>,
    ) -> Result<Answer, Failure> {
        let mut walk = Walk::start(&self.inner, plan, limit)?;
        loop {
            let Some(candidate) = walk.next_candidate().map_err(|error| walk.fail(error))? else {
                return Err(walk.exhausted());
            };
            let sent = candidate.request(request);
            let mut retry = 0;
            loop {
                let started = Instant::now();
                let Some(limit) = walk.call_limit(started, self.inner.settings.attempt_timeout)
                else {
                    return Err(walk.deadline_passed(&candidate.step));
                };
                walk.calls += 1;
                let result = tokio::time::timeout(
                    limit.duration,
                    candidate.provider.complete(&candidate.step.api_name, &sent),
                )
                .await;
                let latency = started.elapsed();
                let response = match result {
                    Err(_) if limit.bound_by_deadline => {
                        walk.record_call(
                            &candidate.step,
                            Outcome::Deadline,
                            latency,
                            None,
                            Next::GiveUp,
                        );
                        return Err(walk.fail(walk.deadline_error()));
                    }
                    Err(_) => Err(ProviderError::Timeout {
                        provider: candidate.step.provider.clone(),
                        phase: TimeoutPhase::Total,
                    }),
                    Ok(result) => result,
                };
                match response {
                    Ok(response) => {
                        self.inner
                            .breaker
                            .record_success(&candidate.step.provider, &candidate.step.id);
                        let verdict = checks.check(request, Some(plan.class), &response);
                        let index = walk.record_call(
                            &candidate.step,
                            Outcome::Ok,
                            latency,
                            Some(response.usage),
                            Next::Accept,
                        );
                        let verdict = match verdict {
                            Ok(()) => self.judge(&mut walk, checks, request, &response).await,
                            Err(failure) => Err(failure),
                        };
                        match verdict {
                            Ok(()) => {
                                return Ok(Answer {
                                    response,
                                    model: candidate.step.id,
                                    provider: candidate.step.provider,
                                    tier: candidate.step.tier,
                                    attempts: walk.attempts,
                                });
                            }
                            Err(failure) => {
                                let next = walk.escalate(candidate.step.tier);
                                let attempt = &mut walk.attempts[index];
                                attempt.outcome = Outcome::QualityFailed { failure };
                                attempt.next = next;
                                walk.last_answer = Some(Box::new(response));
                                break;
                            }
                        }
                    }
                    Err(error) if error.is_client_error() => {
                        let (next, end) = match walk.after_client_error(&candidate.step, &error) {
                            Ok(next) => (next, None),
                            Err(end) => (Next::GiveUp, Some(end)),
                        };
                        walk.record_call(
                            &candidate.step,
                            provider_outcome(&error),
                            latency,
                            None,
                            next,
                        );
                        if let Some(end) = end {
                            return Err(walk.fail(end));
                        }
                        break;
                    }
                    Err(error) => {
                        let delay = walk.after_error(&candidate.step, &error, retry);
                        let next = match delay {
                            Some(delay) => Next::Retry {
                                after_ms: duration_ms(delay),
                            },
                            None => walk.failover(&candidate.step),
                        };
                        walk.record_call(
                            &candidate.step,
                            provider_outcome(&error),
                            latency,
                            None,
                            next,
                        );
                        let Some(delay) = delay else {
                            break;
                        };
                        tokio::time::sleep(delay).await;
                        retry += 1;
                    }
                }
            }
        }
    }

    /// Runs the judge when configured; its call is recorded as an attempt of kind judge. A
    /// judge that fails or answers neither PASS nor FAIL accepts the answer.
    async fn judge(
        &self,
        walk: &mut Walk<'_>,
        checks: &QualityChecks,
        request: &ChatRequest,
        response: &ChatResponse,
    ) -> Result<(), QualityFailure> {
        let Some(judge) = checks.judge() else {
            return Ok(());
        };
        let Some(step) = self
            .inner
            .catalog
            .find(&judge.model)
            .map(|model| PlannedModel::new(model, walk.class, None))
        else {
            tracing::warn!(
                model = judge.model,
                "judge model is not in the catalog; skipped"
            );
            return Ok(());
        };
        let Some(provider) = self.inner.providers.get(&step.provider) else {
            let message = self
                .inner
                .unavailable
                .get(&step.provider)
                .cloned()
                .unwrap_or_else(|| format!("no client for provider `{}`", step.provider));
            walk.push(Attempt {
                kind: AttemptKind::Judge,
                ..skipped(&step, Outcome::SkippedNoClient { message })
            });
            return Ok(());
        };
        let started = Instant::now();
        let Some(limit) = walk.call_limit(started, self.inner.settings.attempt_timeout) else {
            return Ok(());
        };
        walk.calls += 1;
        let grading = judge_request(request, &response.text, &judge.rubric);
        let result =
            tokio::time::timeout(limit.duration, provider.complete(&step.api_name, &grading))
                .await
                .unwrap_or_else(|_| {
                    Err(ProviderError::Timeout {
                        provider: step.provider.clone(),
                        phase: TimeoutPhase::Total,
                    })
                });
        let latency = started.elapsed();
        match result {
            Ok(graded) => {
                let index = walk.record_call(
                    &step,
                    Outcome::Ok,
                    latency,
                    Some(graded.usage),
                    Next::Accept,
                );
                walk.attempts[index].kind = AttemptKind::Judge;
                match parse_judge_verdict(&graded.text) {
                    Some(false) => {
                        walk.attempts[index].next = Next::Escalate;
                        Err(QualityFailure::JudgeRejected {
                            verdict: graded.text.lines().next().unwrap_or("").trim().to_owned(),
                        })
                    }
                    Some(true) | None => Ok(()),
                }
            }
            Err(error) => {
                let index =
                    walk.record_call(&step, provider_outcome(&error), latency, None, Next::Accept);
                walk.attempts[index].kind = AttemptKind::Judge;
                Ok(())
            }
        }
    }
}

/// A plan step with its client.
pub(crate) struct Candidate {
    pub(crate) step: PlannedModel,
    pub(crate) provider: Arc<dyn Provider>,
    /// The reasoning effort the step is sent (see [`Candidate::request`]).
    pub(crate) reasoning_effort: Option<ReasoningEffort>,
}

impl Candidate {
    /// `request` as this step is sent it: with the plan's reasoning effort as this model takes
    /// it, and the form its API takes it in, for a model that takes a control; with none for
    /// one that does not (a client's `reasoning_effort` would be refused by a model that does
    /// not reason). Borrowed when nothing changes.
    pub(crate) fn request<'r>(&self, request: &'r ChatRequest) -> Cow<'r, ChatRequest> {
        let control = self.step.reasoning.map(|spec| spec.control);
        if request.reasoning_effort == self.reasoning_effort && request.reasoning_control == control
        {
            return Cow::Borrowed(request);
        }
        let mut sent = request.clone();
        sent.reasoning_effort = self.reasoning_effort;
        sent.reasoning_control = control;
        Cow::Owned(sent)
    }
}

/// How long the next call may take.
pub(crate) struct CallLimit {
    pub(crate) duration: Duration,
    /// Whether the overall deadline (not the per-call timeout) is what bounds it.
    pub(crate) bound_by_deadline: bool,
}

/// The state of one walk through a plan, shared by the complete and streaming drivers.
pub(crate) struct Walk<'a> {
    inner: &'a Inner,
    /// The plan's class (it scales the default minimum answer length).
    pub(crate) class: RouteClass,
    /// The reasoning effort the plan asks of its reasoning models.
    reasoning: Option<ReasoningPlan>,
    remaining: VecDeque<PlannedModel>,
    /// Providers that refused the key during this walk: their other models are skipped
    /// rather than called with the same key.
    refused: BTreeMap<String, String>,
    /// Providers whose breakers already counted a failure of this request: one request counts
    /// at most once per provider, however often it was retried or failed over there.
    counted: BTreeSet<String>,
    /// Whether a provider already said the request is invalid (HTTP 400): the walk then
    /// tries one other provider, and stops at a second such answer.
    rejected_as_invalid: bool,
    deadline: Instant,
    /// How long the walk may take in all: the fallback deadline, or a shorter limit of the
    /// caller's.
    allowed: Duration,
    pub(crate) calls: u32,
    pub(crate) attempts: Vec<Attempt>,
    pub(crate) last_answer: Option<Box<ChatResponse>>,
}

impl<'a> Walk<'a> {
    /// Starts a walk over the plan's models, in order, within the fallback deadline or
    /// `limit` when that is shorter.
    pub(crate) fn start(
        inner: &'a Inner,
        plan: &RoutePlan,
        limit: Option<Duration>,
    ) -> Result<Walk<'a>, Failure> {
        let allowed = limit.map_or(inner.settings.deadline, |limit| {
            limit.min(inner.settings.deadline)
        });
        Ok(Walk {
            inner,
            class: plan.class,
            reasoning: plan.reasoning,
            remaining: plan.models().cloned().collect(),
            refused: BTreeMap::new(),
            counted: BTreeSet::new(),
            rejected_as_invalid: false,
            deadline: Instant::now() + allowed,
            allowed,
            calls: 0,
            attempts: Vec::new(),
            last_answer: None,
        })
    }

    /// The next step to call, skipping (and recording) those with an open breaker or no
    /// client; `None` when the plan is used up.
    pub(crate) fn next_candidate(&mut self) -> Result<Option<Candidate>, FallbackError> {
        while let Some(step) = self.remaining.pop_front() {
            if Instant::now() >= self.deadline {
                self.remaining.push_front(step);
                return Err(self.deadline_error());
            }
            if self.calls >= self.inner.settings.max_attempts {
                self.remaining.push_front(step);
                return Err(self.max_attempts_error());
            }
            let Some(provider) = self.inner.providers.get(&step.provider) else {
                let message = self
                    .inner
                    .unavailable
                    .get(&step.provider)
                    .cloned()
                    .unwrap_or_else(|| format!("no client for provider `{}`", step.provider));
                self.push(skipped(&step, Outcome::SkippedNoClient { message }));
                continue;
            };
            if let Some(message) = self.refused.get(&step.provider) {
                let message = format!("skipped after an earlier refusal: {message}");
                self.push(skipped(&step, Outcome::SkippedNoClient { message }));
                continue;
            }
            if let Admission::Open { key, retry_in } =
                self.inner.breaker.admit(&step.provider, &step.id)
            {
                self.push(skipped(
                    &step,
                    Outcome::SkippedCircuitOpen {
                        breaker: key,
                        retry_in_ms: duration_ms(retry_in),
                    },
                ));
                continue;
            }
            return Ok(Some(Candidate {
                reasoning_effort: ReasoningPlan::effort_for(self.reasoning.as_ref(), &step),
                step,
                provider: Arc::clone(provider),
            }));
        }
        Ok(None)
    }

    /// The time the next call may take, or `None` when the deadline has passed.
    pub(crate) fn call_limit(&self, now: Instant, timeout: Duration) -> Option<CallLimit> {
        let left = self.deadline.checked_duration_since(now)?;
        if left.is_zero() {
            return None;
        }
        Some(if left <= timeout {
            CallLimit {
                duration: left,
                bound_by_deadline: true,
            }
        } else {
            CallLimit {
                duration: timeout,
                bound_by_deadline: false,
            }
        })
    }

    /// Records a provider error with the breakers and says how long to wait before retrying
    /// the same model, or `None` to move on: not retryable, retries used up, a wait longer
    /// than allowed or than the time left, the breaker now open, or no attempts left.
    pub(crate) fn after_error(
        &mut self,
        step: &PlannedModel,
        error: &ProviderError,
        retry: u32,
    ) -> Option<Duration> {
        self.breaker_failure(step, error);
        if matches!(
            error,
            ProviderError::Authentication { .. } | ProviderError::MissingApiKey { .. }
        ) {
            self.refused
                .insert(step.provider.clone(), error.to_string());
        }
        let policy = self.inner.settings.retry;
        if error
            .retry_after()
            .is_some_and(|asked| asked > policy.max_delay)
        {
            return None;
        }
        let delay = policy.delay_for(retry, error)?;
        if self.calls >= self.inner.settings.max_attempts {
            return None;
        }
        if Instant::now() + delay >= self.deadline {
            return None;
        }
        match self.inner.breaker.admit(&step.provider, &step.id) {
            Admission::Open { .. } => None,
            Admission::Allowed | Admission::Probe => Some(delay),
        }
    }

    /// Tells the breakers about a provider failure that says something about its health,
    /// once per provider and request.
    pub(crate) fn breaker_failure(&mut self, step: &PlannedModel, error: &ProviderError) {
        if error.is_health_failure() && self.counted.insert(step.provider.clone()) {
            self.inner.breaker.record_failure(&step.provider, &step.id);
        }
    }

    /// After a provider said the request is invalid (HTTP 400): the first time, drops the
    /// plan's other steps on that provider (a larger model there refuses it too) and moves
    /// the next step of another provider to the front, since the 400 may be provider-specific;
    /// the second time, or with no other provider left, the error to end the walk with.
    pub(crate) fn after_client_error(
        &mut self,
        failed: &PlannedModel,
        error: &ProviderError,
    ) -> Result<Next, FallbackError> {
        let invalid = || FallbackError::InvalidRequest {
            provider: failed.provider.clone(),
            message: error.to_string(),
        };
        if self.rejected_as_invalid {
            return Err(invalid());
        }
        self.rejected_as_invalid = true;
        self.remaining
            .retain(|step| step.provider != failed.provider);
        let position = self
            .remaining
            .iter()
            .position(|step| self.inner.providers.contains_key(&step.provider))
            .ok_or_else(invalid)?;
        if let Some(step) = self.remaining.remove(position) {
            self.remaining.push_front(step);
        }
        Ok(Next::Failover)
    }

    /// After a provider failure: moves an equivalent model of another provider (same tier) to
    /// the front when the plan has one.
    pub(crate) fn failover(&mut self, failed: &PlannedModel) -> Next {
        let position = self
            .remaining
            .iter()
            .position(|step| step.tier == failed.tier && step.provider != failed.provider);
        match position {
            Some(position) => {
                if let Some(step) = self.remaining.remove(position) {
                    self.remaining.push_front(step);
                }
                Next::Failover
            }
            None if self.remaining.is_empty() => Next::GiveUp,
            None => Next::NextCandidate,
        }
    }

    /// After a failed quality check: moves the steps of a higher tier to the front, keeping
    /// the rest as last resorts.
    pub(crate) fn escalate(&mut self, failed_tier: u8) -> Next {
        if !self.remaining.iter().any(|step| step.tier > failed_tier) {
            return if self.remaining.is_empty() {
                Next::GiveUp
            } else {
                Next::NextCandidate
            };
        }
        let (higher, rest): (Vec<PlannedModel>, Vec<PlannedModel>) = self
            .remaining
            .drain(..)
            .partition(|step| step.tier > failed_tier);
        self.remaining = higher.into_iter().chain(rest).collect();
        Next::Escalate
    }

    /// Records a call's attempt, pricing its usage; returns its index.
    pub(crate) fn record_call(
        &mut self,
        step: &PlannedModel,
        outcome: Outcome,
        latency: Duration,
        usage: Option<Usage>,
        next: Next,
    ) -> usize {
        let (cost_usd, cost_error) = match &usage {
            Some(usage) => match price(&self.inner.catalog, &step.id, usage) {
                Ok(cost) => (Some(cost), None),
                Err(error) => (None, Some(error)),
            },
            None => (None, None),
        };
        self.push(Attempt {
            kind: AttemptKind::Answer,
            model: step.id.clone(),
            provider: step.provider.clone(),
            tier: step.tier,
            outcome,
            latency_ms: duration_ms(latency),
            usage,
            cost_usd,
            cost_error,
            next,
        })
    }

    pub(crate) fn push(&mut self, attempt: Attempt) -> usize {
        tracing::debug!(
            model = attempt.model,
            provider = attempt.provider,
            outcome = attempt.outcome.status(),
            next = ?attempt.next,
            "attempt"
        );
        self.attempts.push(attempt);
        self.attempts.len() - 1
    }

    /// The failure once the deadline passed during a call to `step`.
    pub(crate) fn deadline_passed(&mut self, step: &PlannedModel) -> Failure {
        self.push(skipped(step, Outcome::Deadline));
        self.fail(self.deadline_error())
    }

    pub(crate) fn deadline_error(&self) -> FallbackError {
        FallbackError::DeadlineExceeded {
            deadline_ms: duration_ms(self.allowed),
        }
    }

    fn max_attempts_error(&self) -> FallbackError {
        FallbackError::MaxAttempts {
            max: self.inner.settings.max_attempts,
            last: self.last_outcome(),
        }
    }

    fn last_outcome(&self) -> String {
        self.attempts
            .iter()
            .rev()
            .find(|attempt| attempt.kind == AttemptKind::Answer)
            .map_or_else(
                || "nothing tried".to_owned(),
                |attempt| format!("{}: {}", attempt.model, attempt.outcome.describe()),
            )
    }

    /// The failure when every step was tried or skipped.
    pub(crate) fn exhausted(&mut self) -> Failure {
        let error = FallbackError::Exhausted {
            attempts: self.attempts.len(),
            last: self.last_outcome(),
        };
        self.fail(error)
    }

    /// Ends the walk with `error`; the last attempt's `next` becomes give-up.
    pub(crate) fn fail(&mut self, error: FallbackError) -> Failure {
        if let Some(last) = self.attempts.last_mut() {
            last.next = Next::GiveUp;
        }
        Failure {
            error,
            attempts: std::mem::take(&mut self.attempts),
            last_answer: self.last_answer.take(),
        }
    }
}

/// An attempt that made no call.
pub(crate) fn skipped(step: &PlannedModel, outcome: Outcome) -> Attempt {
    Attempt {
        kind: AttemptKind::Answer,
        model: step.id.clone(),
        provider: step.provider.clone(),
        tier: step.tier,
        outcome,
        latency_ms: 0,
        usage: None,
        cost_usd: None,
        cost_error: None,
        next: Next::NextCandidate,
    }
}

/// A provider error as an attempt outcome.
pub(crate) fn provider_outcome(error: &ProviderError) -> Outcome {
    Outcome::ProviderError {
        kind: error.kind().to_owned(),
        retryable: error.is_retryable(),
        message: error.to_string(),
    }
}

pub(crate) fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// What `usage` costs on a catalog model; an error when a needed price is missing (never a
/// silent zero).
fn price(catalog: &Catalog, model: &str, usage: &Usage) -> Result<Decimal, String> {
    let found = catalog.get(model).map_err(|error| error.to_string())?;
    found
        .cost(usage, CostOptions::default())
        .map_err(|error| error.to_string())
}
