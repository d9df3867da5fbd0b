//! Batch jobs: many requests at the providers' batch price. Every line is planned exactly as a
//! live request ([`Engine::plan`]), grouped by its primary model's provider (and model, where the
//! provider's batch takes one), and submitted through that provider's batch API; lines whose
//! provider has no batch API (or no batch price) go through the live path. Once every batch has
//! finished, each line gets one result, in input order: the batch's answer (checked like a live
//! answer and recorded once at the catalog's batch discount), or, for a line that failed,
//! expired or was left out, the live path's answer with fallback, or its error. Nothing is
//! dropped.
//!
//! [`Engine::batch_cancel`] cancels the provider batches that have not ended. A cancelled job
//! sends nothing to the live path: lines its batches answered keep their answers, and every
//! other line is reported [`BATCH_CANCELLED`].
//!
//! A [`BatchJob`] is plain, serializable data: the caller keeps it between
//! [`Engine::batch_submit`], [`Engine::batch_poll`], [`Engine::batch_cancel`] and
//! [`Engine::batch_collect`] (the CLI writes it to a file), so a job outlives the process that
//! submitted it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use triage_catalog::CostOptions;
use triage_fallback::{Attempt, AttemptKind, Next, Outcome};
use triage_providers::batch::{BatchItem, BatchOutcome, BatchState, BatchStatus};
use triage_strategies::ReasoningPlan;
use triage_types::{ChatRequest, ChatResponse, ReasoningEffort, RouteClass};

use crate::account::{Caller, Ending, Ticket};
use crate::engine::Engine;
use crate::{EngineError, Failed};

/// The ledger's `protocol` for a line answered through a provider's batch API.
pub const BATCH_ENTRY: &str = "batch";
/// The ledger's `protocol` for a line of a batch answered through the live path.
pub const BATCH_LIVE_ENTRY: &str = "batch-live";
/// The [`LineOutcome::Failed`] kind of a line left unanswered because its job was cancelled.
pub const BATCH_CANCELLED: &str = "batch_cancelled";

/// One input line, parsed by the edge.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchLine {
    /// `auto`, a route alias or a catalog model id, as a gateway client sends it.
    pub model: String,
    /// The request.
    pub request: ChatRequest,
    /// The caller's own id for the line (an OpenAI batch file's `custom_id`), echoed back.
    pub custom_id: Option<String>,
}

/// A submitted batch job: its lines, how each was routed, the provider batches, and (once
/// collected) the results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchJob {
    /// triage's id for the job (`batch_…`).
    pub id: String,
    /// When it was submitted, Unix seconds.
    pub submitted_unix: i64,
    /// Every input line, in order.
    pub lines: Vec<JobLine>,
    /// One provider batch per provider (per model where the provider takes one model).
    pub groups: Vec<JobGroup>,
    /// Each line's result, in input order, once collected (collected results are recorded, so
    /// collecting again returns these).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<LineResult>>,
    /// When [`Engine::batch_cancel`] first cancelled a provider batch of the job, Unix seconds:
    /// collection then sends nothing to the live path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_unix: Option<i64>,
}

/// One input line and its route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobLine {
    /// Its 0-based position among the input lines.
    pub index: usize,
    /// The caller's id for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_id: Option<String>,
    /// The `model` it asked for.
    pub model: String,
    /// The request.
    pub request: ChatRequest,
    /// The class it was routed as, if classified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<RouteClass>,
    /// The classifier's confidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// The plan's warnings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Where it went.
    pub route: LineRoute,
}

/// Where a line went at submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum LineRoute {
    /// Into a provider batch.
    Batch {
        /// The index of its group in [`BatchJob::groups`].
        group: usize,
        /// Its id in that batch.
        custom_id: String,
        /// The catalog model planned first.
        model: String,
        /// Its provider.
        provider: String,
        /// Its tier.
        tier: u8,
        /// The reasoning effort it is sent with, as a live call to that model would be.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reasoning_effort: Option<ReasoningEffort>,
    },
    /// To the live path, answered at collection.
    Live {
        /// Why not a batch.
        reason: String,
    },
}

/// One provider batch of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobGroup {
    /// The provider.
    pub provider: String,
    /// Its batch API's name.
    pub api: String,
    /// The catalog model, where the batch holds one model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The indexes (into [`BatchJob::lines`]) of its lines, in submission order.
    pub lines: Vec<usize>,
    /// The provider's batch id; `None` when the submission failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    /// Why the submission failed (its lines go through the live path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submit_error: Option<String>,
    /// The last status read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<BatchStatus>,
    /// Why the last status read failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_error: Option<String>,
    /// When its batch was asked to cancel, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_requested_unix: Option<i64>,
    /// Why the last cancel request failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_error: Option<String>,
}

impl JobGroup {
    /// Whether nothing more will happen to it: submission failed, or its batch finished.
    pub fn is_finished(&self) -> bool {
        self.batch_id.is_none()
            || self
                .status
                .as_ref()
                .is_some_and(|status| status.state.is_finished())
    }
}

impl BatchJob {
    /// Whether every provider batch has finished, so the job can be collected.
    pub fn is_finished(&self) -> bool {
        self.groups.iter().all(JobGroup::is_finished)
    }

    /// Whether the job was cancelled ([`Engine::batch_cancel`]).
    pub fn is_cancelled(&self) -> bool {
        self.cancelled_unix.is_some()
    }

    /// How many lines went into provider batches, and how many to the live path.
    pub fn split(&self) -> (usize, usize) {
        let batched = self
            .lines
            .iter()
            .filter(|line| matches!(line.route, LineRoute::Batch { .. }))
            .count();
        (batched, self.lines.len() - batched)
    }
}

/// One line's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineResult {
    /// The line's 0-based position.
    pub index: usize,
    /// The caller's id for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_id: Option<String>,
    /// How it ended.
    pub outcome: LineOutcome,
    /// What was recorded.
    pub request_id: Option<String>,
    /// What it cost, every attempt together; `None` when unknown or unrecorded.
    pub cost_usd: Option<Decimal>,
}

/// How a line ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LineOutcome {
    /// Answered.
    Answered {
        /// The catalog model that answered.
        model: String,
        /// Its provider.
        provider: String,
        /// The answer.
        response: ChatResponse,
        /// Which path answered.
        via: Via,
    },
    /// No answer: the batch failed it and the live path could not answer either (or the line
    /// could not be planned), or its job was cancelled (kind [`BATCH_CANCELLED`]; `via` is then
    /// the batch it was in, or the live path it was not sent to).
    Failed {
        /// The error's kind (`no_provider`, `invalid_request`, …).
        kind: String,
        /// The error in words.
        message: String,
        /// Which path gave the final error.
        via: Via,
    },
}

impl LineOutcome {
    /// Which path gave the result.
    pub fn via(&self) -> &Via {
        match self {
            LineOutcome::Answered { via, .. } | LineOutcome::Failed { via, .. } => via,
        }
    }
}

/// Which path a line's result came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "path", rename_all = "snake_case")]
pub enum Via {
    /// The provider's batch API, at its batch price.
    Batch {
        /// The API's name.
        api: String,
    },
    /// The live path, with fallback.
    Live {
        /// Why: no batch API, the batch failed or expired the line, its answer failed a check.
        reason: String,
    },
}

/// What [`Engine::batch_cancel`] did, one entry per provider batch of the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CancelReport {
    /// Each group's outcome, in [`BatchJob::groups`] order.
    pub groups: Vec<GroupCancel>,
}

impl CancelReport {
    /// Whether there was nothing to cancel: every provider batch had ended or was never
    /// submitted (the job is then left as it was).
    pub fn had_finished(&self) -> bool {
        self.groups.iter().all(|group| {
            matches!(
                group.outcome,
                CancelOutcome::Ended | CancelOutcome::NotSubmitted
            )
        })
    }

    /// How many batches were asked to cancel by this call.
    pub fn requested(&self) -> usize {
        self.count(|outcome| matches!(outcome, CancelOutcome::Requested))
    }

    /// How many cancel requests failed.
    pub fn failed(&self) -> usize {
        self.count(|outcome| matches!(outcome, CancelOutcome::Failed { .. }))
    }

    fn count(&self, which: impl Fn(&CancelOutcome) -> bool) -> usize {
        self.groups
            .iter()
            .filter(|group| which(&group.outcome))
            .count()
    }
}

/// What became of one provider batch at a cancel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupCancel {
    /// The index of the group in [`BatchJob::groups`].
    pub group: usize,
    /// What happened.
    #[serde(flatten)]
    pub outcome: CancelOutcome,
}

/// What a cancel did to one provider batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum CancelOutcome {
    /// The provider was asked to cancel it now; its state since is in [`JobGroup::status`].
    Requested,
    /// An earlier cancel asked already.
    AlreadyRequested,
    /// It had ended before the cancel: its answers are kept.
    Ended,
    /// It was never submitted: nothing to cancel.
    NotSubmitted,
    /// The provider refused or failed the cancel (kept in [`JobGroup::cancel_error`]; cancelling
    /// again retries it).
    Failed {
        /// The provider's error.
        message: String,
    },
}

/// Why a batch job could not be submitted or collected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BatchError {
    /// The input had no line.
    #[error("the batch has no lines")]
    Empty,
    /// A line names a model that does not exist: nothing was submitted.
    #[error("line {line}: {error}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// Why.
        error: EngineError,
    },
    /// Some provider batches have not finished.
    #[error("batch {id} has not finished: {}", pending.join(", "))]
    NotFinished {
        /// The job.
        id: String,
        /// The batches still running, as `provider batch-id (status)`.
        pending: Vec<String>,
    },
    /// A finished batch's results could not be read (try again later).
    #[error("{provider}: cannot read the results of batch {batch_id}: {message}")]
    Results {
        /// The provider.
        provider: String,
        /// Its batch id.
        batch_id: String,
        /// The provider's error.
        message: String,
    },
}

impl Engine {
    /// Plans every line and submits the provider batches. A line naming an unknown model refuses
    /// the whole job before anything is sent; a line that cannot be batched goes to the live
    /// path, answered at [`Engine::batch_collect`]; a batch whose submission fails sends its
    /// lines there too.
    pub async fn batch_submit(&self, lines: Vec<BatchLine>) -> Result<BatchJob, BatchError> {
        if lines.is_empty() {
            return Err(BatchError::Empty);
        }
        let submitted = OffsetDateTime::now_utc();
        let mut job = BatchJob {
            id: format!(
                "batch_{:x}{:08x}",
                submitted.unix_timestamp(),
                rand::random::<u32>()
            ),
            submitted_unix: submitted.unix_timestamp(),
            lines: Vec::with_capacity(lines.len()),
            groups: Vec::new(),
            results: None,
            cancelled_unix: None,
        };
        let mut groups: BTreeMap<(String, Option<String>), usize> = BTreeMap::new();
        for (index, line) in lines.into_iter().enumerate() {
            let mut job_line = JobLine {
                index,
                custom_id: line.custom_id,
                model: line.model,
                request: line.request,
                class: None,
                confidence: None,
                warnings: Vec::new(),
                route: LineRoute::Live {
                    reason: String::new(),
                },
            };
            match self.plan(&job_line.model, &job_line.request) {
                Err(error @ EngineError::UnknownModel { .. }) => {
                    return Err(BatchError::Line {
                        line: index + 1,
                        error,
                    });
                }
                Err(error) => {
                    job_line.route = LineRoute::Live {
                        reason: format!("it could not be planned: {error}"),
                    };
                }
                Ok(planned) => {
                    job_line.class = planned.class();
                    job_line.confidence = planned.confidence();
                    job_line.warnings = planned.warnings().to_vec();
                    let primary = &planned.plan.primary;
                    job_line.route = match self.batch_refusal(&primary.id, &primary.provider) {
                        Some(reason) => LineRoute::Live { reason },
                        None => {
                            let client = &self.inner.batch_clients[&primary.provider];
                            let key = (
                                primary.provider.clone(),
                                (!client.mixes_models()).then(|| primary.id.clone()),
                            );
                            let group = *groups.entry(key.clone()).or_insert_with(|| {
                                job.groups.push(JobGroup {
                                    provider: key.0.clone(),
                                    api: client.api_name().to_owned(),
                                    model: key.1.clone(),
                                    lines: Vec::new(),
                                    batch_id: None,
                                    submit_error: None,
                                    status: None,
                                    poll_error: None,
                                    cancel_requested_unix: None,
                                    cancel_error: None,
                                });
                                job.groups.len() - 1
                            });
                            job.groups[group].lines.push(index);
                            LineRoute::Batch {
                                group,
                                custom_id: format!("line-{}", index + 1),
                                model: primary.id.clone(),
                                provider: primary.provider.clone(),
                                tier: primary.tier,
                                reasoning_effort: ReasoningPlan::effort_for(
                                    planned.plan.reasoning.as_ref(),
                                    primary,
                                ),
                            }
                        }
                    };
                }
            }
            job.lines.push(job_line);
        }
        for group in &mut job.groups {
            let items: Vec<BatchItem> = group
                .lines
                .iter()
                .filter_map(|&index| {
                    let line = &job.lines[index];
                    let LineRoute::Batch {
                        custom_id,
                        model,
                        reasoning_effort,
                        ..
                    } = &line.route
                    else {
                        return None;
                    };
                    let model = self.inner.catalog.get(model).ok()?;
                    let mut request = line.request.clone();
                    request.reasoning_effort = *reasoning_effort;
                    request.reasoning_control =
                        model.capabilities.reasoning_spec.map(|spec| spec.control);
                    Some(BatchItem {
                        custom_id: custom_id.clone(),
                        model: model.api_name.clone(),
                        request,
                    })
                })
                .collect();
            let client = &self.inner.batch_clients[&group.provider];
            match client.submit(&items).await {
                Ok(batch_id) => {
                    tracing::info!(provider = %group.provider, %batch_id, lines = items.len(), "batch submitted");
                    group.batch_id = Some(batch_id);
                }
                Err(error) => {
                    tracing::warn!(provider = %group.provider, %error, "batch submission failed");
                    group.submit_error = Some(error.to_string());
                }
            }
        }
        Ok(job)
    }

    /// Why a model's lines cannot go through a batch API, or `None` when they can.
    fn batch_refusal(&self, model: &str, provider: &str) -> Option<String> {
        let batchable = self
            .inner
            .catalog
            .provider(provider)
            .is_some_and(|info| info.protocol != triage_types::Protocol::OpenAiCompatible);
        if !batchable {
            return Some(format!("{provider} has no batch API"));
        }
        if !self.inner.batch_clients.contains_key(provider) {
            return Some(match self.inner.providers.get(provider) {
                Some(crate::ProviderStatus::Ready) | None => {
                    format!("{provider} has no batch API")
                }
                Some(crate::ProviderStatus::MissingKey { env_var }) => {
                    format!("{provider} has no API key ({env_var})")
                }
                Some(crate::ProviderStatus::Unavailable { reason }) => {
                    format!("{provider} cannot be called: {reason}")
                }
            });
        }
        let priced = self
            .inner
            .catalog
            .get(model)
            .is_ok_and(|found| found.pricing.batch_discount.is_some());
        (!priced).then(|| format!("{model} has no batch price in the catalog"))
    }

    /// Reads the status of every provider batch that has not finished, into the job.
    pub async fn batch_poll(&self, job: &mut BatchJob) {
        for group in &mut job.groups {
            let Some(batch_id) = group.batch_id.clone() else {
                continue;
            };
            if group.is_finished() {
                continue;
            }
            let Some(client) = self.inner.batch_clients.get(&group.provider) else {
                group.poll_error = Some(format!("{} has no batch client now", group.provider));
                continue;
            };
            match client.status(&batch_id).await {
                Ok(status) => {
                    group.status = Some(status);
                    group.poll_error = None;
                }
                Err(error) => group.poll_error = Some(error.to_string()),
            }
        }
    }

    /// Polls until every provider batch has finished, waiting `every` between rounds, at most
    /// `limit` in all (then [`BatchError::NotFinished`]).
    pub async fn batch_wait(
        &self,
        job: &mut BatchJob,
        every: Duration,
        limit: Option<Duration>,
    ) -> Result<(), BatchError> {
        let start = Instant::now();
        loop {
            self.batch_poll(job).await;
            if job.is_finished() {
                return Ok(());
            }
            if limit.is_some_and(|limit| start.elapsed() + every > limit) {
                return Err(not_finished(job));
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Cancels every provider batch of the job that has not ended, after reading where each
    /// stands. Once one is cancelled the job is marked cancelled ([`BatchJob::cancelled_unix`]):
    /// [`Engine::batch_collect`] keeps the answers its batches give and reports every other
    /// line [`BATCH_CANCELLED`], sending nothing to the live path. A job whose batches have all
    /// ended (or were never submitted) is left as it was ([`CancelReport::had_finished`]).
    /// Cancelling again retries the cancels that failed.
    pub async fn batch_cancel(&self, job: &mut BatchJob) -> CancelReport {
        if job.results.is_none() {
            self.batch_poll(job).await;
        }
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut groups = Vec::with_capacity(job.groups.len());
        for (number, group) in job.groups.iter_mut().enumerate() {
            let outcome = self.cancel_group(group, now).await;
            groups.push(GroupCancel {
                group: number,
                outcome,
            });
        }
        let cancelling = job
            .groups
            .iter()
            .any(|group| group.cancel_requested_unix.is_some());
        if cancelling && job.cancelled_unix.is_none() {
            job.cancelled_unix = Some(now);
        }
        CancelReport { groups }
    }

    async fn cancel_group(&self, group: &mut JobGroup, now: i64) -> CancelOutcome {
        let Some(batch_id) = group.batch_id.clone() else {
            return CancelOutcome::NotSubmitted;
        };
        if group.cancel_requested_unix.is_some() {
            return CancelOutcome::AlreadyRequested;
        }
        if group.is_finished() {
            return CancelOutcome::Ended;
        }
        let Some(client) = self.inner.batch_clients.get(&group.provider) else {
            let message = format!(
                "{} has no batch client now (is its key set?)",
                group.provider
            );
            group.cancel_error = Some(message.clone());
            return CancelOutcome::Failed { message };
        };
        match client.cancel(&batch_id).await {
            Ok(status) => {
                tracing::info!(provider = %group.provider, %batch_id, status = %status.provider_status, "batch cancel requested");
                group.status = Some(status);
                group.cancel_requested_unix = Some(now);
                group.cancel_error = None;
                CancelOutcome::Requested
            }
            Err(error) => {
                // A batch that ended since the poll cannot be cancelled any more: that is no
                // failure, its answers are there.
                if let Ok(status) = client.status(&batch_id).await
                    && status.state.is_finished()
                {
                    group.status = Some(status);
                    group.cancel_error = None;
                    return CancelOutcome::Ended;
                }
                tracing::warn!(provider = %group.provider, %batch_id, %error, "batch cancel failed");
                group.cancel_error = Some(error.to_string());
                CancelOutcome::Failed {
                    message: error.to_string(),
                }
            }
        }
    }

    /// Every line's result, in input order, once every provider batch has finished: batch
    /// answers are checked and recorded at the batch price; every other line is answered
    /// through the live path (recorded there), or, in a cancelled job, reported
    /// [`BATCH_CANCELLED`] and not recorded. The results are kept in the job, so collecting
    /// again records nothing twice.
    pub async fn batch_collect(&self, job: &mut BatchJob) -> Result<Vec<LineResult>, BatchError> {
        if let Some(results) = &job.results {
            return Ok(results.clone());
        }
        if !job.is_finished() {
            return Err(not_finished(job));
        }
        // Read every batch's outcomes first: a read that fails leaves the job as it was.
        let mut outcomes: BTreeMap<usize, BatchOutcome> = BTreeMap::new();
        let mut whole_failures: BTreeMap<usize, String> = BTreeMap::new();
        for (number, group) in job.groups.iter().enumerate() {
            let (Some(batch_id), Some(status)) = (&group.batch_id, &group.status) else {
                let why = group
                    .submit_error
                    .clone()
                    .unwrap_or_else(|| "it was not submitted".to_owned());
                whole_failures.insert(number, format!("the batch submission failed: {why}"));
                continue;
            };
            if let BatchState::Failed { message } = &status.state {
                whole_failures.insert(number, format!("the {} batch failed: {message}", group.api));
                continue;
            }
            let custom_ids: Vec<String> = group
                .lines
                .iter()
                .filter_map(|&index| match &job.lines[index].route {
                    LineRoute::Batch { custom_id, .. } => Some(custom_id.clone()),
                    LineRoute::Live { .. } => None,
                })
                .collect();
            let client = self
                .inner
                .batch_clients
                .get(&group.provider)
                .ok_or_else(|| BatchError::Results {
                    provider: group.provider.clone(),
                    batch_id: batch_id.clone(),
                    message: "no batch client (is its key set?)".to_owned(),
                })?;
            let read = client
                .results(batch_id, &custom_ids)
                .await
                .map_err(|error| BatchError::Results {
                    provider: group.provider.clone(),
                    batch_id: batch_id.clone(),
                    message: error.to_string(),
                })?;
            for (&index, outcome) in group.lines.iter().zip(read) {
                outcomes.insert(index, outcome);
            }
        }
        let mut results = Vec::with_capacity(job.lines.len());
        for line in &job.lines {
            let result = match &line.route {
                LineRoute::Live { reason } => self.answer_unbatched(job, line, None, reason).await,
                LineRoute::Batch { group, .. } => {
                    let api = &job.groups[*group].api;
                    if let Some(why) = whole_failures.get(group) {
                        self.answer_unbatched(job, line, Some(api), why).await
                    } else {
                        match outcomes.remove(&line.index) {
                            Some(BatchOutcome::Succeeded(response)) => {
                                self.accept_batch_answer(job, line, api, response).await
                            }
                            Some(BatchOutcome::Cancelled) if job.is_cancelled() => cancelled(
                                line,
                                Some(api),
                                format!(
                                    "the job was cancelled before the {api} processed this line"
                                ),
                            ),
                            other => {
                                let why = why_not_answered(api, other.as_ref());
                                self.answer_unbatched(job, line, Some(api), &why).await
                            }
                        }
                    }
                }
            };
            results.push(result);
        }
        job.results = Some(results.clone());
        Ok(results)
    }

    /// A batch answer: checked as the live path checks answers (the judge aside), then
    /// recorded at the batch price; one that fails a check is answered live, which escalates.
    async fn accept_batch_answer(
        &self,
        job: &BatchJob,
        line: &JobLine,
        api: &str,
        response: ChatResponse,
    ) -> LineResult {
        let LineRoute::Batch {
            model,
            provider,
            tier,
            ..
        } = &line.route
        else {
            return self
                .answer_unbatched(job, line, None, "it was not batched")
                .await;
        };
        let alias = self
            .inner
            .router
            .policy()
            .aliases()
            .contains_key(&line.model)
            .then_some(line.model.as_str());
        let checks = self.inner.fallback.checks(line.class, alias).clone();
        if let Err(failure) = checks.check(&line.request, line.class, &response) {
            let why = format!("the {api} answer failed a check ({failure})");
            return self.answer_unbatched(job, line, Some(api), &why).await;
        }
        let usage = response.usage;
        let (cost_usd, cost_error) = match self.inner.catalog.get(model) {
            Ok(found) => match found.cost(&usage, CostOptions { batch: true }) {
                Ok(cost) => (Some(cost), None),
                Err(error) => (None, Some(error.to_string())),
            },
            Err(error) => (None, Some(error.to_string())),
        };
        let submitted = OffsetDateTime::from_unix_timestamp(job.submitted_unix)
            .unwrap_or_else(|_| OffsetDateTime::now_utc());
        let waited = (OffsetDateTime::now_utc() - submitted)
            .try_into()
            .unwrap_or(Duration::ZERO);
        let attempt = Attempt {
            kind: AttemptKind::Answer,
            model: model.clone(),
            provider: provider.clone(),
            tier: *tier,
            outcome: Outcome::Ok,
            latency_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            usage: Some(usage),
            cost_usd,
            cost_error,
            next: Next::Accept,
        };
        let mut ticket = Ticket::new(Caller::new(BATCH_ENTRY, false), &line.model);
        ticket.started_at = submitted;
        ticket.started = Instant::now()
            .checked_sub(waited)
            .unwrap_or_else(Instant::now);
        ticket.class = line.class;
        ticket.confidence = line.confidence;
        ticket.warnings = line.warnings.clone();
        ticket
            .warnings
            .push(format!("answered through the {api} at the batch price"));
        let accounted = self.finish(
            &ticket,
            &Ending {
                answered: Some((model, provider)),
                answer_usage: Some(usage),
                attempts: std::slice::from_ref(&attempt),
                failure: None,
            },
        );
        LineResult {
            index: line.index,
            custom_id: line.custom_id.clone(),
            outcome: LineOutcome::Answered {
                model: model.clone(),
                provider: provider.clone(),
                response,
                via: Via::Batch {
                    api: api.to_owned(),
                },
            },
            request_id: Some(accounted.request_id),
            cost_usd: accounted.cost.ok(),
        }
    }

    /// A line its batch did not answer (`api` the batch's, `None` for a line meant for the live
    /// path), `why`: through the live path, or, in a cancelled job, reported cancelled.
    async fn answer_unbatched(
        &self,
        job: &BatchJob,
        line: &JobLine,
        api: Option<&str>,
        why: &str,
    ) -> LineResult {
        if job.is_cancelled() {
            let message =
                format!("the job was cancelled, so this line was not answered live ({why})");
            return cancelled(line, api, message);
        }
        self.answer_live(line, format!("answered live: {why}"))
            .await
    }

    /// A line through the live path, as `triage ask` would send it, recorded with `reason`.
    async fn answer_live(&self, line: &JobLine, reason: String) -> LineResult {
        let caller = Caller::new(BATCH_LIVE_ENTRY, false);
        let via = Via::Live {
            reason: reason.clone(),
        };
        match self
            .complete_noted(caller, &line.model, &line.request, Some(reason))
            .await
        {
            Ok(completed) => LineResult {
                index: line.index,
                custom_id: line.custom_id.clone(),
                request_id: Some(completed.accounted.request_id),
                cost_usd: completed.accounted.cost.ok(),
                outcome: LineOutcome::Answered {
                    model: completed.answer.model,
                    provider: completed.answer.provider,
                    response: completed.answer.response,
                    via,
                },
            },
            Err(failed) => {
                let Failed {
                    error, accounted, ..
                } = *failed;
                LineResult {
                    index: line.index,
                    custom_id: line.custom_id.clone(),
                    request_id: accounted.as_ref().map(|done| done.request_id.clone()),
                    cost_usd: accounted.and_then(|done| done.cost.ok()),
                    outcome: LineOutcome::Failed {
                        kind: error.kind().to_owned(),
                        message: error.to_string(),
                        via,
                    },
                }
            }
        }
    }
}

/// A line left unanswered by a cancelled job: nothing was called, nothing is recorded.
fn cancelled(line: &JobLine, api: Option<&str>, message: String) -> LineResult {
    let via = match api {
        Some(api) => Via::Batch {
            api: api.to_owned(),
        },
        None => Via::Live {
            reason: message.clone(),
        },
    };
    LineResult {
        index: line.index,
        custom_id: line.custom_id.clone(),
        outcome: LineOutcome::Failed {
            kind: BATCH_CANCELLED.to_owned(),
            message,
            via,
        },
        request_id: None,
        cost_usd: None,
    }
}

/// Why a batch line has no batch answer, for its live record.
fn why_not_answered(api: &str, outcome: Option<&BatchOutcome>) -> String {
    match outcome {
        Some(BatchOutcome::Errored(error)) => format!("the {api} failed it: {error}"),
        Some(BatchOutcome::Expired) => format!("the {api} batch expired before it was processed"),
        Some(BatchOutcome::Cancelled) => {
            format!("the {api} batch was cancelled before it was processed")
        }
        Some(BatchOutcome::Missing | BatchOutcome::Succeeded(_)) | None => {
            format!("the {api} results held nothing for it")
        }
    }
}

fn not_finished(job: &BatchJob) -> BatchError {
    BatchError::NotFinished {
        id: job.id.clone(),
        pending: job
            .groups
            .iter()
            .filter(|group| !group.is_finished())
            .map(|group| {
                let status = group
                    .status
                    .as_ref()
                    .map_or("not polled yet", |status| status.provider_status.as_str());
                format!(
                    "{} {} ({status})",
                    group.provider,
                    group.batch_id.as_deref().unwrap_or("-")
                )
            })
            .collect(),
    }
}
