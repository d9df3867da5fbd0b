//! Server-sent event framing, shared by the stream encoders of every dialect.

use serde_json::Value;

/// One named event (Anthropic's and the Responses API's streams name every event).
pub(crate) fn event(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// One unnamed event (Chat Completions chunks).
pub(crate) fn data(value: &Value) -> String {
    format!("data: {value}\n\n")
}
