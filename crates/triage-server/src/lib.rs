//! The triage gateway: an axum app that speaks the OpenAI Chat Completions, OpenAI Responses
//! and Anthropic Messages APIs, routes each request (`model: "auto"`, a route alias, or a
//! catalog model id), runs it through the engine (`triage-engine`: plan, fallback,
//! accounting), and shapes the outcome in the caller's protocol.
//!
//! Endpoints: `POST /v1/chat/completions`, `POST /v1/responses`, `POST /v1/messages` (all
//! streaming or not; `anthropic-beta` headers go on to Anthropic models),
//! `POST /v1/messages/count_tokens` (counted locally for the planned model), `GET /v1/models`,
//! `GET /healthz`, `GET /metrics`. Every routed answer carries the `x-triage-class`,
//! `x-triage-model`, `x-triage-cost-usd` and `x-triage-attempts` headers. A stream's cost is
//! known only at its end: it comes in the last usage event as the extra field `x_triage`
//! (OpenAI's final usage chunk, with `stream_options.include_usage`; the response in
//! `response.completed`; Anthropic's `message_delta`), which the SDKs keep, and in a closing
//! SSE comment line.
//! Errors take the caller's protocol's shape, mapped in one place ([`ApiError`]'s
//! `IntoResponse`).
#![deny(missing_docs)]

mod anthropic;
pub mod chat_wire;
mod dispatch;
mod error;
mod handlers;
mod listen;
mod metrics;
mod openai;
mod responses;
mod sse;
mod state;
mod stream;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use dispatch::{
    HEADER_ATTEMPTS, HEADER_BUDGET, HEADER_CLASS, HEADER_COST, HEADER_MODEL, HEADER_REQUEST_ID,
    HEADER_WARNING, STREAM_FIELD,
};
pub use error::{ApiError, Dialect, HEADER_BUDGET_RESET, ServerError};
pub use state::{AppState, ServerOptions};

/// The `model` that asks the gateway to route by the default policy.
pub use triage_engine::AUTO_MODEL;

/// The gateway's routes, with the body limit and the proxy-key check applied.
pub fn app(state: AppState) -> Router {
    let body_limit = state.options().body_limit_bytes;
    let metrics_public = state.options().metrics_public;
    // Chat requests are admitted up to `max_concurrent_requests`; the proxy-key check, layered
    // around them below, runs first, so refused clients take no place.
    let chat = Router::new()
        .route("/v1/chat/completions", post(handlers::chat_completions))
        .route("/v1/messages", post(handlers::messages))
        .route("/v1/responses", post(handlers::responses))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            handlers::admit,
        ));
    let mut api = chat
        .route("/v1/models", get(handlers::models))
        .route("/v1/messages/count_tokens", post(handlers::count_tokens));
    let mut open = Router::new().route("/healthz", get(handlers::healthz));
    // `/metrics` shows spend per model and traffic: behind the proxy keys unless configured
    // public.
    if metrics_public {
        open = open.route("/metrics", get(handlers::metrics));
    } else {
        api = api.route("/metrics", get(handlers::metrics));
    }
    let api = api.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        handlers::require_key,
    ));
    Router::new()
        .merge(api)
        .merge(open)
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests finish,
/// within `options`' connection limits: at most `max_connections` open at once (the rest wait
/// in the listen backlog), each closed when a request's headers take longer than
/// `header_read_timeout` (slowloris clients, idle keep-alive connections). HTTP/1.1, served by
/// hyper. Sockets get `TCP_NODELAY`, so small answers and SSE frames leave at once instead of
/// waiting on Nagle's algorithm (tens of milliseconds against a delayed ACK).
pub fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    options: &ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = std::io::Result<()>> + Send + 'static {
    listen::serve(listener, app, listen::Limits::of(options), shutdown)
}
