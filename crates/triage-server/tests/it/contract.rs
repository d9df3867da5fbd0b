//! The HTTP contract that needs no upstream: health, models, metrics, proxy keys, and every
//! error in the caller's protocol's shape with the right status.

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};
use triage_limits::{ClientKey, KeyLimits, Keyring};
use triage_server::ServerOptions;

use crate::{app, gateway, post, read, send};

#[tokio::test]
async fn health_models_and_metrics() {
    let (app, _) = app(gateway(None, None), ServerOptions::default());
    let (status, _, body) =
        read(send(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await).await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));

    let (status, _, body) = read(
        send(
            &app,
            Request::get("/v1/models").body(Body::empty()).unwrap(),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    let models: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(models["object"], "list");
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(&ids[..2], ["auto", "cheap"]);
    assert!(ids.contains(&"gpt-4o-mini"));

    let (status, headers, body) =
        read(send(&app, Request::get("/metrics").body(Body::empty()).unwrap()).await).await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    // Series appear once observed; the gauges are there from the start.
    assert!(
        body.contains("# TYPE triage_in_flight_requests gauge"),
        "{body}"
    );
    assert!(body.contains("triage_ledger_dropped_records 0"), "{body}");
    assert!(body.ends_with("# EOF\n"));
}

/// Error responses: (request, status, body) per protocol, snapshotted together.
#[tokio::test]
async fn errors_take_the_callers_shape() {
    let options = ServerOptions {
        body_limit_bytes: 2048,
        ..ServerOptions::default()
    };
    let (app, _) = app(gateway(None, None), options);
    let big = "x".repeat(4096);
    let cases: Vec<(&str, Request<Body>)> = vec![
        (
            "openai malformed json",
            Request::post("/v1/chat/completions")
                .header("content-type", "application/json")
                .body(Body::from("{oops"))
                .unwrap(),
        ),
        (
            "openai missing messages",
            post("/v1/chat/completions", &json!({"model": "auto"})),
        ),
        (
            "openai body over the limit",
            post(
                "/v1/chat/completions",
                &json!({"model": "auto", "messages": [{"role": "user", "content": big}]}),
            ),
        ),
        (
            "openai unknown model",
            post(
                "/v1/chat/completions",
                &json!({"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]}),
            ),
        ),
        (
            "responses previous_response_id",
            post(
                "/v1/responses",
                &json!({"model": "auto", "input": "hi", "previous_response_id": "resp_1"}),
            ),
        ),
        (
            "responses unknown model",
            post("/v1/responses", &json!({"model": "gpt-9", "input": "hi"})),
        ),
        (
            "anthropic malformed json",
            Request::post("/v1/messages")
                .header("content-type", "application/json")
                .body(Body::from("[1,"))
                .unwrap(),
        ),
        (
            "anthropic body over the limit",
            post(
                "/v1/messages",
                &json!({"model": "auto", "max_tokens": 5, "messages": [{"role": "user", "content": big}]}),
            ),
        ),
        (
            "anthropic unknown model",
            post(
                "/v1/messages",
                &json!({"model": "claude-9", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
            ),
        ),
        (
            "unknown path",
            Request::get("/v2/nothing").body(Body::empty()).unwrap(),
        ),
    ];
    let mut seen = Vec::new();
    for (name, request) in cases {
        let (status, headers, body) = read(send(&app, request).await).await;
        let mut body: Value = serde_json::from_str(&body).unwrap();
        // The list of valid models is long and changes with the catalog; check its head only.
        for pointer in ["/error/message"] {
            if let Some(message) = body.pointer_mut(pointer) {
                let text = message.as_str().unwrap().to_owned();
                if text.contains("does not exist") {
                    assert!(text.contains("auto, cheap, gpt-4o-mini"), "{text}");
                    *message = Value::String(
                        text.split(':').next().unwrap().to_owned() + ": auto, cheap, …",
                    );
                }
            }
        }
        assert!(!body.to_string().contains("test-upstream-key"));
        seen.push(json!({"case": name, "status": status, "x-triage-error": headers.get("x-triage-error").map(|v| v.to_str().unwrap()), "body": body}));
    }
    insta::assert_json_snapshot!(seen);
}

#[tokio::test]
async fn wrong_methods_get_a_405_in_the_callers_shape() {
    let (app, _) = app(gateway(None, None), ServerOptions::default());
    let cases = [
        ("/v1/chat/completions", "error", "method_not_allowed"),
        ("/v1/messages", "type", "error"),
    ];
    for (path, field, value) in cases {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let (status, _, body) = read(send(&app, request).await).await;
        assert_eq!(status, 405, "{path}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        let found = if field == "error" {
            body["error"]["code"].clone()
        } else {
            body[field].clone()
        };
        assert_eq!(found, value, "{path}: {body}");
    }
}

#[tokio::test]
async fn proxy_keys_guard_the_api_but_not_health() {
    let options = ServerOptions {
        keys: team_key(),
        ..ServerOptions::default()
    };
    let (app, _) = app(gateway(None, None), options);
    let models = |key: Option<(&str, &str)>| {
        let mut request = Request::get("/v1/models");
        if let Some((name, value)) = key {
            request = request.header(name, value);
        }
        request.body(Body::empty()).unwrap()
    };
    let (status, headers, body) = read(send(&app, models(None)).await).await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "Bearer");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
        "invalid_api_key"
    );
    assert_eq!(
        read(send(&app, models(Some(("authorization", "Bearer wrong")))).await)
            .await
            .0,
        401
    );
    assert_eq!(
        read(send(&app, models(Some(("authorization", "Bearer team-key")))).await)
            .await
            .0,
        200
    );
    assert_eq!(
        read(send(&app, models(Some(("x-api-key", "team-key")))).await)
            .await
            .0,
        200
    );
    // The auth scheme is case-insensitive.
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let header = format!("{scheme} team-key");
        assert_eq!(
            read(send(&app, models(Some(("authorization", header.as_str())))).await)
                .await
                .0,
            200,
            "{scheme}"
        );
    }
    // `/metrics` (spend per model, traffic) needs a key when keys are set.
    let metrics = |key: Option<&str>| {
        let mut request = Request::get("/metrics");
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        request.body(Body::empty()).unwrap()
    };
    assert_eq!(read(send(&app, metrics(None)).await).await.0, 401);
    assert_eq!(
        read(send(&app, metrics(Some("team-key"))).await).await.0,
        200
    );
    let public = ServerOptions {
        keys: team_key(),
        metrics_public: true,
        ..ServerOptions::default()
    };
    let (public_app, _) = crate::app(gateway(None, None), public);
    assert_eq!(read(send(&public_app, metrics(None)).await).await.0, 200);

    let anthropic = post(
        "/v1/messages",
        &json!({"model": "auto", "max_tokens": 5, "messages": []}),
    );
    let (status, _, body) = read(send(&app, anthropic).await).await;
    assert_eq!(status, 401);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["type"],
        "authentication_error"
    );

    let (status, _, _) =
        read(send(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await).await;
    assert_eq!(status, 200);
}

/// One proxy key, `team-key`, without limits.
fn team_key() -> Keyring {
    let mut keys = Keyring::new();
    keys.add(
        "team-key",
        ClientKey::new("team", Vec::new(), KeyLimits::default()),
    );
    keys
}
