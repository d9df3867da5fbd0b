//! Google Gemini (`POST {base}/v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse`, base the host root, key in `x-goog-api-key`).

use std::collections::BTreeMap;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};
use triage_types::{
    ChatRequest, ChatResponse, ContentPart, FinishReason, ReasoningEffort, ResponseFormat, Role,
    StreamEvent, ToolCall, ToolChoice, Usage,
};

use crate::anthropic::parse_data_url;
use crate::error::{HttpFailure, body_message};
use crate::http::{StreamDecoder, Transport, parse_body, preview, secret_header};
use crate::retry::parse_retry_after;
use crate::sse::SseEvent;
use crate::{EventStream, Protocol, Provider, ProviderError};

/// A Gemini API client.
#[derive(Debug, Clone)]
pub(crate) struct GeminiProvider {
    transport: Transport,
}

impl GeminiProvider {
    pub(crate) fn new(transport: Transport) -> Self {
        GeminiProvider { transport }
    }

    fn url(&self, model: &str, stream: bool) -> String {
        let model = model.strip_prefix("models/").unwrap_or(model);
        let base = self.transport.settings.base();
        if stream {
            format!("{base}/v1beta/models/{model}:streamGenerateContent?alt=sse")
        } else {
            format!("{base}/v1beta/models/{model}:generateContent")
        }
    }

    fn headers(&self) -> Result<HeaderMap, ProviderError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = &self.transport.key {
            headers.insert(
                "x-goog-api-key",
                secret_header(&self.transport.settings.provider_id, key.expose())?,
            );
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(headers)
    }
}

#[async_trait::async_trait]
impl Provider for GeminiProvider {
    fn id(&self) -> &str {
        &self.transport.settings.provider_id
    }

    fn protocol(&self) -> Protocol {
        Protocol::Gemini
    }

    async fn complete(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let body = request_body(request);
        let bytes = self
            .transport
            .post_json(&self.url(model, false), self.headers()?, &body)
            .await?;
        response_from_body(self.id(), model, &bytes)
    }

    async fn stream(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<EventStream, ProviderError> {
        let body = request_body(request);
        let decoder = Decoder {
            provider: self.id().to_owned(),
            ..Decoder::default()
        };
        self.transport
            .post_stream(&self.url(model, true), self.headers()?, &body, decoder)
            .await
    }
}

/// A `generateContent` success body (a `GenerateContentResponse`) as a response: the live
/// answer's and a batch's inlined response alike.
pub(crate) fn response_from_body(
    provider: &str,
    model: &str,
    bytes: &[u8],
) -> Result<ChatResponse, ProviderError> {
    let wire: WireResponse = parse_body(provider, bytes)?;
    let mut state = Decoder {
        provider: provider.to_owned(),
        ..Decoder::default()
    };
    let mut text = String::new();
    let mut calls: Vec<ToolCall> = Vec::new();
    let model_version = wire.model_version.clone();
    for event in state.chunk(wire)? {
        match event {
            StreamEvent::TextDelta { text: piece } => text.push_str(&piece),
            StreamEvent::ToolCallDelta {
                id,
                name,
                arguments,
                ..
            } => calls.push(ToolCall {
                id: id.unwrap_or_default(),
                name: name.unwrap_or_default(),
                arguments,
            }),
            // Gemini's decoder yields no thinking events.
            StreamEvent::Usage { .. }
            | StreamEvent::Finish { .. }
            | StreamEvent::ThinkingDelta { .. }
            | StreamEvent::ThinkingSignature { .. }
            | StreamEvent::RedactedThinking { .. } => {}
        }
    }
    let Some(finish) = state.finish_reason() else {
        return Err(ProviderError::MalformedResponse {
            provider: provider.to_owned(),
            message: "the answer has no candidate with a finishReason".to_owned(),
        });
    };
    Ok(ChatResponse {
        model: model_version.unwrap_or_else(|| model.to_owned()),
        text,
        thinking: Vec::new(),
        tool_calls: calls,
        finish_reason: finish,
        usage: state.usage,
    })
}

/// The request body, as the `generateContent` reference documents it. The model goes in the
/// URL, not the body.
pub(crate) fn request_body(request: &ChatRequest) -> Value {
    let mut body = serde_json::Map::new();
    let system: Vec<Value> = request
        .messages
        .iter()
        .filter(|message| message.role == Role::System)
        .map(|message| message.joined_text())
        .filter(|text| !text.is_empty())
        .map(|text| json!({"text": text}))
        .collect();

    // Gemini's functionResponse names the function, not the call id: find it from the call.
    let call_names: BTreeMap<&str, &str> = request
        .messages
        .iter()
        .flat_map(|message| &message.tool_calls)
        .map(|call| (call.id.as_str(), call.name.as_str()))
        .collect();

    let mut contents: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for message in &request.messages {
        let (role, parts): (&'static str, Vec<Value>) = match message.role {
            Role::System => continue,
            Role::User => ("user", message.content.iter().filter_map(part).collect()),
            Role::Assistant => {
                let mut parts: Vec<Value> = message
                    .content
                    .iter()
                    .filter(
                        |content| !matches!(content, ContentPart::Text { text } if text.is_empty()),
                    )
                    .filter_map(part)
                    .collect();
                for call in &message.tool_calls {
                    let args = serde_json::from_str::<Value>(&call.arguments)
                        .ok()
                        .filter(Value::is_object)
                        .unwrap_or_else(|| json!({}));
                    parts.push(json!({"functionCall": {"name": call.name, "args": args}}));
                }
                ("model", parts)
            }
            Role::Tool => {
                let id = message.tool_call_id.as_deref().unwrap_or_default();
                let name = call_names.get(id).copied().unwrap_or(id);
                let text = message.joined_text();
                let response = serde_json::from_str::<Value>(&text)
                    .ok()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({"result": text}));
                (
                    "user",
                    vec![json!({"functionResponse": {"name": name, "response": response}})],
                )
            }
        };
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some((last_role, last_parts)) if *last_role == role => last_parts.extend(parts),
            _ => contents.push((role, parts)),
        }
    }
    body.insert(
        "contents".into(),
        Value::Array(
            contents
                .into_iter()
                .map(|(role, parts)| json!({"role": role, "parts": parts}))
                .collect(),
        ),
    );
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    if !request.tools.is_empty() {
        let declarations: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| {
                let mut out = serde_json::Map::new();
                out.insert("name".into(), json!(tool.name));
                if let Some(description) = &tool.description {
                    out.insert("description".into(), json!(description));
                }
                out.insert("parameters".into(), tool.parameters.clone());
                Value::Object(out)
            })
            .collect();
        body.insert(
            "tools".into(),
            json!([{"functionDeclarations": declarations}]),
        );
    }
    if let Some(choice) = &request.tool_choice {
        let config = match choice {
            ToolChoice::Auto => json!({"mode": "AUTO"}),
            ToolChoice::None => json!({"mode": "NONE"}),
            ToolChoice::Required => json!({"mode": "ANY"}),
            ToolChoice::Tool(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
        };
        body.insert(
            "toolConfig".into(),
            json!({"functionCallingConfig": config}),
        );
    }
    let mut generation = serde_json::Map::new();
    if let Some(temperature) = request.temperature {
        generation.insert("temperature".into(), crate::http::float_json(temperature));
    }
    if let Some(max) = request.max_output_tokens {
        generation.insert("maxOutputTokens".into(), json!(max));
    }
    if let Some(budget) = thinking_budget(request) {
        generation.insert("thinkingConfig".into(), json!({"thinkingBudget": budget}));
    }
    if !request.stop.is_empty() {
        generation.insert("stopSequences".into(), json!(request.stop));
    }
    match &request.response_format {
        Some(ResponseFormat::JsonObject) => {
            generation.insert("responseMimeType".into(), json!("application/json"));
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            generation.insert("responseMimeType".into(), json!("application/json"));
            generation.insert("responseJsonSchema".into(), schema.clone());
        }
        Some(ResponseFormat::Text) | None => {}
    }
    if !generation.is_empty() {
        body.insert("generationConfig".into(), Value::Object(generation));
    }
    Value::Object(body)
}

/// A content part as a Gemini part; another provider's signed reasoning is left out.
fn part(content: &ContentPart) -> Option<Value> {
    Some(match content {
        ContentPart::Text { text } => json!({"text": text}),
        ContentPart::Image { url } => match parse_data_url(url) {
            Some((mime_type, data)) => json!({"inlineData": {"mimeType": mime_type, "data": data}}),
            None => json!({"fileData": {"mimeType": guess_image_type(url), "fileUri": url}}),
        },
        ContentPart::Thinking { .. } => return None,
    })
}

fn guess_image_type(url: &str) -> &'static str {
    let lower = url.to_ascii_lowercase();
    if lower.ends_with(".png") {
        "image/png"
    } else if lower.ends_with(".webp") {
        "image/webp"
    } else if lower.ends_with(".gif") {
        "image/gif"
    } else {
        "image/jpeg"
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse {
    #[serde(default)]
    candidates: Vec<WireCandidate>,
    #[serde(default)]
    usage_metadata: Option<WireUsage>,
    #[serde(default)]
    model_version: Option<String>,
    #[serde(default)]
    prompt_feedback: Option<WirePromptFeedback>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePromptFeedback {
    #[serde(default)]
    block_reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCandidate {
    #[serde(default)]
    content: Option<WireContent>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct WireContent {
    #[serde(default)]
    parts: Vec<WirePart>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePart {
    #[serde(default)]
    text: Option<String>,
    /// Thought summaries are not answer text.
    #[serde(default)]
    thought: Option<bool>,
    #[serde(default)]
    function_call: Option<WireFunctionCall>,
}

#[derive(Debug, Clone, Deserialize)]
struct WireFunctionCall {
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default)]
    args: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireUsage {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    cached_content_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
    #[serde(default)]
    tool_use_prompt_token_count: u64,
}

impl WireUsage {
    /// Thoughts are billed as output; tool-use prompt tokens as input.
    fn neutral(&self) -> Usage {
        Usage {
            input_tokens: self.prompt_token_count + self.tool_use_prompt_token_count,
            output_tokens: self.candidates_token_count + self.thoughts_token_count,
            cached_read_tokens: self.cached_content_token_count,
            cache_write_tokens: 0,
            reasoning_tokens: self.thoughts_token_count,
        }
    }
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            FinishReason::ContentFilter
        }
        _ => FinishReason::Other,
    }
}

/// `streamGenerateContent?alt=sse` sends whole `GenerateContentResponse`s as `data:` events and
/// has no terminal event: the stream is complete when a candidate carried a `finishReason` and
/// the body ended; usage comes from the last `usageMetadata`.
#[derive(Debug, Default)]
struct Decoder {
    provider: String,
    usage: Usage,
    finish: Option<String>,
    tool_calls: u32,
}

impl Decoder {
    fn chunk(&mut self, response: WireResponse) -> Result<Vec<StreamEvent>, ProviderError> {
        if let Some(usage) = &response.usage_metadata {
            self.usage = usage.neutral();
        }
        if response.candidates.is_empty()
            && let Some(reason) = response
                .prompt_feedback
                .and_then(|feedback| feedback.block_reason)
        {
            return Err(ProviderError::ContentFiltered {
                provider: self.provider.clone(),
                message: format!("prompt blocked: {reason}"),
            });
        }
        let mut events = Vec::new();
        if let Some(candidate) = response.candidates.into_iter().next() {
            for part in candidate
                .content
                .map(|content| content.parts)
                .unwrap_or_default()
            {
                if let Some(call) = part.function_call {
                    let index = self.tool_calls;
                    self.tool_calls += 1;
                    events.push(StreamEvent::ToolCallDelta {
                        index,
                        id: Some(call.id.unwrap_or_else(|| format!("call_{index}"))),
                        name: Some(call.name),
                        arguments: call.args.unwrap_or_else(|| json!({})).to_string(),
                    });
                    continue;
                }
                if part.thought == Some(true) {
                    continue;
                }
                if let Some(text) = part.text.filter(|text| !text.is_empty()) {
                    events.push(StreamEvent::TextDelta { text });
                }
            }
            if candidate.finish_reason.is_some() {
                self.finish = candidate.finish_reason;
            }
        }
        Ok(events)
    }

    /// Gemini says `STOP` when it calls functions; triage says `ToolCalls`.
    fn finish_reason(&self) -> Option<FinishReason> {
        let reason = finish_reason(self.finish.as_deref()?);
        if reason == FinishReason::Stop && self.tool_calls > 0 {
            return Some(FinishReason::ToolCalls);
        }
        Some(reason)
    }
}

impl StreamDecoder for Decoder {
    fn event(&mut self, event: SseEvent) -> Result<Vec<StreamEvent>, ProviderError> {
        let value: Value = serde_json::from_str(&event.data).map_err(|error| {
            ProviderError::MalformedResponse {
                provider: self.provider.clone(),
                message: format!(
                    "bad stream chunk: {error} in {}",
                    preview(event.data.as_bytes())
                ),
            }
        })?;
        if let Some(error) = value.get("error") {
            return Err(map_error_object(&self.provider, 500, None, error));
        }
        let response: WireResponse =
            serde_json::from_value(value).map_err(|error| ProviderError::MalformedResponse {
                provider: self.provider.clone(),
                message: format!("bad stream chunk: {error}"),
            })?;
        self.chunk(response)
    }

    fn is_done(&self) -> bool {
        false
    }

    fn end(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        match self.finish_reason() {
            Some(reason) => Ok(vec![
                StreamEvent::Usage { usage: self.usage },
                StreamEvent::Finish { reason },
            ]),
            None => Err(ProviderError::Connection {
                provider: self.provider.clone(),
                message: "the stream ended before a candidate's finishReason".to_owned(),
            }),
        }
    }
}

/// Gemini's error body: `{"error": {"code", "message", "status": "RESOURCE_EXHAUSTED",
/// "details": [...]}}`; a `google.rpc.RetryInfo` detail's `retryDelay` stands in for a missing
/// `Retry-After`.
pub(crate) fn map_error(failure: &HttpFailure<'_>, body: &str) -> ProviderError {
    // Gemini sometimes wraps the error object in an array.
    let value = serde_json::from_str::<Value>(body)
        .ok()
        .map(|value| match value {
            Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
            other => other,
        });
    match value.as_ref().and_then(|value| value.get("error")) {
        Some(error) => {
            map_error_object(failure.provider, failure.status, failure.retry_after, error)
        }
        None => failure.by_status(body_message(body)),
    }
}

fn map_error_object(
    provider: &str,
    status: u16,
    retry_after: Option<std::time::Duration>,
    error: &Value,
) -> ProviderError {
    let message = error["message"]
        .as_str()
        .unwrap_or("(no message)")
        .to_owned();
    let details = error["details"].as_array().cloned().unwrap_or_default();
    let invalid_key = details
        .iter()
        .any(|detail| detail["reason"] == "API_KEY_INVALID")
        || message.contains("API key not valid");
    if invalid_key {
        return ProviderError::Authentication {
            provider: provider.to_owned(),
            message,
        };
    }
    let retry_after = retry_after.or_else(|| {
        details
            .iter()
            .filter_map(|detail| detail["retryDelay"].as_str())
            .find_map(|delay| {
                parse_retry_after(delay.trim_end_matches('s'), std::time::SystemTime::now())
            })
    });
    let status = match error["status"].as_str().unwrap_or_default() {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => 400,
        "UNAUTHENTICATED" => 401,
        "PERMISSION_DENIED" => 403,
        "NOT_FOUND" => 404,
        "RESOURCE_EXHAUSTED" => 429,
        "INTERNAL" | "UNKNOWN" => 500,
        "UNAVAILABLE" => 503,
        "DEADLINE_EXCEEDED" => 504,
        _ => match error["code"]
            .as_u64()
            .and_then(|code| u16::try_from(code).ok())
        {
            Some(code) if status == 200 || status == 500 => code,
            _ => status,
        },
    };
    HttpFailure {
        provider,
        status,
        retry_after,
    }
    .by_status(message)
}

/// The most thinking every Gemini 2.5 model accepts (Flash and Flash-Lite: 24,576; Pro: 32,768).
const MAX_THINKING_BUDGET: u32 = 24_576;
/// The least budget every model that takes one accepts (Flash-Lite: 512; Pro: 128).
const MIN_THINKING_BUDGET: u32 = 512;

/// The `thinkingBudget` for the request's effort, within the range every thinking model takes:
/// 0 (no thinking) at `none`, which the executor sends only to a model that takes it. Gemini
/// counts thinking against `maxOutputTokens`, so under a client's cap the budget takes at most
/// half of it; when that leaves less than the least budget, none is sent (the model's own
/// default applies).
fn thinking_budget(request: &ChatRequest) -> Option<u32> {
    let effort = request.reasoning_effort?;
    if effort == ReasoningEffort::None {
        return Some(0);
    }
    let mut budget = effort.thinking_budget().min(MAX_THINKING_BUDGET);
    if let Some(cap) = request.max_output_tokens {
        budget = budget.min(cap / 2);
    }
    (budget >= MIN_THINKING_BUDGET).then_some(budget)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_by_status_name_and_read_retry_info() {
        let failure = HttpFailure {
            provider: "google",
            status: 429,
            retry_after: None,
        };
        let body = r#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"34s"}]}}"#;
        let error = map_error(&failure, body);
        assert_eq!(error.kind(), "rate_limited");
        assert_eq!(
            error.retry_after(),
            Some(std::time::Duration::from_secs(34))
        );
        let failure = HttpFailure {
            provider: "google",
            status: 400,
            retry_after: None,
        };
        let body = r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}"#;
        assert_eq!(map_error(&failure, body).kind(), "authentication");
        let body = r#"{"error":{"code":400,"message":"The input token count (2000000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}"#;
        assert_eq!(map_error(&failure, body).kind(), "context_too_long");
    }

    #[test]
    fn usage_bills_thoughts_as_output() {
        let usage = WireUsage {
            prompt_token_count: 100,
            candidates_token_count: 20,
            cached_content_token_count: 60,
            thoughts_token_count: 30,
            tool_use_prompt_token_count: 0,
        };
        assert_eq!(
            usage.neutral(),
            Usage {
                input_tokens: 100,
                output_tokens: 50,
                cached_read_tokens: 60,
                cache_write_tokens: 0,
                reasoning_tokens: 30
            }
        );
    }
}
