//! The HTTP handlers: chat completions, messages, models, health, metrics, the proxy-key check
//! and the not-found fallback.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use triage_engine::{Caller, Completed, Failed};
use triage_types::ChatRequest;

use crate::dispatch::{client_error, headers};
use crate::error::{ApiError, Dialect};
use crate::metrics::InFlight;
use crate::state::{AppState, Inner};
use crate::stream::Encoder;
use crate::{ServerError, anthropic, openai};

/// `POST /v1/chat/completions`.
pub(crate) async fn chat_completions(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match read_body(&state, body) {
        Ok(body) => body,
        Err(error) => return error.speaking(Dialect::OpenAi).into_response(),
    };
    let parsed = match openai::parse_request(&body) {
        Ok(parsed) => parsed,
        Err(error) => return error.speaking(Dialect::OpenAi).into_response(),
    };
    let call = Call {
        protocol: Dialect::OpenAi,
        model: parsed.model,
        request: parsed.request,
        stream: parsed.stream,
        include_usage: parsed.include_usage,
    };
    serve(state.inner, call).await
}

/// `POST /v1/messages`.
pub(crate) async fn messages(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match read_body(&state, body) {
        Ok(body) => body,
        Err(error) => return error.speaking(Dialect::Anthropic).into_response(),
    };
    let parsed = match anthropic::parse_request(&body) {
        Ok(parsed) => parsed,
        Err(error) => return error.speaking(Dialect::Anthropic).into_response(),
    };
    let call = Call {
        protocol: Dialect::Anthropic,
        model: parsed.model,
        request: parsed.request,
        stream: parsed.stream,
        include_usage: true,
    };
    serve(state.inner, call).await
}

fn read_body(state: &AppState, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ServerError> {
    body.map_err(|rejection| {
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
}

/// Runs a parsed request through the engine, which records it whatever happens, and shapes
/// the outcome in the caller's protocol.
async fn serve(state: Arc<Inner>, call: Call) -> Response {
    let in_flight = InFlight::new(&state.metrics);
    let protocol = call.protocol;
    let caller = Caller {
        entry: protocol.as_str().to_owned(),
        streamed: call.stream,
    };
    if call.stream {
        return match state.engine.stream(caller, &call.model, call.request).await {
            Ok(stream) => {
                let encoder = Encoder::new(protocol, &stream.request_id, call.include_usage);
                crate::stream::respond(stream, encoder, in_flight)
            }
            Err(failed) => refuse(protocol, &failed),
        };
    }
    match state
        .engine
        .complete(caller, &call.model, &call.request)
        .await
    {
        Ok(completed) => answer(protocol, &completed),
        Err(failed) => refuse(protocol, &failed),
    }
}

fn refuse(protocol: Dialect, failed: &Failed) -> Response {
    client_error(&failed.error, failed.attempts.len())
        .speaking(protocol)
        .into_response()
}

fn answer(protocol: Dialect, completed: &Completed) -> Response {
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

/// Rejects `/v1/*` requests without a configured proxy key.
pub(crate) async fn require_key(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let keys = &state.inner.options.api_keys;
    if keys.is_empty() || presented_key(request.headers()).is_some_and(|key| known_key(keys, key)) {
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

/// Compares against every key without stopping at the first difference, so timing does not
/// tell how much of a key was right.
fn known_key(keys: &[String], presented: &str) -> bool {
    keys.iter().fold(false, |found, key| {
        let same_length = key.len() == presented.len();
        let difference = key
            .bytes()
            .zip(presented.bytes())
            .fold(0u8, |difference, (a, b)| difference | (a ^ b));
        found | (same_length && difference == 0)
    })
}
