//! Anthropic Messages (`POST {base}/v1/messages`, base the host root), with prompt caching
//! through `cache_control`, extended and adaptive thinking (signed blocks kept intact both
//! ways) and JSON mode emulated by a system-prompt instruction (the API has no JSON switch).

use std::collections::BTreeMap;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};
use triage_types::{
    ChatRequest, ChatResponse, ContentPart, FinishReason, ReasoningControl, ReasoningEffort,
    ResponseFormat, Role, StreamEvent, ThinkingBlock, ToolCall, ToolChoice, Usage,
};

use crate::error::{HttpFailure, body_message};
use crate::http::{StreamDecoder, Transport, parse_body, preview, secret_header};
use crate::sse::SseEvent;
use crate::{EventStream, Protocol, Provider, ProviderError};

/// The API version header value this module is written against.
pub(crate) const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Appended to the system prompt when JSON is requested.
const JSON_INSTRUCTION: &str =
    "Respond with a single valid JSON value and nothing else: no prose, no Markdown code fences.";

/// A Messages API client.
#[derive(Debug, Clone)]
pub(crate) struct AnthropicProvider {
    transport: Transport,
}

impl AnthropicProvider {
    pub(crate) fn new(transport: Transport) -> Self {
        AnthropicProvider { transport }
    }

    fn url(&self) -> String {
        format!("{}/v1/messages", self.transport.settings.base())
    }

    fn headers(&self, request: &ChatRequest) -> Result<HeaderMap, ProviderError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = &self.transport.key {
            headers.insert(
                "x-api-key",
                secret_header(&self.transport.settings.provider_id, key.expose())?,
            );
        }
        headers.insert(
            "anthropic-version",
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if !request.anthropic_beta.is_empty() {
            let beta = HeaderValue::from_bytes(request.anthropic_beta.join(",").as_bytes())
                .map_err(|_| ProviderError::BadRequest {
                    provider: self.transport.settings.provider_id.clone(),
                    message: "an `anthropic-beta` value holds characters a header cannot carry"
                        .to_owned(),
                })?;
            headers.insert("anthropic-beta", beta);
        }
        Ok(headers)
    }

    fn body(&self, model: &str, request: &ChatRequest, stream: bool) -> Value {
        request_body(
            model,
            request,
            self.transport.settings.default_max_output_tokens,
            stream,
        )
    }
}

#[async_trait::async_trait]
impl Provider for AnthropicProvider {
    fn id(&self) -> &str {
        &self.transport.settings.provider_id
    }

    fn protocol(&self) -> Protocol {
        Protocol::Anthropic
    }

    async fn complete(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let body = self.body(model, request, false);
        let bytes = self
            .transport
            .post_json(&self.url(), self.headers(request)?, &body)
            .await?;
        response_from_body(self.id(), model, &bytes)
    }

    async fn stream(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<EventStream, ProviderError> {
        let body = self.body(model, request, true);
        let decoder = Decoder {
            provider: self.id().to_owned(),
            ..Decoder::default()
        };
        self.transport
            .post_stream(&self.url(), self.headers(request)?, &body, decoder)
            .await
    }
}

/// A Messages success body (a `message` object) as a response: the live answer's and a batch
/// result's `result.message` alike.
pub(crate) fn response_from_body(
    provider: &str,
    model: &str,
    bytes: &[u8],
) -> Result<ChatResponse, ProviderError> {
    let wire: WireMessage = parse_body(provider, bytes)?;
    let mut text = String::new();
    let mut thinking = Vec::new();
    let mut tool_calls = Vec::new();
    for block in wire.content {
        match block {
            WireBlock::Text { text: piece } => text.push_str(&piece),
            WireBlock::Thinking {
                thinking: reasoning,
                signature,
            } => thinking.push(ThinkingBlock::Thinking {
                thinking: reasoning,
                signature,
            }),
            WireBlock::RedactedThinking { data } => {
                thinking.push(ThinkingBlock::RedactedThinking { data });
            }
            WireBlock::ToolUse { id, name, input } => tool_calls.push(ToolCall {
                id,
                name,
                arguments: input.to_string(),
            }),
            WireBlock::Other => {}
        }
    }
    Ok(ChatResponse {
        model: wire.model.unwrap_or_else(|| model.to_owned()),
        text,
        thinking,
        tool_calls,
        finish_reason: wire
            .stop_reason
            .as_deref()
            .map_or(FinishReason::Other, finish_reason),
        usage: wire.usage.neutral(),
    })
}

/// The most `cache_control` breakpoints the Messages API takes in one request.
const MAX_CACHE_BREAKPOINTS: usize = 4;

fn cache_control() -> Value {
    json!({"type": "ephemeral"})
}

/// The request body, as the Messages reference documents it.
pub(crate) fn request_body(
    model: &str,
    request: &ChatRequest,
    default_max_tokens: u32,
    stream: bool,
) -> Value {
    let mut body = serde_json::Map::new();
    body.insert("model".into(), json!(model));
    let client_thinking = client_thinking(request);
    let planned = if client_thinking.is_none() {
        planned_thinking(request)
    } else {
        None
    };
    // With thinking on, `max_tokens` holds the thinking and the answer: a request that set no
    // cap gets the budget (or, thinking adaptively, the effort's nominal budget) on top of the
    // usual allowance.
    let max_tokens = request.max_output_tokens.unwrap_or_else(|| {
        planned.map_or(default_max_tokens, |thinking| {
            thinking.budget().saturating_add(default_max_tokens)
        })
    });
    body.insert("max_tokens".into(), json!(max_tokens));

    let mut system: Vec<String> = request
        .messages
        .iter()
        .filter(|message| message.role == Role::System)
        .map(|message| message.joined_text())
        .filter(|text| !text.is_empty())
        .collect();
    match &request.response_format {
        Some(ResponseFormat::JsonObject) => system.push(JSON_INSTRUCTION.to_owned()),
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            system.push(format!(
                "{JSON_INSTRUCTION} It must satisfy this JSON Schema: {schema}"
            ));
        }
        Some(ResponseFormat::Text) | None => {}
    }
    if !system.is_empty() {
        if request.cache_prefix {
            let count = system.len();
            let blocks: Vec<Value> = system
                .iter()
                .enumerate()
                .map(|(index, text)| {
                    let mut block = json!({"type": "text", "text": text});
                    if index + 1 == count {
                        block["cache_control"] = cache_control();
                    }
                    block
                })
                .collect();
            body.insert("system".into(), Value::Array(blocks));
        } else {
            body.insert("system".into(), json!(system.join("\n\n")));
        }
    }

    let prefix_marks = usize::from(request.cache_prefix && !system.is_empty())
        + usize::from(request.cache_prefix && !request.tools.is_empty());
    body.insert(
        "messages".into(),
        Value::Array(messages(
            request,
            MAX_CACHE_BREAKPOINTS.saturating_sub(prefix_marks),
        )),
    );

    if !request.tools.is_empty() {
        let count = request.tools.len();
        let tools = request
            .tools
            .iter()
            .enumerate()
            .map(|(index, tool)| {
                let mut out = serde_json::Map::new();
                out.insert("name".into(), json!(tool.name));
                if let Some(description) = &tool.description {
                    out.insert("description".into(), json!(description));
                }
                out.insert("input_schema".into(), tool.parameters.clone());
                if request.cache_prefix && index + 1 == count {
                    out.insert("cache_control".into(), cache_control());
                }
                Value::Object(out)
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &request.tool_choice {
        let choice = match choice {
            ToolChoice::Auto => json!({"type": "auto"}),
            ToolChoice::None => json!({"type": "none"}),
            ToolChoice::Required => json!({"type": "any"}),
            ToolChoice::Tool(name) => json!({"type": "tool", "name": name}),
        };
        body.insert("tool_choice".into(), choice);
    }
    if let Some(temperature) = request.temperature {
        body.insert("temperature".into(), crate::http::float_json(temperature));
    }
    if !request.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(request.stop));
    }
    // The thinking sent, and the effort of adaptive thinking: a client's own (its adaptive
    // effort read into `reasoning_effort`), else the planned one.
    let (thinking, adaptive_effort) = match (client_thinking, planned) {
        (Some(thinking), _) => {
            let adaptive = thinking_type(thinking) == Some("adaptive");
            (
                Some(thinking.clone()),
                request.reasoning_effort.filter(|_| adaptive),
            )
        }
        (None, Some(PlannedThinking::Budget(budget))) => (
            Some(json!({"type": "enabled", "budget_tokens": budget})),
            None,
        ),
        (None, Some(PlannedThinking::Adaptive(effort))) => {
            (Some(json!({"type": "adaptive"})), Some(effort))
        }
        (None, None) => (None, None),
    };
    if let Some(thinking) = thinking {
        body.insert("thinking".into(), thinking);
    }
    if let Some(effort) = adaptive_effort {
        body.insert(
            "output_config".into(),
            json!({"effort": ReasoningControl::adaptive_effort(effort)}),
        );
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }
    Value::Object(body)
}

/// The `type` of a `thinking` value (`enabled`, `disabled`, `adaptive`).
fn thinking_type(thinking: &Value) -> Option<&str> {
    thinking.get("type").and_then(Value::as_str)
}

/// The client's own `thinking`, sent as it came where the model takes that form: adaptive
/// thinking only to a model that thinks adaptively, budget thinking (`enabled`, `disabled`)
/// only to one that does not (Claude 4.7 refuses both). Elsewhere it is left out, and the
/// effort read from it (`reasoning_effort`) is sent in the model's own form instead. With no
/// control known (a request not planned by the executor) it is always sent.
fn client_thinking(request: &ChatRequest) -> Option<&Value> {
    let thinking = request.thinking.as_ref()?;
    let adaptive = thinking_type(thinking) == Some("adaptive");
    match request.reasoning_control {
        Some(ReasoningControl::AdaptiveThinking) => adaptive.then_some(thinking),
        Some(ReasoningControl::ExtendedThinking) => (!adaptive).then_some(thinking),
        _ => Some(thinking),
    }
}

/// Thinking the request's reasoning effort turns on.
#[derive(Debug, Clone, Copy)]
enum PlannedThinking {
    /// Extended thinking with this budget.
    Budget(u32),
    /// Adaptive thinking at this effort.
    Adaptive(ReasoningEffort),
}

impl PlannedThinking {
    /// The thinking budget, or adaptive thinking's nominal one for its effort.
    fn budget(self) -> u32 {
        match self {
            PlannedThinking::Budget(budget) => budget,
            PlannedThinking::Adaptive(effort) => effort.thinking_budget(),
        }
    }
}

/// The thinking for the request's reasoning effort (used when the caller sent no `thinking`
/// the model takes): in the model's form (`reasoning_control`; unknown: extended thinking),
/// extended thinking from `medium` effort up with the effort's budget, adaptive thinking above
/// `none`. Left off where the API would refuse it or the answer would lose by it: a temperature
/// (which thinking does not allow), a forced tool choice, an assistant tool call without its
/// thinking block in the current tool loop (a tool-use turn begun without thinking must go on
/// without it), a prefilled answer, or a cap on the answer too small to hold the (nominal)
/// budget and an answer.
fn planned_thinking(request: &ChatRequest) -> Option<PlannedThinking> {
    let effort = request.reasoning_effort?;
    let planned = match request.reasoning_control {
        Some(ReasoningControl::AdaptiveThinking) => {
            (effort != ReasoningEffort::None).then_some(PlannedThinking::Adaptive(effort))?
        }
        _ => effort
            .enables_extended_thinking()
            .then(|| PlannedThinking::Budget(effort.thinking_budget()))?,
    };
    let forced_tool = matches!(
        request.tool_choice,
        Some(ToolChoice::Required | ToolChoice::Tool(_))
    );
    // Only the current tool loop counts: the turns after the last user message (tool results
    // travel as tool messages); an earlier loop without thinking is over.
    let loop_start = request
        .messages
        .iter()
        .rposition(|message| message.role == Role::User)
        .map_or(0, |index| index + 1);
    let unthought_tool_turn = request.messages[loop_start..].iter().any(|message| {
        message.role == Role::Assistant
            && !message.tool_calls.is_empty()
            && !message
                .content
                .iter()
                .any(|part| matches!(part, ContentPart::Thinking { .. }))
    });
    let cap_too_small = request
        .max_output_tokens
        .is_some_and(|max| max < planned.budget().saturating_add(MIN_ANSWER_TOKENS));
    // A prefilled answer (the conversation ends on the assistant) is refused with thinking on.
    let prefilled = request
        .messages
        .last()
        .is_some_and(|message| message.role == Role::Assistant);
    if request.temperature.is_some()
        || forced_tool
        || unthought_tool_turn
        || cap_too_small
        || prefilled
    {
        return None;
    }
    Some(planned)
}

/// The least room for the answer beside a thinking budget under a caller's cap.
const MIN_ANSWER_TOKENS: u32 = 1_024;

/// User and assistant turns as content blocks; tool results become `tool_result` blocks in a
/// user turn; consecutive turns of one role are merged, tool results first, as the API expects.
/// A message the caller marked as a cache breakpoint gets its `cache_control` back on its last
/// block; beyond the API's four breakpoints (with the system prompt's and the tools'), the
/// earliest are dropped, since a later one caches all that an earlier one would.
fn messages(request: &ChatRequest, breakpoints: usize) -> Vec<Value> {
    let marked = request
        .messages
        .iter()
        .filter(|message| message.role != Role::System && message.cache_control.is_some())
        .count();
    let mut unmarked = marked.saturating_sub(breakpoints);
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for message in &request.messages {
        let (role, mut blocks) = match message.role {
            Role::System => continue,
            Role::User => ("user", message.content.iter().map(content_block).collect()),
            Role::Assistant => {
                let mut blocks: Vec<Value> = message
                    .content
                    .iter()
                    .filter(|part| !matches!(part, ContentPart::Text { text } if text.is_empty()))
                    .map(content_block)
                    .collect();
                for call in &message.tool_calls {
                    let input = serde_json::from_str::<Value>(&call.arguments)
                        .ok()
                        .filter(Value::is_object)
                        .unwrap_or_else(|| json!({}));
                    blocks.push(json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input}));
                }
                ("assistant", blocks)
            }
            Role::Tool => (
                "user",
                vec![json!({
                    "type": "tool_result",
                    "tool_use_id": message.tool_call_id.clone().unwrap_or_default(),
                    "content": message.joined_text(),
                })],
            ),
        };
        if blocks.is_empty() {
            continue;
        }
        if let Some(marker) = &message.cache_control {
            if unmarked > 0 {
                unmarked -= 1;
            } else if let Some(last) = blocks.last_mut() {
                last["cache_control"] = marker.clone();
            }
        }
        match turns.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => last_blocks.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    turns
        .into_iter()
        .map(|(role, mut blocks)| {
            if role == "user" {
                blocks.sort_by_key(|block| block["type"] != "tool_result");
            }
            let content = match blocks.as_slice() {
                [only] if only["type"] == "text" && only.get("cache_control").is_none() => {
                    only["text"].clone()
                }
                _ => Value::Array(blocks),
            };
            json!({"role": role, "content": content})
        })
        .collect()
}

fn content_block(part: &ContentPart) -> Value {
    match part {
        ContentPart::Text { text } => json!({"type": "text", "text": text}),
        ContentPart::Image { url } => match parse_data_url(url) {
            Some((media_type, data)) => json!({
                "type": "image",
                "source": {"type": "base64", "media_type": media_type, "data": data},
            }),
            None => json!({"type": "image", "source": {"type": "url", "url": url}}),
        },
        // The block's own serde form is the wire's: `{"type": "thinking", "thinking",
        // "signature"}` or `{"type": "redacted_thinking", "data"}`.
        ContentPart::Thinking { block } => json!(block),
    }
}

/// Splits `data:image/png;base64,AAAA` into its media type and payload.
pub(crate) fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    Some((media_type, data))
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    content: Vec<WireBlock>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireBlock {
    Text {
        text: String,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
        #[serde(default)]
        signature: String,
    },
    RedactedThinking {
        data: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    /// Anthropic's `input_tokens` leaves out cached tokens; triage's counts every prompt token.
    fn neutral(&self) -> Usage {
        let cache_write = self.cache_creation_input_tokens.unwrap_or(0);
        let cache_read = self.cache_read_input_tokens.unwrap_or(0);
        Usage {
            input_tokens: self.input_tokens.unwrap_or(0) + cache_write + cache_read,
            output_tokens: self.output_tokens.unwrap_or(0),
            cached_read_tokens: cache_read,
            cache_write_tokens: cache_write,
            reasoning_tokens: 0,
        }
    }

    /// Later figures (from `message_delta`) replace earlier ones where given.
    fn update(&mut self, later: &WireUsage) {
        let keep = |old: &mut Option<u64>, new: Option<u64>| {
            if new.is_some() {
                *old = new;
            }
        };
        keep(&mut self.input_tokens, later.input_tokens);
        keep(&mut self.output_tokens, later.output_tokens);
        keep(
            &mut self.cache_creation_input_tokens,
            later.cache_creation_input_tokens,
        );
        keep(
            &mut self.cache_read_input_tokens,
            later.cache_read_input_tokens,
        );
    }
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireEvent {
    MessageStart {
        message: WireStartMessage,
    },
    ContentBlockStart {
        index: u32,
        content_block: WireBlock,
    },
    ContentBlockDelta {
        index: u32,
        delta: WireDelta,
    },
    ContentBlockStop {},
    MessageDelta {
        #[serde(default)]
        delta: WireMessageDelta,
        #[serde(default)]
        usage: WireUsage,
    },
    MessageStop {},
    Ping {},
    Error {
        error: Value,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Deserialize)]
struct WireStartMessage {
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireDelta {
    TextDelta {
        text: String,
    },
    ThinkingDelta {
        thinking: String,
    },
    SignatureDelta {
        signature: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Default, Deserialize)]
struct WireMessageDelta {
    #[serde(default)]
    stop_reason: Option<String>,
}

/// Typed Messages events: `message_start`, `content_block_*`, `message_delta`, `message_stop`.
#[derive(Debug, Default)]
struct Decoder {
    provider: String,
    usage: WireUsage,
    stop_reason: Option<String>,
    /// Content-block index → tool-call index (text blocks are not counted).
    tools: BTreeMap<u32, u32>,
    done: bool,
}

impl StreamDecoder for Decoder {
    fn event(&mut self, event: SseEvent) -> Result<Vec<StreamEvent>, ProviderError> {
        let parsed: WireEvent = serde_json::from_str(&event.data).map_err(|error| {
            ProviderError::MalformedResponse {
                provider: self.provider.clone(),
                message: format!(
                    "bad stream event: {error} in {}",
                    preview(event.data.as_bytes())
                ),
            }
        })?;
        let mut events = Vec::new();
        match parsed {
            WireEvent::MessageStart { message } => self.usage.update(&message.usage),
            WireEvent::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                WireBlock::Text { text } if !text.is_empty() => {
                    events.push(StreamEvent::TextDelta { text })
                }
                WireBlock::ToolUse { id, name, .. } => {
                    let tool_index = u32::try_from(self.tools.len()).unwrap_or(u32::MAX);
                    self.tools.insert(index, tool_index);
                    events.push(StreamEvent::ToolCallDelta {
                        index: tool_index,
                        id: Some(id),
                        name: Some(name),
                        arguments: String::new(),
                    });
                }
                WireBlock::Thinking {
                    thinking,
                    signature,
                } => {
                    if !thinking.is_empty() {
                        events.push(StreamEvent::ThinkingDelta { thinking });
                    }
                    if !signature.is_empty() {
                        events.push(StreamEvent::ThinkingSignature { signature });
                    }
                }
                WireBlock::RedactedThinking { data } => {
                    events.push(StreamEvent::RedactedThinking { data });
                }
                WireBlock::Text { .. } | WireBlock::Other => {}
            },
            WireEvent::ContentBlockDelta { index, delta } => {
                match delta {
                    WireDelta::TextDelta { text } => events.push(StreamEvent::TextDelta { text }),
                    WireDelta::ThinkingDelta { thinking } => {
                        events.push(StreamEvent::ThinkingDelta { thinking });
                    }
                    WireDelta::SignatureDelta { signature } => {
                        events.push(StreamEvent::ThinkingSignature { signature });
                    }
                    WireDelta::InputJsonDelta { partial_json } => {
                        let tool_index = *self.tools.get(&index).ok_or_else(|| ProviderError::MalformedResponse {
                        provider: self.provider.clone(),
                        message: format!("input_json_delta for block {index}, which is not a tool_use block"),
                    })?;
                        events.push(StreamEvent::ToolCallDelta {
                            index: tool_index,
                            id: None,
                            name: None,
                            arguments: partial_json,
                        });
                    }
                    WireDelta::Other => {}
                }
            }
            WireEvent::MessageDelta { delta, usage } => {
                self.usage.update(&usage);
                if delta.stop_reason.is_some() {
                    self.stop_reason = delta.stop_reason;
                }
            }
            WireEvent::MessageStop {} => {
                self.done = true;
                events.push(StreamEvent::Usage {
                    usage: self.usage.neutral(),
                });
                events.push(StreamEvent::Finish {
                    reason: self
                        .stop_reason
                        .as_deref()
                        .map_or(FinishReason::Other, finish_reason),
                });
            }
            WireEvent::Error { error } => {
                return Err(map_error_object(&self.provider, 200, None, &error));
            }
            WireEvent::ContentBlockStop {} | WireEvent::Ping {} | WireEvent::Unknown => {}
        }
        Ok(events)
    }

    fn is_done(&self) -> bool {
        self.done
    }

    fn end(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        Err(ProviderError::Connection {
            provider: self.provider.clone(),
            message: "the stream ended before `message_stop`".to_owned(),
        })
    }
}

/// Anthropic's error body: `{"type": "error", "error": {"type": "rate_limit_error", "message"}}`.
pub(crate) fn map_error(failure: &HttpFailure<'_>, body: &str) -> ProviderError {
    let error = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|value| value.get("error").cloned());
    match error {
        Some(error) => map_error_object(
            failure.provider,
            failure.status,
            failure.retry_after,
            &error,
        ),
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
    let status = match error["type"].as_str().unwrap_or_default() {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" | "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "api_error" => 500,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        _ if status == 200 => 500,
        _ => status,
    };
    HttpFailure {
        provider,
        status,
        retry_after,
    }
    .by_status(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_map_to_kinds() {
        let check = |status: u16, kind: &str, message: &str| {
            let failure = HttpFailure {
                provider: "anthropic",
                status,
                retry_after: None,
            };
            let body =
                format!(r#"{{"type":"error","error":{{"type":"{kind}","message":"{message}"}}}}"#);
            map_error(&failure, &body).kind()
        };
        assert_eq!(check(529, "overloaded_error", "Overloaded"), "overloaded");
        assert_eq!(check(429, "rate_limit_error", "slow"), "rate_limited");
        assert_eq!(
            check(
                400,
                "invalid_request_error",
                "prompt is too long: 1 tokens > 0 maximum"
            ),
            "context_too_long"
        );
        assert_eq!(
            check(401, "authentication_error", "invalid x-api-key"),
            "authentication"
        );
        assert_eq!(check(500, "api_error", "boom"), "server_error");
    }

    #[test]
    fn usage_adds_cached_tokens_to_input() {
        let usage = WireUsage {
            input_tokens: Some(10),
            output_tokens: Some(5),
            cache_creation_input_tokens: Some(100),
            cache_read_input_tokens: Some(1000),
        };
        assert_eq!(
            usage.neutral(),
            Usage {
                input_tokens: 1110,
                output_tokens: 5,
                cached_read_tokens: 1000,
                cache_write_tokens: 100,
                reasoning_tokens: 0
            }
        );
    }
}
