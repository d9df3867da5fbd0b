//! Integration tests of the gateway: the HTTP contract through `Router::oneshot` (no socket),
//! and routing, streaming, fallback and accounting against the in-process mock upstream.
#![expect(clippy::unwrap_used, reason = "test helpers panic on setup failures")]

mod contract;
mod routing;

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response};
use serde_json::Value;
use triage_catalog::Catalog;
use triage_fallback::{Executor, FallbackSettings, QualityChecks};
use triage_ledger::{Ledger, LedgerOptions};
use triage_mock::MockUpstream;
use triage_providers::{
    ApiKey, HttpClientOptions, Protocol, ProviderSettings, build_http_client, build_provider,
};
use triage_server::{AppState, Gateway, ServerOptions};
use triage_strategies::{KeywordStrategy, Policy, RouteAlias, Router};

/// The gateway's parts with every catalog provider pointed at `mock` (or at a closed port when
/// `mock` is `None`), an alias `cheap` for gpt-4o-mini, gpt-4o as the baseline, and a ledger
/// at `ledger` when given.
pub(crate) fn gateway(mock: Option<&MockUpstream>, ledger: Option<&Path>) -> Gateway {
    let catalog = Catalog::embedded().clone();
    let http = build_http_client(&HttpClientOptions::default()).unwrap();
    let mut builder = Executor::builder(Arc::new(catalog.clone()), FallbackSettings::default());
    for provider in catalog.providers() {
        let protocol = provider.protocol;
        let (openai_url, root_url) = match mock {
            Some(mock) => (mock.openai_base_url(), mock.url()),
            None => (
                "http://127.0.0.1:9/v1".to_owned(),
                "http://127.0.0.1:9".to_owned(),
            ),
        };
        let base_url = match protocol {
            Protocol::OpenAi | Protocol::OpenAiCompatible => openai_url,
            Protocol::Anthropic | Protocol::Gemini => root_url,
        };
        let settings = ProviderSettings::new(provider.id.clone(), protocol, base_url)
            .with_openai_quirks(provider.openai_quirks)
            .with_api_key(ApiKey::new("test-upstream-key"));
        builder = builder.provider(build_provider(settings, http.clone()).unwrap());
    }
    let mut policy = Policy::from_catalog(&catalog);
    policy.set_alias("cheap", RouteAlias::Model("gpt-4o-mini".to_owned()));
    let router = Router::new(Arc::new(KeywordStrategy::embedded().unwrap()), policy);
    Gateway {
        catalog,
        router,
        executor: builder.build(),
        checks: QualityChecks::none(),
        alias_checks: Default::default(),
        baseline_model: Some("gpt-4o".to_owned()),
        ledger: ledger.map(|path| Ledger::open(path, &LedgerOptions::default()).unwrap()),
        // The embedded catalog's lifecycles move with the calendar: pin the day so the routed
        // models (and these tests) stay the same.
        as_of: Some(time::macros::date!(2026 - 11 - 29)),
    }
}

/// The app over [`gateway`] with `options`.
pub(crate) fn app(gateway: Gateway, options: ServerOptions) -> (axum::Router, AppState) {
    let state = AppState::new(gateway, options);
    (triage_server::app(state.clone()), state)
}

/// Sends one request through the app without a socket.
pub(crate) async fn send(app: &axum::Router, request: Request<Body>) -> Response<Body> {
    use tower::ServiceExt;
    app.clone().oneshot(request).await.unwrap()
}

/// A JSON POST.
pub(crate) fn post(path: &str, body: &Value) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// A response's status, headers of interest and body text.
pub(crate) async fn read(response: Response<Body>) -> (u16, axum::http::HeaderMap, String) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
}
