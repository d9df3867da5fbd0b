//! The HTTP plumbing every wire module shares: POST a JSON body under the first-token and total
//! timeouts, map error answers through the module's own mapping, and turn an SSE body into
//! typed events through the module's stream decoder.

use std::collections::VecDeque;

use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue};
use tokio::time::{Instant, timeout_at};
use triage_types::StreamEvent;

use crate::error::HttpFailure;
use crate::retry::retry_after_from_headers;
use crate::sse::{SseDecoder, SseEvent};
use crate::{ApiKey, EventStream, ProviderError, ProviderSettings, TimeoutPhase};

/// A protocol's mapping from an HTTP error answer (status, parsed headers, body text) to the
/// error taxonomy.
pub(crate) type ErrorMapper = fn(&HttpFailure<'_>, &str) -> ProviderError;

/// Turns a protocol's SSE events into typed events.
pub(crate) trait StreamDecoder: Send + 'static {
    /// Handles one SSE event.
    fn event(&mut self, event: SseEvent) -> Result<Vec<StreamEvent>, ProviderError>;
    /// Whether the protocol's terminal event was seen; reading stops there.
    fn is_done(&self) -> bool;
    /// The body ended before [`StreamDecoder::is_done`]: the remaining events, or (for
    /// protocols with a terminal event) the error that a cut stream is.
    fn end(&mut self) -> Result<Vec<StreamEvent>, ProviderError>;
}

/// One provider's client-side HTTP state.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    pub(crate) client: reqwest::Client,
    pub(crate) settings: ProviderSettings,
    pub(crate) key: Option<ApiKey>,
    pub(crate) map_error: ErrorMapper,
}

/// A header value holding a secret: marked sensitive so `Debug` of the request hides it.
pub(crate) fn secret_header(provider: &str, value: &str) -> Result<HeaderValue, ProviderError> {
    let mut header = HeaderValue::from_str(value).map_err(|_| ProviderError::BadRequest {
        provider: provider.to_owned(),
        message: "the API key contains characters not allowed in an HTTP header".to_owned(),
    })?;
    header.set_sensitive(true);
    Ok(header)
}

impl Transport {
    fn provider(&self) -> String {
        self.settings.provider_id.clone()
    }

    fn deadlines(&self) -> (Instant, Instant, TimeoutPhase) {
        let start = Instant::now();
        let timeouts = self.settings.timeouts;
        let total = start + timeouts.total;
        if timeouts.first_token < timeouts.total {
            (
                start + timeouts.first_token,
                total,
                TimeoutPhase::FirstToken,
            )
        } else {
            (total, total, TimeoutPhase::Total)
        }
    }

    fn timeout(&self, phase: TimeoutPhase) -> ProviderError {
        ProviderError::Timeout {
            provider: self.provider(),
            phase,
        }
    }

    fn transport_error(&self, error: &reqwest::Error) -> ProviderError {
        if error.is_connect() && error.is_timeout() {
            return self.timeout(TimeoutPhase::Connect);
        }
        if error.is_timeout() {
            return self.timeout(TimeoutPhase::Total);
        }
        let mut message = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        ProviderError::Connection {
            provider: self.provider(),
            message: self.scrub(message),
        }
    }

    fn scrub(&self, text: String) -> String {
        match &self.key {
            Some(key) => key.scrub(text),
            None => text,
        }
    }

    /// Sends the request and waits for the headers; error statuses are read and mapped.
    async fn send(
        &self,
        url: &str,
        headers: HeaderMap,
        body: &serde_json::Value,
        first: Instant,
        total: Instant,
        first_phase: TimeoutPhase,
    ) -> Result<reqwest::Response, ProviderError> {
        let request = self.client.post(url).headers(headers).json(body);
        self.send_request(url, request, first, total, first_phase)
            .await
    }

    /// Sends a built request and waits for the headers; error statuses are read and mapped.
    async fn send_request(
        &self,
        url: &str,
        request: reqwest::RequestBuilder,
        first: Instant,
        total: Instant,
        first_phase: TimeoutPhase,
    ) -> Result<reqwest::Response, ProviderError> {
        tracing::debug!(provider = %self.settings.provider_id, %url, "provider request");
        let request = request.send();
        let response = match timeout_at(first, request).await {
            Err(_) => return Err(self.timeout(first_phase)),
            Ok(Err(error)) => return Err(self.transport_error(&error)),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = retry_after_from_headers(response.headers());
        let text = match timeout_at(total, response.bytes()).await {
            Ok(Ok(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
            Ok(Err(_)) | Err(_) => String::new(),
        };
        let failure = HttpFailure {
            provider: &self.settings.provider_id,
            status: status.as_u16(),
            retry_after,
        };
        let error = (self.map_error)(&failure, &self.scrub(text));
        tracing::debug!(%error, "provider error answer");
        Err(error)
    }

    /// POSTs an empty body to `url` (an action on a resource, such as cancelling a batch) and
    /// reads the whole answer.
    pub(crate) async fn post_empty(
        &self,
        url: &str,
        headers: HeaderMap,
    ) -> Result<Bytes, ProviderError> {
        let request = self.client.post(url).headers(headers).body(Vec::new());
        self.fetch(url, request).await
    }

    /// POSTs `body` and returns the whole success body.
    pub(crate) async fn post_json(
        &self,
        url: &str,
        headers: HeaderMap,
        body: &serde_json::Value,
    ) -> Result<Bytes, ProviderError> {
        let (first, total, first_phase) = self.deadlines();
        let response = self
            .send(url, headers, body, first, total, first_phase)
            .await?;
        match timeout_at(total, response.bytes()).await {
            Err(_) => Err(self.timeout(TimeoutPhase::Total)),
            Ok(Err(error)) => Err(self.transport_error(&error)),
            Ok(Ok(bytes)) => Ok(bytes),
        }
    }

    /// Sends any request (a batch API's GET, a multipart upload) under the same timeouts and
    /// error mapping as [`Transport::post_json`], and returns the whole success body.
    pub(crate) async fn fetch(
        &self,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Bytes, ProviderError> {
        let (first, total, first_phase) = self.deadlines();
        let response = self
            .send_request(url, request, first, total, first_phase)
            .await?;
        match timeout_at(total, response.bytes()).await {
            Err(_) => Err(self.timeout(TimeoutPhase::Total)),
            Ok(Err(error)) => Err(self.transport_error(&error)),
            Ok(Ok(bytes)) => Ok(bytes),
        }
    }

    /// POSTs `body` and returns its SSE answer decoded by `decoder`.
    pub(crate) async fn post_stream<D: StreamDecoder>(
        &self,
        url: &str,
        headers: HeaderMap,
        body: &serde_json::Value,
        decoder: D,
    ) -> Result<EventStream, ProviderError> {
        let (first, total, first_phase) = self.deadlines();
        let response = self
            .send(url, headers, body, first, total, first_phase)
            .await?;
        let state = StreamState {
            transport: self.clone(),
            bytes: response.bytes_stream().boxed(),
            sse: SseDecoder::default(),
            decoder,
            pending: VecDeque::new(),
            pending_error: None,
            first,
            total,
            first_phase,
            got_first: false,
            done: false,
        };
        Ok(futures::stream::unfold(state, StreamState::next).boxed())
    }
}

struct StreamState<D> {
    transport: Transport,
    bytes: futures::stream::BoxStream<'static, Result<Bytes, reqwest::Error>>,
    sse: SseDecoder,
    decoder: D,
    pending: VecDeque<StreamEvent>,
    pending_error: Option<ProviderError>,
    first: Instant,
    total: Instant,
    first_phase: TimeoutPhase,
    got_first: bool,
    done: bool,
}

impl<D: StreamDecoder> StreamState<D> {
    async fn next(mut self) -> Option<(Result<StreamEvent, ProviderError>, Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.got_first = true;
                return Some((Ok(event), self));
            }
            if let Some(error) = self.pending_error.take() {
                self.done = true;
                return Some((Err(error), self));
            }
            if self.done {
                return None;
            }
            let (deadline, phase) = if self.got_first {
                (self.total, TimeoutPhase::Total)
            } else {
                (self.first, self.first_phase)
            };
            match timeout_at(deadline, self.bytes.next()).await {
                Err(_) => {
                    self.done = true;
                    let error = self.transport.timeout(phase);
                    return Some((Err(error), self));
                }
                Ok(None) => {
                    self.done = true;
                    match self.decoder.end() {
                        Ok(events) => self.pending.extend(events),
                        Err(error) => self.pending_error = Some(error),
                    }
                }
                Ok(Some(Err(error))) => {
                    self.done = true;
                    self.pending_error = Some(self.transport.transport_error(&error));
                }
                Ok(Some(Ok(chunk))) => self.chunk(&chunk),
            }
        }
    }

    fn chunk(&mut self, chunk: &[u8]) {
        let events = match self.sse.push(chunk) {
            Ok(events) => events,
            Err(_) => {
                self.done = true;
                self.pending_error = Some(ProviderError::MalformedResponse {
                    provider: self.transport.provider(),
                    message: "stream is not valid UTF-8".to_owned(),
                });
                return;
            }
        };
        for event in events {
            match self.decoder.event(event) {
                Ok(decoded) => self.pending.extend(decoded),
                Err(error) => {
                    self.done = true;
                    self.pending_error = Some(error);
                    return;
                }
            }
            if self.decoder.is_done() {
                self.done = true;
                return;
            }
        }
    }
}

/// Parses a success body as the protocol's JSON, or says it is malformed.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(
    provider: &str,
    bytes: &[u8],
) -> Result<T, ProviderError> {
    serde_json::from_slice(bytes).map_err(|error| ProviderError::MalformedResponse {
        provider: provider.to_owned(),
        message: format!("{error} in {}", preview(bytes)),
    })
}

/// The start of a body, for error messages.
pub(crate) fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        out.push('…');
    }
    format!("`{out}`")
}

/// An `f32` as the JSON number it reads as (`0.2`, not `0.20000000298023224`).
pub(crate) fn float_json(value: f32) -> serde_json::Value {
    value
        .to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(serde_json::Value::Null, serde_json::Value::Number)
}
