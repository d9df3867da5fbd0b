//! The OpenAI Chat Completions wire format: request parsing into [`ChatRequest`], response and
//! `chat.completion.chunk` bodies. Unknown request fields are ignored, as OpenAI-compatible
//! servers do, so newer SDKs keep working.

use serde::Deserialize;
use serde_json::{Value, json};
use triage_types::{
    ChatRequest, ContentPart, FinishReason, Message, ReasoningEffort, ResponseFormat, Role,
    ToolCall, ToolChoice, ToolDefinition, Usage,
};

use crate::ServerError;

/// A parsed `POST /v1/chat/completions` body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OpenAiRequest {
    /// `auto`, a route alias or a catalog model id.
    pub(crate) model: String,
    /// The request in triage's terms.
    pub(crate) request: ChatRequest,
    /// Whether to stream.
    pub(crate) stream: bool,
    /// Whether a streamed answer ends with a usage chunk (`stream_options.include_usage`).
    pub(crate) include_usage: bool,
}

#[derive(Debug, Deserialize)]
struct WireRequest {
    model: String,
    messages: Vec<WireMessage>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<WireStreamOptions>,
    #[serde(default)]
    temperature: Option<f32>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
    #[serde(default)]
    stop: Option<WireStop>,
    #[serde(default)]
    tools: Option<Vec<WireTool>>,
    #[serde(default)]
    tool_choice: Option<Value>,
    #[serde(default)]
    response_format: Option<WireResponseFormat>,
    /// How hard a reasoning model should think (`low`, `medium`, `high`, …).
    #[serde(default)]
    reasoning_effort: Option<String>,
    /// How many choices to generate; only 1 is supported.
    #[serde(default)]
    n: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct WireStreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum WireStop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    role: String,
    #[serde(default)]
    content: Option<WireContent>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
    #[serde(default)]
    tool_call_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum WireContent {
    Text(String),
    Parts(Vec<WirePart>),
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WirePart {
    Text {
        text: String,
    },
    ImageUrl {
        image_url: WireImageUrl,
    },
    #[serde(other)]
    Unsupported,
}

#[derive(Debug, Deserialize)]
struct WireImageUrl {
    url: String,
}

#[derive(Debug, Deserialize)]
struct WireToolCall {
    id: String,
    function: WireFunctionCall,
}

#[derive(Debug, Deserialize)]
struct WireFunctionCall {
    name: String,
    #[serde(default)]
    arguments: String,
}

#[derive(Debug, Deserialize)]
struct WireTool {
    function: WireFunction,
}

#[derive(Debug, Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireResponseFormat {
    Text,
    JsonObject,
    JsonSchema { json_schema: WireJsonSchema },
}

#[derive(Debug, Deserialize)]
struct WireJsonSchema {
    name: String,
    #[serde(default)]
    schema: Option<Value>,
}

/// Parses a request body.
pub(crate) fn parse_request(body: &[u8]) -> Result<OpenAiRequest, ServerError> {
    let wire: WireRequest = serde_json::from_slice(body).map_err(ServerError::malformed)?;
    let mut messages = Vec::with_capacity(wire.messages.len());
    for message in wire.messages {
        messages.push(message_from_wire(message)?);
    }
    if messages.is_empty() {
        return Err(invalid("`messages` must hold at least one message"));
    }
    // As the Anthropic endpoint does: a conversation of system messages only, or a message
    // with nothing in it, is the client's error, not a paid call.
    if messages.iter().all(|message| message.role == Role::System) {
        return Err(invalid(
            "`messages` must hold a user or assistant message, not only system ones",
        ));
    }
    if let Some(index) = messages.iter().position(says_nothing) {
        return Err(ServerError::InvalidRequest {
            message: format!("`messages[{index}]` has empty content"),
        });
    }
    if wire.n.is_some_and(|n| n != 1) {
        return Err(invalid(
            "`n` other than 1 is not supported: the gateway returns one choice",
        ));
    }
    let tools = wire
        .tools
        .unwrap_or_default()
        .into_iter()
        .map(|tool| ToolDefinition {
            name: tool.function.name,
            description: tool.function.description,
            parameters: tool
                .function
                .parameters
                .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        })
        .collect();
    let tool_choice = wire.tool_choice.map(tool_choice_from_wire).transpose()?;
    let response_format = wire
        .response_format
        .map(|format| match format {
            WireResponseFormat::Text => Ok(ResponseFormat::Text),
            WireResponseFormat::JsonObject => Ok(ResponseFormat::JsonObject),
            WireResponseFormat::JsonSchema { json_schema } => json_schema_format(
                json_schema.name,
                json_schema.schema.unwrap_or_else(|| json!({})),
                "response_format.json_schema.schema",
            ),
        })
        .transpose()?;
    let stop = match wire.stop {
        None => Vec::new(),
        Some(WireStop::One(stop)) => vec![stop],
        Some(WireStop::Many(stops)) => stops,
    };
    Ok(OpenAiRequest {
        model: wire.model,
        stream: wire.stream.unwrap_or(false),
        include_usage: wire
            .stream_options
            .is_some_and(|options| options.include_usage),
        request: ChatRequest {
            messages,
            tools,
            tool_choice,
            temperature: wire.temperature,
            max_output_tokens: wire.max_completion_tokens.or(wire.max_tokens),
            stop,
            response_format,
            cache_prefix: false,
            anthropic_beta: Vec::new(),
            thinking: None,
            reasoning_effort: wire
                .reasoning_effort
                .as_deref()
                .map(|name| reasoning_effort(name, "reasoning_effort"))
                .transpose()?,
            reasoning_control: None,
        },
    })
}

/// A `json_schema` response format, its schema compiled first: a schema the checks could not
/// compile is the client's error (naming the field at `path`), found before any upstream call
/// rather than as a paid escalation.
pub(crate) fn json_schema_format(
    name: String,
    schema: Value,
    path: &str,
) -> Result<ResponseFormat, ServerError> {
    triage_fallback::compile_json_schema(&schema).map_err(|error| ServerError::InvalidRequest {
        message: format!("`{path}` is invalid: {error}"),
    })?;
    Ok(ResponseFormat::JsonSchema { name, schema })
}

/// Whether a turn says nothing: no text but blanks, no image, no tool call and no tool result.
/// Such a turn is the client's error, not a paid call.
pub(crate) fn says_nothing(message: &Message) -> bool {
    message.role != Role::Tool
        && message.tool_calls.is_empty()
        && message.content.iter().all(|part| match part {
            ContentPart::Text { text } => text.trim().is_empty(),
            _ => false,
        })
}

/// A `reasoning_effort` value (the field at `path`), or a 400 that lists the valid ones.
pub(crate) fn reasoning_effort(name: &str, path: &str) -> Result<ReasoningEffort, ServerError> {
    ReasoningEffort::parse(name).ok_or_else(|| {
        let valid: Vec<&str> = ReasoningEffort::ALL.iter().map(|e| e.as_str()).collect();
        invalid(&format!(
            "`{path}` is `{name}`; expected one of {}",
            valid.join(", ")
        ))
    })
}

pub(crate) fn invalid(message: &str) -> ServerError {
    ServerError::InvalidRequest {
        message: message.to_owned(),
    }
}

fn message_from_wire(message: WireMessage) -> Result<Message, ServerError> {
    let role = match message.role.as_str() {
        "system" | "developer" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        other => {
            return Err(ServerError::InvalidRequest {
                message: format!(
                    "unknown message role `{other}` (expected system, developer, user, assistant or tool)"
                ),
            });
        }
    };
    let content = match message.content {
        None => Vec::new(),
        Some(WireContent::Text(text)) => vec![ContentPart::Text { text }],
        Some(WireContent::Parts(parts)) => parts
            .into_iter()
            .filter_map(|part| match part {
                WirePart::Text { text } => Some(ContentPart::Text { text }),
                WirePart::ImageUrl { image_url } => Some(ContentPart::Image { url: image_url.url }),
                WirePart::Unsupported => None,
            })
            .collect(),
    };
    let tool_calls = message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(|call| ToolCall {
            id: call.id,
            name: call.function.name,
            arguments: call.function.arguments,
        })
        .collect();
    if role == Role::Tool && message.tool_call_id.is_none() {
        return Err(invalid("a `tool` message needs a `tool_call_id`"));
    }
    Ok(Message {
        role,
        content,
        tool_calls,
        tool_call_id: message.tool_call_id,
        cache_control: None,
    })
}

fn tool_choice_from_wire(value: Value) -> Result<ToolChoice, ServerError> {
    match &value {
        Value::String(text) => tool_choice_mode(text),
        Value::Object(_) => value
            .pointer("/function/name")
            .and_then(Value::as_str)
            .map(|name| ToolChoice::Tool(name.to_owned()))
            .ok_or_else(|| invalid("`tool_choice.function.name` is missing")),
        _ => Err(invalid("`tool_choice` must be a string or an object")),
    }
}

/// A `tool_choice` given as a string, as both OpenAI APIs spell it.
pub(crate) fn tool_choice_mode(text: &str) -> Result<ToolChoice, ServerError> {
    match text {
        "auto" => Ok(ToolChoice::Auto),
        "none" => Ok(ToolChoice::None),
        "required" => Ok(ToolChoice::Required),
        _ => Err(invalid(
            "`tool_choice` must be auto, none, required or a function",
        )),
    }
}

/// OpenAI's name for a finish reason.
pub(crate) fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop | FinishReason::Other => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
    }
}

/// The `usage` object.
pub(crate) fn usage(usage: &Usage) -> Value {
    let mut value = json!({
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
    });
    if usage.cached_read_tokens > 0 {
        value["prompt_tokens_details"] = json!({ "cached_tokens": usage.cached_read_tokens });
    }
    if usage.reasoning_tokens > 0 {
        value["completion_tokens_details"] = json!({ "reasoning_tokens": usage.reasoning_tokens });
    }
    value
}

/// What identifies one completion in every body and chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CompletionId {
    /// `chatcmpl-…`.
    pub(crate) id: String,
    /// Unix seconds.
    pub(crate) created: i64,
    /// The catalog id of the model that answered.
    pub(crate) model: String,
}

/// A complete `chat.completion` body.
pub(crate) fn completion(id: &CompletionId, response: &triage_types::ChatResponse) -> Value {
    let tool_calls: Vec<Value> = response
        .tool_calls
        .iter()
        .map(|call| {
            json!({
                "id": call.id,
                "type": "function",
                "function": { "name": call.name, "arguments": call.arguments },
            })
        })
        .collect();
    let mut message = json!({
        "role": "assistant",
        "content": if response.text.is_empty() && !tool_calls.is_empty() {
            Value::Null
        } else {
            Value::String(response.text.clone())
        },
        "refusal": null,
    });
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    json!({
        "id": id.id,
        "object": "chat.completion",
        "created": id.created,
        "model": id.model,
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": finish_reason(response.finish_reason),
            "logprobs": null,
        }],
        "usage": usage(&response.usage),
    })
}

/// A `chat.completion.chunk` with one choice whose delta is `delta`.
pub(crate) fn chunk(id: &CompletionId, delta: Value, finish: Option<FinishReason>) -> Value {
    json!({
        "id": id.id,
        "object": "chat.completion.chunk",
        "created": id.created,
        "model": id.model,
        "choices": [{
            "index": 0,
            "delta": delta,
            "finish_reason": finish.map(finish_reason),
            "logprobs": null,
        }],
    })
}

/// The final usage chunk (`stream_options.include_usage`): no choices, the answer's usage
/// (the stream adds triage's figures to it).
pub(crate) fn usage_chunk(id: &CompletionId, answer: &Usage) -> Value {
    json!({
        "id": id.id,
        "object": "chat.completion.chunk",
        "created": id.created,
        "model": id.model,
        "choices": [],
        "usage": usage(answer),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_message_kind_and_option() {
        let body = json!({
            "model": "auto",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
                    {"type": "input_audio", "input_audio": {}}
                ]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "a cat"}
            ],
            "tools": [{"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "look"}},
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
            "stream": true,
            "stream_options": {"include_usage": true},
            "max_tokens": 10,
            "max_completion_tokens": 20,
            "stop": "END",
            "temperature": 0.5,
            "reasoning_effort": "high",
            "seed": 7,
            "user": "ignored"
        });
        let parsed = parse_request(body.to_string().as_bytes()).unwrap();
        assert!(parsed.stream && parsed.include_usage);
        let request = parsed.request;
        assert_eq!(request.messages.len(), 4);
        assert_eq!(request.messages[0].role, Role::System);
        assert!(request.messages[1].has_image());
        assert_eq!(request.messages[2].tool_calls[0].name, "look");
        assert_eq!(request.messages[3].tool_call_id.as_deref(), Some("call_1"));
        assert_eq!(request.max_output_tokens, Some(20));
        assert_eq!(request.stop, vec!["END".to_owned()]);
        assert_eq!(
            request.tool_choice,
            Some(ToolChoice::Tool("look".to_owned()))
        );
        assert!(request.wants_json());
        assert_eq!(request.reasoning_effort, Some(ReasoningEffort::High));
    }

    #[test]
    fn rejects_bad_bodies_with_client_errors() {
        for body in [
            "{not json",
            r#"{"messages": []}"#,
            r#"{"model": "auto", "messages": [{"role": "robot", "content": "x"}]}"#,
            r#"{"model": "auto", "messages": []}"#,
            r#"{"model": "auto", "messages": [{"role": "system", "content": "be nice"}]}"#,
            r#"{"model": "auto", "messages": [{"role": "user", "content": ""}]}"#,
            r#"{"model": "auto", "messages": [{"role": "user", "content": "  "}]}"#,
            r#"{"model": "auto", "messages": [{"role": "user", "content": []}]}"#,
            r#"{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "n": 3}"#,
            r#"{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "max"}"#,
        ] {
            let error = parse_request(body.as_bytes()).unwrap_err();
            assert_eq!(
                error.status(),
                axum::http::StatusCode::BAD_REQUEST,
                "{body}"
            );
        }
    }
}
