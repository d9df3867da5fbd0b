//! The Anthropic Messages wire format: request parsing into [`ChatRequest`], the `message`
//! response body and the SSE events of a streamed message. Unknown fields are ignored.

use serde::Deserialize;
use serde_json::{Value, json};
use triage_types::{
    ChatRequest, ChatResponse, ContentPart, FinishReason, Message, ReasoningControl,
    ReasoningEffort, Role, ThinkingBlock, ToolCall, ToolChoice, ToolDefinition, Usage,
};

use crate::ServerError;

/// A parsed `POST /v1/messages` body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AnthropicRequest {
    /// `auto`, a route alias or a catalog model id.
    pub(crate) model: String,
    /// The request in triage's terms.
    pub(crate) request: ChatRequest,
    /// Whether to stream.
    pub(crate) stream: bool,
}

#[derive(Debug, Deserialize)]
struct WireRequest {
    model: String,
    #[serde(default)]
    max_tokens: Option<u32>,
    messages: Vec<WireMessage>,
    #[serde(default)]
    system: Option<WireText>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    temperature: Option<f32>,
    #[serde(default)]
    stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    tools: Option<Vec<WireTool>>,
    #[serde(default)]
    tool_choice: Option<WireToolChoice>,
    /// Extended or adaptive thinking (`{"type": "enabled", "budget_tokens": N}`,
    /// `{"type": "adaptive"}`), passed on as sent to models that take that form.
    #[serde(default)]
    thinking: Option<Value>,
    /// Output settings; its `effort` steers adaptive thinking.
    #[serde(default)]
    output_config: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum WireText {
    Text(String),
    Blocks(Vec<WireBlock>),
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    role: String,
    content: WireText,
}

/// A content block, and whether the caller put a cache breakpoint (`cache_control`) on it.
#[derive(Debug, Deserialize)]
struct WireBlock {
    #[serde(flatten)]
    kind: WireBlockKind,
    #[serde(default)]
    cache_control: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireBlockKind {
    Text {
        text: String,
    },
    Image {
        source: WireImageSource,
    },
    Thinking {
        thinking: String,
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
    ToolResult {
        tool_use_id: String,
        #[serde(default)]
        content: Option<WireText>,
    },
    #[serde(other)]
    Unsupported,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireImageSource {
    Base64 {
        media_type: String,
        data: String,
    },
    Url {
        url: String,
    },
    #[serde(other)]
    Unsupported,
}

#[derive(Debug, Deserialize)]
struct WireTool {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    input_schema: Option<Value>,
    #[serde(default)]
    cache_control: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireToolChoice {
    Auto,
    Any,
    None,
    Tool { name: String },
}

/// Parses a `POST /v1/messages` body.
pub(crate) fn parse_request(body: &[u8]) -> Result<AnthropicRequest, ServerError> {
    let parsed = parse(body)?;
    if parsed.request.max_output_tokens.is_none() {
        return Err(ServerError::InvalidRequest {
            message: "`max_tokens` is required".to_owned(),
        });
    }
    Ok(parsed)
}

/// Parses a `POST /v1/messages/count_tokens` body: a Messages request without `max_tokens`.
pub(crate) fn parse_count_request(body: &[u8]) -> Result<AnthropicRequest, ServerError> {
    parse(body)
}

fn parse(body: &[u8]) -> Result<AnthropicRequest, ServerError> {
    let wire: WireRequest = serde_json::from_slice(body).map_err(ServerError::malformed)?;
    let mut messages = Vec::with_capacity(wire.messages.len() + 1);
    // A cache breakpoint on the system prompt or the tools asks for the stable prefix to be
    // cached, which `cache_prefix` does (on the system prompt's and the tools' last block).
    let mut cache_prefix = wire
        .tools
        .iter()
        .flatten()
        .any(|tool| tool.cache_control.is_some());
    if let Some(system) = wire.system {
        cache_prefix |= has_breakpoint(&system);
        let text = joined_text(system);
        if !text.is_empty() {
            messages.push(Message::text(Role::System, text));
        }
    }
    for message in wire.messages {
        let role = match message.role.as_str() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => {
                return Err(ServerError::InvalidRequest {
                    message: format!("unknown message role `{other}` (expected user or assistant)"),
                });
            }
        };
        push_message(&mut messages, role, message.content);
    }
    if !messages.iter().any(|message| message.role != Role::System) {
        return Err(ServerError::InvalidRequest {
            message: "`messages` must hold at least one message".to_owned(),
        });
    }
    let tools = wire
        .tools
        .unwrap_or_default()
        .into_iter()
        .map(|tool| ToolDefinition {
            name: tool.name,
            description: tool.description,
            parameters: tool
                .input_schema
                .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        })
        .collect();
    let tool_choice = wire.tool_choice.map(|choice| match choice {
        WireToolChoice::Auto => ToolChoice::Auto,
        WireToolChoice::Any => ToolChoice::Required,
        WireToolChoice::None => ToolChoice::None,
        WireToolChoice::Tool { name } => ToolChoice::Tool(name),
    });
    Ok(AnthropicRequest {
        model: wire.model,
        stream: wire.stream.unwrap_or(false),
        request: ChatRequest {
            messages,
            tools,
            tool_choice,
            temperature: wire.temperature,
            max_output_tokens: wire.max_tokens,
            stop: wire.stop_sequences.unwrap_or_default(),
            response_format: None,
            cache_prefix,
            anthropic_beta: Vec::new(),
            reasoning_effort: thinking_effort(wire.thinking.as_ref(), wire.output_config.as_ref()),
            reasoning_control: None,
            thinking: wire.thinking.filter(|thinking| !thinking.is_null()),
        },
    })
}

/// The client's reasoning effort, read from its `thinking` (and, thinking adaptively,
/// `output_config.effort`), so models of other providers think about as much: `none` when
/// disabled; an extended-thinking budget as the effort whose budget is nearest on a log scale
/// ([`ReasoningEffort::nearest_to_budget`]: under 2,048 `low`, under 8,192 `medium`, up to
/// about 23,170 `high`, else `xhigh`); adaptive thinking at its effort (`max` as `xhigh`; none
/// given, Anthropic's default `high`).
fn thinking_effort(
    thinking: Option<&Value>,
    output_config: Option<&Value>,
) -> Option<ReasoningEffort> {
    let thinking = thinking?;
    match thinking.get("type")?.as_str()? {
        "disabled" => Some(ReasoningEffort::None),
        "enabled" => Some(ReasoningEffort::nearest_to_budget(
            thinking.get("budget_tokens")?.as_u64()?,
        )),
        "adaptive" => {
            let effort = output_config
                .and_then(|config| config.get("effort"))
                .and_then(Value::as_str);
            match effort {
                None => Some(ReasoningEffort::High),
                Some(name) => ReasoningControl::effort_of_adaptive(name),
            }
        }
        _ => None,
    }
}

/// Appends one Anthropic message: its text, images and tool calls as one message, and each
/// `tool_result` block as a separate tool message (triage's, and OpenAI's, shape).
fn push_message(messages: &mut Vec<Message>, role: Role, content: WireText) {
    let blocks = match content {
        WireText::Text(text) => {
            messages.push(Message::text(role, text));
            return;
        }
        WireText::Blocks(blocks) => blocks,
    };
    let mut message = Message {
        role,
        ..Message::default()
    };
    let mut tool_results = Vec::new();
    for WireBlock {
        kind,
        cache_control,
    } in blocks
    {
        // A breakpoint on a block of the turn (not a tool result, which is a turn of its own
        // here) marks the turn: the provider puts it back on the turn's last block, which
        // caches the same prefix or a little more.
        if cache_control.is_some() && !matches!(kind, WireBlockKind::ToolResult { .. }) {
            message.cache_control.clone_from(&cache_control);
        }
        match kind {
            WireBlockKind::Text { text } => message.content.push(ContentPart::Text { text }),
            // Signed reasoning goes back to the provider byte for byte.
            WireBlockKind::Thinking {
                thinking,
                signature,
            } => message.content.push(ContentPart::Thinking {
                block: ThinkingBlock::Thinking {
                    thinking,
                    signature,
                },
            }),
            WireBlockKind::RedactedThinking { data } => {
                message.content.push(ContentPart::Thinking {
                    block: ThinkingBlock::RedactedThinking { data },
                })
            }
            WireBlockKind::Image { source } => match source {
                WireImageSource::Base64 { media_type, data } => {
                    message.content.push(ContentPart::Image {
                        url: format!("data:{media_type};base64,{data}"),
                    });
                }
                WireImageSource::Url { url } => message.content.push(ContentPart::Image { url }),
                WireImageSource::Unsupported => {}
            },
            WireBlockKind::ToolUse { id, name, input } => message.tool_calls.push(ToolCall {
                id,
                name,
                arguments: input.to_string(),
            }),
            WireBlockKind::ToolResult {
                tool_use_id,
                content,
            } => tool_results.push(Message {
                role: Role::Tool,
                content: vec![ContentPart::Text {
                    text: content.map(joined_text).unwrap_or_default(),
                }],
                tool_calls: Vec::new(),
                tool_call_id: Some(tool_use_id),
                cache_control,
            }),
            WireBlockKind::Unsupported => {}
        }
    }
    // Tool results answer the previous assistant turn, so they come first.
    messages.extend(tool_results);
    if !message.content.is_empty() || !message.tool_calls.is_empty() {
        messages.push(message);
    }
}

/// Whether any block of `text` carries a cache breakpoint.
fn has_breakpoint(text: &WireText) -> bool {
    matches!(text, WireText::Blocks(blocks) if blocks.iter().any(|block| block.cache_control.is_some()))
}

fn joined_text(text: WireText) -> String {
    match text {
        WireText::Text(text) => text,
        WireText::Blocks(blocks) => blocks
            .into_iter()
            .filter_map(|block| match block.kind {
                WireBlockKind::Text { text } => Some(text),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// Anthropic's name for a finish reason.
pub(crate) fn stop_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop | FinishReason::Other | FinishReason::ContentFilter => "end_turn",
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
    }
}

/// The `usage` object.
pub(crate) fn usage(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.input_tokens.saturating_sub(usage.cached_read_tokens),
        "output_tokens": usage.output_tokens,
        "cache_read_input_tokens": usage.cached_read_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
    })
}

/// A complete `message` body.
pub(crate) fn message(id: &str, model: &str, response: &ChatResponse) -> Value {
    // A thinking block's serde form is the Messages API's.
    let mut content: Vec<Value> = response.thinking.iter().map(|block| json!(block)).collect();
    if !response.text.is_empty() || response.tool_calls.is_empty() {
        content.push(json!({ "type": "text", "text": response.text }));
    }
    for call in &response.tool_calls {
        content.push(json!({
            "type": "tool_use",
            "id": call.id,
            "name": call.name,
            "input": tool_input(&call.arguments),
        }));
    }
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(response.finish_reason),
        "stop_sequence": null,
        "usage": usage(&response.usage),
    })
}

/// Tool arguments as a JSON object (an empty one when the model produced invalid JSON).
fn tool_input(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => value,
        _ => json!({}),
    }
}

/// The `message_start` event's data.
pub(crate) fn message_start(id: &str, model: &str) -> Value {
    json!({
        "type": "message_start",
        "message": {
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": { "input_tokens": 0, "output_tokens": 0 },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's `thinking` (and adaptive `output_config.effort`) read as the effort other
    /// providers' models are sent.
    #[test]
    fn a_clients_thinking_is_its_effort() {
        use ReasoningEffort::{High, Low, Medium, None as Off, Xhigh};
        let cases = [
            (json!({"type": "disabled"}), None, Some(Off)),
            (
                json!({"type": "enabled", "budget_tokens": 1024}),
                None,
                Some(Low),
            ),
            (
                json!({"type": "enabled", "budget_tokens": 4096}),
                None,
                Some(Medium),
            ),
            (
                json!({"type": "enabled", "budget_tokens": 10_000}),
                None,
                Some(High),
            ),
            (
                json!({"type": "enabled", "budget_tokens": 32_000}),
                None,
                Some(Xhigh),
            ),
            (json!({"type": "enabled"}), None, Option::None),
            (json!({"type": "adaptive"}), None, Some(High)),
            (
                json!({"type": "adaptive"}),
                Some(json!({"effort": "low"})),
                Some(Low),
            ),
            (
                json!({"type": "adaptive"}),
                Some(json!({"effort": "max"})),
                Some(Xhigh),
            ),
            (json!({"type": "something-new"}), None, Option::None),
        ];
        for (thinking, output_config, expected) in cases {
            assert_eq!(
                thinking_effort(Some(&thinking), output_config.as_ref()),
                expected,
                "{thinking} {output_config:?}"
            );
        }
        assert_eq!(thinking_effort(None, Some(&json!({"effort": "low"}))), None);
    }

    #[test]
    fn parses_system_blocks_tools_and_tool_results() {
        let body = json!({
            "model": "auto",
            "max_tokens": 100,
            "system": [{"type": "text", "text": "be brief"}],
            "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "checking"},
                    {"type": "tool_use", "id": "tu_1", "name": "weather", "input": {"city": "Oslo"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "tu_1", "content": "rain"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}
                ]}
            ],
            "tools": [{"name": "weather", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any"},
            "stop_sequences": ["END"],
            "stream": true,
            "metadata": {"user_id": "x"}
        });
        let parsed = parse_request(body.to_string().as_bytes()).unwrap();
        assert!(parsed.stream);
        let roles: Vec<Role> = parsed.request.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [
                Role::System,
                Role::User,
                Role::Assistant,
                Role::Tool,
                Role::User
            ]
        );
        assert_eq!(
            parsed.request.messages[2].tool_calls[0].arguments,
            r#"{"city":"Oslo"}"#
        );
        assert_eq!(parsed.request.messages[3].joined_text(), "rain");
        assert!(parsed.request.messages[4].has_image());
        assert_eq!(parsed.request.tool_choice, Some(ToolChoice::Required));
        assert_eq!(parsed.request.max_output_tokens, Some(100));
    }

    #[test]
    fn max_tokens_is_required_as_in_the_real_api() {
        let body = br#"{"model":"auto","messages":[{"role":"user","content":"x"}]}"#;
        let error = parse_request(body).unwrap_err();
        assert_eq!(error.kind(), "invalid_request");
        assert!(
            error.to_string().contains("`max_tokens` is required"),
            "{error}"
        );
        // A token count takes no `max_tokens`.
        assert_eq!(
            parse_count_request(body).unwrap().request.max_output_tokens,
            None
        );
    }
}
