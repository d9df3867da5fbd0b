//! The HTTP handlers: chat completions, responses, messages, token counts, models, health, metrics, the
//! proxy-key check and the not-found fallback.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use triage_engine::{Caller, Completed, Failed};
use triage_limits::ClientKey;
use triage_types::ChatRequest;

use crate::dispatch::{client_error, headers};
use crate::error::{ApiError, Dialect};
use crate::metrics::InFlight;
use crate::state::{AppState, Inner};
use crate::stream::Encoder;
use crate::{ServerError, anthropic, openai, responses};

/// `POST /v1/chat/completions`.
pub(crate) async fn chat_completions(State(state): State<AppState>, request: Request) -> Response {
    let key = request.extensions().get::<Arc<ClientKey>>().cloned();
    let parsed = match read_parsed(&state, request, Dialect::OpenAi, openai::parse_request).await {
        Ok(parsed) => parsed,
        Err(refused) => return refused,
    };
    let call = Call {
        protocol: Dialect::OpenAi,
        model: parsed.model,
        request: parsed.request,
        stream: parsed.stream,
        include_usage: parsed.include_usage,
        echo: serde_json::Map::new(),
        key,
    };
    serve(state.inner, call).await
}

/// `POST /v1/responses`: the OpenAI Responses API, answered from the request's own `input`.
pub(crate) async fn responses(State(state): State<AppState>, request: Request) -> Response {
    let key = request.extensions().get::<Arc<ClientKey>>().cloned();
    let parsed = match read_parsed(
        &state,
        request,
        Dialect::Responses,
        responses::parse_request,
    )
    .await
    {
        Ok(parsed) => parsed,
        Err(refused) => return refused,
    };
    let call = Call {
        protocol: Dialect::Responses,
        model: parsed.model,
        request: parsed.request,
        stream: parsed.stream,
        include_usage: true,
        echo: parsed.echo,
        key,
    };
    serve(state.inner, call).await
}

/// `POST /v1/messages`.
pub(crate) async fn messages(State(state): State<AppState>, request: Request) -> Response {
    let key = request.extensions().get::<Arc<ClientKey>>().cloned();
    let beta = anthropic_beta(request.headers());
    let mut parsed = match read_parsed(
        &state,
        request,
        Dialect::Anthropic,
        anthropic::parse_request,
    )
    .await
    {
        Ok(parsed) => parsed,
        Err(refused) => return refused,
    };
    parsed.request.anthropic_beta = beta;
    let call = Call {
        protocol: Dialect::Anthropic,
        model: parsed.model,
        request: parsed.request,
        stream: parsed.stream,
        include_usage: true,
        echo: serde_json::Map::new(),
        key,
    };
    serve(state.inner, call).await
}

/// `POST /v1/messages/count_tokens`: the input tokens of a Messages request, counted for the
/// model it would be sent to first (`auto` and route aliases are planned as a real request
/// is) with that model's token counter, the figure the router prices with. No upstream call
/// is made and nothing is recorded; the model counted for is in `x-triage-model`.
pub(crate) async fn count_tokens(State(state): State<AppState>, request: Request) -> Response {
    let parsed = match read_parsed(
        &state,
        request,
        Dialect::Anthropic,
        anthropic::parse_count_request,
    )
    .await
    {
        Ok(parsed) => parsed,
        Err(refused) => return refused,
    };
    let planned = match state.inner.engine.plan(&parsed.model, &parsed.request) {
        Ok(planned) => planned,
        Err(error) => {
            return client_error(&error, 0)
                .speaking(Dialect::Anthropic)
                .into_response();
        }
    };
    // The plan counts the input as its first model does.
    let input_tokens = planned.plan.estimated_input_tokens;
    let mut response = Json(json!({"input_tokens": input_tokens})).into_response();
    if let Ok(value) = HeaderValue::from_str(&planned.plan.primary.id) {
        response
            .headers_mut()
            .insert(crate::dispatch::HEADER_MODEL, value);
    }
    response
}

/// The `anthropic-beta` features a request asks for: every value of every such header, split
/// at commas.
fn anthropic_beta(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("anthropic-beta")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|feature| !feature.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The request's body, within the body limit and the body-read timeout, parsed by `parse`;
/// a failure of either is refused in `dialect`'s error shape.
async fn read_parsed<T>(
    state: &AppState,
    request: Request,
    dialect: Dialect,
    parse: fn(&[u8]) -> Result<T, ServerError>,
) -> Result<T, Response> {
    read_body(state, request)
        .await
        .and_then(|body| parse(&body))
        .map_err(|error| error.speaking(dialect).into_response())
}

/// The request's body, within the body limit and the body-read timeout.
async fn read_body(state: &AppState, request: Request) -> Result<Bytes, ServerError> {
    let options = &state.inner.options;
    let body = tokio::time::timeout(
        options.body_read_timeout,
        Bytes::from_request(request, state),
    )
    .await
    .map_err(|_| ServerError::BodyTimeout {
        after_ms: u64::try_from(options.body_read_timeout.as_millis()).unwrap_or(u64::MAX),
    })?;
    body.map_err(|rejection: BytesRejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ServerError::PayloadTooLarge {
                limit: state.inner.options.body_limit_bytes,
            }
        } else {
            ServerError::MalformedJson {
                message: rejection.body_text(),
            }
        }
    })
}

/// A parsed chat request in either protocol.
struct Call {
    protocol: Dialect,
    model: String,
    request: ChatRequest,
    stream: bool,
    include_usage: bool,
    /// The request fields a Responses answer repeats (empty for the other protocols).
    echo: serde_json::Map<String, Value>,
    /// The client key it came with.
    key: Option<Arc<ClientKey>>,
}

/// Runs a parsed request through the engine, which records it whatever happens, and shapes
/// the outcome in the caller's protocol. The engine's part runs in its own task: a client that
/// goes away before the first byte drops this handler, not the upstream call it already
/// started, so that call still ends and is recorded with its usage and cost (a started stream
/// is then dropped, which stops it and records it as `client_disconnected`).
async fn serve(state: Arc<Inner>, call: Call) -> Response {
    let in_flight = InFlight::new(&state.metrics);
    let protocol = call.protocol;
    let caller = Caller {
        entry: protocol.as_str().to_owned(),
        streamed: call.stream,
        key: call.key.clone(),
    };
    let engine = state.engine.clone();
    if call.stream {
        let started =
            tokio::spawn(async move { engine.stream(caller, &call.model, call.request).await });
        return match started.await {
            Ok(Ok(stream)) => {
                let encoder =
                    Encoder::new(protocol, &stream.request_id, call.include_usage, call.echo);
                crate::stream::respond(stream, encoder, in_flight)
            }
            Ok(Err(failed)) => refuse(protocol, &failed),
            Err(error) => task_failed(protocol, &error),
        };
    }
    let echo = call.echo;
    let completed =
        tokio::spawn(async move { engine.complete(caller, &call.model, &call.request).await });
    match completed.await {
        Ok(Ok(completed)) => answer(protocol, echo, &completed),
        Ok(Err(failed)) => refuse(protocol, &failed),
        Err(error) => task_failed(protocol, &error),
    }
}

/// The engine's task panicked (a bug): logged, and a 500 without details for the client.
fn task_failed(protocol: Dialect, error: &tokio::task::JoinError) -> Response {
    tracing::error!(%error, "the request's task failed");
    ServerError::Internal.speaking(protocol).into_response()
}

fn refuse(protocol: Dialect, failed: &Failed) -> Response {
    client_error(&failed.error, failed.attempts.len())
        .speaking(protocol)
        .into_response()
}

fn answer(
    protocol: Dialect,
    echo: serde_json::Map<String, Value>,
    completed: &Completed,
) -> Response {
    let Completed {
        planned,
        answer,
        accounted,
    } = completed;
    let headers = headers(
        &accounted.request_id,
        planned,
        &answer.model,
        Some(accounted),
    );
    let body = match protocol {
        Dialect::OpenAi => openai::completion(
            &openai::CompletionId {
                id: format!("chatcmpl-{}", accounted.request_id),
                created: time::OffsetDateTime::now_utc().unix_timestamp(),
                model: answer.model.clone(),
            },
            &answer.response,
        ),
        Dialect::Anthropic => anthropic::message(
            &format!("msg_{}", accounted.request_id),
            &answer.model,
            &answer.response,
        ),
        Dialect::Responses => responses::response(
            &responses::ResponseId {
                request_id: accounted.request_id.clone(),
                created_at: time::OffsetDateTime::now_utc().unix_timestamp(),
                model: answer.model.clone(),
                echo,
            },
            &answer.response,
        ),
    };
    (StatusCode::OK, headers, Json(body)).into_response()
}

/// `GET /v1/models`: `auto`, the route aliases and the catalog's models, in OpenAI's list shape.
pub(crate) async fn models(State(state): State<AppState>) -> Response {
    let engine = &state.inner.engine;
    let mut data = vec![
        json!({"id": crate::AUTO_MODEL, "object": "model", "created": 0, "owned_by": "triage"}),
    ];
    for alias in engine.router().policy().aliases().keys() {
        data.push(json!({"id": alias, "object": "model", "created": 0, "owned_by": "triage"}));
    }
    for model in engine.catalog().models() {
        data.push(
            json!({"id": model.id, "object": "model", "created": 0, "owned_by": model.provider}),
        );
    }
    Json(json!({"object": "list", "data": data})).into_response()
}

/// `GET /healthz`.
pub(crate) async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// `GET /metrics`: Prometheus (OpenMetrics) text.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let inner = &state.inner;
    inner.metrics.refresh(
        &inner.engine.executor().breaker().snapshot(),
        inner
            .engine
            .ledger()
            .map_or(0, |ledger| ledger.stats().dropped),
        inner.engine.limits().stats(),
    );
    let mut body = String::new();
    if prometheus_client::encoding::text::encode(&mut body, &inner.registry).is_err() {
        return ServerError::Internal
            .speaking(Dialect::OpenAi)
            .into_response();
    }
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

/// Unknown paths: 404 in the shape of the protocol the path looks like.
pub(crate) async fn not_found(request: Request) -> Response {
    let path = request.uri().path().to_owned();
    ServerError::NotFound {
        method: request.method().to_string(),
        path: path.clone(),
    }
    .speaking(Dialect::of_path(&path))
    .into_response()
}

/// A known path asked with the wrong method: a 405 in the dialect's error shape.
pub(crate) async fn method_not_allowed(request: Request) -> Response {
    let path = request.uri().path().to_owned();
    ServerError::MethodNotAllowed {
        method: request.method().to_string(),
        path: path.clone(),
    }
    .speaking(Dialect::of_path(&path))
    .into_response()
}

/// Admits a chat request while fewer than `max_concurrent_requests` are being answered, and
/// holds its place until the answer's body is done (a stream's last event or its client gone);
/// one more gets a 503 with `Retry-After` at once, not a place in a queue.
pub(crate) async fn admit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Ok(permit) = Arc::clone(&state.inner.admission).try_acquire_owned() else {
        state.inner.metrics.overloaded();
        return ServerError::Overloaded {
            limit: state.inner.options.max_concurrent_requests,
            retry_after_s: RETRY_AFTER_S,
        }
        .speaking(Dialect::of_path(request.uri().path()))
        .into_response();
    };
    let response = next.run(request).await;
    let streamed = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream"));
    if !streamed {
        // A whole answer is complete once the handler returns.
        return response;
    }
    let (parts, body) = response.into_parts();
    let body = axum::body::Body::from_stream(futures::StreamExt::map(
        body.into_data_stream(),
        move |frame| {
            // The permit lives as long as the stream: dropped with it at its end.
            let _held = &permit;
            frame
        },
    ));
    Response::from_parts(parts, body)
}

/// What an overloaded gateway's `Retry-After` says: a second is enough for short answers to
/// finish, and SDKs honour the header.
const RETRY_AFTER_S: u64 = 1;

/// Rejects `/v1/*` requests without a configured proxy key.
pub(crate) async fn require_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let keys = &state.inner.options.keys;
    if keys.is_empty() {
        return next.run(request).await;
    }
    if let Some(key) = presented_key(request.headers()).and_then(|key| keys.authenticate(key)) {
        // The handlers read who is asking from here.
        request.extensions_mut().insert(key);
        return next.run(request).await;
    }
    let error: ApiError =
        ServerError::Unauthorized.speaking(Dialect::of_path(request.uri().path()));
    error.into_response()
}

fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_token)
    {
        return Some(bearer.trim());
    }
    headers
        .get("x-api-key")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
}

/// The token of an `Authorization: Bearer TOKEN` header; the scheme is case-insensitive
/// (RFC 9110 §11.1), so `bearer` and `BEARER` work too.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}
