//! Routing, streaming, fallback and accounting through the gateway against the mock upstream.

use serde_json::{Value, json};
use triage_mock::{MockUpstream, MockUsage, Scenario};
use triage_server::ServerOptions;

use crate::{app, gateway, gateway_with, post, read, recorded, send, with_ledger};

#[tokio::test]
async fn openai_completion_with_headers_and_ledger() {
    let (mock, app, state, ledger_path, _dir) = with_ledger().await;
    mock.push(Scenario::text("Paris."));
    let request = post(
        "/v1/chat/completions",
        &json!({"model": "auto", "messages": [{"role": "user", "content": "What is the capital of France?"}]}),
    );
    let (status, headers, body) = read(send(&app, request).await).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], "Paris.");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["total_tokens"], 17);
    assert_eq!(headers["x-triage-class"], "faq");
    assert_eq!(headers["x-triage-model"], body["model"].as_str().unwrap());
    assert_eq!(headers["x-triage-attempts"], "1");
    let cost: rust_decimal::Decimal = headers["x-triage-cost-usd"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(cost > rust_decimal::Decimal::ZERO);

    let records = recorded(&state, &ledger_path);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].cost_usd, cost);
    assert_eq!(records[0].route, "auto");
    assert_eq!(records[0].usage.input_tokens, 12);
    assert!(records[0].baseline_cost_usd > cost);
}

#[tokio::test]
async fn aliases_and_concrete_models_route_to_their_model() {
    let mock = MockUpstream::start().await.unwrap();
    let (app, _) = app(gateway(Some(&mock), None), ServerOptions::default());
    for (model, expected) in [
        ("cheap", "gpt-4o-mini"),
        ("claude-haiku-4-5", "claude-haiku-4-5"),
    ] {
        let request = post(
            "/v1/chat/completions",
            &json!({"model": model, "messages": [{"role": "user", "content": "Say hi"}]}),
        );
        let (status, headers, body) = read(send(&app, request).await).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(headers["x-triage-model"], expected);
    }
    let paths: Vec<String> = mock
        .requests()
        .iter()
        .map(|request| request.path.clone())
        .collect();
    assert_eq!(paths, ["/v1/chat/completions", "/v1/messages"]);
}

#[tokio::test]
async fn fails_over_once_on_a_400_then_answers_400() {
    let mock = MockUpstream::start().await.unwrap();
    let (app, _) = app(gateway(Some(&mock), None), ServerOptions::default());
    mock.push(Scenario::status(400));
    mock.push(Scenario::text("second time lucky"));
    let request = post(
        "/v1/chat/completions",
        &json!({"model": "cheap", "messages": [{"role": "user", "content": "Say hi"}]}),
    );
    let (status, headers, body) = read(send(&app, request).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-triage-attempts"], "2");
    assert_ne!(headers["x-triage-model"], "gpt-4o-mini");

    // Every upstream says 400: one failover to another provider, then the client's 400 in
    // its own shape, not an escalation up the tiers ending in 503.
    for _ in 0..40 {
        mock.push(Scenario::status(400));
    }
    let before = mock.requests().len();
    let request = post(
        "/v1/messages",
        &json!({"model": "cheap", "max_tokens": 50, "messages": [{"role": "user", "content": "Say hi"}]}),
    );
    let (status, _, body) = read(send(&app, request).await).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        mock.requests().len() - before <= 2,
        "at most two upstream calls"
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        !body.to_string().contains("400"),
        "no upstream details leak: {body}"
    );
}

#[tokio::test]
async fn openai_stream_chunks_end_with_usage_and_done() {
    let mock = MockUpstream::start().await.unwrap();
    let (app, _) = app(gateway(Some(&mock), None), ServerOptions::default());
    mock.push(Scenario::text("Streaming works fine. Indeed it does."));
    let request = post(
        "/v1/chat/completions",
        &json!({"model": "cheap", "stream": true, "stream_options": {"include_usage": true},
                "messages": [{"role": "user", "content": "Say hi"}]}),
    );
    let (status, headers, body) = read(send(&app, request).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["x-triage-model"], "gpt-4o-mini");
    let mut text = String::new();
    let mut finish = None;
    let mut usage = None;
    let lines: Vec<&str> = body
        .lines()
        .filter(|line| line.starts_with("data: "))
        .collect();
    assert_eq!(lines.last(), Some(&"data: [DONE]"));
    for line in &lines[..lines.len() - 1] {
        let chunk: Value = serde_json::from_str(&line[6..]).unwrap();
        assert_eq!(chunk["object"], "chat.completion.chunk");
        if let Some(choice) = chunk["choices"].get(0) {
            text.push_str(choice["delta"]["content"].as_str().unwrap_or(""));
            if !choice["finish_reason"].is_null() {
                finish = Some(choice["finish_reason"].clone());
            }
        } else {
            usage = Some(chunk["usage"].clone());
        }
    }
    assert_eq!(text, "Streaming works fine. Indeed it does.");
    assert_eq!(finish, Some(json!("stop")));
    assert_eq!(usage.unwrap()["completion_tokens"], 5);
    assert!(body.contains(": x-triage-cost-usd="));
}

#[tokio::test]
async fn anthropic_message_and_stream_events() {
    let mock = MockUpstream::start().await.unwrap();
    let (app, _) = app(gateway(Some(&mock), None), ServerOptions::default());
    mock.push(Scenario::text("Bonjour."));
    let request = post(
        "/v1/messages",
        &json!({"model": "cheap", "max_tokens": 50, "messages": [{"role": "user", "content": "Translate hello to French"}]}),
    );
    let (status, headers, body) = read(send(&app, request).await).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(
        body["content"][0],
        json!({"type": "text", "text": "Bonjour."})
    );
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(headers["x-triage-model"], "gpt-4o-mini");

    mock.push(Scenario::text("Bonjour tout le monde."));
    let request = post(
        "/v1/messages",
        &json!({"model": "cheap", "max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": "Translate hello to French"}]}),
    );
    let (status, _, body) = read(send(&app, request).await).await;
    assert_eq!(status, 200, "{body}");
    let events: Vec<&str> = body
        .lines()
        .filter_map(|line| line.strip_prefix("event: "))
        .collect();
    assert_eq!(events.first(), Some(&"message_start"));
    assert_eq!(
        &events[events.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    assert!(events.contains(&"content_block_start"));
    assert_eq!(events.last(), Some(&"message_stop"));
    let text: String = body
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .filter(|event| event["type"] == "content_block_delta")
        .map(|event| event["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "Bonjour tout le monde.");
}

#[tokio::test]
async fn metrics_count_requests_by_class_and_model() {
    let mock = MockUpstream::start().await.unwrap();
    let (app, _) = app(gateway(Some(&mock), None), ServerOptions::default());
    let request = post(
        "/v1/chat/completions",
        &json!({"model": "cheap", "messages": [{"role": "user", "content": "Say hi"}]}),
    );
    assert_eq!(read(send(&app, request).await).await.0, 200);
    let request = axum::http::Request::get("/metrics")
        .body(axum::body::Body::empty())
        .unwrap();
    let (_, _, body) = read(send(&app, request).await).await;
    let line = body
        .lines()
        .find(|line| line.starts_with("triage_requests_total{"))
        .unwrap();
    assert!(
        line.contains("model=\"gpt-4o-mini\"") && line.contains("outcome=\"success\""),
        "{line}"
    );
    assert!(line.ends_with(" 1"), "{line}");
    assert!(body.contains("triage_cost_usd_total{"));
    assert!(body.contains("triage_tokens_total{"));
}

#[tokio::test]
async fn tool_calls_in_both_protocols_streamed_or_not() {
    let mock = MockUpstream::start().await.unwrap();
    let (app, _) = app(gateway(Some(&mock), None), ServerOptions::default());
    let tools_openai = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]);
    mock.push(Scenario::tool_call("get_weather", json!({"city": "Paris"})));
    let request = post(
        "/v1/chat/completions",
        &json!({"model": "cheap", "tools": tools_openai, "messages": [{"role": "user", "content": "Weather in Paris?"}]}),
    );
    let (status, _, body) = read(send(&app, request).await).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(call["function"]["arguments"].as_str().unwrap()).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        mock.requests()[0].body["tools"][0]["function"]["name"],
        "get_weather",
        "tools reach the upstream"
    );

    let tools_anthropic = json!([{"name": "get_weather", "input_schema": {"type": "object"}}]);
    mock.push(Scenario::tool_call("get_weather", json!({"city": "Paris"})));
    let request = post(
        "/v1/messages",
        &json!({"model": "cheap", "max_tokens": 50, "stream": true, "tools": tools_anthropic, "messages": [{"role": "user", "content": "Weather in Paris?"}]}),
    );
    let (status, _, body) = read(send(&app, request).await).await;
    assert_eq!(status, 200, "{body}");
    let events: Vec<Value> = body
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect();
    let start = events
        .iter()
        .find(|event| event["type"] == "content_block_start")
        .unwrap();
    assert_eq!(start["content_block"]["type"], "tool_use");
    assert_eq!(start["content_block"]["name"], "get_weather");
    let arguments: String = events
        .iter()
        .filter(|event| event["delta"]["type"] == "input_json_delta")
        .map(|event| event["delta"]["partial_json"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&arguments).unwrap(),
        json!({"city": "Paris"})
    );
    let delta = events
        .iter()
        .find(|event| event["type"] == "message_delta")
        .unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn streams_are_recorded_with_their_cost() {
    let (_mock, app, state, ledger_path, _dir) = with_ledger().await;
    let request = post(
        "/v1/chat/completions",
        &json!({"model": "cheap", "stream": true, "messages": [{"role": "user", "content": "Say hi"}]}),
    );
    let (status, _, body) = read(send(&app, request).await).await;
    assert_eq!(status, 200);
    let cost: rust_decimal::Decimal = body
        .lines()
        .find_map(|line| line.strip_prefix(": x-triage-cost-usd="))
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let records = recorded(&state, &ledger_path);
    assert_eq!(records.len(), 1);
    assert!(records[0].streamed);
    assert_eq!(records[0].route, "cheap");
    assert_eq!(records[0].model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(records[0].cost_usd, cost);
    assert_eq!(records[0].attempts.len(), 1);
}

#[tokio::test]
async fn what_the_gateway_can_validate_is_a_400_before_any_upstream_call() {
    let mock = MockUpstream::start().await.unwrap();
    let (app, _) = app(gateway(Some(&mock), None), ServerOptions::default());
    let hi = json!([{"role": "user", "content": "Say hi"}]);
    let cases = [
        (
            "invalid_schema",
            json!({"model": "auto", "messages": hi, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": 5}}}}),
        ),
        (
            "n_above_one",
            json!({"model": "auto", "messages": hi, "n": 2}),
        ),
    ];
    for (name, body) in cases {
        let (status, _, text) = read(send(&app, post("/v1/chat/completions", &body)).await).await;
        assert_eq!(status, 400, "{name}: {text}");
        let text: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(text["error"]["type"], "invalid_request_error", "{name}");
    }
    assert_eq!(mock.requests().len(), 0, "no upstream call");
}

/// A stream's last usage event (OpenAI's usage chunk, Anthropic's `message_delta`) carries the
/// answering call's usage and, as the extra field `x_triage`, the request id, attempts, cost
/// and token totals; the ledger records exactly those figures for the request.
#[tokio::test]
async fn streamed_usage_events_carry_the_figures_the_ledger_records() {
    let usage = MockUsage {
        input: 31,
        output: 7,
        cached_read: 4,
        ..MockUsage::default()
    };
    let cases = [
        ("openai, one attempt", "/v1/chat/completions", false),
        ("anthropic, one attempt", "/v1/messages", false),
        (
            "openai, after a failed attempt",
            "/v1/chat/completions",
            true,
        ),
        ("anthropic, after a failed attempt", "/v1/messages", true),
    ];
    let mut shown = Vec::new();
    for (name, path, fail_first) in cases {
        let (mock, app, state, ledger_path, _dir) = with_ledger().await;
        if fail_first {
            mock.push(Scenario::status(500));
        }
        mock.push(Scenario::text("Hello there, friend.").with_usage(usage));
        let openai = path == "/v1/chat/completions";
        let body = if openai {
            json!({"model": "cheap", "stream": true, "stream_options": {"include_usage": true},
                   "messages": [{"role": "user", "content": "Say hi"}]})
        } else {
            json!({"model": "cheap", "max_tokens": 50, "stream": true,
                   "messages": [{"role": "user", "content": "Say hi"}]})
        };
        let (status, _, body) = read(send(&app, post(path, &body)).await).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert!(
            body.contains(": x-triage-cost-usd="),
            "{name}: the closing comment stays"
        );
        let events: Vec<Value> = body
            .lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .filter_map(|data| serde_json::from_str(data).ok())
            .collect();
        let mut last = events
            .iter()
            .rfind(|event| {
                if openai {
                    event["choices"] == json!([])
                } else {
                    event["type"] == "message_delta"
                }
            })
            .unwrap_or_else(|| panic!("{name}: no usage event in {body}"))
            .clone();
        // (input tokens with cached ones, output tokens) of a usage object in the dialect.
        let tokens = |usage: &Value| {
            if openai {
                (
                    usage["prompt_tokens"].as_u64(),
                    usage["completion_tokens"].as_u64(),
                )
            } else {
                (
                    usage["input_tokens"]
                        .as_u64()
                        .zip(usage["cache_read_input_tokens"].as_u64())
                        .map(|(plain, cached)| plain + cached),
                    usage["output_tokens"].as_u64(),
                )
            }
        };
        let figures = last[triage_server::STREAM_FIELD].clone();

        let records = recorded(&state, &ledger_path);
        assert_eq!(records.len(), 1, "{name}");
        let record = &records[0];
        assert!(record.streamed, "{name}");
        assert_eq!(figures["request_id"], record.request_id, "{name}");
        assert_eq!(
            figures["cost_usd"]
                .as_str()
                .unwrap()
                .parse::<rust_decimal::Decimal>()
                .unwrap(),
            record.cost_usd,
            "{name}"
        );
        assert!(record.cost_usd > rust_decimal::Decimal::ZERO, "{name}");
        assert_eq!(figures["attempts"], record.attempts.len(), "{name}");
        assert_eq!(
            tokens(&figures["usage"]),
            (
                Some(record.usage.input_tokens),
                Some(record.usage.output_tokens)
            ),
            "{name}: the totals are the ledger's"
        );
        let answering = record.attempts.last().unwrap();
        assert_eq!(
            tokens(&last["usage"]),
            (
                Some(answering.usage.input_tokens),
                Some(answering.usage.output_tokens)
            ),
            "{name}: the event's usage is the answering call's"
        );
        assert_eq!(tokens(&last["usage"]), (Some(31), Some(7)), "{name}");

        for volatile in [
            "/id",
            "/created",
            &format!("/{}/request_id", triage_server::STREAM_FIELD),
        ] {
            if let Some(value) = last.pointer_mut(volatile) {
                *value = json!("[volatile]");
            }
        }
        shown.push(format!(
            "{name}:\n{}",
            serde_json::to_string_pretty(&last).unwrap()
        ));
    }
    insta::assert_snapshot!(shown.join("\n"));
}

/// A client that gives up before the first byte still leaves a record: a whole answer's
/// upstream call runs to its end and is recorded with its usage and cost; a stream that starts
/// after its client left is stopped and recorded as `client_disconnected`.
#[tokio::test]
async fn a_client_gone_before_the_first_byte_leaves_a_record() {
    for streamed in [false, true] {
        let (mock, app, state, ledger_path, _dir) = with_ledger().await;
        mock.push(
            Scenario::text("A slow answer.")
                .with_delay_before_headers(std::time::Duration::from_millis(300)),
        );
        let request = post(
            "/v1/chat/completions",
            &json!({"model": "cheap", "stream": streamed, "messages": [{"role": "user", "content": "Say hi"}]}),
        );
        let gave_up =
            tokio::time::timeout(std::time::Duration::from_millis(50), send(&app, request)).await;
        assert!(gave_up.is_err(), "the client left before the answer");
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        let records = recorded(&state, &ledger_path);
        assert_eq!(records.len(), 1, "streamed {streamed}");
        let record = &records[0];
        assert_eq!(mock.requests().len(), 1);
        if streamed {
            assert_eq!(record.outcome.as_str(), "client_disconnected");
        } else {
            assert_eq!(record.outcome.as_str(), "success");
            assert_eq!(
                (record.usage.input_tokens, record.usage.output_tokens),
                (12, 5)
            );
            assert!(record.cost_usd > rust_decimal::Decimal::ZERO);
        }
    }
}

/// A client that leaves mid-stream: the upstream call stops at once (the request is recorded
/// long before the answer's end), and the record keeps what the call used — the
/// prompt and the words produced so far, estimated where the provider had not yet reported
/// usage — marked `client_cancelled`, with its cost, since the provider bills it.
#[tokio::test]
async fn a_client_gone_mid_stream_leaves_the_calls_usage() {
    use futures::StreamExt;
    for model in ["cheap", "claude-haiku-4-5"] {
        let (mock, app, state, ledger_path, _dir) = with_ledger().await;
        // 400 words at 10 ms each: four seconds, unless the call is stopped.
        mock.push(
            Scenario::text("word ".repeat(400))
                .with_delay_between_chunks(std::time::Duration::from_millis(10)),
        );
        let request = post(
            "/v1/chat/completions",
            &json!({"model": model, "stream": true, "messages": [{"role": "user", "content": "Say many words"}]}),
        );
        let response = send(&app, request).await;
        assert_eq!(response.status(), 200);
        let mut body = response.into_body().into_data_stream();
        let mut seen = String::new();
        while seen.matches("word").count() < 40 {
            let chunk = body.next().await.unwrap().unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        drop(body);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let records = recorded(&state, &ledger_path);
        assert_eq!(records.len(), 1, "{model}");
        let record = &records[0];
        // Recorded once the call had stopped, long before the answer would have ended.
        assert!(
            record.latency < std::time::Duration::from_secs(2),
            "{model}: {:?}",
            record.latency
        );
        assert_eq!(record.outcome.as_str(), "client_disconnected", "{model}");
        assert_eq!(record.attempts.len(), 1, "{model}");
        let attempt = &record.attempts[0];
        assert!(
            attempt
                .outcome
                .detail()
                .is_some_and(|detail| detail.starts_with("client cancelled")),
            "{model}: {:?}",
            attempt.outcome
        );
        assert!(record.usage.input_tokens > 0, "{model}: {:?}", record.usage);
        // At least the words the client saw, fewer than the whole answer.
        assert!(
            (40..400).contains(&record.usage.output_tokens),
            "{model}: {:?}",
            record.usage
        );
        assert_eq!(record.usage, attempt.usage);
        assert!(record.cost_usd > rust_decimal::Decimal::ZERO, "{model}");
        assert!(
            record.baseline_cost_usd > rust_decimal::Decimal::ZERO,
            "{model}"
        );
    }
}

/// `POST /v1/messages/count_tokens` answers Anthropic's `{"input_tokens": n}` for the model a
/// request would go to first, counted with that model's counter, without calling upstream or
/// recording; an unknown model is the caller's error in Anthropic's shape.
#[tokio::test]
async fn count_tokens_counts_for_the_planned_model_without_a_call() {
    let (mock, app, state, ledger_path, _dir) = with_ledger().await;
    let messages =
        json!([{"role": "user", "content": "What is the capital of France? Answer in one word."}]);
    let mut counted = Vec::new();
    for model in ["claude-haiku-4-5", "auto"] {
        let request = post(
            "/v1/messages/count_tokens",
            &json!({"model": model, "system": "Be brief.", "messages": messages}),
        );
        let (status, headers, body) = read(send(&app, request).await).await;
        assert_eq!(status, 200, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        let tokens = body["input_tokens"].as_u64().unwrap();
        assert!((10..40).contains(&tokens), "{body}");
        assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
        counted.push((
            headers["x-triage-model"].to_str().unwrap().to_owned(),
            tokens,
        ));
    }
    assert_eq!(counted[0].0, "claude-haiku-4-5");
    let (status, _, body) = read(
        send(
            &app,
            post(
                "/v1/messages/count_tokens",
                &json!({"model": "gpt-7", "messages": messages}),
            ),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["type"], "error");
    assert!(mock.requests().is_empty());
    assert!(recorded(&state, &ledger_path).is_empty());
}

/// `anthropic-beta` reaches Anthropic (every value, comma-joined) and no other provider.
#[tokio::test]
async fn anthropic_beta_headers_pass_through_to_anthropic_only() {
    let mock = MockUpstream::start().await.unwrap();
    let (app, _) = app(gateway(Some(&mock), None), ServerOptions::default());
    for model in ["claude-haiku-4-5", "gpt-4o-mini"] {
        let request = axum::http::Request::post("/v1/messages")
            .header("content-type", "application/json")
            .header("anthropic-beta", "prompt-caching-2024-07-31, token-efficient-tools-2025-02-19")
            .header("anthropic-beta", "interleaved-thinking-2025-05-14")
            .body(axum::body::Body::from(
                json!({"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": "Say hi"}]})
                    .to_string(),
            ))
            .unwrap();
        let (status, _, body) = read(send(&app, request).await).await;
        assert_eq!(status, 200, "{body}");
    }
    let sent: Vec<Option<String>> = mock
        .requests()
        .iter()
        .map(|request| request.headers.get("anthropic-beta").cloned())
        .collect();
    assert_eq!(
        sent,
        [
            Some(
                "prompt-caching-2024-07-31,token-efficient-tools-2025-02-19,interleaved-thinking-2025-05-14"
                    .to_owned()
            ),
            None
        ]
    );
}

/// The caller's prompt-cache breakpoints (Anthropic's `cache_control` on the system prompt,
/// the tools and a conversation turn, its TTL kept) reach Anthropic, never more than the four
/// the API takes, and the cached tokens it reports are priced at the cached rates.
#[tokio::test]
async fn cache_breakpoints_reach_anthropic_and_cached_tokens_are_priced_as_cached() {
    let (mock, app, state, ledger_path, _dir) = with_ledger().await;
    let usage = MockUsage {
        input: 3_000,
        output: 10,
        cached_read: 2_000,
        cache_write: 500,
        reasoning: 0,
    };
    mock.push(Scenario::text("Done.").with_usage(usage));
    let ephemeral = json!({"type": "ephemeral"});
    // A marked system prompt and tools, then `messages`; answered 200.
    let ask = |messages: Value| {
        let request = post(
            "/v1/messages",
            &json!({
                "model": "claude-haiku-4-5",
                "max_tokens": 50,
                "system": [{"type": "text", "text": "You review code.", "cache_control": ephemeral}],
                "tools": [{"name": "read_file", "input_schema": {"type": "object"}, "cache_control": ephemeral}],
                "messages": messages
            }),
        );
        let app = app.clone();
        async move {
            let (status, _, body) = read(send(&app, request).await).await;
            assert_eq!(status, 200, "{body}");
        }
    };
    ask(json!([
        {"role": "user", "content": [{"type": "text", "text": "Here is the repository.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]},
        {"role": "assistant", "content": "Read it."},
        {"role": "user", "content": "What does main.rs do?"}
    ]))
    .await;
    let sent = &mock.requests()[0].body;
    assert_eq!(sent["system"][0]["cache_control"], ephemeral, "{sent}");
    assert_eq!(sent["tools"][0]["cache_control"], ephemeral, "{sent}");
    assert_eq!(
        sent["messages"][0]["content"][0]["cache_control"],
        json!({"type": "ephemeral", "ttl": "1h"}),
        "{sent}"
    );
    assert_eq!(sent["messages"][2]["content"], "What does main.rs do?");

    // Four marked turns besides the system prompt's and the tools' breakpoints: the API takes
    // four in all, so the two latest turns keep theirs.
    let turn = |text: &str| json!({"role": "user", "content": [{"type": "text", "text": text, "cache_control": ephemeral}]});
    let reply = json!({"role": "assistant", "content": "ok"});
    ask(json!([
        turn("one"),
        reply,
        turn("two"),
        reply,
        turn("three"),
        reply,
        turn("four")
    ]))
    .await;
    let sent = &mock.requests()[1].body;
    let marked: Vec<bool> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["content"][0].get("cache_control").is_some())
        .collect();
    assert_eq!(
        marked,
        [false, false, false, false, true, false, true],
        "{sent}"
    );

    let record = &recorded(&state, &ledger_path)[0];
    assert_eq!(record.usage.cached_read_tokens, 2_000);
    assert_eq!(record.usage.cache_write_tokens, 500);
    let pricing = &triage_catalog::Catalog::embedded()
        .get("claude-haiku-4-5")
        .unwrap()
        .pricing;
    let million = rust_decimal::Decimal::from(1_000_000);
    let expected = (rust_decimal::Decimal::from(500) * pricing.input
        + rust_decimal::Decimal::from(2_000) * pricing.cached_input.unwrap()
        + rust_decimal::Decimal::from(500) * pricing.cache_write.unwrap()
        + rust_decimal::Decimal::from(10) * pricing.output)
        / million;
    assert_eq!(record.cost_usd, expected.normalize());
}

/// The Responses API: a response and its ledger entry, a stream whose last event holds the
/// whole response, a function call, and the next turn's items reaching the upstream as the
/// assistant's tool call and the tool's result.
#[tokio::test]
async fn responses_api_answers_streams_and_calls_functions() {
    let (mock, app, state, ledger_path, _dir) = with_ledger().await;
    mock.push(Scenario::text("Madrid."));
    let request = post(
        "/v1/responses",
        &json!({"model": "cheap", "instructions": "Answer briefly.", "input": "Capital of Spain?",
                "max_output_tokens": 40, "metadata": {"team": "a"}}),
    );
    let (status, headers, body) = read(send(&app, request).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-triage-model"], "gpt-4o-mini");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["object"], "response");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["output"][0]["content"][0]["text"], "Madrid.");
    assert_eq!(body["usage"]["output_tokens"], 5);
    assert_eq!(body["instructions"], "Answer briefly.");
    assert_eq!(body["metadata"], json!({"team": "a"}));
    let sent = &mock.requests()[0].body;
    assert_eq!(sent["messages"][0]["role"], "system");
    assert_eq!(sent["messages"][1]["content"], "Capital of Spain?");
    assert_eq!(sent["max_completion_tokens"], 40);
    let records = recorded(&state, &ledger_path);
    assert_eq!(records[0].protocol, "openai-responses");

    mock.push(Scenario::text("Streaming works fine."));
    let request = post(
        "/v1/responses",
        &json!({"model": "cheap", "stream": true, "input": [{"role": "user", "content": "Say hi"}]}),
    );
    let (status, headers, body) = read(send(&app, request).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["content-type"], "text/event-stream");
    let events: Vec<Value> = body
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect();
    let text: String = events
        .iter()
        .filter(|event| event["type"] == "response.output_text.delta")
        .map(|event| event["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "Streaming works fine.");
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.completed");
    assert_eq!(
        last["response"]["output"][0]["content"][0]["text"],
        "Streaming works fine."
    );
    assert_eq!(last["response"]["usage"]["output_tokens"], 5);
    assert_eq!(last["response"]["x_triage"]["attempts"], 1);

    mock.push(Scenario::tool_call("get_weather", json!({"city": "Paris"})));
    let tools =
        json!([{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]);
    let request = post(
        "/v1/responses",
        &json!({"model": "cheap", "tools": tools, "input": "Weather in Paris?"}),
    );
    let (status, _, body) = read(send(&app, request).await).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let call = body["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["type"] == "function_call")
        .unwrap()
        .clone();
    assert_eq!(call["name"], "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(call["arguments"].as_str().unwrap()).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(
        mock.requests()[2].body["tools"][0]["function"]["name"],
        "get_weather",
        "tools reach the upstream in the provider's shape"
    );

    mock.push(Scenario::text("Sunny."));
    let request = post(
        "/v1/responses",
        &json!({"model": "cheap", "tools": tools, "input": [
            {"role": "user", "content": "Weather in Paris?"},
            call,
            {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}
        ]}),
    );
    let (status, _, body) = read(send(&app, request).await).await;
    assert_eq!(status, 200, "{body}");
    let sent = &mock.requests()[3].body["messages"];
    assert_eq!(sent[1]["role"], "assistant");
    assert_eq!(sent[1]["tool_calls"][0]["id"], call["call_id"]);
    assert_eq!(sent[2]["role"], "tool");
    assert_eq!(sent[2]["tool_call_id"], call["call_id"]);
    assert_eq!(sent[2]["content"], "sunny");
}

/// A Responses stream whose upstream breaks after some text reached the client: an `error`
/// event, then `response.failed` whose output is the message item the stream added,
/// `incomplete`, holding the text streamed before the break.
#[tokio::test]
async fn a_responses_stream_that_breaks_fails_with_the_item_it_was_writing() {
    let mock = MockUpstream::start().await.unwrap();
    // The first sentence releases the held-back head to the client, so the break cannot be
    // hidden by a fallback.
    mock.push(Scenario::cut_stream(
        "Once upon a time. A fox walked through the old forest looking for a way home again",
    ));
    let (app, _) = app(gateway(Some(&mock), None), ServerOptions::default());
    let request = post(
        "/v1/responses",
        &json!({"model": "gpt-4o-mini", "stream": true, "input": "Tell me a story"}),
    );
    let (status, _, body) = read(send(&app, request).await).await;
    assert_eq!(status, 200, "{body}");
    let events: Vec<Value> = body
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect();
    let streamed: String = events
        .iter()
        .filter(|event| event["type"] == "response.output_text.delta")
        .map(|event| event["delta"].as_str().unwrap())
        .collect();
    assert!(!streamed.is_empty(), "{kinds:?}");
    assert_eq!(
        kinds[kinds.len() - 2..],
        ["error", "response.failed"],
        "{kinds:?}"
    );
    let added = events
        .iter()
        .find(|event| event["type"] == "response.output_item.added")
        .unwrap();
    let failed = &events.last().unwrap()["response"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["output"].as_array().unwrap().len(), 1, "{failed:#}");
    let item = &failed["output"][0];
    assert_eq!(item["id"], added["item"]["id"]);
    assert_eq!(item["type"], "message");
    assert_eq!(item["status"], "incomplete");
    assert_eq!(item["content"][0]["text"], streamed.as_str());
}

/// Reasoning effort through the gateway: a routed request's reasoning model gets the plan's
/// effort (here a rule's `reason` class: `medium`), a named model only the client's, and a
/// model that takes no control none at all (the mock refuses `reasoning_effort` on GPT-4
/// models, as OpenAI does).
#[tokio::test]
async fn reasoning_effort_goes_where_it_is_planned_or_asked() {
    let mock = MockUpstream::start().await.unwrap();
    let config = "\n[[rules]]\nname = \"proofs\"\ncontains = \"prove\"\nclass = \"reason\"\nmodel = \"gpt-5.4-mini\"\n";
    let (app, _) = app(
        gateway_with(Some(&mock), None, config),
        ServerOptions::default(),
    );
    let cases = [
        ("auto", None, "Prove that 17 is prime.", json!("medium")),
        ("gpt-5.4-mini", None, "Is 17 prime?", Value::Null),
        ("gpt-5.4-mini", Some("high"), "Is 17 prime?", json!("high")),
        ("gpt-4o-mini", Some("high"), "Is 17 prime?", Value::Null),
    ];
    for (index, (model, effort, prompt, sent)) in cases.into_iter().enumerate() {
        let mut body = json!({"model": model, "messages": [{"role": "user", "content": prompt}]});
        if let Some(effort) = effort {
            body["reasoning_effort"] = json!(effort);
        }
        let (status, headers, answer) =
            read(send(&app, post("/v1/chat/completions", &body)).await).await;
        assert_eq!(status, 200, "{model} {effort:?}: {answer}");
        assert_eq!(headers["x-triage-attempts"], "1", "{model} {effort:?}");
        let upstream = &mock.requests()[index].body;
        assert_eq!(
            upstream
                .get("reasoning_effort")
                .cloned()
                .unwrap_or(Value::Null),
            sent,
            "{model} {effort:?}: {upstream}"
        );
    }
}

/// Each model is sent reasoning in the form and at an effort it takes (the mock refuses the
/// rest, as the real APIs do, so one attempt means it was accepted): the nearest effort a model
/// accepts for one it does not (`minimal` on GPT-5.4 mini), adaptive thinking for Claude 4.7
/// (which refuses budget thinking), and an Anthropic client's `thinking` read as its effort for
/// an OpenAI model.
#[tokio::test]
async fn reasoning_goes_in_each_models_own_form() {
    let mock = MockUpstream::start().await.unwrap();
    let (app, _) = app(
        gateway_with(Some(&mock), None, ""),
        ServerOptions::default(),
    );
    let chat = |model: &str, effort: &str| {
        json!({"model": model, "reasoning_effort": effort,
               "messages": [{"role": "user", "content": "Is 17 prime?"}]})
    };
    let cases = [
        (
            "/v1/chat/completions",
            chat("gpt-5.4-mini", "minimal"),
            "/reasoning_effort",
            json!("low"),
        ),
        (
            "/v1/chat/completions",
            chat("claude-opus-4-7", "high"),
            "/thinking",
            json!({"type": "adaptive"}),
        ),
        (
            "/v1/chat/completions",
            chat("claude-opus-4-7", "xhigh"),
            "/output_config",
            json!({"effort": "max"}),
        ),
        (
            "/v1/chat/completions",
            chat("claude-sonnet-4-5", "high"),
            "/thinking",
            json!({"type": "enabled", "budget_tokens": 16_384}),
        ),
        (
            "/v1/messages",
            json!({"model": "gpt-5.4-mini", "max_tokens": 9000,
                   "thinking": {"type": "enabled", "budget_tokens": 4096},
                   "messages": [{"role": "user", "content": "Is 17 prime?"}]}),
            "/reasoning_effort",
            json!("medium"),
        ),
        (
            "/v1/messages",
            json!({"model": "claude-opus-4-7", "max_tokens": 9000,
                   "thinking": {"type": "enabled", "budget_tokens": 4096},
                   "messages": [{"role": "user", "content": "Is 17 prime?"}]}),
            "/thinking",
            json!({"type": "adaptive"}),
        ),
    ];
    for (index, (path, body, pointer, sent)) in cases.into_iter().enumerate() {
        let (status, headers, answer) = read(send(&app, post(path, &body)).await).await;
        assert_eq!(status, 200, "{body}: {answer}");
        assert_eq!(headers["x-triage-attempts"], "1", "{body}");
        let upstream = &mock.requests()[index].body;
        assert_eq!(
            upstream.pointer(pointer).cloned().unwrap_or(Value::Null),
            sent,
            "{body}: {upstream}"
        );
    }
}
