//! The rest of a request after its plan: execute it through the fallback executor (whole or
//! streamed), bounded by the request timeout, and account for it once, whichever way it ends —
//! answered, failed, timed out, or (for a stream) abandoned by its client.

use std::time::Duration;

use triage_fallback::{
    Answer, Attempt, Failure, FallbackError, FallbackEvent, FallbackStream, Outcome, StreamSummary,
};
use triage_types::{ChatRequest, StreamEvent};

use crate::EngineError;
use crate::account::{Accounted, Caller, Ending, Ticket};
use crate::affinity::{PromptKeys, WARM_FOR};
use crate::engine::{Engine, Planned};
use crate::providers::ProviderStatus;

/// An answered request.
#[derive(Debug)]
pub struct Completed {
    /// Its plan.
    pub planned: Planned,
    /// The accepted answer, its model and every attempt.
    pub answer: Answer,
    /// What was recorded.
    pub accounted: Accounted,
}

/// A request that got no answer: the error, its plan if it got one, every attempt made, and
/// what was recorded (`None` for a request naming an unknown model, which is not recorded).
#[derive(Debug)]
pub struct Failed {
    /// Why.
    pub error: EngineError,
    /// Its plan, when it got that far.
    pub planned: Option<Planned>,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
    /// What was recorded.
    pub accounted: Option<Accounted>,
}

/// One step of a streamed answer after its start.
#[derive(Debug)]
pub enum StreamItem {
    /// A piece of the answer.
    Delta(StreamEvent),
    /// The answer is complete; it has been recorded.
    Done {
        /// The whole answer, its usage and every attempt.
        summary: Box<StreamSummary>,
        /// What was recorded.
        accounted: Accounted,
    },
    /// The stream failed after it started; recorded.
    Failed {
        /// Why.
        error: EngineError,
        /// Every attempt.
        attempts: Vec<Attempt>,
        /// What was recorded.
        accounted: Accounted,
    },
}

/// A streamed answer whose first event has arrived: the model answering, then
/// [`EngineStream::next`] until `Done` or `Failed`. Dropping it before the end (a client that
/// went away) records the request as `client_disconnected` and stops the upstream call.
pub struct EngineStream {
    engine: Engine,
    ticket: Option<Ticket>,
    /// Taken by the drop of a stream left before its end, to cancel it.
    events: Option<FallbackStream>,
    /// The request's plan.
    pub planned: Planned,
    /// The model whose answer streams.
    pub model: String,
    /// Its provider.
    pub provider: String,
    /// The id the request is recorded under.
    pub request_id: String,
}

impl std::fmt::Debug for EngineStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineStream")
            .field("model", &self.model)
            .field("provider", &self.provider)
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Answers one request: plan, execute with fallback, record. The one entry point for a
    /// whole (non-streamed) answer.
    pub async fn complete(
        &self,
        caller: Caller,
        model: &str,
        request: &ChatRequest,
    ) -> Result<Completed, Box<Failed>> {
        self.complete_noted(caller, model, request, None).await
    }

    /// [`Engine::complete`], with `note` added to the record's warnings (why a batch line was
    /// answered live).
    pub(crate) async fn complete_noted(
        &self,
        caller: Caller,
        model: &str,
        request: &ChatRequest,
        note: Option<String>,
    ) -> Result<Completed, Box<Failed>> {
        let mut ticket = Ticket::new(caller, model);
        let planned = self.begin(&mut ticket, model, request).await?;
        ticket.warnings.extend(note);
        // The executor itself stops at the request timeout, so a timed-out request keeps its
        // attempts; the outer timeout is only a backstop, a moment later.
        let limit = self.inner.request_timeout;
        let execute =
            self.inner
                .executor
                .execute_within(&planned.plan, request, &planned.checks, limit);
        let executed = match limit {
            Some(limit) => tokio::time::timeout(limit + BACKSTOP, execute)
                .await
                .map_err(|_| timeout_error(limit)),
            None => Ok(execute.await),
        };
        match executed {
            Err(error) => Err(Box::new(self.failed(
                &ticket,
                Some(planned),
                error,
                Vec::new(),
            ))),
            Ok(Err(failure)) => {
                let error = self.failure_error(&failure);
                tracing::info!(request = %ticket.request_id, error = %failure.error, "no acceptable answer");
                Err(Box::new(self.failed(
                    &ticket,
                    Some(planned),
                    error,
                    failure.attempts,
                )))
            }
            Ok(Ok(answer)) => {
                let accounted = self.finish(
                    &ticket,
                    &Ending {
                        answered: Some((&answer.model, &answer.provider)),
                        answer_usage: Some(answer.response.usage),
                        attempts: &answer.attempts,
                        failure: None,
                    },
                );
                Ok(Completed {
                    planned,
                    answer,
                    accounted,
                })
            }
        }
    }

    /// Starts a streamed answer: plan, then run the stream until its first event. A failure up
    /// to then (no model could start, the timeout passed) is recorded and returned; after it,
    /// the [`EngineStream`] records the request when it ends or is dropped.
    pub async fn stream(
        &self,
        caller: Caller,
        model: &str,
        request: ChatRequest,
    ) -> Result<EngineStream, Box<Failed>> {
        let mut ticket = Ticket::new(caller, model);
        let planned = self.begin(&mut ticket, model, &request).await?;
        let mut events =
            self.inner
                .executor
                .stream(planned.plan.clone(), request, planned.checks.clone());
        let first = match self.inner.request_timeout {
            Some(limit) => tokio::time::timeout(limit, events.next_event())
                .await
                .map_err(|_| timeout_error(limit)),
            None => Ok(events.next_event().await),
        };
        match first {
            // The timeout passed with the answer's head still held back: the calls made so
            // far were billed, so the record keeps them.
            Err(error) => {
                let attempts = cancelled(events).await;
                Err(Box::new(self.failed(
                    &ticket,
                    Some(planned),
                    error,
                    attempts,
                )))
            }
            Ok(Some(FallbackEvent::Start {
                model, provider, ..
            })) => Ok(EngineStream {
                engine: self.clone(),
                request_id: ticket.request_id.clone(),
                ticket: Some(ticket),
                events: Some(events),
                planned,
                model,
                provider,
            }),
            Ok(Some(FallbackEvent::Error(failure))) => {
                let error = self.failure_error(&failure);
                Err(Box::new(self.failed(
                    &ticket,
                    Some(planned),
                    error,
                    failure.attempts,
                )))
            }
            Ok(other) => {
                tracing::error!(event = ?other, "a fallback stream did not begin with its start event");
                let error = EngineError::Internal {
                    message: "the answer stream did not start".to_owned(),
                };
                Err(Box::new(self.failed(
                    &ticket,
                    Some(planned),
                    error,
                    Vec::new(),
                )))
            }
        }
    }

    /// The first steps of every request: its plan, then its client key's admission (which may
    /// route it cheaper). A request that fails either, an unknown model included, is recorded
    /// like every other, so a client asking for models that do not exist shows in the ledger.
    async fn begin(
        &self,
        ticket: &mut Ticket,
        model: &str,
        request: &ChatRequest,
    ) -> Result<Planned, Box<Failed>> {
        let mut planned = match self.plan(model, request) {
            Ok(planned) => planned,
            Err(error) => return Err(Box::new(self.failed(ticket, None, error, Vec::new()))),
        };
        self.keep_cache_warm(ticket, &mut planned, request);
        let admitted = self.admit(ticket, model, &mut planned, request).await;
        ticket.planned(&planned);
        match admitted {
            Ok(()) => Ok(planned),
            Err(error) => Err(Box::new(self.failed(
                ticket,
                Some(planned),
                error,
                Vec::new(),
            ))),
        }
    }

    /// Cache affinity for a routed request (`auto` or an alias): when it continues a long
    /// prompt answered minutes ago for the same class, the model that answered starts the
    /// plan (if the plan has it), so that provider's prompt cache is used, not thrown away.
    /// The request's prompt keys go on the ticket, to be remembered when it is answered.
    fn keep_cache_warm(&self, ticket: &mut Ticket, planned: &mut Planned, request: &ChatRequest) {
        let Some(class) = planned.class() else {
            return;
        };
        let keys = PromptKeys::of(request);
        if let Some(model) = self.inner.affinity.warm_model(&keys, class) {
            let reason = format!(
                "cache affinity: {model} answered this prompt's earlier turns within {} min, so \
                 its prompt cache is likely warm",
                WARM_FOR.as_secs() / 60
            );
            let moved = self.inner.router.policy().start_with(
                &self.inner.catalog,
                &mut planned.plan,
                request,
                self.today(),
                &model,
                reason,
            );
            if moved {
                tracing::debug!(request = %ticket.request_id, %model, "cache affinity");
            }
        }
        ticket.prompt_keys = Some(keys);
    }

    fn failed(
        &self,
        ticket: &Ticket,
        planned: Option<Planned>,
        error: EngineError,
        attempts: Vec<Attempt>,
    ) -> Failed {
        let accounted = self.finish(
            ticket,
            &Ending {
                answered: None,
                answer_usage: None,
                attempts: &attempts,
                failure: Some(error.kind()),
            },
        );
        Failed {
            error,
            planned,
            attempts,
            accounted: Some(accounted),
        }
    }

    /// The executor's failure as the caller's error: a plan whose every model was skipped for
    /// want of a key says which variables to set.
    fn failure_error(&self, failure: &Failure) -> EngineError {
        match &failure.error {
            FallbackError::DeadlineExceeded { deadline_ms } => EngineError::Timeout {
                after_ms: *deadline_ms,
            },
            FallbackError::InvalidRequest { .. } => EngineError::InvalidRequest {
                message: failure.error.to_string(),
            },
            FallbackError::StreamInterrupted { model, message } => EngineError::StreamInterrupted {
                model: model.clone(),
                message: message.clone(),
            },
            FallbackError::EmptyPlan
            | FallbackError::Exhausted { .. }
            | FallbackError::MaxAttempts { .. } => {
                let mut variables = Vec::new();
                let all_keyless = !failure.attempts.is_empty()
                    && failure.attempts.iter().all(|attempt| {
                        let missing = matches!(attempt.outcome, Outcome::SkippedNoClient { .. })
                            .then(|| self.inner.providers.get(&attempt.provider))
                            .flatten();
                        match missing {
                            Some(ProviderStatus::MissingKey { env_var }) => {
                                if !variables.contains(env_var) {
                                    variables.push(env_var.clone());
                                }
                                true
                            }
                            _ => false,
                        }
                    });
                if all_keyless {
                    EngineError::NoProviderKey { variables }
                } else {
                    EngineError::Exhausted {
                        attempts: failure.attempts.len(),
                        message: failure.error.to_string(),
                    }
                }
            }
        }
    }
}

impl EngineStream {
    /// The next piece of the answer, then exactly one `Done` or `Failed` (both recorded), then
    /// `None`.
    pub async fn next(&mut self) -> Option<StreamItem> {
        let ticket = self.ticket.as_ref()?;
        let events = self.events.as_mut()?;
        loop {
            let ending = match events.next_event().await {
                Some(FallbackEvent::Start { .. }) => continue,
                Some(FallbackEvent::Delta(delta)) => return Some(StreamItem::Delta(delta)),
                Some(FallbackEvent::Done(summary)) => {
                    let accounted = self.engine.finish(
                        ticket,
                        &Ending {
                            answered: Some((&summary.model, &summary.provider)),
                            answer_usage: Some(summary.response.usage),
                            attempts: &summary.attempts,
                            failure: None,
                        },
                    );
                    StreamItem::Done { summary, accounted }
                }
                Some(FallbackEvent::Error(failure)) => {
                    let error = self.engine.failure_error(&failure);
                    let accounted = self.engine.finish(
                        ticket,
                        &Ending {
                            answered: None,
                            answer_usage: None,
                            attempts: &failure.attempts,
                            failure: Some(error.kind()),
                        },
                    );
                    StreamItem::Failed {
                        error,
                        attempts: failure.attempts,
                        accounted,
                    }
                }
                None => {
                    // The executor's stream always ends with Done or Error; should it not, the
                    // caller still gets a terminal item.
                    let error = EngineError::StreamInterrupted {
                        model: self.model.clone(),
                        message: "the answer stream ended without a result".to_owned(),
                    };
                    let accounted = self.engine.finish(
                        ticket,
                        &Ending {
                            answered: None,
                            answer_usage: None,
                            attempts: &[],
                            failure: Some(error.kind()),
                        },
                    );
                    StreamItem::Failed {
                        error,
                        attempts: Vec::new(),
                        accounted,
                    }
                }
            };
            self.ticket = None;
            return Some(ending);
        }
    }
}

impl Drop for EngineStream {
    /// A stream left before its end: its upstream call is stopped, and the request recorded
    /// as `client_disconnected` with every call it made, the last one's usage as far as it
    /// got (what the provider reported, the rest estimated), since the provider bills it.
    fn drop(&mut self) {
        let (Some(ticket), Some(events)) = (self.ticket.take(), self.events.take()) else {
            return;
        };
        let engine = self.engine.clone();
        let answered = (self.model.clone(), self.provider.clone());
        let record = move |attempts: Vec<Attempt>| {
            // The last call's usage (cut short, or a whole answer nobody read) stands for the
            // answer's, for the baseline and the client key's budget.
            let answer_usage = attempts
                .last()
                .filter(|attempt| {
                    matches!(
                        attempt.outcome,
                        Outcome::Cancelled | Outcome::Ok | Outcome::QualityFailed { .. }
                    )
                })
                .and_then(|attempt| attempt.usage);
            engine.finish(
                &ticket,
                &Ending {
                    answered: Some((&answered.0, &answered.1)),
                    answer_usage,
                    attempts: &attempts,
                    failure: Some(CLIENT_DISCONNECTED),
                },
            );
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let pending = self.engine.inner.pending.begin();
                runtime.spawn(async move {
                    let attempts = cancelled(events).await;
                    record(attempts);
                    drop(pending);
                });
            }
            Err(_) => record(Vec::new()),
        }
    }
}

/// The outcome recorded for a stream whose client went away before its end.
pub const CLIENT_DISCONNECTED: &str = "client_disconnected";

/// How long past the request timeout the engine waits for the executor to stop by itself.
const BACKSTOP: Duration = Duration::from_secs(1);

/// How long a cancelled stream's record waits for the executor to stop its call and say what
/// it used (it stops at once; this only bounds a bug).
const CANCEL_REPORT_WAIT: Duration = Duration::from_secs(5);

/// Stops a stream nobody will read and returns every attempt it made.
async fn cancelled(events: FallbackStream) -> Vec<Attempt> {
    tokio::time::timeout(CANCEL_REPORT_WAIT, events.cancel())
        .await
        .unwrap_or_default()
}

fn timeout_error(limit: Duration) -> EngineError {
    EngineError::Timeout {
        after_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
    }
}
