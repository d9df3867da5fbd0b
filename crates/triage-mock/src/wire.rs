//! Renders a scenario in each provider's wire format: JSON bodies, SSE chunks, error bodies.

use serde_json::{Value, json};

use crate::scenario::{MockFinish, MockUsage, Reply, Scenario};

/// Which provider format a request came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    OpenAi,
    Anthropic,
    Gemini,
}

/// How a rendered body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The body ends normally (which, for a cut stream, is before its terminal event).
    Clean,
    /// The connection breaks (an I/O error mid-body).
    Abort,
}

/// A rendered answer.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) chunks: Vec<String>,
    pub(crate) ending: Ending,
}

/// What the mock took from the request.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) wire: Wire,
    pub(crate) model: String,
    pub(crate) stream: bool,
    /// OpenAI only: whether `stream_options.include_usage` was asked for.
    pub(crate) include_usage: bool,
    pub(crate) last_user_text: String,
    /// Anthropic only: whether extended thinking was asked for (`thinking.type` not
    /// `disabled`), so the answer opens with a signed thinking block.
    pub(crate) thinking: bool,
}

impl Call {
    /// The reasoning the mock "thinks" before answering, when thinking was asked for.
    fn thinking_text(&self) -> Option<String> {
        self.thinking
            .then(|| format!("The user asks: {}", self.last_user_text))
    }
}

/// Whether an Anthropic request body asks for extended thinking.
pub(crate) fn wants_thinking(wire: Wire, body: &Value) -> bool {
    wire == Wire::Anthropic
        && body["thinking"].is_object()
        && body["thinking"]["type"] != "disabled"
}

/// The mock's signature over a thinking text (FNV-1a, hex): what its answers carry and what
/// it checks when a thinking block comes back, as Anthropic verifies its own.
pub(crate) fn thinking_signature(thinking: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in thinking.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("mocksig_{hash:016x}")
}

/// The 400 body the real API would answer for a request it refuses, as the mock checks it: an
/// Anthropic thinking block whose signature does not match; Anthropic thinking in a form the
/// model does not take, with a temperature, or with a budget that does not fit `max_tokens`;
/// OpenAI's `reasoning_effort` on a model that does not reason (GPT-4 and GPT-3.5 models) or at
/// an effort the model does not take.
pub(crate) fn refusal(wire: Wire, model: &str, body: &Value) -> Option<Value> {
    match wire {
        Wire::Anthropic => {
            let message = check_thinking_blocks(body)
                .err()
                .or_else(|| check_thinking_settings(model, body))?;
            Some(anthropic_invalid_request(&message))
        }
        Wire::OpenAi => {
            let effort = body.get("reasoning_effort")?;
            let Some(accepted) = openai_efforts(model) else {
                return Some(json!({"error": {
                    "message": "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
                    "type": "invalid_request_error",
                    "param": "reasoning_effort",
                    "code": "unsupported_parameter",
                }}));
            };
            let effort = effort.as_str().unwrap_or_default();
            if accepted.contains(&effort) {
                return None;
            }
            let quoted: Vec<String> = accepted.iter().map(|name| format!("'{name}'")).collect();
            let (last, rest) = quoted.split_last()?;
            Some(json!({"error": {
                "message": format!(
                    "Unsupported value: '{effort}' is not supported with the '{model}' model. Supported values are: {}, and {last}.",
                    rest.join(", ")
                ),
                "type": "invalid_request_error",
                "param": "reasoning_effort",
                "code": "unsupported_value",
            }}))
        }
        Wire::Gemini => None,
    }
}

/// The `reasoning_effort` values an OpenAI model takes, by its name as OpenAI's reasoning guide
/// lists them; `None` for a model that does not reason.
fn openai_efforts(model: &str) -> Option<&'static [&'static str]> {
    if model.starts_with("gpt-4") || model.starts_with("gpt-3") {
        None
    } else if model.starts_with("gpt-5.1") {
        Some(&["none", "low", "medium", "high"])
    } else if model.starts_with("gpt-5.") {
        Some(&["none", "low", "medium", "high", "xhigh"])
    } else if model.starts_with("gpt-5") {
        Some(&["minimal", "low", "medium", "high"])
    } else {
        Some(&["low", "medium", "high"])
    }
}

/// Anthropic's checks of a thinking request's settings on `model`: adaptive thinking only on
/// Claude 4.6 and later, budget thinking (`enabled`, `disabled`) not on Claude Opus 4.7, an
/// adaptive effort Anthropic knows, a budget of at least 1,024 below `max_tokens`, and no
/// temperature but 1 while thinking.
fn check_thinking_settings(model: &str, body: &Value) -> Option<String> {
    let kind = body["thinking"]["type"].as_str()?;
    let adaptive_model = model.contains("-4-6") || model.contains("-4-7");
    let adaptive_only = model.contains("opus-4-7");
    match kind {
        "adaptive" if !adaptive_model => {
            return Some(format!(
                "thinking.type: adaptive thinking is not supported on {model}; use thinking.type.enabled with budget_tokens"
            ));
        }
        "enabled" | "disabled" if adaptive_only => {
            return Some(format!(
                "thinking.type.{kind} is not supported for {model}. Use thinking.type.adaptive and output_config.effort to control thinking behavior."
            ));
        }
        "adaptive" => {
            let effort = &body["output_config"]["effort"];
            if !effort.is_null()
                && !["low", "medium", "high", "max"].contains(&effort.as_str().unwrap_or_default())
            {
                return Some(format!(
                    "output_config.effort: Input should be 'low', 'medium', 'high' or 'max', not {effort}"
                ));
            }
        }
        "enabled" => {
            let budget = body["thinking"]["budget_tokens"]
                .as_u64()
                .unwrap_or_default();
            if budget < 1024 {
                return Some(
                    "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
                        .to_owned(),
                );
            }
            if body["max_tokens"].as_u64().unwrap_or_default() <= budget {
                return Some(
                    "`max_tokens` must be greater than `thinking.budget_tokens`".to_owned(),
                );
            }
        }
        _ => return None,
    }
    if body["temperature"].as_f64().is_some_and(|t| t != 1.0) {
        return Some(
            "`temperature` may only be set to 1 when thinking is enabled or in extended thinking mode"
                .to_owned(),
        );
    }
    None
}

/// Anthropic's check of thinking blocks sent back in a conversation: each `thinking` block
/// must carry the signature the mock gave it. Returns the API's error message for the first
/// block that does not.
pub(crate) fn check_thinking_blocks(body: &Value) -> Result<(), String> {
    let turns = body["messages"].as_array().into_iter().flatten();
    for (turn, message) in turns.enumerate() {
        let blocks = message["content"].as_array().into_iter().flatten();
        for (index, block) in blocks.enumerate() {
            if block["type"] != "thinking" {
                continue;
            }
            let thinking = block["thinking"].as_str().unwrap_or_default();
            if block["signature"].as_str() != Some(thinking_signature(thinking).as_str()) {
                return Err(format!(
                    "messages.{turn}.content.{index}: Invalid `signature` in `thinking` block"
                ));
            }
        }
    }
    Ok(())
}

/// An Anthropic `invalid_request_error` body.
pub(crate) fn anthropic_invalid_request(message: &str) -> Value {
    json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}, "request_id": "req_mock"})
}

/// Splits text into word-sized pieces (spaces kept), so streams have several deltas.
fn pieces(text: &str) -> Vec<String> {
    if text.is_empty() {
        return Vec::new();
    }
    text.split_inclusive(' ').map(str::to_owned).collect()
}

fn sse(event: Option<&str>, data: &Value) -> String {
    match event {
        Some(name) => format!("event: {name}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

pub(crate) fn render(call: &Call, scenario: &Scenario) -> Rendered {
    let event_stream = vec![("content-type".to_owned(), "text/event-stream".to_owned())];
    let json_type = vec![("content-type".to_owned(), "application/json".to_owned())];
    match &scenario.reply {
        Reply::Error {
            status,
            retry_after,
            body,
        } => {
            let mut headers = json_type;
            if let Some(value) = retry_after {
                headers.push(("retry-after".to_owned(), value.clone()));
            }
            let body = body
                .clone()
                .unwrap_or_else(|| error_body(call.wire, *status));
            Rendered {
                status: *status,
                headers,
                chunks: vec![body.to_string()],
                ending: Ending::Clean,
            }
        }
        Reply::MalformedChunk if !call.stream => Rendered {
            status: 200,
            headers: json_type,
            chunks: vec![
                "{\"id\": \"broken\", \"choices\": [".to_owned(),
                "<html>oops</html>".to_owned(),
            ],
            ending: Ending::Clean,
        },
        Reply::CutStream(text) if !call.stream => {
            let full = answer(call, &Reply::Text(text.clone()), scenario).to_string();
            let half: String = full.chars().take(full.chars().count() / 2).collect();
            Rendered {
                status: 200,
                headers: json_type,
                chunks: vec![half],
                ending: Ending::Abort,
            }
        }
        reply if !call.stream => Rendered {
            status: 200,
            headers: json_type,
            chunks: vec![answer(call, reply, scenario).to_string()],
            ending: Ending::Clean,
        },
        Reply::MalformedChunk => {
            let mut chunks = stream(call, &Reply::Text("fine so far".to_owned()), scenario);
            chunks.truncate(2);
            chunks.push("data: {\"choices\": [{\"delta\": {\"content\": \"oops\"\n\n".to_owned());
            chunks.extend(
                stream(call, &Reply::Text(String::new()), scenario)
                    .into_iter()
                    .skip(2),
            );
            Rendered {
                status: 200,
                headers: event_stream,
                chunks,
                ending: Ending::Clean,
            }
        }
        Reply::CutStream(text) => {
            let mut chunks = stream(call, &Reply::Text(text.clone()), scenario);
            // Keep about half the text, never the terminal chunk.
            let keep = (1 + pieces(text).len() / 2).max(2);
            chunks.truncate(keep.min(chunks.len().saturating_sub(1)));
            Rendered {
                status: 200,
                headers: event_stream,
                chunks,
                ending: Ending::Clean,
            }
        }
        reply => Rendered {
            status: 200,
            headers: event_stream,
            chunks: stream(call, reply, scenario),
            ending: Ending::Clean,
        },
    }
}

fn reply_text(call: &Call, reply: &Reply) -> String {
    match reply {
        Reply::Echo => format!("echo: {}", call.last_user_text),
        Reply::Text(text) | Reply::CutStream(text) => text.clone(),
        Reply::ToolCall { .. } | Reply::Error { .. } | Reply::MalformedChunk => String::new(),
    }
}

fn openai_finish(reply: &Reply, finish: MockFinish) -> &'static str {
    match (reply, finish) {
        (Reply::ToolCall { .. }, _) => "tool_calls",
        (_, MockFinish::Stop) => "stop",
        (_, MockFinish::Length) => "length",
        (_, MockFinish::ContentFilter) => "content_filter",
    }
}

fn anthropic_stop(reply: &Reply, finish: MockFinish) -> &'static str {
    match (reply, finish) {
        (Reply::ToolCall { .. }, _) => "tool_use",
        (_, MockFinish::Stop) => "end_turn",
        (_, MockFinish::Length) => "max_tokens",
        (_, MockFinish::ContentFilter) => "refusal",
    }
}

fn gemini_finish(finish: MockFinish) -> &'static str {
    match finish {
        MockFinish::Stop => "STOP",
        MockFinish::Length => "MAX_TOKENS",
        MockFinish::ContentFilter => "SAFETY",
    }
}

fn openai_usage(usage: &MockUsage) -> Value {
    json!({
        "prompt_tokens": usage.input,
        "completion_tokens": usage.output,
        "total_tokens": usage.input + usage.output,
        "prompt_tokens_details": {"cached_tokens": usage.cached_read, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning, "audio_tokens": 0},
    })
}

/// Anthropic's `input_tokens` excludes cached tokens.
fn anthropic_usage(usage: &MockUsage, output: u64) -> Value {
    json!({
        "input_tokens": usage.input.saturating_sub(usage.cached_read + usage.cache_write),
        "cache_creation_input_tokens": usage.cache_write,
        "cache_read_input_tokens": usage.cached_read,
        "output_tokens": output,
    })
}

/// Gemini bills thoughts as output but reports them apart from the candidates.
fn gemini_usage(usage: &MockUsage) -> Value {
    let mut out = json!({
        "promptTokenCount": usage.input,
        "candidatesTokenCount": usage.output.saturating_sub(usage.reasoning),
        "totalTokenCount": usage.input + usage.output,
    });
    if usage.cached_read > 0 {
        out["cachedContentTokenCount"] = json!(usage.cached_read);
    }
    if usage.reasoning > 0 {
        out["thoughtsTokenCount"] = json!(usage.reasoning);
    }
    out
}

/// A complete non-streaming answer.
fn answer(call: &Call, reply: &Reply, scenario: &Scenario) -> Value {
    let text = reply_text(call, reply);
    let usage = &scenario.usage;
    match call.wire {
        Wire::OpenAi => {
            let mut message = json!({"role": "assistant", "content": text, "refusal": null});
            if let Reply::ToolCall {
                id,
                name,
                arguments,
            } = reply
            {
                message["content"] = Value::Null;
                message["tool_calls"] = json!([{
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments.to_string()},
                }]);
            }
            json!({
                "id": "chatcmpl-mock",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": call.model,
                "choices": [{
                    "index": 0,
                    "message": message,
                    "logprobs": null,
                    "finish_reason": openai_finish(reply, scenario.finish),
                }],
                "usage": openai_usage(usage),
            })
        }
        Wire::Anthropic => {
            let content = match reply {
                Reply::ToolCall {
                    id,
                    name,
                    arguments,
                } => {
                    json!([{"type": "tool_use", "id": id, "name": name, "input": arguments}])
                }
                _ if text.is_empty() => json!([]),
                _ => json!([{"type": "text", "text": text}]),
            };
            let content = match call.thinking_text() {
                Some(thinking) => {
                    let mut blocks = vec![json!({
                        "type": "thinking",
                        "signature": thinking_signature(&thinking),
                        "thinking": thinking,
                    })];
                    blocks.extend(content.as_array().into_iter().flatten().cloned());
                    Value::Array(blocks)
                }
                None => content,
            };
            json!({
                "id": "msg_mock",
                "type": "message",
                "role": "assistant",
                "model": call.model,
                "content": content,
                "stop_reason": anthropic_stop(reply, scenario.finish),
                "stop_sequence": null,
                "usage": anthropic_usage(usage, usage.output),
            })
        }
        Wire::Gemini => {
            let parts = match reply {
                Reply::ToolCall {
                    name, arguments, ..
                } => {
                    json!([{"functionCall": {"name": name, "args": arguments}}])
                }
                _ => json!([{"text": text}]),
            };
            json!({
                "candidates": [{
                    "content": {"role": "model", "parts": parts},
                    "finishReason": gemini_finish(scenario.finish),
                    "index": 0,
                }],
                "usageMetadata": gemini_usage(usage),
                "modelVersion": call.model,
                "responseId": "mock-response",
            })
        }
    }
}

/// A streamed answer as SSE chunks, terminal event last.
fn stream(call: &Call, reply: &Reply, scenario: &Scenario) -> Vec<String> {
    let text = reply_text(call, reply);
    let usage = &scenario.usage;
    match call.wire {
        Wire::OpenAi => {
            let chunk = |delta: Value, finish: Value| {
                sse(
                    None,
                    &json!({
                        "id": "chatcmpl-mock",
                        "object": "chat.completion.chunk",
                        "created": 1_700_000_000,
                        "model": call.model,
                        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
                    }),
                )
            };
            let mut chunks = vec![chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
            )];
            for piece in pieces(&text) {
                chunks.push(chunk(json!({"content": piece}), Value::Null));
            }
            if let Reply::ToolCall {
                id,
                name,
                arguments,
            } = reply
            {
                chunks.push(chunk(
                    json!({"tool_calls": [{"index": 0, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}),
                    Value::Null,
                ));
                let arguments = arguments.to_string();
                let (first, second) = arguments.split_at(arguments.len() / 2);
                for part in [first, second] {
                    chunks.push(chunk(
                        json!({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}),
                        Value::Null,
                    ));
                }
            }
            chunks.push(chunk(
                json!({}),
                json!(openai_finish(reply, scenario.finish)),
            ));
            if call.include_usage {
                chunks.push(sse(
                    None,
                    &json!({
                        "id": "chatcmpl-mock",
                        "object": "chat.completion.chunk",
                        "created": 1_700_000_000,
                        "model": call.model,
                        "choices": [],
                        "usage": openai_usage(usage),
                    }),
                ));
            }
            chunks.push("data: [DONE]\n\n".to_owned());
            chunks
        }
        Wire::Anthropic => {
            let mut chunks = vec![sse(
                Some("message_start"),
                &json!({
                    "type": "message_start",
                    "message": {
                        "id": "msg_mock",
                        "type": "message",
                        "role": "assistant",
                        "model": call.model,
                        "content": [],
                        "stop_reason": null,
                        "stop_sequence": null,
                        "usage": anthropic_usage(usage, 1),
                    },
                }),
            )];
            let mut index = 0;
            if let Some(thinking) = call.thinking_text() {
                chunks.push(sse(
                    Some("content_block_start"),
                    &json!({"type": "content_block_start", "index": index, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
                ));
                for piece in pieces(&thinking) {
                    chunks.push(sse(
                        Some("content_block_delta"),
                        &json!({"type": "content_block_delta", "index": index, "delta": {"type": "thinking_delta", "thinking": piece}}),
                    ));
                }
                chunks.push(sse(
                    Some("content_block_delta"),
                    &json!({"type": "content_block_delta", "index": index, "delta": {"type": "signature_delta", "signature": thinking_signature(&thinking)}}),
                ));
                chunks.push(sse(
                    Some("content_block_stop"),
                    &json!({"type": "content_block_stop", "index": index}),
                ));
                index += 1;
            }
            if !text.is_empty() || !matches!(reply, Reply::ToolCall { .. }) {
                chunks.push(sse(
                    Some("content_block_start"),
                    &json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
                ));
                chunks.push(sse(Some("ping"), &json!({"type": "ping"})));
                for piece in pieces(&text) {
                    chunks.push(sse(
                        Some("content_block_delta"),
                        &json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}),
                    ));
                }
                chunks.push(sse(
                    Some("content_block_stop"),
                    &json!({"type": "content_block_stop", "index": index}),
                ));
                index += 1;
            }
            if let Reply::ToolCall {
                id,
                name,
                arguments,
            } = reply
            {
                chunks.push(sse(
                    Some("content_block_start"),
                    &json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
                ));
                let arguments = arguments.to_string();
                let (first, second) = arguments.split_at(arguments.len() / 2);
                for part in [first, second] {
                    chunks.push(sse(
                        Some("content_block_delta"),
                        &json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": part}}),
                    ));
                }
                chunks.push(sse(
                    Some("content_block_stop"),
                    &json!({"type": "content_block_stop", "index": index}),
                ));
            }
            chunks.push(sse(
                Some("message_delta"),
                &json!({
                    "type": "message_delta",
                    "delta": {"stop_reason": anthropic_stop(reply, scenario.finish), "stop_sequence": null},
                    "usage": {"output_tokens": usage.output},
                }),
            ));
            chunks.push(sse(Some("message_stop"), &json!({"type": "message_stop"})));
            chunks
        }
        Wire::Gemini => {
            let chunk = |parts: Value, finish: Option<&str>, usage: Option<Value>| {
                let mut candidate =
                    json!({"content": {"role": "model", "parts": parts}, "index": 0});
                if let Some(finish) = finish {
                    candidate["finishReason"] = json!(finish);
                }
                let mut body = json!({"candidates": [candidate], "modelVersion": call.model, "responseId": "mock-response"});
                if let Some(usage) = usage {
                    body["usageMetadata"] = usage;
                }
                // Gemini ends its events with CRLF pairs.
                format!("data: {body}\r\n\r\n")
            };
            let finish = gemini_finish(scenario.finish);
            let prompt_only =
                json!({"promptTokenCount": usage.input, "totalTokenCount": usage.input});
            let mut chunks: Vec<String> = Vec::new();
            let text_pieces = pieces(&text);
            match reply {
                Reply::ToolCall {
                    name, arguments, ..
                } => chunks.push(chunk(
                    json!([{"functionCall": {"name": name, "args": arguments}}]),
                    Some(finish),
                    Some(gemini_usage(usage)),
                )),
                _ if text_pieces.is_empty() => {
                    chunks.push(chunk(
                        json!([{"text": ""}]),
                        Some(finish),
                        Some(gemini_usage(usage)),
                    ));
                }
                _ => {
                    let last = text_pieces.len() - 1;
                    for (position, piece) in text_pieces.into_iter().enumerate() {
                        if position == last {
                            chunks.push(chunk(
                                json!([{"text": piece}]),
                                Some(finish),
                                Some(gemini_usage(usage)),
                            ));
                        } else {
                            chunks.push(chunk(
                                json!([{"text": piece}]),
                                None,
                                Some(prompt_only.clone()),
                            ));
                        }
                    }
                }
            }
            chunks
        }
    }
}

/// The protocol's usual error body for a status.
fn error_body(wire: Wire, status: u16) -> Value {
    match wire {
        Wire::OpenAi => {
            let (kind, code, message) = match status {
                401 => (
                    "invalid_request_error",
                    json!("invalid_api_key"),
                    "Incorrect API key provided.",
                ),
                403 => (
                    "invalid_request_error",
                    json!("unsupported_country_region_territory"),
                    "Country, region, or territory not supported.",
                ),
                404 => (
                    "invalid_request_error",
                    json!("model_not_found"),
                    "The model does not exist or you do not have access to it.",
                ),
                429 => (
                    "requests",
                    json!("rate_limit_exceeded"),
                    "Rate limit reached for requests. Please try again later.",
                ),
                400 => ("invalid_request_error", Value::Null, "Invalid request."),
                503 => (
                    "server_error",
                    Value::Null,
                    "The engine is currently overloaded, please try again later.",
                ),
                _ => (
                    "server_error",
                    Value::Null,
                    "The server had an error while processing your request.",
                ),
            };
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
        }
        Wire::Anthropic => {
            let (kind, message) = match status {
                400 => ("invalid_request_error", "Invalid request."),
                401 => ("authentication_error", "invalid x-api-key"),
                403 => (
                    "permission_error",
                    "Your API key does not have permission to use the specified resource.",
                ),
                404 => (
                    "not_found_error",
                    "The requested resource could not be found.",
                ),
                413 => (
                    "request_too_large",
                    "Request exceeds the maximum allowed number of bytes.",
                ),
                429 => (
                    "rate_limit_error",
                    "Number of request tokens has exceeded your per-minute rate limit.",
                ),
                529 | 503 => ("overloaded_error", "Overloaded"),
                _ => ("api_error", "Internal server error"),
            };
            json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_mock"})
        }
        Wire::Gemini => {
            let (name, message) = match status {
                400 => ("INVALID_ARGUMENT", "Request contains an invalid argument."),
                401 => (
                    "UNAUTHENTICATED",
                    "Request had invalid authentication credentials.",
                ),
                403 => ("PERMISSION_DENIED", "The caller does not have permission."),
                404 => ("NOT_FOUND", "Requested entity was not found."),
                429 => (
                    "RESOURCE_EXHAUSTED",
                    "Resource has been exhausted (e.g. check quota).",
                ),
                503 => (
                    "UNAVAILABLE",
                    "The model is overloaded. Please try again later.",
                ),
                504 => ("DEADLINE_EXCEEDED", "Deadline exceeded."),
                _ => ("INTERNAL", "An internal error has occurred."),
            };
            json!({"error": {"code": status, "message": message, "status": name}})
        }
    }
}

/// The last user turn's text, in each format.
pub(crate) fn last_user_text(wire: Wire, body: &Value) -> String {
    let (list, role_key, user_role, content_key) = match wire {
        Wire::OpenAi => ("messages", "role", "user", "content"),
        Wire::Anthropic => ("messages", "role", "user", "content"),
        Wire::Gemini => ("contents", "role", "user", "parts"),
    };
    let Some(turn) = body[list]
        .as_array()
        .and_then(|turns| turns.iter().rev().find(|turn| turn[role_key] == user_role))
    else {
        return String::new();
    };
    match &turn[content_key] {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}
