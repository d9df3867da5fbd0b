//! Integration tests of the gateway: the HTTP contract through `Router::oneshot` (no socket),
//! and routing, streaming, fallback and accounting against the in-process mock upstream.
#![expect(clippy::unwrap_used, reason = "test helpers panic on setup failures")]

mod contract;
mod keys;
mod limits;
mod routing;

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response};
use serde_json::Value;
use triage_catalog::Catalog;
use triage_config::Config;
use triage_engine::{Engine, EngineOptions};
use triage_ledger::{Ledger, LedgerOptions};
use triage_mock::MockUpstream;
use triage_server::{AppState, ServerOptions};
use triage_strategies::KeywordStrategy;

/// The quality checks off, an alias `cheap` for gpt-4o-mini, gpt-4o as the baseline.
pub(crate) const BASE_CONFIG: &str = r#"
[aliases.cheap]
model = "gpt-4o-mini"

[routing]
baseline = "gpt-4o"

[fallback.checks]
empty = false
min_chars = 0
cut_off = false
refusal = false
json = false
"#;

/// The gateway's engine with every catalog provider pointed at `mock` (or at a closed port when
/// `mock` is `None`), the keyword strategy, [`BASE_CONFIG`], and a ledger at `ledger` when
/// given.
pub(crate) fn gateway(mock: Option<&MockUpstream>, ledger: Option<&Path>) -> Engine {
    gateway_with(mock, ledger, "")
}

/// [`gateway`] with more config text after [`BASE_CONFIG`].
pub(crate) fn gateway_with(
    mock: Option<&MockUpstream>,
    ledger: Option<&Path>,
    extra: &str,
) -> Engine {
    let catalog = Catalog::embedded().clone();
    let (openai_url, root_url) = match mock {
        Some(mock) => (mock.openai_base_url(), mock.url()),
        None => (
            "http://127.0.0.1:9/v1".to_owned(),
            "http://127.0.0.1:9".to_owned(),
        ),
    };
    let mut text = BASE_CONFIG.to_owned();
    for provider in catalog.providers() {
        let url = if provider.base_url.ends_with("/v1") {
            &openai_url
        } else {
            &root_url
        };
        text.push_str(&format!(
            "\n[providers.settings.{}]\nbase_url = \"{url}\"\n",
            provider.id
        ));
    }
    text.push_str(extra);
    let config = Config::parse(&text, "test.toml", None).unwrap();
    Engine::new(
        &config,
        catalog,
        EngineOptions {
            strategy: Arc::new(KeywordStrategy::embedded().unwrap()),
            // Every provider key is set; no base URL comes from the environment.
            env: Arc::new(|name: &str| {
                name.ends_with("_API_KEY")
                    .then(|| "test-upstream-key".to_owned())
            }),
            ledger: ledger.map(|path| Ledger::open(path, &LedgerOptions::default()).unwrap()),
            // The embedded catalog's lifecycles move with the calendar: pin the day so the
            // routed models (and these tests) stay the same.
            as_of: Some(time::macros::date!(2026 - 11 - 29)),
            request_timeout: None,
        },
    )
    .unwrap()
}

/// The app over [`gateway`] with `options`.
pub(crate) fn app(engine: Engine, options: ServerOptions) -> (axum::Router, AppState) {
    let state = AppState::new(engine, options);
    (triage_server::app(state.clone()), state)
}

/// A gateway on a fresh mock upstream that records to a ledger in a temporary directory: the
/// mock, the app, its state, the ledger's path and the directory (held until the test ends).
pub(crate) async fn with_ledger() -> (
    MockUpstream,
    axum::Router,
    AppState,
    std::path::PathBuf,
    tempfile::TempDir,
) {
    let mock = MockUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ledger_path = dir.path().join("ledger.sqlite3");
    let (app, state) = app(
        gateway(Some(&mock), Some(&ledger_path)),
        ServerOptions::default(),
    );
    (mock, app, state, ledger_path, dir)
}

/// Every request the gateway has recorded in the ledger at `path`, after flushing its writer.
pub(crate) fn recorded(state: &AppState, path: &Path) -> Vec<triage_ledger::RequestRecord> {
    state.ledger().unwrap().flush();
    triage_ledger::LedgerReader::open(path)
        .unwrap()
        .requests(&triage_ledger::SummaryOptions::default())
        .unwrap()
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
