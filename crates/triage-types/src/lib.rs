//! The plain-data vocabulary every triage crate speaks: routing classes, chat requests and
//! responses, token usage, provider wire protocols. No I/O, no policy.
#![deny(missing_docs)]

mod class;
mod protocol;
mod reasoning;
mod request;
mod response;
mod scorer;
pub mod url;

pub use class::{ParseClassError, RouteClass};
pub use protocol::{MaxTokensField, OpenAiQuirks, ParseProtocolError, Protocol};
pub use reasoning::{EffortSet, ReasoningControl, ReasoningEffort};
pub use request::{
    ChatRequest, ContentPart, Message, ResponseFormat, Role, ThinkingBlock, ToolCall, ToolChoice,
    ToolDefinition,
};
pub use response::{ChatResponse, FinishReason, StreamEvent, Usage};
pub use scorer::{ClassScores, TextClassifier};
