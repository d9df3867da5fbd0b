//! OpenAI Chat Completions (`POST {base}/chat/completions`, base including `/v1`), for OpenAI
//! itself and for OpenAI-compatible servers (DeepSeek, Groq, Together, Ollama, vLLM) through
//! [`OpenAiQuirks`].

use std::collections::BTreeMap;

use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde::Deserialize;
use serde_json::{Value, json};
use triage_types::{
    ChatRequest, ChatResponse, ContentPart, FinishReason, Message, ResponseFormat, Role,
    StreamEvent, ToolCall, ToolChoice, Usage,
};

use crate::error::{HttpFailure, body_message};
use crate::http::{StreamDecoder, Transport, parse_body, preview, secret_header};
use crate::sse::SseEvent;
use crate::{EventStream, MaxTokensField, OpenAiQuirks, Protocol, Provider, ProviderError};

/// A Chat Completions client.
#[derive(Debug, Clone)]
pub(crate) struct OpenAiProvider {
    transport: Transport,
    quirks: OpenAiQuirks,
}

impl OpenAiProvider {
    pub(crate) fn new(transport: Transport) -> Self {
        let quirks = transport.settings.openai_quirks;
        OpenAiProvider { transport, quirks }
    }

    fn url(&self) -> String {
        format!("{}/chat/completions", self.transport.settings.base())
    }

    fn headers(&self) -> Result<HeaderMap, ProviderError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = &self.transport.key {
            let value = secret_header(
                &self.transport.settings.provider_id,
                &format!("Bearer {}", key.expose()),
            )?;
            headers.insert(AUTHORIZATION, value);
        }
        Ok(headers)
    }
}

#[async_trait::async_trait]
impl Provider for OpenAiProvider {
    fn id(&self) -> &str {
        &self.transport.settings.provider_id
    }

    fn protocol(&self) -> Protocol {
        self.transport.settings.protocol
    }

    async fn complete(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let body = request_body(model, request, self.quirks, false);
        let bytes = self
            .transport
            .post_json(&self.url(), self.headers()?, &body)
            .await?;
        response_from_body(self.id(), model, &bytes)
    }

    async fn stream(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<EventStream, ProviderError> {
        let body = request_body(model, request, self.quirks, true);
        let decoder = Decoder {
            provider: self.id().to_owned(),
            ..Decoder::default()
        };
        self.transport
            .post_stream(&self.url(), self.headers()?, &body, decoder)
            .await
    }
}

/// The request body, as the Chat Completions reference documents it.
pub(crate) fn request_body(
    model: &str,
    request: &ChatRequest,
    quirks: OpenAiQuirks,
    stream: bool,
) -> Value {
    let mut body = serde_json::Map::new();
    body.insert("model".into(), json!(model));
    let mut messages: Vec<Value> = request.messages.iter().map(message).collect();
    if let Some(instruction) = json_instruction(request, quirks) {
        // After the leading system messages, so a cached prefix stays stable.
        let position = request
            .messages
            .iter()
            .take_while(|message| message.role == Role::System)
            .count();
        messages.insert(position, json!({"role": "system", "content": instruction}));
    }
    body.insert("messages".into(), Value::Array(messages));
    if !request.tools.is_empty() {
        let tools = request
            .tools
            .iter()
            .map(|tool| {
                let mut function = serde_json::Map::new();
                function.insert("name".into(), json!(tool.name));
                if let Some(description) = &tool.description {
                    function.insert("description".into(), json!(description));
                }
                function.insert("parameters".into(), tool.parameters.clone());
                json!({"type": "function", "function": function})
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &request.tool_choice {
        let choice = match choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
        };
        body.insert("tool_choice".into(), choice);
    }
    if let Some(temperature) = request.temperature {
        body.insert("temperature".into(), crate::http::float_json(temperature));
    }
    if let Some(effort) = request.reasoning_effort {
        body.insert("reasoning_effort".into(), json!(effort.as_str()));
    }
    if let Some(max) = request.max_output_tokens {
        let field = match quirks.max_tokens_field {
            MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
            MaxTokensField::MaxTokens => "max_tokens",
        };
        body.insert(field.into(), json!(max));
    }
    if !request.stop.is_empty() {
        body.insert("stop".into(), json!(request.stop));
    }
    match &request.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => {
            body.insert("response_format".into(), json!({"type": "json_object"}));
        }
        Some(ResponseFormat::JsonSchema { name, schema }) => {
            let format = if quirks.json_schema {
                json!({"type": "json_schema", "json_schema": {"name": name, "schema": schema}})
            } else {
                json!({"type": "json_object"})
            };
            body.insert("response_format".into(), format);
        }
    }
    if stream {
        body.insert("stream".into(), json!(true));
        if quirks.stream_usage {
            body.insert("stream_options".into(), json!({"include_usage": true}));
        }
    }
    Value::Object(body)
}

/// JSON mode needs the word "JSON" in the conversation (OpenAI rejects the request otherwise,
/// DeepSeek asks for it too), and a schema that the server cannot take must be spelled out.
fn json_instruction(request: &ChatRequest, quirks: OpenAiQuirks) -> Option<String> {
    match &request.response_format {
        Some(ResponseFormat::JsonObject) => {
            let mentioned = request
                .messages
                .iter()
                .any(|message| message.joined_text().to_ascii_lowercase().contains("json"));
            (!mentioned).then(|| "Respond with a single valid JSON object.".to_owned())
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) if !quirks.json_schema => Some(format!(
            "Respond with a single valid JSON object that satisfies this JSON Schema: {schema}"
        )),
        Some(ResponseFormat::JsonSchema { .. } | ResponseFormat::Text) | None => None,
    }
}

fn message(message: &Message) -> Value {
    let role = match message.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let mut out = serde_json::Map::new();
    out.insert("role".into(), json!(role));
    let only_text = message.content.iter().all(|part| {
        matches!(
            part,
            ContentPart::Text { .. } | ContentPart::Thinking { .. }
        )
    });
    let content = if message.role == Role::Assistant && message.content.is_empty() {
        Value::Null
    } else if only_text || message.role != Role::User {
        json!(message.joined_text())
    } else {
        Value::Array(
            message
                .content
                .iter()
                .filter_map(|part| match part {
                    ContentPart::Text { text } => Some(json!({"type": "text", "text": text})),
                    ContentPart::Image { url } => {
                        Some(json!({"type": "image_url", "image_url": {"url": url}}))
                    }
                    // Another provider's signed reasoning means nothing here.
                    ContentPart::Thinking { .. } => None,
                })
                .collect(),
        )
    };
    out.insert("content".into(), content);
    if !message.tool_calls.is_empty() {
        let calls = message
            .tool_calls
            .iter()
            .map(|call| {
                json!({
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                })
            })
            .collect();
        out.insert("tool_calls".into(), Value::Array(calls));
    }
    if let Some(id) = &message.tool_call_id {
        out.insert("tool_call_id".into(), json!(id));
    }
    Value::Object(out)
}

#[derive(Debug, Deserialize)]
struct WireResponse {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct WireChoice {
    #[serde(default)]
    message: Option<WireMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
}

#[derive(Debug, Deserialize)]
struct WireToolCall {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireFunction>,
}

#[derive(Debug, Deserialize)]
struct WireFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
    /// DeepSeek's name for cached prompt tokens.
    #[serde(default)]
    prompt_cache_hit_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

impl WireUsage {
    fn neutral(&self) -> Usage {
        let cached = self
            .prompt_tokens_details
            .as_ref()
            .and_then(|details| details.cached_tokens)
            .or(self.prompt_cache_hit_tokens)
            .unwrap_or(0);
        Usage {
            input_tokens: self.prompt_tokens,
            output_tokens: self.completion_tokens,
            cached_read_tokens: cached,
            cache_write_tokens: 0,
            reasoning_tokens: self
                .completion_tokens_details
                .as_ref()
                .and_then(|details| details.reasoning_tokens)
                .unwrap_or(0),
        }
    }
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

/// A Chat Completions success body (`chat.completion`) as a response: the live answer's and a
/// batch result line's `response.body` alike.
pub(crate) fn response_from_body(
    provider: &str,
    model: &str,
    bytes: &[u8],
) -> Result<ChatResponse, ProviderError> {
    let wire: WireResponse = parse_body(provider, bytes)?;
    if let Some(error) = wire.error {
        return Err(map_error_value(provider, 200, None, &error));
    }
    response_from_wire(provider, model, wire)
}

fn response_from_wire(
    provider: &str,
    model: &str,
    wire: WireResponse,
) -> Result<ChatResponse, ProviderError> {
    let usage = wire
        .usage
        .as_ref()
        .map(WireUsage::neutral)
        .unwrap_or_default();
    let Some(choice) = wire.choices.into_iter().next() else {
        return Err(ProviderError::MalformedResponse {
            provider: provider.to_owned(),
            message: "the answer has no choices".to_owned(),
        });
    };
    let message = choice
        .message
        .ok_or_else(|| ProviderError::MalformedResponse {
            provider: provider.to_owned(),
            message: "the choice has no message".to_owned(),
        })?;
    let mut finish = choice
        .finish_reason
        .as_deref()
        .map_or(FinishReason::Other, finish_reason);
    let mut text = message.content.unwrap_or_default();
    if text.is_empty()
        && let Some(refusal) = message.refusal.filter(|refusal| !refusal.is_empty())
    {
        text = refusal;
        finish = FinishReason::ContentFilter;
    }
    let tool_calls = message
        .tool_calls
        .into_iter()
        .map(|call| {
            let function = call.function.unwrap_or(WireFunction {
                name: None,
                arguments: None,
            });
            ToolCall {
                id: call.id.unwrap_or_default(),
                name: function.name.unwrap_or_default(),
                arguments: function.arguments.unwrap_or_default(),
            }
        })
        .collect();
    Ok(ChatResponse {
        model: wire.model.unwrap_or_else(|| model.to_owned()),
        text,
        thinking: Vec::new(),
        tool_calls,
        finish_reason: finish,
        usage,
    })
}

#[derive(Debug, Deserialize)]
struct WireChunk {
    #[serde(default)]
    choices: Vec<WireChunkChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    /// Groq reports streamed usage here.
    #[serde(default)]
    x_groq: Option<GroqExtra>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct GroqExtra {
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
struct WireChunkChoice {
    #[serde(default)]
    delta: Option<WireDelta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireDelta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCallDelta>,
}

#[derive(Debug, Deserialize)]
struct WireToolCallDelta {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireFunction>,
}

/// Chat Completions chunks: `data: {…}` lines, then `data: [DONE]`. The finish reason is held
/// until `[DONE]` so that the usage chunk (sent after it) comes first.
#[derive(Debug, Default)]
struct Decoder {
    provider: String,
    finish: Option<FinishReason>,
    done: bool,
}

impl StreamDecoder for Decoder {
    fn event(&mut self, event: SseEvent) -> Result<Vec<StreamEvent>, ProviderError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(vec![StreamEvent::Finish {
                reason: self.finish.unwrap_or(FinishReason::Other),
            }]);
        }
        let chunk: WireChunk =
            serde_json::from_str(data).map_err(|error| ProviderError::MalformedResponse {
                provider: self.provider.clone(),
                message: format!("bad stream chunk: {error} in {}", preview(data.as_bytes())),
            })?;
        if let Some(error) = &chunk.error {
            return Err(map_error_value(&self.provider, 500, None, error));
        }
        let mut events = Vec::new();
        for choice in chunk.choices {
            if let Some(delta) = choice.delta {
                if let Some(text) = delta.content.filter(|text| !text.is_empty()) {
                    events.push(StreamEvent::TextDelta { text });
                }
                if let Some(text) = delta.refusal.filter(|text| !text.is_empty()) {
                    self.finish = Some(FinishReason::ContentFilter);
                    events.push(StreamEvent::TextDelta { text });
                }
                for call in delta.tool_calls {
                    let (name, arguments) = match call.function {
                        Some(function) => (function.name, function.arguments.unwrap_or_default()),
                        None => (None, String::new()),
                    };
                    events.push(StreamEvent::ToolCallDelta {
                        index: call.index,
                        id: call.id,
                        name,
                        arguments,
                    });
                }
            }
            if let Some(reason) = choice.finish_reason
                && self.finish != Some(FinishReason::ContentFilter)
            {
                self.finish = Some(finish_reason(&reason));
            }
        }
        let usage = chunk.usage.or(chunk.x_groq.and_then(|extra| extra.usage));
        if let Some(usage) = usage {
            events.push(StreamEvent::Usage {
                usage: usage.neutral(),
            });
        }
        Ok(events)
    }

    fn is_done(&self) -> bool {
        self.done
    }

    fn end(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        Err(ProviderError::Connection {
            provider: self.provider.clone(),
            message: "the stream ended before `data: [DONE]`".to_owned(),
        })
    }
}

/// OpenAI's error body: `{"error": {"message", "type", "code", "param"}}`.
pub(crate) fn map_error(failure: &HttpFailure<'_>, body: &str) -> ProviderError {
    match serde_json::from_str::<Value>(body) {
        Ok(value) => match value.get("error") {
            Some(error) => {
                map_error_value(failure.provider, failure.status, failure.retry_after, error)
            }
            None => failure.by_status(body_message(body)),
        },
        Err(_) => failure.by_status(body_message(body)),
    }
}

fn map_error_value(
    provider: &str,
    status: u16,
    retry_after: Option<std::time::Duration>,
    error: &Value,
) -> ProviderError {
    let field = |name: &str| -> Option<String> {
        match error.get(name) {
            Some(Value::String(text)) => Some(text.clone()),
            Some(Value::Number(number)) => Some(number.to_string()),
            _ => None,
        }
    };
    let message = match error {
        Value::String(text) => text.clone(),
        _ => field("message").unwrap_or_else(|| error.to_string()),
    };
    let code = field("code").unwrap_or_default();
    let kind = field("type").unwrap_or_default();
    let provider_owned = provider.to_owned();
    let failure = HttpFailure {
        provider,
        status,
        retry_after,
    };
    let labels: BTreeMap<&str, ()> = [code.as_str(), kind.as_str()]
        .into_iter()
        .map(|label| (label, ()))
        .collect();
    let has = |label: &str| labels.contains_key(label);
    if has("context_length_exceeded") || has("string_above_max_length") {
        return ProviderError::ContextTooLong {
            provider: provider_owned,
            message,
        };
    }
    if has("content_filter") || has("content_policy_violation") {
        return ProviderError::ContentFiltered {
            provider: provider_owned,
            message,
        };
    }
    if has("insufficient_quota") {
        return ProviderError::Permission {
            provider: provider_owned,
            message,
        };
    }
    if has("invalid_api_key") || has("authentication_error") {
        return ProviderError::Authentication {
            provider: provider_owned,
            message,
        };
    }
    if has("rate_limit_exceeded") || has("rate_limit_error") || has("requests") || has("tokens") {
        return ProviderError::RateLimited {
            provider: provider_owned,
            retry_after,
            message,
        };
    }
    if status == 200 {
        // An error object inside a success answer or a stream: the server failed mid-way.
        return ProviderError::ServerError {
            provider: provider_owned,
            status: 500,
            message,
        };
    }
    failure.by_status(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_map_to_kinds() {
        let check = |status: u16, body: &str| {
            let failure = HttpFailure {
                provider: "openai",
                status,
                retry_after: None,
            };
            map_error(&failure, body).kind()
        };
        let body = |code: &str| {
            format!(
                r#"{{"error":{{"message":"m","type":"invalid_request_error","code":"{code}"}}}}"#
            )
        };
        assert_eq!(
            check(400, &body("context_length_exceeded")),
            "context_too_long"
        );
        assert_eq!(check(429, &body("insufficient_quota")), "permission");
        assert_eq!(check(401, &body("invalid_api_key")), "authentication");
        assert_eq!(check(429, &body("rate_limit_exceeded")), "rate_limited");
        assert_eq!(check(500, "oops"), "server_error");
        assert_eq!(check(503, ""), "overloaded");
        assert_eq!(check(404, &body("model_not_found")), "not_found");
    }
}
