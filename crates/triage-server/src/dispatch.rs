//! The gateway's side of the engine: the `x-triage-*` response headers, and the engine's
//! errors as the client's.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use triage_engine::{Accounted, EngineError, Planned};
use triage_limits::Refusal;
use triage_types::RouteClass;

use crate::ServerError;

/// Header: the routing class (`none` when the request was not classified).
pub const HEADER_CLASS: &str = "x-triage-class";
/// Header: the catalog id of the model that answered.
pub const HEADER_MODEL: &str = "x-triage-model";
/// Header: what the request cost in US dollars, every attempt included (`unknown` when an
/// attempt could not be priced).
pub const HEADER_COST: &str = "x-triage-cost-usd";
/// Header: how many model calls the request took.
pub const HEADER_ATTEMPTS: &str = "x-triage-attempts";
/// Header: the gateway's id for the request, as recorded in the ledger.
pub const HEADER_REQUEST_ID: &str = "x-triage-request-id";
/// Header: what the caller should know about the model it asked for (a retired id replaced
/// by its successor, and the like), `; `-separated.
pub const HEADER_WARNING: &str = "x-triage-warning";

/// Header: why the client key's budget routed the request one tier cheaper (`daily budget 85%
/// spent ($4.25 of $5); routed one tier cheaper: gpt-5.4-mini instead of gpt-5.4`).
pub const HEADER_BUDGET: &str = "x-triage-budget";

/// The `x-triage-*` headers of a routed answer; the cost is left out when not yet known (a
/// stream's headers go out before its cost is).
pub(crate) fn headers(
    request_id: &str,
    planned: &Planned,
    model: &str,
    accounted: Option<&Accounted>,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set(HEADER_REQUEST_ID, request_id);
    set(
        HEADER_CLASS,
        planned.class().map_or("none", RouteClass::as_str),
    );
    set(HEADER_MODEL, model);
    match accounted {
        Some(accounted) => {
            set(HEADER_COST, &cost_text(accounted));
            set(HEADER_ATTEMPTS, &accounted.attempts.to_string());
        }
        None => set(HEADER_ATTEMPTS, "1"),
    }
    if !planned.warnings().is_empty() {
        set(HEADER_WARNING, &planned.warnings().join("; "));
    }
    if let Some(note) = &planned.budget_note {
        set(HEADER_BUDGET, note);
    }
    headers
}

/// A recorded cost as text: the dollars, or `unknown`.
pub(crate) fn cost_text(accounted: &Accounted) -> String {
    match &accounted.cost {
        Ok(cost) => cost.normalize().to_string(),
        Err(_) => "unknown".to_owned(),
    }
}

/// The name of the extra field that carries triage's figures in a stream's last usage event
/// (OpenAI's final usage chunk, Anthropic's `message_delta`, the response of the Responses
/// API's `response.completed`), where SDKs keep it as an extra field: a stream's cost is known
/// only at its end, too late for a header.
pub const STREAM_FIELD: &str = "x_triage";

/// The figures of [`STREAM_FIELD`]: the same request id, model, class, attempts, cost and
/// token totals as the ledger records (the totals count every attempt, so they are what the
/// cost paid for; the event's own `usage` is the answering call's, as in a whole answer). The
/// cost is a decimal string, exact as in the `x-triage-cost-usd` header, or `null` when an
/// attempt could not be priced.
/// `usage` is those totals in the dialect's `usage` shape.
pub(crate) fn stream_figures(
    planned: &Planned,
    model: &str,
    accounted: &Accounted,
    usage: Value,
) -> Value {
    json!({
        "request_id": accounted.request_id,
        "model": model,
        "class": planned.class().map(RouteClass::as_str),
        "attempts": accounted.attempts,
        "cost_usd": accounted.cost.as_ref().ok().map(|cost| cost.normalize().to_string()),
        "usage": usage,
    })
}

/// The engine's error as the client's.
pub(crate) fn client_error(error: &EngineError, attempts: usize) -> ServerError {
    match error {
        EngineError::UnknownModel { model, choices } => ServerError::UnknownModel {
            model: model.clone(),
            choices: choices.clone(),
        },
        EngineError::UnusableModel { .. }
        | EngineError::PromptTooLarge { .. }
        | EngineError::InvalidRequest { .. } => ServerError::InvalidRequest {
            message: error.to_string(),
        },
        EngineError::NoCandidate { .. } | EngineError::Exhausted { .. } => {
            ServerError::NoProvider { attempts }
        }
        EngineError::NoProviderKey { variables } => ServerError::NoProviderKey {
            variables: variables.clone(),
        },
        EngineError::Timeout { after_ms } => ServerError::Timeout {
            after_ms: *after_ms,
        },
        EngineError::StreamInterrupted { .. } => ServerError::StreamInterrupted,
        EngineError::ModelNotAllowed { .. } => ServerError::ModelNotAllowed {
            message: error.to_string(),
        },
        EngineError::Limited(refusal) => match refusal {
            Refusal::BudgetExceeded {
                resets_at,
                retry_after_s,
                ..
            } => ServerError::BudgetExceeded {
                message: refusal.to_string(),
                resets_at: resets_at.clone(),
                retry_after_s: *retry_after_s,
            },
            Refusal::RateLimited {
                kind,
                retry_after_s,
                ..
            } => ServerError::RateLimited {
                message: refusal.to_string(),
                kind: kind.as_str(),
                retry_after_s: *retry_after_s,
            },
            Refusal::Unavailable { .. } => ServerError::StateUnavailable {
                message: refusal.to_string(),
            },
        },
        EngineError::Internal { message } => {
            tracing::error!(%message, "internal error");
            ServerError::Internal
        }
    }
}
