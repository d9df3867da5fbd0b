//! Folds stream events into a complete [`ChatResponse`].

use triage_types::{ChatResponse, FinishReason, StreamEvent, ThinkingBlock, ToolCall, Usage};

/// Collects a stream's events into the answer a non-streaming call would have returned.
#[derive(Debug, Clone, Default)]
pub struct StreamAccumulator {
    text: String,
    thinking: Vec<ThinkingBlock>,
    /// Whether the last thinking block is still open (no signature yet).
    thinking_open: bool,
    tool_calls: Vec<ToolCall>,
    usage: Usage,
    finish_reason: Option<FinishReason>,
}

impl StreamAccumulator {
    /// Takes one event into account.
    pub fn push(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::TextDelta { text } => self.text.push_str(text),
            StreamEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            } => {
                let index = *index as usize;
                while self.tool_calls.len() <= index {
                    self.tool_calls.push(ToolCall {
                        id: String::new(),
                        name: String::new(),
                        arguments: String::new(),
                    });
                }
                let call = &mut self.tool_calls[index];
                if let Some(id) = id {
                    call.id.clone_from(id);
                }
                if let Some(name) = name {
                    call.name.clone_from(name);
                }
                call.arguments.push_str(arguments);
            }
            StreamEvent::ThinkingDelta { thinking } => match self.thinking.last_mut() {
                Some(ThinkingBlock::Thinking { thinking: open, .. }) if self.thinking_open => {
                    open.push_str(thinking);
                }
                _ => {
                    self.thinking.push(ThinkingBlock::Thinking {
                        thinking: thinking.clone(),
                        signature: String::new(),
                    });
                    self.thinking_open = true;
                }
            },
            StreamEvent::ThinkingSignature { signature } => {
                match self.thinking.last_mut() {
                    Some(ThinkingBlock::Thinking {
                        signature: open, ..
                    }) if self.thinking_open => {
                        open.clone_from(signature);
                    }
                    // A signature with no reasoning before it (an empty block) still counts.
                    _ => self.thinking.push(ThinkingBlock::Thinking {
                        thinking: String::new(),
                        signature: signature.clone(),
                    }),
                }
                self.thinking_open = false;
            }
            StreamEvent::RedactedThinking { data } => {
                self.thinking
                    .push(ThinkingBlock::RedactedThinking { data: data.clone() });
                self.thinking_open = false;
            }
            StreamEvent::Usage { usage } => self.usage = *usage,
            StreamEvent::Finish { reason } => self.finish_reason = Some(*reason),
        }
    }

    /// The text so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether a finish event was seen.
    pub fn is_finished(&self) -> bool {
        self.finish_reason.is_some()
    }

    /// The answer, for `model`. A stream that never said why it ended counts as
    /// [`FinishReason::Other`].
    pub fn into_response(self, model: impl Into<String>) -> ChatResponse {
        ChatResponse {
            model: model.into(),
            text: self.text,
            thinking: self.thinking,
            tool_calls: self.tool_calls,
            finish_reason: self.finish_reason.unwrap_or(FinishReason::Other),
            usage: self.usage,
        }
    }
}
