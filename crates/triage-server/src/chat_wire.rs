//! The OpenAI Chat Completions dialect for callers outside the gateway that take the same
//! bodies: `triage batch` reads one request body per line and writes one `chat.completion`
//! body per answer, exactly as `POST /v1/chat/completions` would.

use serde_json::Value;
use triage_types::{ChatRequest, ChatResponse};

use crate::{ServerError, openai};

/// Parses a Chat Completions request body as the gateway does: the `model` it names (`auto`,
/// a route alias or a catalog id) and the request. `stream` is ignored.
pub fn parse_chat_request(body: &[u8]) -> Result<(String, ChatRequest), ServerError> {
    let parsed = openai::parse_request(body)?;
    Ok((parsed.model, parsed.request))
}

/// The `chat.completion` body the gateway answers for `response`, from catalog model `model`.
pub fn chat_completion(id: &str, created: i64, model: &str, response: &ChatResponse) -> Value {
    openai::completion(
        &openai::CompletionId {
            id: id.to_owned(),
            created,
            model: model.to_owned(),
        },
        response,
    )
}
