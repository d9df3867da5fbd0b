//! Streaming-safe fallback: hold back the head of a streamed answer until the early checks
//! pass, fall back transparently while nothing has reached the caller, and end with an
//! explicit error event (never a silent clean end) when a stream breaks after that.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use rust_decimal::Decimal;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use triage_providers::{ProviderError, StreamAccumulator, TimeoutPhase};
use triage_strategies::RoutePlan;
use triage_strategies::estimate_input_tokens;
use triage_strategies::tokens::TokenCounter;
use triage_types::{ChatRequest, ChatResponse, RouteClass, StreamEvent, Usage};

use crate::executor::{CallLimit, Candidate, Walk, duration_ms, provider_outcome};
use crate::{
    Attempt, Executor, Failure, FallbackError, Next, Outcome, QualityChecks, QualityFailure,
    StreamConfig,
};

/// One event of a fallback stream. A stream always ends with exactly one [`FallbackEvent::Done`]
/// or [`FallbackEvent::Error`].
#[derive(Debug, Clone, PartialEq)]
pub enum FallbackEvent {
    /// The model whose answer follows; sent once, before its first delta.
    Start {
        /// Catalog id.
        model: String,
        /// Provider id.
        provider: String,
        /// Tier.
        tier: u8,
    },
    /// A piece of the answer, as the provider sent it.
    Delta(StreamEvent),
    /// The answer is complete.
    Done(Box<StreamSummary>),
    /// No acceptable answer, or the stream broke after output was sent. Terminal.
    Error(Box<Failure>),
}

/// What a completed stream used and cost, and every attempt behind it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StreamSummary {
    /// The model that answered.
    pub model: String,
    /// Its provider.
    pub provider: String,
    /// Its tier.
    pub tier: u8,
    /// The answer as a whole (text, finish reason, usage).
    pub response: ChatResponse,
    /// What the answering call cost, when it could be priced.
    pub cost_usd: Option<Decimal>,
    /// A check the answer failed only once it had been sent (such as a cut-off), so it could
    /// not be replaced.
    pub late_failure: Option<QualityFailure>,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
}

/// The events of a streamed, fallback-protected answer. Dropping it stops the upstream call;
/// [`FallbackStream::cancel`] stops it too, and says what the calls made so far used.
pub struct FallbackStream {
    receiver: mpsc::Receiver<FallbackEvent>,
    /// The terminal event has been read.
    ended: bool,
    cancelled: oneshot::Receiver<Vec<Attempt>>,
}

impl FallbackStream {
    /// The next event; `None` after the terminal one.
    pub async fn next_event(&mut self) -> Option<FallbackEvent> {
        StreamExt::next(self).await
    }

    /// Stops the stream for a reader that went away: the upstream call ends at once, and the
    /// attempts come back with what each call used, the one cut short marked
    /// [`Outcome::Cancelled`] (its usage as the provider reported it, the rest estimated from
    /// the request and the text it had produced). An answer that had already ended unread
    /// gives its own attempts; one whose end was read gives none.
    pub async fn cancel(mut self) -> Vec<Attempt> {
        if self.ended {
            return Vec::new();
        }
        self.receiver.close();
        while let Some(event) = self.receiver.recv().await {
            if let Some(attempts) = terminal_attempts(event) {
                return attempts;
            }
        }
        self.cancelled.await.unwrap_or_default()
    }
}

/// The attempts a terminal event carries; `None` for the others.
fn terminal_attempts(event: FallbackEvent) -> Option<Vec<Attempt>> {
    match event {
        FallbackEvent::Done(summary) => Some(summary.attempts),
        FallbackEvent::Error(failure) => Some(failure.attempts),
        FallbackEvent::Start { .. } | FallbackEvent::Delta(_) => None,
    }
}

impl Stream for FallbackStream {
    type Item = FallbackEvent;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let event = match self.receiver.poll_recv(context) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(event)) => event,
            // If the task ever ended without its terminal event, the reader still gets one.
            Poll::Ready(None) => FallbackEvent::Error(Box::new(Failure {
                error: FallbackError::StreamInterrupted {
                    model: String::new(),
                    message: "the fallback task ended unexpectedly".to_owned(),
                },
                attempts: Vec::new(),
                last_answer: None,
            })),
        };
        self.ended = matches!(event, FallbackEvent::Done(_) | FallbackEvent::Error(_));
        Poll::Ready(Some(event))
    }
}

impl std::fmt::Debug for FallbackStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackStream")
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// How many events may wait between the executor task and a slow reader.
const CHANNEL_CAPACITY: usize = 64;

impl Executor {
    /// Walks `plan` streaming: the answer's head is held back until the early checks pass
    /// (see [`StreamConfig`]); failures up to then fall back to the next model unseen. The
    /// judge check does not run on streams.
    ///
    /// Runs on a spawned tokio task, which stops as soon as the returned stream is dropped
    /// or cancelled, mid-call included.
    pub fn stream(
        &self,
        plan: RoutePlan,
        request: ChatRequest,
        checks: Arc<QualityChecks>,
    ) -> FallbackStream {
        let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
        let (report, cancelled) = oneshot::channel();
        let executor = self.clone();
        tokio::spawn(async move {
            if let Some(attempts) = executor
                .drive_stream(&plan, &request, &checks, &sender)
                .await
            {
                let _ = report.send(attempts);
            }
        });
        FallbackStream {
            receiver,
            ended: false,
            cancelled,
        }
    }

    /// Walks the plan for a stream's reader; returns the attempts when the reader went away
    /// before the end (for [`FallbackStream::cancel`]), `None` once a terminal event is sent.
    async fn drive_stream(
        &self,
        plan: &RoutePlan,
        request: &ChatRequest,
        checks: &QualityChecks,
        sender: &mpsc::Sender<FallbackEvent>,
    ) -> Option<Vec<Attempt>> {
        let inner = &*self.inner;
        let fail = |failure: Failure| FallbackEvent::Error(Box::new(failure));
        let mut walk = match Walk::start(inner, plan, None) {
            Ok(walk) => walk,
            Err(failure) => {
                return send_terminal(sender, fail(failure)).await;
            }
        };
        loop {
            if sender.is_closed() {
                return Some(walk.attempts);
            }
            let candidate = match walk.next_candidate() {
                Ok(Some(candidate)) => candidate,
                Ok(None) => {
                    return send_terminal(sender, fail(walk.exhausted())).await;
                }
                Err(error) => {
                    return send_terminal(sender, fail(walk.fail(error))).await;
                }
            };
            let step = candidate.step.clone();
            let sent = candidate.request(request);
            let mut retry = 0;
            loop {
                if sender.is_closed() {
                    return Some(walk.attempts);
                }
                let started = Instant::now();
                let Some(limit) = walk.call_limit(started, inner.settings.attempt_timeout) else {
                    return send_terminal(sender, fail(walk.deadline_passed(&step))).await;
                };
                walk.calls += 1;
                let attempt = StreamAttempt {
                    candidate: &candidate,
                    request: &sent,
                    checks,
                    class: Some(plan.class),
                    stream: inner.settings.stream,
                    started,
                    first_event_by: started
                        + inner.settings.first_token_timeout.min(limit.duration),
                    limit,
                    sender,
                };
                let end = attempt.run().await;
                let latency = started.elapsed();
                match end {
                    AttemptEnd::Done {
                        response,
                        late_failure,
                    } => {
                        inner.breaker.record_success(&step.provider, &step.id);
                        let outcome = match &late_failure {
                            Some(failure) => Outcome::QualityFailed {
                                failure: failure.clone(),
                            },
                            None => Outcome::Ok,
                        };
                        let index = walk.record_call(
                            &step,
                            outcome,
                            latency,
                            Some(response.usage),
                            Next::Accept,
                        );
                        let summary = StreamSummary {
                            model: step.id.clone(),
                            provider: step.provider.clone(),
                            tier: step.tier,
                            cost_usd: walk.attempts[index].cost_usd,
                            response,
                            late_failure,
                            attempts: std::mem::take(&mut walk.attempts),
                        };
                        return send_terminal(sender, FallbackEvent::Done(Box::new(summary))).await;
                    }
                    AttemptEnd::ClientGone { usage } => {
                        tracing::debug!(model = step.id, "stream reader went away");
                        walk.record_call(
                            &step,
                            Outcome::Cancelled,
                            latency,
                            Some(usage),
                            Next::GiveUp,
                        );
                        return Some(walk.attempts);
                    }
                    AttemptEnd::Quality { failure, response } => {
                        inner.breaker.record_success(&step.provider, &step.id);
                        let next = walk.escalate(step.tier);
                        walk.record_call(
                            &step,
                            Outcome::QualityFailed { failure },
                            latency,
                            Some(response.usage).filter(|usage| *usage != Usage::default()),
                            next,
                        );
                        walk.last_answer = Some(Box::new(response));
                        break;
                    }
                    AttemptEnd::Failed(error) if error.is_client_error() => {
                        let (next, stop) = match walk.after_client_error(&step, &error) {
                            Ok(next) => (next, None),
                            Err(stop) => (Next::GiveUp, Some(stop)),
                        };
                        walk.record_call(&step, provider_outcome(&error), latency, None, next);
                        if let Some(stop) = stop {
                            return send_terminal(sender, fail(walk.fail(stop))).await;
                        }
                        break;
                    }
                    AttemptEnd::Failed(error) => {
                        let delay = walk.after_error(&step, &error, retry);
                        let next = match delay {
                            Some(delay) => Next::Retry {
                                after_ms: duration_ms(delay),
                            },
                            None => walk.failover(&step),
                        };
                        walk.record_call(&step, provider_outcome(&error), latency, None, next);
                        let Some(delay) = delay else {
                            break;
                        };
                        tokio::select! {
                            () = tokio::time::sleep(delay) => {}
                            () = sender.closed() => return Some(walk.attempts),
                        }
                        retry += 1;
                    }
                    AttemptEnd::Deadline { sent, usage } => {
                        walk.record_call(&step, Outcome::Deadline, latency, usage, Next::GiveUp);
                        let error = if sent {
                            FallbackError::StreamInterrupted {
                                model: step.id.clone(),
                                message: walk.deadline_error().to_string(),
                            }
                        } else {
                            walk.deadline_error()
                        };
                        return send_terminal(sender, fail(walk.fail(error))).await;
                    }
                    AttemptEnd::Interrupted { error, usage } => {
                        walk.breaker_failure(&step, &error);
                        walk.record_call(
                            &step,
                            Outcome::Interrupted {
                                message: error.to_string(),
                            },
                            latency,
                            usage,
                            Next::GiveUp,
                        );
                        let error = FallbackError::StreamInterrupted {
                            model: step.id.clone(),
                            message: error.to_string(),
                        };
                        return send_terminal(sender, fail(walk.fail(error))).await;
                    }
                }
            }
        }
    }
}

/// Sends a stream's terminal event; when its reader has gone, the attempts it carried are what
/// [`FallbackStream::cancel`] gets instead.
async fn send_terminal(
    sender: &mpsc::Sender<FallbackEvent>,
    event: FallbackEvent,
) -> Option<Vec<Attempt>> {
    match sender.send(event).await {
        Ok(()) => None,
        Err(mpsc::error::SendError(event)) => terminal_attempts(event),
    }
}

/// How one streamed call ended.
enum AttemptEnd {
    /// The whole answer was sent.
    Done {
        response: ChatResponse,
        late_failure: Option<QualityFailure>,
    },
    /// The reader went away; what the call used so far, estimated where the provider had not
    /// said.
    ClientGone { usage: Usage },
    /// A check failed before anything was sent.
    Quality {
        failure: QualityFailure,
        response: ChatResponse,
    },
    /// The provider failed before anything was sent.
    Failed(ProviderError),
    /// The overall deadline passed (`sent`: after output reached the caller).
    Deadline { sent: bool, usage: Option<Usage> },
    /// The provider failed after output reached the caller.
    Interrupted {
        error: ProviderError,
        usage: Option<Usage>,
    },
}

/// One streamed call and its hold-back buffer.
struct StreamAttempt<'a> {
    candidate: &'a Candidate,
    request: &'a ChatRequest,
    checks: &'a QualityChecks,
    class: Option<RouteClass>,
    stream: StreamConfig,
    started: Instant,
    first_event_by: Instant,
    limit: CallLimit,
    sender: &'a mpsc::Sender<FallbackEvent>,
}

impl StreamAttempt<'_> {
    async fn run(self) -> AttemptEnd {
        let step = &self.candidate.step;
        let end_by = self.started + self.limit.duration;
        let opened = tokio::select! {
            opened = tokio::time::timeout_at(
                self.first_event_by,
                self.candidate.provider.stream(&step.api_name, self.request),
            ) => opened,
            () = self.sender.closed() => return self.client_gone(Usage::default(), ""),
        };
        let mut events = match opened {
            Err(_) => return self.timed_out(self.first_event_by, false, None),
            Ok(Err(error)) => return AttemptEnd::Failed(error),
            Ok(Ok(events)) => events,
        };
        let mut answer = StreamAccumulator::default();
        let mut held: Vec<StreamEvent> = Vec::new();
        let mut sent = false;
        let mut got_first = false;
        loop {
            let until = if got_first {
                end_by
            } else {
                self.first_event_by
            };
            // A reader that goes away ends the upstream call now, not at its next event.
            let item = tokio::select! {
                item = tokio::time::timeout_at(until, events.next()) => item,
                () = self.sender.closed() => return self.client_gone_during(&answer),
            };
            let item = match item {
                Err(_) => return self.timed_out(until, sent, usage_of(&answer)),
                Ok(item) => item,
            };
            match item {
                Some(Ok(event)) => {
                    got_first = true;
                    answer.push(&event);
                    if sent {
                        if self.sender.send(FallbackEvent::Delta(event)).await.is_err() {
                            return self.client_gone_during(&answer);
                        }
                        continue;
                    }
                    let is_tool_call = matches!(event, StreamEvent::ToolCallDelta { .. });
                    held.push(event);
                    if !is_tool_call && !head_complete(answer.text(), self.stream) {
                        continue;
                    }
                    if !is_tool_call
                        && let Err(failure) = self.checks.check_prefix(self.request, answer.text())
                    {
                        return AttemptEnd::Quality {
                            failure,
                            response: answer.into_response(&step.api_name),
                        };
                    }
                    if !self.release(&mut held).await {
                        return self.client_gone_during(&answer);
                    }
                    sent = true;
                }
                Some(Err(error)) if sent => {
                    return AttemptEnd::Interrupted {
                        error,
                        usage: usage_of(&answer),
                    };
                }
                Some(Err(error)) => return AttemptEnd::Failed(error),
                None => {
                    let response = answer.into_response(&step.api_name);
                    let verdict = self.checks.check(self.request, self.class, &response);
                    if sent {
                        return AttemptEnd::Done {
                            response,
                            late_failure: verdict.err(),
                        };
                    }
                    if let Err(failure) = verdict {
                        return AttemptEnd::Quality { failure, response };
                    }
                    if !self.release(&mut held).await {
                        return self.client_gone(response.usage, &response.text);
                    }
                    return AttemptEnd::Done {
                        response,
                        late_failure: None,
                    };
                }
            }
        }
    }

    /// [`StreamAttempt::client_gone`] with what the call had produced so far.
    fn client_gone_during(&self, answer: &StreamAccumulator) -> AttemptEnd {
        self.client_gone(usage_of(answer).unwrap_or_default(), answer.text())
    }

    /// The reader went away mid-call: the call is billed for the request's input and what
    /// it had produced (`text`). The input tokens the provider `reported` stand, else the
    /// request's estimate; output tokens are the larger of the reported figure and `text`
    /// counted with the model's token counter (OpenAI-style streams report usage only at
    /// their end).
    fn client_gone(&self, reported: Usage, text: &str) -> AttemptEnd {
        let step = &self.candidate.step;
        let counter = TokenCounter::for_model(&step.provider, &step.api_name);
        let mut usage = reported;
        if usage.input_tokens == 0 {
            usage.input_tokens = estimate_input_tokens(self.request, counter);
        }
        // Anthropic reports output tokens at the start (1) and the end; the text so far is
        // the better figure until then.
        usage.output_tokens = usage.output_tokens.max(counter.count(text));
        AttemptEnd::ClientGone { usage }
    }

    /// Sends the start event and the held-back events; `false` when the reader is gone.
    async fn release(&self, held: &mut Vec<StreamEvent>) -> bool {
        let step = &self.candidate.step;
        let start = FallbackEvent::Start {
            model: step.id.clone(),
            provider: step.provider.clone(),
            tier: step.tier,
        };
        if self.sender.send(start).await.is_err() {
            return false;
        }
        for event in held.drain(..) {
            if self.sender.send(FallbackEvent::Delta(event)).await.is_err() {
                return false;
            }
        }
        true
    }

    fn timed_out(&self, at: Instant, sent: bool, usage: Option<Usage>) -> AttemptEnd {
        let deadline_bound =
            self.limit.bound_by_deadline && at >= self.started + self.limit.duration;
        if deadline_bound {
            return AttemptEnd::Deadline { sent, usage };
        }
        let phase = if at == self.first_event_by && !sent {
            TimeoutPhase::FirstToken
        } else {
            TimeoutPhase::Total
        };
        let error = ProviderError::Timeout {
            provider: self.candidate.step.provider.clone(),
            phase,
        };
        if sent {
            AttemptEnd::Interrupted { error, usage }
        } else {
            AttemptEnd::Failed(error)
        }
    }
}

/// Whether enough of the answer is in to run the early checks: non-empty text and either
/// `holdback_chars` characters or (if enabled) a finished first sentence.
fn head_complete(text: &str, config: StreamConfig) -> bool {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return false;
    }
    if trimmed.chars().count() >= config.holdback_chars {
        return true;
    }
    config.holdback_until_sentence && ends_a_sentence(text)
}

/// A sentence end: `.`, `!` or `?` followed by whitespace, or a line break after text.
fn ends_a_sentence(text: &str) -> bool {
    let trimmed = text.trim_start();
    let mut chars = trimmed.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('.' | '!' | '?', Some(next)) if next.is_whitespace() => return true,
            ('\n', _) => return true,
            _ => {}
        }
    }
    false
}

fn usage_of(answer: &StreamAccumulator) -> Option<Usage> {
    let usage = answer.clone().into_response("").usage;
    (usage != Usage::default()).then_some(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_needs_text_and_a_sentence_or_enough_chars() {
        let config = StreamConfig {
            holdback_chars: 10,
            holdback_until_sentence: true,
        };
        assert!(!head_complete("   ", config));
        assert!(!head_complete("Hello", config));
        assert!(head_complete("Hi. ", config));
        assert!(head_complete("Hi\nthere", config));
        assert!(head_complete("Hello world", config));
        assert!(!head_complete("3.14", config));
        let no_sentence = StreamConfig {
            holdback_until_sentence: false,
            ..config
        };
        assert!(!head_complete("Hi. ", no_sentence));
        let zero = StreamConfig {
            holdback_chars: 0,
            holdback_until_sentence: false,
        };
        assert!(head_complete("H", zero));
    }
}
