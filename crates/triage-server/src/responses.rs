//! The OpenAI Responses wire format (`POST /v1/responses`): request parsing into
//! [`ChatRequest`], the `response` object, and the typed SSE events of a streamed response.
//!
//! triage stores no responses: a request is answered from its own `input`, so
//! `previous_response_id` and `conversation` are refused (send the earlier turns as input
//! items, as `store: false` clients do), and the answer says `store: false`. Only `function`
//! tools are accepted, since OpenAI's hosted tools (web search, file search, …) exist on
//! OpenAI alone and a routed request may go to any provider. Unknown fields are ignored, as on
//! the Chat Completions endpoint.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use triage_types::{
    ChatRequest, ChatResponse, ContentPart, FinishReason, Message, ReasoningEffort, Role,
    StreamEvent, ToolCall, ToolChoice, ToolDefinition, Usage,
};

use crate::error::Dialect;
use crate::openai::{
    invalid, json_schema_format, reasoning_effort, says_nothing, tool_choice_mode,
};
use crate::sse::event;
use crate::{STREAM_FIELD, ServerError};

/// A parsed `POST /v1/responses` body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResponsesRequest {
    /// `auto`, a route alias or a catalog model id.
    pub(crate) model: String,
    /// The request in triage's terms.
    pub(crate) request: ChatRequest,
    /// Whether to stream.
    pub(crate) stream: bool,
    /// The request fields a `response` object repeats (`instructions`, `tools`, `text`, …).
    pub(crate) echo: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct WireRequest {
    model: String,
    input: WireInput,
    #[serde(default)]
    instructions: Option<String>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    temperature: Option<f32>,
    #[serde(default)]
    max_output_tokens: Option<u32>,
    #[serde(default)]
    tools: Option<Vec<Value>>,
    #[serde(default)]
    tool_choice: Option<Value>,
    #[serde(default)]
    text: Option<WireText>,
    #[serde(default)]
    previous_response_id: Option<String>,
    #[serde(default)]
    conversation: Option<Value>,
    #[serde(default)]
    background: Option<bool>,
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    parallel_tool_calls: Option<bool>,
    #[serde(default)]
    reasoning: Option<WireReasoning>,
}

/// `reasoning`: the effort is kept; summaries are OpenAI's own and not asked for.
#[derive(Debug, Deserialize)]
struct WireReasoning {
    #[serde(default)]
    effort: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum WireInput {
    Text(String),
    Items(Vec<Value>),
}

#[derive(Debug, Deserialize)]
struct WireText {
    #[serde(default)]
    format: Option<WireFormat>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireFormat {
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        #[serde(default)]
        schema: Option<Value>,
    },
}

/// One item of `input`: a message (the `type` may be left out), a function call the model
/// made, a function's output, or a reasoning item (skipped: it is OpenAI's own, encrypted or
/// summarised, and no other provider reads it).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireItem {
    Message(WireMessage),
    FunctionCall {
        call_id: String,
        name: String,
        #[serde(default)]
        arguments: String,
    },
    FunctionCallOutput {
        call_id: String,
        output: WireOutput,
    },
    Reasoning {},
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    role: String,
    content: WireContent,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum WireContent {
    Text(String),
    Parts(Vec<Value>),
}

/// A function's output: text, or content parts (of which the text is kept).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum WireOutput {
    Text(String),
    Parts(Vec<Value>),
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WirePart {
    InputText {
        text: String,
    },
    OutputText {
        text: String,
    },
    Refusal {
        refusal: String,
    },
    InputImage {
        #[serde(default)]
        image_url: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
struct WireFunctionTool {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Value>,
}

/// Parses a request body.
pub(crate) fn parse_request(body: &[u8]) -> Result<ResponsesRequest, ServerError> {
    let wire: WireRequest = serde_json::from_slice(body).map_err(ServerError::malformed)?;
    if wire.previous_response_id.is_some() || wire.conversation.is_some() {
        return Err(invalid(
            "`previous_response_id` and `conversation` are not supported: the gateway stores no \
             responses; send the earlier turns as `input` items",
        ));
    }
    if wire.background == Some(true) {
        return Err(invalid(
            "`background` is not supported: the gateway answers in the request (use `stream` for long answers)",
        ));
    }
    let mut messages = Vec::new();
    if let Some(instructions) = &wire.instructions {
        messages.push(text_message(Role::System, instructions.clone()));
    }
    match wire.input {
        WireInput::Text(text) => messages.push(text_message(Role::User, text)),
        WireInput::Items(items) => {
            for (index, item) in items.into_iter().enumerate() {
                add_item(&mut messages, index, item)?;
            }
        }
    }
    if messages.iter().all(|message| message.role == Role::System) {
        return Err(invalid(
            "`input` must hold a user or assistant message, not only instructions",
        ));
    }
    if messages.iter().any(says_nothing) {
        return Err(invalid("`input` holds a message with empty content"));
    }
    let tools = wire
        .tools
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(index, tool)| tool_from_wire(index, tool))
        .collect::<Result<Vec<_>, _>>()?;
    let tool_choice = wire
        .tool_choice
        .as_ref()
        .map(tool_choice_from_wire)
        .transpose()?;
    let response_format = match wire.text.and_then(|text| text.format) {
        None => None,
        Some(WireFormat::Text) => Some(triage_types::ResponseFormat::Text),
        Some(WireFormat::JsonObject) => Some(triage_types::ResponseFormat::JsonObject),
        Some(WireFormat::JsonSchema { name, schema }) => Some(json_schema_format(
            name,
            schema.unwrap_or_else(|| json!({})),
            "text.format.schema",
        )?),
    };
    let effort = wire
        .reasoning
        .and_then(|reasoning| reasoning.effort)
        .map(|name| reasoning_effort(&name, "reasoning.effort"))
        .transpose()?;
    let mut echo = Map::new();
    echo.insert(
        "reasoning".to_owned(),
        json!({"effort": effort.map(ReasoningEffort::as_str), "summary": null}),
    );
    echo.insert("instructions".to_owned(), json!(wire.instructions));
    echo.insert(
        "max_output_tokens".to_owned(),
        json!(wire.max_output_tokens),
    );
    echo.insert(
        "temperature".to_owned(),
        json!(wire.temperature.unwrap_or(1.0)),
    );
    echo.insert("tools".to_owned(), json!(wire.tools.unwrap_or_default()));
    echo.insert(
        "tool_choice".to_owned(),
        wire.tool_choice.unwrap_or_else(|| json!("auto")),
    );
    echo.insert(
        "text".to_owned(),
        json!({"format": format_echo(response_format.as_ref())}),
    );
    echo.insert(
        "parallel_tool_calls".to_owned(),
        json!(wire.parallel_tool_calls.unwrap_or(true)),
    );
    echo.insert(
        "metadata".to_owned(),
        wire.metadata.unwrap_or_else(|| json!({})),
    );
    Ok(ResponsesRequest {
        model: wire.model,
        stream: wire.stream.unwrap_or(false),
        echo,
        request: ChatRequest {
            messages,
            tools,
            tool_choice,
            temperature: wire.temperature,
            max_output_tokens: wire.max_output_tokens,
            stop: Vec::new(),
            response_format,
            cache_prefix: false,
            anthropic_beta: Vec::new(),
            thinking: None,
            reasoning_effort: effort,
            reasoning_control: None,
        },
    })
}

fn text_message(role: Role, text: String) -> Message {
    Message {
        role,
        content: vec![ContentPart::Text { text }],
        tool_calls: Vec::new(),
        tool_call_id: None,
        cache_control: None,
    }
}

/// Adds `input[index]` to the conversation: function calls join the assistant turn before
/// them (or start one), so a turn's text and calls stay one message, as every provider wants.
fn add_item(messages: &mut Vec<Message>, index: usize, mut item: Value) -> Result<(), ServerError> {
    // A message may leave out its `type`, as the SDKs' easy input does.
    if let Value::Object(fields) = &mut item
        && !fields.contains_key("type")
        && fields.contains_key("role")
    {
        fields.insert("type".to_owned(), json!("message"));
    }
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let item: WireItem = serde_json::from_value(item).map_err(|error| {
        let known = [
            "message",
            "function_call",
            "function_call_output",
            "reasoning",
        ];
        if known.contains(&kind.as_str()) {
            invalid(&format!(
                "`input[{index}]` is not a valid `{kind}` item: {error}"
            ))
        } else {
            invalid(&format!(
                "`input[{index}]` has type `{kind}`, which the gateway does not support \
                 (expected message, function_call, function_call_output or reasoning)"
            ))
        }
    })?;
    match item {
        WireItem::Message(message) => messages.push(message_from_wire(index, message)?),
        WireItem::FunctionCall {
            call_id,
            name,
            arguments,
        } => {
            let call = ToolCall {
                id: call_id,
                name,
                arguments,
            };
            match messages.last_mut() {
                Some(last) if last.role == Role::Assistant => last.tool_calls.push(call),
                _ => messages.push(Message {
                    role: Role::Assistant,
                    content: Vec::new(),
                    tool_calls: vec![call],
                    tool_call_id: None,
                    cache_control: None,
                }),
            }
        }
        WireItem::FunctionCallOutput { call_id, output } => {
            let text = match output {
                WireOutput::Text(text) => text,
                // Only text reaches every provider as a tool result: other parts are refused,
                // not dropped.
                WireOutput::Parts(parts) => parts
                    .iter()
                    .enumerate()
                    .map(|(part_index, part)| {
                        let kind = part.get("type").and_then(Value::as_str).unwrap_or_default();
                        match (kind, part.get("text").and_then(Value::as_str)) {
                            ("input_text" | "output_text", Some(text)) => Ok(text),
                            _ => Err(invalid(&format!(
                                "`input[{index}].output[{part_index}]` of type `{kind}` is not \
                                 supported in a function_call_output (expected input_text)"
                            ))),
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .join("\n"),
            };
            messages.push(Message {
                role: Role::Tool,
                content: vec![ContentPart::Text { text }],
                tool_calls: Vec::new(),
                tool_call_id: Some(call_id),
                cache_control: None,
            });
        }
        WireItem::Reasoning {} => {}
    }
    Ok(())
}

fn message_from_wire(index: usize, message: WireMessage) -> Result<Message, ServerError> {
    let role = match message.role.as_str() {
        "system" | "developer" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        other => {
            return Err(invalid(&format!(
                "`input[{index}]` has role `{other}` (expected system, developer, user or assistant)"
            )));
        }
    };
    let content = match message.content {
        WireContent::Text(text) => vec![ContentPart::Text { text }],
        WireContent::Parts(parts) => parts
            .into_iter()
            .enumerate()
            .map(|(part_index, part)| part_from_wire(index, part_index, part))
            .collect::<Result<_, _>>()?,
    };
    Ok(Message {
        role,
        content,
        tool_calls: Vec::new(),
        tool_call_id: None,
        cache_control: None,
    })
}

/// One content part. Parts the gateway cannot send on to every provider (files, audio, images
/// by file id) are refused rather than dropped, so no part of a prompt is lost unseen.
fn part_from_wire(
    index: usize,
    part_index: usize,
    part: Value,
) -> Result<ContentPart, ServerError> {
    let kind = part
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let unsupported = || {
        invalid(&format!(
            "`input[{index}].content[{part_index}]` of type `{kind}` is not supported \
             (expected input_text, output_text, refusal, or input_image with an `image_url`)"
        ))
    };
    match serde_json::from_value::<WirePart>(part).map_err(|_| unsupported())? {
        WirePart::InputText { text } | WirePart::OutputText { text } => {
            Ok(ContentPart::Text { text })
        }
        WirePart::Refusal { refusal } => Ok(ContentPart::Text { text: refusal }),
        WirePart::InputImage {
            image_url: Some(url),
        } => Ok(ContentPart::Image { url }),
        WirePart::InputImage { image_url: None } => Err(unsupported()),
    }
}

fn tool_from_wire(index: usize, tool: &Value) -> Result<ToolDefinition, ServerError> {
    let kind = tool.get("type").and_then(Value::as_str).unwrap_or_default();
    if kind != "function" {
        return Err(invalid(&format!(
            "`tools[{index}]` has type `{kind}`: only `function` tools are supported, since \
             OpenAI's hosted tools run on OpenAI alone and a routed request may go to any provider"
        )));
    }
    let function: WireFunctionTool = serde_json::from_value(tool.clone()).map_err(|error| {
        invalid(&format!(
            "`tools[{index}]` is not a valid function: {error}"
        ))
    })?;
    Ok(ToolDefinition {
        name: function.name,
        description: function.description,
        parameters: function
            .parameters
            .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
    })
}

fn tool_choice_from_wire(value: &Value) -> Result<ToolChoice, ServerError> {
    match value {
        Value::String(text) => tool_choice_mode(text),
        Value::Object(fields) if fields.get("type").and_then(Value::as_str) == Some("function") => {
            fields
                .get("name")
                .and_then(Value::as_str)
                .map(|name| ToolChoice::Tool(name.to_owned()))
                .ok_or_else(|| invalid("`tool_choice.name` is missing"))
        }
        _ => Err(invalid(
            "`tool_choice` must be auto, none, required or {\"type\": \"function\", \"name\": …}",
        )),
    }
}

/// `text.format` as a response repeats it.
fn format_echo(format: Option<&triage_types::ResponseFormat>) -> Value {
    match format {
        None | Some(triage_types::ResponseFormat::Text) => json!({"type": "text"}),
        Some(triage_types::ResponseFormat::JsonObject) => json!({"type": "json_object"}),
        Some(triage_types::ResponseFormat::JsonSchema { name, schema }) => {
            json!({"type": "json_schema", "name": name, "schema": schema, "strict": false})
        }
    }
}

/// The Responses `usage` object.
pub(crate) fn usage(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_read_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    })
}

/// What identifies one response in its body and every event of its stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResponseId {
    /// The gateway's request id; the response is `resp_…`, its items `msg_…` and `fc_…`.
    pub(crate) request_id: String,
    /// Unix seconds.
    pub(crate) created_at: i64,
    /// The catalog id of the model that answered.
    pub(crate) model: String,
    /// The request fields the response repeats.
    pub(crate) echo: Map<String, Value>,
}

impl ResponseId {
    fn item_id(&self, prefix: &str, output_index: usize) -> String {
        format!("{prefix}_{}_{output_index}", self.request_id)
    }

    /// A `response` object with `status`, `output` and `usage`.
    fn object(&self, status: &str, output: Vec<Value>, usage: Option<Value>) -> Value {
        let mut object = json!({
            "id": format!("resp_{}", self.request_id),
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "error": null,
            "incomplete_details": null,
            "model": self.model,
            "output": output,
            "previous_response_id": null,
            "store": false,
            "top_p": 1.0,
            "truncation": "disabled",
            "user": null,
            "usage": usage,
        });
        for (key, value) in &self.echo {
            object[key] = value.clone();
        }
        object
    }

    /// The `response` object of a finished answer with these `output` items: `completed`, or
    /// `incomplete` (with why) for an answer cut off or filtered.
    fn finished(&self, output: Vec<Value>, answer: &ChatResponse) -> Value {
        let (status, incomplete) = status(answer.finish_reason);
        let mut object = self.object(status, output, Some(usage(&answer.usage)));
        object["incomplete_details"] = incomplete;
        object
    }
}

/// A message output item.
fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({
        "type": "message",
        "id": id,
        "status": status,
        "role": "assistant",
        "content": [text_part(text)],
    })
}

fn text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

/// A function-call output item.
fn call_item(id: &str, call_id: &str, name: &str, arguments: &str, status: &str) -> Value {
    json!({
        "type": "function_call",
        "id": id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    })
}

/// The response's status, and why it is incomplete when it is.
fn status(finish: FinishReason) -> (&'static str, Value) {
    match finish {
        FinishReason::Length => ("incomplete", json!({"reason": "max_output_tokens"})),
        FinishReason::ContentFilter => ("incomplete", json!({"reason": "content_filter"})),
        FinishReason::Stop | FinishReason::ToolCalls | FinishReason::Other => {
            ("completed", Value::Null)
        }
    }
}

/// A whole `response` object: the text as one message item, then one item per tool call.
pub(crate) fn response(id: &ResponseId, answer: &ChatResponse) -> Value {
    let mut output = Vec::new();
    if !answer.text.is_empty() || answer.tool_calls.is_empty() {
        output.push(message_item(
            &id.item_id("msg", output.len()),
            &answer.text,
            "completed",
        ));
    }
    for call in &answer.tool_calls {
        output.push(call_item(
            &id.item_id("fc", output.len()),
            &call.id,
            &call.name,
            &call.arguments,
            "completed",
        ));
    }
    id.finished(output, answer)
}

/// The output item a stream is writing.
#[derive(Debug, Clone, PartialEq)]
enum OpenItem {
    Message {
        text: String,
    },
    Call {
        /// The upstream's index of the call.
        index: u32,
        call_id: String,
        name: String,
        arguments: String,
    },
}

/// Encodes a stream as Responses events: `response.created`, then per output item
/// `output_item.added`, its deltas and `.done` events, `output_item.done`, and at the end
/// `response.completed` (or `response.incomplete`) with the whole response, every event
/// numbered by `sequence_number`.
#[derive(Debug)]
pub(crate) struct StreamEncoder {
    id: ResponseId,
    sequence: u64,
    /// The finished output items, in order.
    finished: Vec<Value>,
    open: Option<OpenItem>,
}

impl StreamEncoder {
    pub(crate) fn new(id: ResponseId) -> StreamEncoder {
        StreamEncoder {
            id,
            sequence: 0,
            finished: Vec::new(),
            open: None,
        }
    }

    fn emit(&mut self, out: &mut String, kind: &str, mut data: Value) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        out.push_str(&event(kind, &data));
    }

    /// `response.created` and `response.in_progress`.
    pub(crate) fn start(&mut self, model: &str) -> String {
        model.clone_into(&mut self.id.model);
        let mut out = String::new();
        let snapshot = self.id.object("in_progress", Vec::new(), None);
        self.emit(
            &mut out,
            "response.created",
            json!({"response": snapshot.clone()}),
        );
        self.emit(
            &mut out,
            "response.in_progress",
            json!({"response": snapshot}),
        );
        out
    }

    pub(crate) fn delta(&mut self, delta: &StreamEvent) -> String {
        let mut out = String::new();
        match delta {
            StreamEvent::TextDelta { text } => {
                if !matches!(self.open, Some(OpenItem::Message { .. })) {
                    self.close(&mut out);
                    self.open_message(&mut out);
                }
                if let Some(OpenItem::Message { text: written }) = &mut self.open {
                    written.push_str(text);
                }
                let item_id = self.id.item_id("msg", self.finished.len());
                self.emit(
                    &mut out,
                    "response.output_text.delta",
                    json!({
                        "item_id": item_id, "output_index": self.finished.len(),
                        "content_index": 0, "delta": text, "logprobs": [],
                    }),
                );
            }
            StreamEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            } => {
                let continues =
                    matches!(&self.open, Some(OpenItem::Call { index: open, .. }) if open == index);
                if !continues {
                    self.close(&mut out);
                    let output_index = self.finished.len();
                    let call_id = id
                        .clone()
                        .unwrap_or_else(|| format!("call_{}_{output_index}", self.id.request_id));
                    let name = name.clone().unwrap_or_default();
                    let item_id = self.id.item_id("fc", output_index);
                    self.emit(
                        &mut out,
                        "response.output_item.added",
                        json!({
                            "output_index": output_index,
                            "item": call_item(&item_id, &call_id, &name, "", "in_progress"),
                        }),
                    );
                    self.open = Some(OpenItem::Call {
                        index: *index,
                        call_id,
                        name,
                        arguments: String::new(),
                    });
                }
                if let Some(OpenItem::Call {
                    arguments: written, ..
                }) = &mut self.open
                {
                    written.push_str(arguments);
                }
                if !arguments.is_empty() {
                    let output_index = self.finished.len();
                    self.emit(
                        &mut out,
                        "response.function_call_arguments.delta",
                        json!({
                            "item_id": self.id.item_id("fc", output_index),
                            "output_index": output_index,
                            "delta": arguments,
                        }),
                    );
                }
            }
            // Signed reasoning is Anthropic's own; the finish reason and usage go out with
            // the last event.
            StreamEvent::ThinkingDelta { .. }
            | StreamEvent::ThinkingSignature { .. }
            | StreamEvent::RedactedThinking { .. }
            | StreamEvent::Usage { .. }
            | StreamEvent::Finish { .. } => {}
        }
        out
    }

    fn open_message(&mut self, out: &mut String) {
        let output_index = self.finished.len();
        let item_id = self.id.item_id("msg", output_index);
        self.emit(
            out,
            "response.output_item.added",
            json!({
                "output_index": output_index,
                "item": {
                    "type": "message", "id": item_id, "status": "in_progress",
                    "role": "assistant", "content": [],
                },
            }),
        );
        self.emit(
            out,
            "response.content_part.added",
            json!({
                "item_id": item_id, "output_index": output_index, "content_index": 0,
                "part": text_part(""),
            }),
        );
        self.open = Some(OpenItem::Message {
            text: String::new(),
        });
    }

    /// The open item as an output item with `status`, at the next output index.
    fn open_item(&self, open: &OpenItem, status: &str) -> Value {
        let output_index = self.finished.len();
        match open {
            OpenItem::Message { text } => {
                message_item(&self.id.item_id("msg", output_index), text, status)
            }
            OpenItem::Call {
                call_id,
                name,
                arguments,
                ..
            } => call_item(
                &self.id.item_id("fc", output_index),
                call_id,
                name,
                arguments,
                status,
            ),
        }
    }

    /// Closes the open item with its `.done` events.
    fn close(&mut self, out: &mut String) {
        let output_index = self.finished.len();
        let Some(open) = self.open.take() else {
            return;
        };
        let item = self.open_item(&open, "completed");
        match &open {
            OpenItem::Message { text } => {
                let item_id = self.id.item_id("msg", output_index);
                self.emit(
                    out,
                    "response.output_text.done",
                    json!({
                        "item_id": item_id, "output_index": output_index, "content_index": 0,
                        "text": text, "logprobs": [],
                    }),
                );
                self.emit(
                    out,
                    "response.content_part.done",
                    json!({
                        "item_id": item_id, "output_index": output_index, "content_index": 0,
                        "part": text_part(text),
                    }),
                );
            }
            OpenItem::Call {
                name, arguments, ..
            } => {
                let item_id = self.id.item_id("fc", output_index);
                self.emit(
                    out,
                    "response.function_call_arguments.done",
                    json!({
                        "item_id": item_id, "output_index": output_index,
                        "name": name, "arguments": arguments,
                    }),
                );
            }
        }
        self.emit(
            out,
            "response.output_item.done",
            json!({"output_index": output_index, "item": item.clone()}),
        );
        self.finished.push(item);
    }

    /// The open item's `.done` events, then `response.completed` (or `response.incomplete`)
    /// with the whole response, triage's `figures` in it.
    pub(crate) fn done(&mut self, answer: &ChatResponse, figures: Value) -> String {
        let mut out = String::new();
        // An answer with no output at all still has its (empty) message, as a whole one does.
        if self.finished.is_empty() && self.open.is_none() {
            self.open_message(&mut out);
        }
        self.close(&mut out);
        let mut object = self.id.finished(std::mem::take(&mut self.finished), answer);
        // In the response, not beside it: the SDKs' stream helpers rebuild the last event but
        // keep the response's extra fields in the response they hand back.
        object[STREAM_FIELD] = figures;
        let kind = if object["status"] == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        self.emit(&mut out, kind, json!({"response": object}));
        out
    }

    /// An `error` event, then `response.failed`, whose `output` holds every item the stream
    /// added: those it finished, and the one it was writing with what was streamed of it,
    /// `incomplete` (as OpenAI's failed responses do; no `.done` event closes it).
    pub(crate) fn error(&mut self, error: &ServerError) -> String {
        let mut out = String::new();
        let body = error.body(Dialect::Responses);
        self.emit(
            &mut out,
            "error",
            json!({
                "code": body["error"]["code"],
                "message": body["error"]["message"],
                "param": null,
            }),
        );
        if let Some(open) = self.open.take() {
            let item = self.open_item(&open, "incomplete");
            self.finished.push(item);
        }
        let mut object = self
            .id
            .object("failed", std::mem::take(&mut self.finished), None);
        object["error"] = json!({"code": "server_error", "message": error.to_string()});
        self.emit(&mut out, "response.failed", json!({"response": object}));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_items_into_one_conversation() {
        let body = json!({
            "model": "auto",
            "instructions": "be brief",
            "input": [
                {"role": "user", "content": "weather in Paris?"},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"type": "message", "role": "assistant", "content": [
                    {"type": "output_text", "text": "Let me look.", "annotations": []}
                ]},
                {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
                {"role": "user", "content": [
                    {"type": "input_text", "text": "and this?"},
                    {"type": "input_image", "image_url": "data:image/png;base64,AA=="}
                ]}
            ],
            "tools": [{"type": "function", "name": "weather", "parameters": {"type": "object"}}],
            "tool_choice": {"type": "function", "name": "weather"},
            "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}}},
            "max_output_tokens": 50,
            "reasoning": {"effort": "low", "summary": "auto"},
            "stream": true,
            "store": true
        });
        let parsed = parse_request(body.to_string().as_bytes()).unwrap();
        assert!(parsed.stream);
        let request = parsed.request;
        let roles: Vec<Role> = request.messages.iter().map(|m| m.role).collect();
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
        assert_eq!(request.messages[2].tool_calls[0].id, "call_1");
        assert_eq!(request.messages[3].tool_call_id.as_deref(), Some("call_1"));
        assert!(request.messages[4].has_image());
        assert_eq!(request.max_output_tokens, Some(50));
        assert_eq!(
            request.tool_choice,
            Some(ToolChoice::Tool("weather".to_owned()))
        );
        assert!(request.wants_json());
        assert_eq!(request.reasoning_effort, Some(ReasoningEffort::Low));
        assert_eq!(parsed.echo["reasoning"]["effort"], "low");
        assert_eq!(parsed.echo["instructions"], "be brief");
        assert_eq!(parsed.echo["text"]["format"]["type"], "json_schema");
    }

    #[test]
    fn refuses_what_it_cannot_serve_with_client_errors() {
        for (body, says) in [
            (r#"{"model": "auto"}"#, "input"),
            (r#"{"model": "auto", "input": ""}"#, "empty content"),
            (
                r#"{"model": "auto", "input": "hi", "previous_response_id": "resp_1"}"#,
                "stores no responses",
            ),
            (
                r#"{"model": "auto", "input": "hi", "tools": [{"type": "web_search"}]}"#,
                "only `function` tools",
            ),
            (
                r#"{"model": "auto", "input": [{"type": "item_reference", "id": "msg_1"}]}"#,
                "`item_reference`",
            ),
            (
                r#"{"model": "auto", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}"#,
                "`input_file` is not supported",
            ),
            (
                r#"{"model": "auto", "input": "hi", "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": 5}}}}"#,
                "text.format.schema",
            ),
            (
                r#"{"model": "auto", "input": [{"type": "function_call_output", "call_id": "c", "output": [{"type": "input_text", "text": "ok"}, {"type": "input_image", "image_url": "https://x/y.png"}]}]}"#,
                "`input[0].output[1]` of type `input_image`",
            ),
        ] {
            let error = parse_request(body.as_bytes()).unwrap_err();
            assert_eq!(
                error.status(),
                axum::http::StatusCode::BAD_REQUEST,
                "{body}"
            );
            assert!(error.to_string().contains(says), "{body}: {error}");
        }
    }

    fn id() -> ResponseId {
        ResponseId {
            request_id: "r1".to_owned(),
            created_at: 7,
            model: "gpt-4o-mini".to_owned(),
            echo: Map::new(),
        }
    }

    fn answer(text: &str, finish_reason: FinishReason) -> ChatResponse {
        ChatResponse {
            model: "gpt-4o-mini".to_owned(),
            text: text.to_owned(),
            thinking: Vec::new(),
            tool_calls: Vec::new(),
            finish_reason,
            usage: Usage::default(),
        }
    }

    #[test]
    fn a_stream_ends_with_the_items_it_sent() {
        let mut encoder = StreamEncoder::new(id());
        let mut out = encoder.start("gpt-4o-mini");
        out.push_str(&encoder.delta(&StreamEvent::TextDelta {
            text: "Hi".to_owned(),
        }));
        out.push_str(&encoder.delta(&StreamEvent::ToolCallDelta {
            index: 0,
            id: Some("call_9".to_owned()),
            name: Some("look".to_owned()),
            arguments: "{\"a\"".to_owned(),
        }));
        out.push_str(&encoder.delta(&StreamEvent::ToolCallDelta {
            index: 0,
            id: None,
            name: None,
            arguments: ":1}".to_owned(),
        }));
        let answer = answer("Hi", FinishReason::ToolCalls);
        out.push_str(&encoder.done(&answer, json!({"cost_usd": "0.1"})));
        let events: Vec<Value> = out
            .split("\n\n")
            .filter_map(|frame| frame.lines().find_map(|line| line.strip_prefix("data: ")))
            .map(|data| serde_json::from_str(data).unwrap())
            .collect();
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        for (number, event) in events.iter().enumerate() {
            assert_eq!(event["sequence_number"], number);
        }
        let last = &events[13];
        assert_eq!(last["response"]["output"][1]["arguments"], "{\"a\":1}");
        assert_eq!(last["response"]["output"][1]["call_id"], "call_9");
        assert_eq!(last["response"]["output"][0]["content"][0]["text"], "Hi");
        assert_eq!(last["response"]["id"], "resp_r1");
        assert_eq!(last["response"][STREAM_FIELD]["cost_usd"], "0.1");
    }

    /// A stream that fails part-way: `response.failed` holds every item the stream added (the
    /// ids of its `output_item.added` events, in order), the one being written `incomplete`
    /// with the text or arguments streamed so far.
    #[test]
    fn a_failed_stream_keeps_the_items_it_added() {
        let text = |text: &str| StreamEvent::TextDelta {
            text: text.to_owned(),
        };
        let call = |index: u32, id: Option<&str>, name: Option<&str>, arguments: &str| {
            StreamEvent::ToolCallDelta {
                index,
                id: id.map(str::to_owned),
                name: name.map(str::to_owned),
                arguments: arguments.to_owned(),
            }
        };
        let check = |deltas: &[StreamEvent]| -> String {
            let mut encoder = StreamEncoder::new(id());
            let mut out = encoder.start("gpt-4o-mini");
            for delta in deltas {
                out.push_str(&encoder.delta(delta));
            }
            out.push_str(&encoder.error(&ServerError::NoProvider { attempts: 1 }));
            let events: Vec<Value> = out
                .split("\n\n")
                .filter_map(|frame| frame.lines().find_map(|line| line.strip_prefix("data: ")))
                .map(|data| serde_json::from_str(data).unwrap())
                .collect();
            let failed = events.last().unwrap();
            assert_eq!(failed["type"], "response.failed");
            assert_eq!(events[events.len() - 2]["type"], "error");
            let added: Vec<&Value> = events
                .iter()
                .filter(|event| event["type"] == "response.output_item.added")
                .map(|event| &event["item"]["id"])
                .collect();
            let output = failed["response"]["output"].as_array().unwrap();
            let ids: Vec<&Value> = output.iter().map(|item| &item["id"]).collect();
            assert_eq!(ids, added, "{out}");
            let items: Vec<String> = output
                .iter()
                .map(|item| match item["type"].as_str().unwrap() {
                    "message" => format!(
                        "{} {}: {:?}",
                        item["id"].as_str().unwrap(),
                        item["status"].as_str().unwrap(),
                        item["content"][0]["text"].as_str().unwrap()
                    ),
                    _ => format!(
                        "{} {}: {}({}) call {}",
                        item["id"].as_str().unwrap(),
                        item["status"].as_str().unwrap(),
                        item["name"].as_str().unwrap(),
                        item["arguments"].as_str().unwrap(),
                        item["call_id"].as_str().unwrap()
                    ),
                })
                .collect();
            format!(
                "{} item(s) [{}]",
                items.len(),
                failed["response"]["status"].as_str().unwrap()
            ) + &items
                .iter()
                .map(|item| format!("\n  {item}"))
                .collect::<String>()
        };
        let cases: Vec<Vec<StreamEvent>> = vec![
            vec![],
            vec![text("Once "), text("upon")],
            vec![
                text("Let me look."),
                call(0, Some("call_9"), Some("look"), "{\"city\""),
            ],
            vec![
                call(0, Some("call_1"), Some("look"), "{}"),
                call(1, Some("call_2"), Some("find"), ""),
            ],
        ];
        let out: Vec<String> = cases.iter().map(|deltas| check(deltas)).collect();
        insta::assert_snapshot!(out.join("\n"), @r#"
        0 item(s) [failed]
        1 item(s) [failed]
          msg_r1_0 incomplete: "Once upon"
        2 item(s) [failed]
          msg_r1_0 completed: "Let me look."
          fc_r1_1 incomplete: look({"city") call call_9
        2 item(s) [failed]
          fc_r1_0 completed: look({}) call call_1
          fc_r1_1 incomplete: find() call call_2
        "#);
    }

    #[test]
    fn a_cut_off_answer_is_incomplete() {
        let body = response(&id(), &answer("Once upon", FinishReason::Length));
        assert_eq!(body["status"], "incomplete");
        assert_eq!(body["incomplete_details"]["reason"], "max_output_tokens");
        assert_eq!(body["output"][0]["id"], "msg_r1_0");
    }
}
