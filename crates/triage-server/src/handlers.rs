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
use futures::StreamExt;
use serde_json::json;
use triage_fallback::FallbackEvent;
use triage_types::ChatRequest;

use crate::dispatch::{Ending, Routed, Ticket, fallback_error, resolve};
use crate::error::{ApiError, Protocol};
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
        Err(error) => return error.speaking(Protocol::OpenAi).into_response(),
    };
    let parsed = match openai::parse_request(&body) {
        Ok(parsed) => parsed,
        Err(error) => return error.speaking(Protocol::OpenAi).into_response(),
    };
    let call = Call {
        protocol: Protocol::OpenAi,
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
        Err(error) => return error.speaking(Protocol::Anthropic).into_response(),
    };
    let parsed = match anthropic::parse_request(&body) {
        Ok(parsed) => parsed,
        Err(error) => return error.speaking(Protocol::Anthropic).into_response(),
    };
    let call = Call {
        protocol: Protocol::Anthropic,
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
    protocol: Protocol,
    model: String,
    request: ChatRequest,
    stream: bool,
    include_usage: bool,
}

async fn serve(state: Arc<Inner>, call: Call) -> Response {
    let in_flight = InFlight::new(&state.metrics);
    let protocol = call.protocol;
    let mut ticket = Ticket::new(protocol, &call.model, call.stream);
    let routed = match resolve(&state, &call.model, &call.request) {
        Ok(routed) => routed,
        Err(error) => {
            // Requests that never reached a model (unknown model, no candidate) are recorded
            // too: they are part of what the gateway was asked.
            if !matches!(error, ServerError::UnknownModel { .. }) {
                ticket.finish(&state, &failed(&error));
            }
            return error.speaking(protocol).into_response();
        }
    };
    ticket.class = routed.class;
    ticket.confidence = routed.confidence;
    if call.stream {
        stream(state, ticket, call, routed, in_flight).await
    } else {
        complete(&state, &ticket, call, routed).await
    }
}

fn failed(error: &ServerError) -> Ending<'_> {
    Ending {
        answered_by: None,
        answer_usage: None,
        attempts: &[],
        error: Some(error),
        other_failure: None,
    }
}

async fn complete(state: &Inner, ticket: &Ticket, call: Call, routed: Routed) -> Response {
    let protocol = call.protocol;
    let timeout = state.options.request_timeout;
    let executed = tokio::time::timeout(
        timeout,
        state
            .gateway
            .executor
            .execute(&routed.plan, &call.request, &routed.checks),
    )
    .await;
    let answer = match executed {
        Err(_) => {
            let error = ServerError::Timeout {
                after_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            };
            ticket.finish(state, &failed(&error));
            return error.speaking(protocol).into_response();
        }
        Ok(Err(failure)) => {
            let error = fallback_error(&failure.error, failure.attempts.len());
            tracing::warn!(request = %ticket.request_id, error = %failure.error, "no acceptable answer");
            ticket.finish(
                state,
                &Ending {
                    attempts: &failure.attempts,
                    ..failed(&error)
                },
            );
            return error.speaking(protocol).into_response();
        }
        Ok(Ok(answer)) => answer,
    };
    let accounted = ticket.finish(
        state,
        &Ending {
            answered_by: Some((&answer.model, &answer.provider)),
            answer_usage: Some(answer.response.usage),
            attempts: &answer.attempts,
            error: None,
            other_failure: None,
        },
    );
    let headers = ticket.headers(&answer.model, Some(accounted), accounted.attempts);
    let body = match protocol {
        Protocol::OpenAi => openai::completion(
            &openai::CompletionId {
                id: format!("chatcmpl-{}", ticket.request_id),
                created: ticket.started_at.unix_timestamp(),
                model: answer.model.clone(),
            },
            &answer.response,
        ),
        Protocol::Anthropic => anthropic::message(
            &format!("msg_{}", ticket.request_id),
            &answer.model,
            &answer.response,
        ),
    };
    (StatusCode::OK, headers, Json(body)).into_response()
}

async fn stream(
    state: Arc<Inner>,
    ticket: Ticket,
    call: Call,
    routed: Routed,
    in_flight: InFlight,
) -> Response {
    let protocol = call.protocol;
    let mut events = state
        .gateway
        .executor
        .stream(routed.plan, call.request, routed.checks);
    let timeout = state.options.request_timeout;
    // The first event decides between an SSE answer (with the model in its headers) and a
    // plain error response.
    let first = tokio::time::timeout(timeout, events.next()).await;
    let start = match first {
        Err(_) => {
            let error = ServerError::Timeout {
                after_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            };
            ticket.finish(&state, &failed(&error));
            return error.speaking(protocol).into_response();
        }
        Ok(Some(FallbackEvent::Start {
            model, provider, ..
        })) => (model, provider),
        Ok(Some(FallbackEvent::Error(failure))) => {
            let error = fallback_error(&failure.error, failure.attempts.len());
            ticket.finish(
                &state,
                &Ending {
                    attempts: &failure.attempts,
                    ..failed(&error)
                },
            );
            return error.speaking(protocol).into_response();
        }
        Ok(other) => {
            tracing::error!(event = ?other, "a fallback stream did not begin with its start event");
            let error = ServerError::Internal;
            ticket.finish(&state, &failed(&error));
            return error.speaking(protocol).into_response();
        }
    };
    let encoder = Encoder::new(protocol, &ticket.request_id, call.include_usage);
    crate::stream::respond(state, ticket, encoder, start, events, in_flight)
}

/// `GET /v1/models`: `auto`, the route aliases and the catalog's models, in OpenAI's list shape.
pub(crate) async fn models(State(state): State<AppState>) -> Response {
    let gateway = &state.inner.gateway;
    let mut data = vec![
        json!({"id": crate::AUTO_MODEL, "object": "model", "created": 0, "owned_by": "triage"}),
    ];
    for alias in gateway.router.policy().aliases().keys() {
        data.push(json!({"id": alias, "object": "model", "created": 0, "owned_by": "triage"}));
    }
    for model in gateway.catalog.models() {
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
        &inner.gateway.executor.breaker().snapshot(),
        inner
            .gateway
            .ledger
            .as_ref()
            .map_or(0, |ledger| ledger.stats().dropped),
    );
    let mut body = String::new();
    if prometheus_client::encoding::text::encode(&mut body, &inner.registry).is_err() {
        return ServerError::Internal
            .speaking(Protocol::OpenAi)
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
    .speaking(Protocol::of_path(&path))
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
        ServerError::Unauthorized.speaking(Protocol::of_path(request.uri().path()));
    error.into_response()
}

fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    {
        return Some(bearer.trim());
    }
    headers
        .get("x-api-key")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
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
