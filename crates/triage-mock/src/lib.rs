//! A scripted mock upstream for tests and demos: one axum server speaking OpenAI Chat
//! Completions (`…/chat/completions`), Anthropic Messages (`/v1/messages`) and Gemini
//! (`/v1beta/models/{model}:generateContent`, `:streamGenerateContent?alt=sse`), streaming
//! included. It answers from a queue of [`Scenario`]s, else from a `[mock:NAME]` marker in the
//! request (see [`Scenario::from_marker`]), else by echoing the last user message; and it
//! records every request it receives. It also serves the three providers' batch APIs in memory
//! (OpenAI Files + Batches, Anthropic Message Batches, Gemini batch mode), each line answered by
//! the same logic, with partial failure, expiry and cancellation (see the `batch` module).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
//! use triage_mock::{MockUpstream, Scenario};
//!
//! let mock = MockUpstream::start().await?;
//! mock.push(Scenario::status(429).with_retry_after("2"));
//! mock.push(Scenario::text("hello"));
//! // Point OpenAI clients at mock.openai_base_url(), Anthropic and Gemini ones at mock.url().
//! assert!(mock.url().starts_with("http://127.0.0.1:"));
//! assert!(mock.requests().is_empty());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod batch;
mod cache;
mod scenario;
mod wire;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Response, StatusCode, Uri};
use axum::routing::any;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use scenario::{MockFinish, MockUsage, Reply, Scenario};
use wire::{Call, Ending, Wire};

/// One request the mock received, for asserting the exact wire format.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// Headers, names lower-case; repeated ones joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The body parsed as JSON (`Value::Null` when it was not JSON).
    pub body: Value,
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<VecDeque<Scenario>>,
    requests: Mutex<Vec<RecordedRequest>>,
    batches: Mutex<batch::Store>,
    /// The prompt cache, when simulated ([`MockHandle::simulate_prompt_cache`]).
    prompt_cache: Mutex<Option<cache::PromptCache>>,
}

/// A handle on a mock's script and record, cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct MockHandle {
    shared: Arc<Shared>,
}

impl MockHandle {
    /// Queues a scenario for the next request that arrives (of any protocol).
    pub fn push(&self, scenario: Scenario) {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(scenario);
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forgets the recorded requests and queued scenarios.
    pub fn reset(&self) {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// From now on, answers count their prompt's tokens (about four characters a token, not
    /// the scripted usage) and serve repeated prefixes from a prompt cache per model, as the
    /// providers do: OpenAI and Gemini implicitly (the prompt before the last message, from
    /// 1,024 tokens), Anthropic up to the last `cache_control` mark (written on a miss, read on
    /// a hit), each warm for five minutes.
    pub fn simulate_prompt_cache(&self) {
        let mut cache = self
            .shared
            .prompt_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cache.get_or_insert_with(cache::PromptCache::default);
    }

    /// The usage the prompt cache gives a request, when it is simulated.
    fn cached_usage(&self, call: &Call, body: &Value, output: u64) -> Option<MockUsage> {
        let mut cache = self
            .shared
            .prompt_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cache
            .as_mut()
            .map(|cache| cache.usage(call.wire, &call.model, body, output))
    }

    /// The content of every file uploaded to `POST /v1/files` (OpenAI batch input files), in
    /// upload order: the JSONL exactly as the client sent it.
    pub fn uploaded_files(&self) -> Vec<String> {
        self.shared
            .batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .uploads()
    }

    fn next_scenario(&self) -> Option<Scenario> {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
    }

    fn record(&self, request: RecordedRequest) {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
    }
}

/// The mock's routes, for serving on a listener of your own.
pub fn router(handle: MockHandle) -> Router {
    Router::new().fallback(any(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let handle = handle.clone();
            async move { handle_request(&handle, method, &uri, &headers, &body).await }
        },
    ))
}

/// A running mock server; stops when dropped.
#[derive(Debug)]
pub struct MockUpstream {
    address: SocketAddr,
    handle: MockHandle,
    shutdown: Option<oneshot::Sender<()>>,
}

impl MockUpstream {
    /// Starts on a free port of 127.0.0.1.
    pub async fn start() -> std::io::Result<MockUpstream> {
        MockUpstream::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts on `address`.
    pub async fn bind(address: SocketAddr) -> std::io::Result<MockUpstream> {
        let listener = TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let handle = MockHandle::default();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let app = router(handle.clone());
        // Small SSE chunks must not wait for Nagle's algorithm: without NODELAY every call
        // gains ~40 ms of delayed-ACK latency, which would swamp latency measurements.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY");
            }
        });
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "mock upstream stopped");
            }
        });
        Ok(MockUpstream {
            address,
            handle,
            shutdown: Some(shutdown),
        })
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The host root, `http://127.0.0.1:PORT`: the base URL for Anthropic and Gemini clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// `http://127.0.0.1:PORT/v1`: the base URL for OpenAI and OpenAI-compatible clients.
    pub fn openai_base_url(&self) -> String {
        format!("{}/v1", self.url())
    }

    /// The script-and-record handle.
    pub fn handle(&self) -> MockHandle {
        self.handle.clone()
    }

    /// Queues a scenario for the next request.
    pub fn push(&self, scenario: Scenario) {
        self.handle.push(scenario);
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.handle.requests()
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// The scenario of a `[mock:NAME]` marker anywhere in the body.
fn marker(body: &str) -> Option<Scenario> {
    Scenario::from_marker(marker_name(body)?)
}

/// The `NAME` of the first `[mock:NAME]` marker in the body.
pub(crate) fn marker_name(body: &str) -> Option<&str> {
    let start = body.find("[mock:")? + "[mock:".len();
    let end = body[start..].find(']')? + start;
    Some(&body[start..end])
}

async fn handle_request(
    handle: &MockHandle,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response<Body> {
    let path = uri.path().to_owned();
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut recorded_headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        recorded_headers
            .entry(name.as_str().to_owned())
            .and_modify(|existing| {
                existing.push_str(", ");
                existing.push_str(&value);
            })
            .or_insert(value);
    }
    handle.record(RecordedRequest {
        method: method.to_string(),
        path: path.clone(),
        query: uri.query().map(str::to_owned),
        headers: recorded_headers,
        body: json.clone(),
    });

    if let Some(response) = batch::handle(handle, &method, &path, headers, body) {
        return response;
    }
    let call = if path.ends_with("/chat/completions") {
        Call {
            wire: Wire::OpenAi,
            model: json["model"].as_str().unwrap_or_default().to_owned(),
            stream: json["stream"] == true,
            include_usage: json["stream_options"]["include_usage"] == true,
            last_user_text: wire::last_user_text(Wire::OpenAi, &json),
            thinking: false,
        }
    } else if path.ends_with("/v1/messages") {
        Call {
            wire: Wire::Anthropic,
            model: json["model"].as_str().unwrap_or_default().to_owned(),
            stream: json["stream"] == true,
            include_usage: false,
            last_user_text: wire::last_user_text(Wire::Anthropic, &json),
            thinking: wire::wants_thinking(Wire::Anthropic, &json),
        }
    } else if let Some((model, action)) = path
        .rsplit_once("/models/")
        .and_then(|(_, rest)| rest.split_once(':'))
    {
        Call {
            wire: Wire::Gemini,
            model: model.to_owned(),
            stream: action == "streamGenerateContent",
            include_usage: false,
            last_user_text: wire::last_user_text(Wire::Gemini, &json),
            thinking: false,
        }
    } else {
        return plain(
            StatusCode::NOT_FOUND,
            format!("the mock upstream does not serve {path}"),
        );
    };
    if method != Method::POST {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "use POST".to_owned());
    }
    if let Some(refusal) = wire::refusal(call.wire, &call.model, &json) {
        let mut response = plain(StatusCode::BAD_REQUEST, refusal.to_string());
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        );
        return response;
    }

    let mut scenario = handle
        .next_scenario()
        .or_else(|| marker(&String::from_utf8_lossy(body)))
        .unwrap_or_else(Scenario::echo);
    // A request the upstream refuses is not processed, so it neither reads nor warms the cache.
    if !matches!(scenario.reply, Reply::Error { .. })
        && let Some(usage) = handle.cached_usage(&call, &json, scenario.usage.output)
    {
        scenario.usage = usage;
    }
    tokio::time::sleep(scenario.delay_before_headers).await;
    let rendered = wire::render(&call, &scenario);

    let first_delay = scenario.delay_before_first_chunk;
    let between = scenario.delay_between_chunks;
    let ending = rendered.ending;
    let chunks: Vec<(std::time::Duration, Bytes)> = rendered
        .chunks
        .into_iter()
        .enumerate()
        .map(|(index, chunk)| {
            (
                if index == 0 { first_delay } else { between },
                Bytes::from(chunk),
            )
        })
        .collect();
    let body_stream = futures::stream::unfold(
        (chunks.into_iter(), false),
        move |(mut chunks, finished)| async move {
            if finished {
                return None;
            }
            match chunks.next() {
                Some((delay, chunk)) => {
                    tokio::time::sleep(delay).await;
                    Some((Ok::<Bytes, std::io::Error>(chunk), (chunks, false)))
                }
                None if ending == Ending::Abort => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "mock cut",
                    )),
                    (chunks, true),
                )),
                None => None,
            }
        },
    );
    let mut response = Response::new(Body::from_stream(body_stream));
    *response.status_mut() =
        StatusCode::from_u16(rendered.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in rendered.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            axum::http::HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn plain(status: StatusCode, text: String) -> Response<Body> {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A refused request neither reads nor warms the simulated prompt cache: the request after
    /// it is the first the cache sees.
    #[tokio::test]
    async fn a_failed_request_does_not_warm_the_prompt_cache() {
        let mock = MockUpstream::start().await.unwrap();
        mock.handle().simulate_prompt_cache();
        mock.push(Scenario::status(500));
        let body = json!({"model": "gpt-4o-mini", "messages": [
            {"role": "system", "content": "policy ".repeat(1_000)},
            {"role": "user", "content": "first question"}
        ]});
        let client = reqwest::Client::new();
        let cached = || async {
            let response = client
                .post(format!("{}/chat/completions", mock.openai_base_url()))
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let value: Value = response.json().await.unwrap_or(Value::Null);
            (
                status,
                value["usage"]["prompt_tokens_details"]["cached_tokens"].as_u64(),
            )
        };
        assert_eq!(cached().await.0, 500);
        assert_eq!(cached().await, (200, Some(0)));
        let (status, hit) = cached().await;
        assert_eq!(status, 200);
        assert!(hit.is_some_and(|tokens| tokens >= 1_024), "{hit:?}");
    }
}
