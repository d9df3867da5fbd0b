//! Per-client keys through the gateway: who may send which `model`, a spent budget (429
//! `budget_exceeded` with its reset, in each protocol's shape), a rate limit (429 with
//! `Retry-After`), the downshift near a budget, and the key recorded in the ledger.

use std::sync::Arc;

use serde_json::{Value, json};
use triage_config::Config;
use triage_mock::MockUpstream;
use triage_server::ServerOptions;

use crate::{app, gateway_with, post, read, recorded, send};

const KEYS: &str = r#"
[[server.keys]]
name = "capped"
key = "sk-capped"
daily_budget_usd = "0.000001"

[[server.keys]]
name = "slow"
key = "sk-slow"
requests_per_minute = 2

[[server.keys]]
name = "cheap-only"
key_env = "CHEAP_ONLY_KEY"
models = ["cheap"]

[[server.keys]]
name = "thrifty"
key = "sk-thrifty"
daily_budget_usd = 100

[state]
downshift_at = 0.0
"#;

fn options() -> ServerOptions {
    let config = Config::parse(KEYS, "keys.toml", None).unwrap();
    let env: triage_engine::EnvLookup =
        Arc::new(|name: &str| (name == "CHEAP_ONLY_KEY").then(|| "sk-cheap-only".to_owned()));
    ServerOptions {
        keys: triage_engine::keyring(&config, &env).unwrap(),
        ..ServerOptions::default()
    }
}

fn chat(model: &str, key: &str) -> axum::http::Request<axum::body::Body> {
    let mut request = post(
        "/v1/chat/completions",
        &json!({"model": model, "messages": [{"role": "user", "content": "Summarise: the cat sat."}]}),
    );
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    request
}

fn message(model: &str, key: &str) -> axum::http::Request<axum::body::Body> {
    let mut request = post(
        "/v1/messages",
        &json!({"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}),
    );
    request
        .headers_mut()
        .insert("x-api-key", key.parse().unwrap());
    request
}

#[tokio::test]
async fn a_spent_budget_is_a_429_that_says_when_it_resets() {
    let mock = MockUpstream::start().await.unwrap();
    let (app, _) = app(gateway_with(Some(&mock), None, KEYS), options());
    // Nothing spent yet: admitted; its cost is well over the millionth of a dollar.
    let (status, _, _) = read(send(&app, chat("cheap", "sk-capped")).await).await;
    assert_eq!(status, 200);
    let calls = mock.requests().len();
    let today = time::OffsetDateTime::now_utc().date();
    let reset = format!("{}T00:00:00Z", today.next_day().unwrap());
    for (request, shape) in [
        (chat("cheap", "sk-capped"), "openai"),
        (message("cheap", "sk-capped"), "anthropic"),
    ] {
        let (status, headers, body) = read(send(&app, request).await).await;
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(status, 429, "{shape}: {body}");
        assert_eq!(headers["x-triage-error"], "budget_exceeded");
        assert_eq!(headers["x-triage-budget-reset"], reset.as_str());
        let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=86_400).contains(&retry_after), "{retry_after}");
        let message = match shape {
            "openai" => {
                assert_eq!(body["error"]["type"], "budget_exceeded");
                assert_eq!(body["error"]["code"], "budget_exceeded");
                body["error"]["message"].as_str().unwrap().to_owned()
            }
            _ => {
                assert_eq!(body["type"], "error");
                assert_eq!(body["error"]["type"], "rate_limit_error");
                body["error"]["message"].as_str().unwrap().to_owned()
            }
        };
        assert!(
            message.starts_with("budget_exceeded: key `capped`"),
            "{message}"
        );
        assert!(message.contains(&reset), "{message}");
    }
    // Refused before any upstream call.
    assert_eq!(mock.requests().len(), calls);
}

#[tokio::test]
async fn a_rate_limit_holds_per_minute() {
    // Three requests within one UTC minute: keep clear of its end.
    let second = time::OffsetDateTime::now_utc().second();
    if second >= 57 {
        tokio::time::sleep(std::time::Duration::from_secs(u64::from(61 - second))).await;
    }
    let mock = MockUpstream::start().await.unwrap();
    let (app, _) = app(gateway_with(Some(&mock), None, KEYS), options());
    for _ in 0..2 {
        assert_eq!(
            read(send(&app, chat("cheap", "sk-slow")).await).await.0,
            200
        );
    }
    let (status, headers, body) = read(send(&app, chat("cheap", "sk-slow")).await).await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(body["error"]["type"], "requests");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // Another key is not affected.
    assert_eq!(
        read(send(&app, chat("cheap", "sk-thrifty")).await).await.0,
        200
    );
}

#[tokio::test]
async fn a_key_may_send_only_its_models() {
    let mock = MockUpstream::start().await.unwrap();
    let (app, _) = app(gateway_with(Some(&mock), None, KEYS), options());
    assert_eq!(
        read(send(&app, chat("cheap", "sk-cheap-only")).await)
            .await
            .0,
        200
    );
    let (status, _, body) = read(send(&app, chat("auto", "sk-cheap-only")).await).await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "model_not_allowed");
    assert_eq!(
        body["error"]["message"],
        "key `cheap-only` may not use model `auto`; it may use: cheap"
    );
    let (status, _, body) = read(send(&app, message("auto", "sk-cheap-only")).await).await;
    assert_eq!(status, 403);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["type"],
        "permission_error"
    );
}

#[tokio::test]
async fn near_its_budget_a_key_routes_one_tier_cheaper_and_the_ledger_says_so() {
    let mock = MockUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite3");
    let engine = gateway_with(Some(&mock), Some(&path), KEYS);
    let (app, state) = app(engine, options());
    // gpt-4o asked for by name, by a key past `downshift_at` (0 here: always).
    let (status, headers, body) = read(send(&app, chat("gpt-4o", "sk-thrifty")).await).await;
    assert_eq!(status, 200, "{body}");
    let note = headers["x-triage-budget"].to_str().unwrap().to_owned();
    let model = headers["x-triage-model"].to_str().unwrap().to_owned();
    assert_ne!(model, "gpt-4o");
    assert!(
        note.starts_with("daily budget 0% spent ($0 of $100); routed one tier cheaper: "),
        "{note}"
    );
    assert!(
        note.ends_with(&format!("{model} instead of gpt-4o")),
        "{note}"
    );
    // A key without a budget is routed as asked.
    let (_, headers, _) = read(send(&app, chat("gpt-4o", "sk-slow")).await).await;
    assert_eq!(headers["x-triage-model"], "gpt-4o");
    assert!(headers.get("x-triage-budget").is_none());

    let records = recorded(&state, &path);
    let seen: Vec<(Option<&str>, Option<&str>, Option<&str>)> = records
        .iter()
        .map(|record| {
            (
                record.client_key.as_deref(),
                record.model.as_deref(),
                record.budget_note.as_deref().map(|_| "note"),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (Some("thrifty"), Some(model.as_str()), Some("note")),
            (Some("slow"), Some("gpt-4o"), None),
        ]
    );
}

/// Redis unreachable: a key with a budget fails closed (503 `state_unavailable`, in the
/// client's shape, with `Retry-After`), a key with only a rate limit is served, and
/// `/metrics` counts the store's failures.
#[tokio::test]
async fn an_unreachable_redis_fails_budgets_closed_and_rates_open() {
    let mock = MockUpstream::start().await.unwrap();
    // Nothing listens on port 1.
    let extra = format!("{KEYS}redis_url = \"redis://127.0.0.1:1\"\ntimeout_ms = 100\n");
    let (app, _) = app(gateway_with(Some(&mock), None, &extra), options());
    let (status, headers, body) = read(send(&app, chat("cheap", "sk-thrifty")).await).await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(headers["x-triage-error"], "state_unavailable");
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(body["error"]["code"], "state_unavailable");
    assert_eq!(
        read(send(&app, chat("cheap", "sk-slow")).await).await.0,
        200
    );
    let mut metrics = axum::http::Request::get("/metrics")
        .body(axum::body::Body::empty())
        .unwrap();
    metrics
        .headers_mut()
        .insert("x-api-key", "sk-slow".parse().unwrap());
    let (_, _, text) = read(send(&app, metrics).await).await;
    assert!(text.contains("triage_limits_store_errors 2"), "{text}");
}
