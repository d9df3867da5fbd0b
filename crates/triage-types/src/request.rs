//! The provider-neutral chat request: messages with roles, tools, sampling and output options.

use serde::{Deserialize, Serialize};

use crate::reasoning::{ReasoningControl, ReasoningEffort};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions that frame the conversation. Providers that keep the system prompt apart
    /// (Anthropic, Gemini) receive these joined into their own field.
    System,
    /// The person (or application) asking.
    #[default]
    User,
    /// The model's earlier turns, possibly with tool calls.
    Assistant,
    /// The result of a tool call, answering [`Message::tool_call_id`].
    Tool,
}

/// One piece of a message's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
    /// An image, by URL or `data:` URL.
    Image {
        /// `https://…` or `data:image/png;base64,…`.
        url: String,
    },
    /// An assistant turn's reasoning, passed back as the model produced it (Anthropic requires
    /// its signed thinking blocks back unmodified when a turn with tool calls continues).
    /// Providers that cannot take it back leave it out; it is not part of the text.
    Thinking {
        /// The block, exactly as received.
        block: ThinkingBlock,
    },
}

/// A block of a model's extended thinking, kept byte for byte so it can be sent back: the
/// provider checks its signature. Its serde form is Anthropic's content block
/// (`{"type": "thinking", "thinking", "signature"}`, `{"type": "redacted_thinking", "data"}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ThinkingBlock {
    /// Reasoning in the clear, with the provider's signature over it.
    Thinking {
        /// The reasoning text (possibly a summary of it, as Claude 4 models return).
        thinking: String,
        /// The provider's opaque signature of `thinking`.
        signature: String,
    },
    /// Reasoning the provider's safety systems encrypted; only the provider can read it.
    RedactedThinking {
        /// The encrypted payload.
        data: String,
    },
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// Its content, in order. Most messages hold one text part.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<ContentPart>,
    /// Tool calls the assistant made in this turn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a [`Role::Tool`] message: the id of the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// The caller's prompt-cache breakpoint for the end of this message (Anthropic's
    /// `cache_control`, as sent: `{"type": "ephemeral", "ttl": "1h"}`): Anthropic models get it
    /// back on the message's last block, so the conversation up to here is cached; providers
    /// that cache on their own ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<serde_json::Value>,
}

impl Message {
    /// A message holding one text part.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            content: vec![ContentPart::Text { text: text.into() }],
            tool_calls: Vec::new(),
            tool_call_id: None,
            cache_control: None,
        }
    }

    /// A user message holding one text part.
    pub fn user(text: impl Into<String>) -> Self {
        Message::text(Role::User, text)
    }

    /// The text parts joined by newlines; images are left out.
    pub fn joined_text(&self) -> String {
        let mut out = String::new();
        for part in &self.content {
            if let ContentPart::Text { text } = part {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(text);
            }
        }
        out
    }

    /// Whether any part is an image.
    pub fn has_image(&self) -> bool {
        self.content
            .iter()
            .any(|part| matches!(part, ContentPart::Image { .. }))
    }
}

/// A call the model asked to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for this call, echoed back in the tool result.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, as the JSON text the model produced.
    pub arguments: String,
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    /// The tool's name.
    pub name: String,
    /// What it does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A JSON Schema for the arguments object.
    pub parameters: serde_json::Value,
}

/// Whether and which tool the model must call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// The model must not call a tool.
    None,
    /// The model must call some tool.
    Required,
    /// The model must call this tool.
    Tool(String),
}

/// The shape the answer must take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Free text (the default).
    Text,
    /// Any valid JSON object.
    JsonObject,
    /// JSON that satisfies the schema.
    JsonSchema {
        /// The schema's name, as some providers require one.
        name: String,
        /// The JSON Schema.
        schema: serde_json::Value,
    },
}

/// A chat request in triage's own terms, translated by each provider module to its wire format.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The conversation, in order. System messages may appear anywhere; providers that keep
    /// the system prompt apart collect them.
    pub messages: Vec<Message>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolDefinition>,
    /// Tool-use constraint; `None` leaves the provider's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// The most tokens the answer may have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Sequences that end the answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// The answer's required shape; `None` is free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Ask the provider to cache the stable prefix (system prompt and tools), where it supports
    /// explicit prompt caching (Anthropic's `cache_control`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cache_prefix: bool,
    /// Anthropic beta features the caller asked for (its `anthropic-beta` header values),
    /// sent with the request when an Anthropic model answers it; other providers ignore them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anthropic_beta: Vec<String>,
    /// The caller's extended-thinking request, as sent in Anthropic's `thinking` field
    /// (`{"type": "enabled", "budget_tokens": 2048}`): sent on to Anthropic models; other
    /// providers leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<serde_json::Value>,
    /// How hard a reasoning model should think: the caller's (`reasoning_effort`,
    /// `reasoning.effort`), or the plan's for this class and difficulty. Each provider sends
    /// it in its own terms (OpenAI's `reasoning_effort`, Anthropic's and Gemini's thinking
    /// budgets); the executor clears it for models that take no such control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<ReasoningEffort>,
    /// How the model this request goes to takes `reasoning_effort`: set for each plan step by
    /// the executor from the catalog, so a provider that has more than one form (Anthropic's
    /// extended and adaptive thinking) sends the right one. `None`: the protocol's usual form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_control: Option<ReasoningControl>,
}

impl ChatRequest {
    /// A request holding one user message.
    pub fn from_prompt(prompt: impl Into<String>) -> Self {
        ChatRequest {
            messages: vec![Message::user(prompt)],
            ..ChatRequest::default()
        }
    }

    /// The text of the last user message, which usually carries the request.
    pub fn last_user_text(&self) -> Option<String> {
        self.messages
            .iter()
            .rev()
            .find(|message| message.role == Role::User)
            .map(Message::joined_text)
    }

    /// All message text joined by newlines in conversation order, system prompt included:
    /// what a classifier or a token estimate should see.
    pub fn all_text(&self) -> String {
        let mut out = String::new();
        for message in &self.messages {
            let text = message.joined_text();
            if text.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&text);
        }
        out
    }

    /// Whether any message carries an image.
    pub fn has_image(&self) -> bool {
        self.messages.iter().any(Message::has_image)
    }

    /// Whether the request asks for JSON output.
    pub fn wants_json(&self) -> bool {
        matches!(
            self.response_format,
            Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. })
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_text_joins_every_turn_and_skips_images() {
        let mut request = ChatRequest::from_prompt("second");
        request
            .messages
            .insert(0, Message::text(Role::System, "first"));
        request.messages.push(Message {
            role: Role::User,
            content: vec![ContentPart::Image {
                url: "data:image/png;base64,AA==".into(),
            }],
            ..Message::default()
        });
        assert_eq!(request.all_text(), "first\nsecond");
        assert!(request.has_image());
        assert_eq!(request.last_user_text().as_deref(), Some(""));
    }

    #[test]
    fn thinking_blocks_serialise_as_anthropic_content_blocks() {
        let blocks = [
            ThinkingBlock::Thinking {
                thinking: "step".into(),
                signature: "sig".into(),
            },
            ThinkingBlock::RedactedThinking { data: "enc".into() },
        ];
        assert_eq!(
            serde_json::to_value(blocks).unwrap(),
            serde_json::json!([
                {"type": "thinking", "thinking": "step", "signature": "sig"},
                {"type": "redacted_thinking", "data": "enc"},
            ])
        );
    }
}
