//! The exact requests each protocol sends (method, path, query, headers, JSON body), as
//! received by the mock, snapshotted with the key redacted; plus explicit checks of the points
//! the providers' API references insist on.

use serde_json::{Value, json};
use triage_mock::{MockUpstream, RecordedRequest, Scenario};
use triage_providers::{
    HttpClientOptions, MaxTokensField, OpenAiQuirks, Protocol, build_http_client, build_provider,
};
use triage_types::{
    ChatRequest, ContentPart, Message, ResponseFormat, Role, ToolCall, ToolChoice, ToolDefinition,
};

use crate::support::{KEY, harness, settings_for};

/// A conversation exercising every part of the neutral request.
fn rich_request() -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message::text(Role::System, "You are terse."),
            Message {
                role: Role::User,
                content: vec![
                    ContentPart::Text {
                        text: "What is the weather in Paris?".into(),
                    },
                    ContentPart::Image {
                        url: "data:image/png;base64,iVBORw0KGgo=".into(),
                    },
                ],
                ..Message::default()
            },
            Message {
                role: Role::Assistant,
                content: Vec::new(),
                tool_calls: vec![ToolCall {
                    id: "call_1".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"city":"Paris"}"#.into(),
                }],
                tool_call_id: None,
                cache_control: None,
            },
            Message {
                role: Role::Tool,
                content: vec![ContentPart::Text {
                    text: r#"{"temp_c":21}"#.into(),
                }],
                tool_calls: Vec::new(),
                tool_call_id: Some("call_1".into()),
                cache_control: None,
            },
            Message::user("And tomorrow?"),
        ],
        tools: vec![ToolDefinition {
            name: "get_weather".into(),
            description: Some("Current weather for a city".into()),
            parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        }],
        tool_choice: Some(ToolChoice::Auto),
        temperature: Some(0.2),
        max_output_tokens: Some(256),
        stop: vec!["END".into()],
        response_format: None,
        cache_prefix: true,
        anthropic_beta: Vec::new(),
        thinking: None,
        reasoning_effort: None,
        reasoning_control: None,
    }
}

fn json_schema_request() -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message::text(Role::System, "Extract."),
            Message::user("Ada, 36"),
        ],
        response_format: Some(ResponseFormat::JsonSchema {
            name: "person".into(),
            schema: json!({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name", "age"]}),
        }),
        tool_choice: Some(ToolChoice::Tool("get_weather".into())),
        tools: rich_request().tools,
        ..ChatRequest::default()
    }
}

/// The recorded request as a snapshot: volatile headers (host, length) dropped, key redacted.
fn snapshot_value(request: &RecordedRequest) -> Value {
    let headers: serde_json::Map<String, Value> = request
        .headers
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "host" | "content-length" | "user-agent"))
        .map(|(name, value)| (name.clone(), json!(value.replace(KEY, "[KEY]"))))
        .collect();
    json!({
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "headers": headers,
        "body": request.body,
    })
}

async fn record(
    protocol: Protocol,
    id: &str,
    request: &ChatRequest,
    stream: bool,
) -> RecordedRequest {
    let h = harness(protocol, id).await;
    h.mock.push(Scenario::text("ok"));
    if stream {
        let events = h.provider.stream("model-x", request).await.unwrap();
        crate::support::drain(events).await;
    } else {
        h.provider.complete("model-x", request).await.unwrap();
    }
    let mut requests = h.mock.requests();
    assert_eq!(requests.len(), 1);
    requests.remove(0)
}

#[tokio::test]
async fn requests_match_snapshots() {
    let cases = [
        (Protocol::OpenAi, "openai"),
        (Protocol::Anthropic, "anthropic"),
        (Protocol::Gemini, "google"),
        (Protocol::OpenAiCompatible, "deepseek"),
    ];
    for (protocol, id) in cases {
        for stream in [false, true] {
            let recorded = record(protocol, id, &rich_request(), stream).await;
            let mode = if stream { "stream" } else { "complete" };
            insta::assert_json_snapshot!(format!("{protocol}_{mode}"), snapshot_value(&recorded));
        }
        let recorded = record(protocol, id, &json_schema_request(), false).await;
        insta::assert_json_snapshot!(format!("{protocol}_json_schema"), snapshot_value(&recorded));
    }
}

#[tokio::test]
async fn openai_follows_the_chat_completions_reference() {
    let recorded = record(Protocol::OpenAi, "openai", &rich_request(), true).await;
    assert_eq!(recorded.method, "POST");
    assert_eq!(recorded.path, "/v1/chat/completions");
    assert_eq!(recorded.headers["authorization"], format!("Bearer {KEY}"));
    let body = &recorded.body;
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["max_completion_tokens"], 256);
    assert!(body.get("max_tokens").is_none());
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "You are terse."})
    );
    assert_eq!(body["messages"][2]["tool_calls"][0]["type"], "function");
    assert_eq!(body["messages"][3]["role"], "tool");
    assert_eq!(body["messages"][3]["tool_call_id"], "call_1");
    assert_eq!(body["tools"][0]["type"], "function");
    assert_eq!(body["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(body["temperature"], json!(0.2));
}

#[tokio::test]
async fn compatible_servers_get_max_tokens() {
    let recorded = record(
        Protocol::OpenAiCompatible,
        "deepseek",
        &rich_request(),
        false,
    )
    .await;
    assert_eq!(recorded.body["max_tokens"], 256);
    assert!(recorded.body.get("max_completion_tokens").is_none());
    // DeepSeek has no json_schema: a schema request falls back to json_object.
    let recorded = record(
        Protocol::OpenAiCompatible,
        "deepseek",
        &json_schema_request(),
        false,
    )
    .await;
    assert_eq!(
        recorded.body["response_format"],
        json!({"type": "json_object"})
    );
}

#[tokio::test]
async fn quirks_come_from_the_settings_not_the_provider_id() {
    let mock = MockUpstream::start().await.unwrap();
    let settings =
        settings_for(&mock, Protocol::OpenAiCompatible, "groq").with_openai_quirks(OpenAiQuirks {
            max_tokens_field: MaxTokensField::MaxCompletionTokens,
            ..OpenAiQuirks::COMPATIBLE
        });
    let client = build_http_client(&HttpClientOptions::default()).unwrap();
    let provider = build_provider(settings, client).unwrap();
    mock.push(Scenario::text("ok"));
    provider.complete("model-x", &rich_request()).await.unwrap();
    let requests = mock.requests();
    assert_eq!(requests[0].body["max_completion_tokens"], 256);
    assert!(requests[0].body.get("max_tokens").is_none());
}

#[tokio::test]
async fn anthropic_follows_the_messages_reference() {
    let recorded = record(Protocol::Anthropic, "anthropic", &rich_request(), false).await;
    assert_eq!(recorded.path, "/v1/messages");
    assert_eq!(recorded.headers["x-api-key"], KEY);
    assert_eq!(recorded.headers["anthropic-version"], "2023-06-01");
    assert_eq!(recorded.headers["content-type"], "application/json");
    assert!(!recorded.headers.contains_key("authorization"));
    let body = &recorded.body;
    assert_eq!(body["max_tokens"], 256);
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}])
    );
    assert_eq!(body["tools"][0]["input_schema"]["type"], "object");
    assert_eq!(
        body["tools"][0]["cache_control"],
        json!({"type": "ephemeral"})
    );
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"], "turns alternate");
    assert_eq!(body["messages"][1]["content"][0]["type"], "tool_use");
    assert_eq!(
        body["messages"][1]["content"][0]["input"],
        json!({"city": "Paris"})
    );
    assert_eq!(
        body["messages"][2]["content"][0]["type"], "tool_result",
        "tool results come first"
    );
    assert_eq!(body["messages"][2]["content"][0]["tool_use_id"], "call_1");
    assert_eq!(body["stop_sequences"], json!(["END"]));
    assert_eq!(body["tool_choice"], json!({"type": "auto"}));

    // Without a limit in the request, the required max_tokens still goes out.
    let recorded = record(
        Protocol::Anthropic,
        "anthropic",
        &ChatRequest::from_prompt("hi"),
        false,
    )
    .await;
    assert_eq!(recorded.body["max_tokens"], 4096);
    assert_eq!(
        recorded.body["messages"],
        json!([{"role": "user", "content": "hi"}])
    );
}

#[tokio::test]
async fn gemini_follows_the_generate_content_reference() {
    let recorded = record(Protocol::Gemini, "google", &rich_request(), true).await;
    assert_eq!(
        recorded.path,
        "/v1beta/models/model-x:streamGenerateContent"
    );
    assert_eq!(recorded.query.as_deref(), Some("alt=sse"));
    assert_eq!(recorded.headers["x-goog-api-key"], KEY);
    let body = &recorded.body;
    assert!(body.get("model").is_none());
    assert_eq!(
        body["systemInstruction"],
        json!({"parts": [{"text": "You are terse."}]})
    );
    assert_eq!(body["contents"][1]["role"], "model");
    assert_eq!(
        body["contents"][1]["parts"][0]["functionCall"]["name"],
        "get_weather"
    );
    assert_eq!(
        body["contents"][2]["parts"][0]["functionResponse"],
        json!({"name": "get_weather", "response": {"temp_c": 21}})
    );
    assert_eq!(
        body["contents"][0]["parts"][1]["inlineData"]["mimeType"],
        "image/png"
    );
    assert_eq!(
        body["tools"][0]["functionDeclarations"][0]["name"],
        "get_weather"
    );
    assert_eq!(body["generationConfig"]["maxOutputTokens"], 256);
    assert_eq!(body["generationConfig"]["stopSequences"], json!(["END"]));

    let recorded = record(Protocol::Gemini, "google", &rich_request(), false).await;
    assert_eq!(recorded.path, "/v1beta/models/model-x:generateContent");
    assert_eq!(recorded.query, None);
}
