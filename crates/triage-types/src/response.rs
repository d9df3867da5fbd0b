//! The provider-neutral answer: text, tool calls, why it ended, and what it used.

use serde::{Deserialize, Serialize};

use crate::{ThinkingBlock, ToolCall};

/// Why the model stopped, mapped from each provider's own stop reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// A natural end or a stop sequence.
    Stop,
    /// The output-token limit cut the answer off.
    Length,
    /// The model wants tool results.
    ToolCalls,
    /// A safety or content filter ended the answer.
    ContentFilter,
    /// Anything else the provider reported.
    Other,
}

/// Tokens a call used, by kind, as the provider reported them.
///
/// `input_tokens` counts every prompt token, cached or not; `cached_read_tokens` and
/// `cache_write_tokens` say how many of them were read from or written to the prompt cache.
/// `reasoning_tokens` are part of `output_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// All prompt tokens, including cached ones.
    pub input_tokens: u64,
    /// All completion tokens, including reasoning tokens.
    pub output_tokens: u64,
    /// Prompt tokens served from the provider's cache.
    #[serde(default)]
    pub cached_read_tokens: u64,
    /// Prompt tokens written to the provider's cache.
    #[serde(default)]
    pub cache_write_tokens: u64,
    /// Output tokens spent on hidden reasoning.
    #[serde(default)]
    pub reasoning_tokens: u64,
}

impl Usage {
    /// Adds another call's usage to this one.
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cached_read_tokens += other.cached_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
        self.reasoning_tokens += other.reasoning_tokens;
    }
}

/// A complete answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The provider's model name that answered, as it reported it.
    pub model: String,
    /// The answer's text.
    pub text: String,
    /// The model's extended-thinking blocks, in order, before the text (Anthropic only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thinking: Vec<ThinkingBlock>,
    /// Tool calls the model made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// What it used.
    pub usage: Usage,
}

/// One event of a streamed answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// More answer text.
    TextDelta {
        /// The new text.
        text: String,
    },
    /// A piece of a tool call: the first delta of a call carries its id and name, later ones
    /// append to its arguments.
    ToolCallDelta {
        /// Which call (0-based) this delta belongs to.
        index: u32,
        /// The call's id, on its first delta.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The tool's name, on its first delta.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// More argument JSON text.
        arguments: String,
    },
    /// More extended-thinking text, for the open thinking block (a new one opens after a
    /// signature).
    ThinkingDelta {
        /// The new reasoning text.
        thinking: String,
    },
    /// The signature that closes the open thinking block.
    ThinkingSignature {
        /// The provider's opaque signature.
        signature: String,
    },
    /// A whole redacted-thinking block.
    RedactedThinking {
        /// The encrypted payload.
        data: String,
    },
    /// Token usage, usually near the end.
    Usage {
        /// What was used so far (providers report cumulative figures).
        usage: Usage,
    },
    /// The answer ended for this reason.
    Finish {
        /// Why.
        reason: FinishReason,
    },
}
