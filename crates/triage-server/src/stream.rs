//! Streamed answers: the fallback executor's events re-encoded as the caller's SSE dialect
//! (OpenAI `chat.completion.chunk`s, Responses events or Anthropic message events), with the ledger record
//! written when the stream ends, fails or the client goes away.

use std::convert::Infallible;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use triage_engine::{EngineStream, StreamItem};
use triage_fallback::StreamSummary;
use triage_types::StreamEvent;

use crate::dispatch::{STREAM_FIELD, client_error, cost_text, headers, stream_figures};
use crate::error::Dialect;
use crate::metrics::InFlight;
use crate::sse::{data, event};
use crate::{ServerError, anthropic, openai, responses};

/// Encodes fallback events in one protocol's SSE dialect.
pub(crate) enum Encoder {
    OpenAi {
        id: openai::CompletionId,
        include_usage: bool,
    },
    Anthropic {
        id: String,
        /// The open content block: its index and kind.
        open_block: Option<(u32, Block)>,
        next_index: u32,
        /// The tool call index of the open tool block.
        open_tool: Option<u32>,
    },
    Responses(responses::StreamEncoder),
}

impl Encoder {
    /// The encoder for `protocol`; `echo` holds the request fields a Responses stream repeats.
    pub(crate) fn new(
        protocol: Dialect,
        request_id: &str,
        include_usage: bool,
        echo: Map<String, Value>,
    ) -> Encoder {
        match protocol {
            Dialect::OpenAi => Encoder::OpenAi {
                id: openai::CompletionId {
                    id: format!("chatcmpl-{request_id}"),
                    created: time::OffsetDateTime::now_utc().unix_timestamp(),
                    model: String::new(),
                },
                include_usage,
            },
            Dialect::Anthropic => Encoder::Anthropic {
                id: format!("msg_{request_id}"),
                open_block: None,
                next_index: 0,
                open_tool: None,
            },
            Dialect::Responses => {
                Encoder::Responses(responses::StreamEncoder::new(responses::ResponseId {
                    request_id: request_id.to_owned(),
                    created_at: time::OffsetDateTime::now_utc().unix_timestamp(),
                    model: String::new(),
                    echo,
                }))
            }
        }
    }

    fn dialect(&self) -> Dialect {
        match self {
            Encoder::OpenAi { .. } => Dialect::OpenAi,
            Encoder::Anthropic { .. } => Dialect::Anthropic,
            Encoder::Responses(_) => Dialect::Responses,
        }
    }

    fn start(&mut self, model: &str) -> String {
        match self {
            Encoder::OpenAi { id, .. } => {
                id.model = model.to_owned();
                data(&openai::chunk(
                    id,
                    json!({"role": "assistant", "content": ""}),
                    None,
                ))
            }
            Encoder::Anthropic { id, .. } => {
                let mut out = event("message_start", &anthropic::message_start(id, model));
                out.push_str(&event("ping", &json!({"type": "ping"})));
                out
            }
            Encoder::Responses(encoder) => encoder.start(model),
        }
    }

    fn delta(&mut self, event: &StreamEvent) -> String {
        match self {
            Encoder::Responses(encoder) => encoder.delta(event),
            Encoder::OpenAi { id, .. } => match event {
                StreamEvent::TextDelta { text } => {
                    data(&openai::chunk(id, json!({"content": text}), None))
                }
                StreamEvent::ToolCallDelta {
                    index,
                    id: call_id,
                    name,
                    arguments,
                } => {
                    let mut call = json!({"index": index, "function": {"arguments": arguments}});
                    if let Some(call_id) = call_id {
                        call["id"] = Value::String(call_id.clone());
                        call["type"] = Value::String("function".to_owned());
                    }
                    if let Some(name) = name {
                        call["function"]["name"] = Value::String(name.clone());
                    }
                    data(&openai::chunk(id, json!({"tool_calls": [call]}), None))
                }
                // Usage and the finish reason go out with the final chunks; Chat Completions
                // has no place for another provider's signed reasoning.
                StreamEvent::Usage { .. }
                | StreamEvent::Finish { .. }
                | StreamEvent::ThinkingDelta { .. }
                | StreamEvent::ThinkingSignature { .. }
                | StreamEvent::RedactedThinking { .. } => String::new(),
            },
            Encoder::Anthropic {
                open_block,
                next_index,
                open_tool,
                ..
            } => {
                let mut out = String::new();
                match event {
                    StreamEvent::TextDelta { text } => {
                        let index = match *open_block {
                            Some((index, Block::Text)) => index,
                            _ => open_new(
                                open_block,
                                next_index,
                                Block::Text,
                                &json!({"type": "text", "text": ""}),
                                &mut out,
                            ),
                        };
                        out.push_str(&block_delta(
                            index,
                            &json!({"type": "text_delta", "text": text}),
                        ));
                    }
                    StreamEvent::ToolCallDelta {
                        index: call,
                        id,
                        name,
                        arguments,
                    } => {
                        let block = match (*open_block, *open_tool) {
                            (Some((block, Block::ToolUse)), Some(open)) if open == *call => block,
                            _ => {
                                *open_tool = Some(*call);
                                open_new(
                                    open_block,
                                    next_index,
                                    Block::ToolUse,
                                    &json!({
                                        "type": "tool_use",
                                        "id": id.clone().unwrap_or_else(|| format!("toolu_{call}")),
                                        "name": name.clone().unwrap_or_default(),
                                        "input": {},
                                    }),
                                    &mut out,
                                )
                            }
                        };
                        if !arguments.is_empty() {
                            out.push_str(&block_delta(
                                block,
                                &json!({"type": "input_json_delta", "partial_json": arguments}),
                            ));
                        }
                    }
                    StreamEvent::ThinkingDelta { thinking } => {
                        let index = open_thinking(open_block, next_index, &mut out);
                        out.push_str(&block_delta(
                            index,
                            &json!({"type": "thinking_delta", "thinking": thinking}),
                        ));
                    }
                    // The signature closes its block, as in Anthropic's own streams.
                    StreamEvent::ThinkingSignature { signature } => {
                        let index = open_thinking(open_block, next_index, &mut out);
                        out.push_str(&block_delta(
                            index,
                            &json!({"type": "signature_delta", "signature": signature}),
                        ));
                        out.push_str(&close_block(open_block));
                    }
                    StreamEvent::RedactedThinking { data } => {
                        open_new(
                            open_block,
                            next_index,
                            Block::Thinking,
                            &json!({"type": "redacted_thinking", "data": data}),
                            &mut out,
                        );
                        out.push_str(&close_block(open_block));
                    }
                    StreamEvent::Usage { .. } | StreamEvent::Finish { .. } => {}
                }
                out
            }
        }
    }

    /// The closing events: the finish reason, the usage (OpenAI: only when asked for) with
    /// triage's `figures`, the end marker.
    fn done(&mut self, summary: &StreamSummary, figures: Value) -> String {
        let finish = summary.response.finish_reason;
        let usage = &summary.response.usage;
        match self {
            Encoder::Responses(encoder) => encoder.done(&summary.response, figures),
            Encoder::OpenAi { id, include_usage } => {
                let mut out = data(&openai::chunk(id, json!({}), Some(finish)));
                if *include_usage {
                    let mut chunk = openai::usage_chunk(id, usage);
                    chunk[STREAM_FIELD] = figures;
                    out.push_str(&data(&chunk));
                }
                out.push_str("data: [DONE]\n\n");
                out
            }
            Encoder::Anthropic { open_block, .. } => {
                let mut out = close_block(open_block);
                let mut delta = json!({
                    "type": "message_delta",
                    "delta": {"stop_reason": anthropic::stop_reason(finish), "stop_sequence": null},
                    // Cumulative, as Anthropic's: the SDKs overwrite `message_start`'s zeros
                    // with these.
                    "usage": anthropic::usage(usage),
                });
                delta[STREAM_FIELD] = figures;
                out.push_str(&event("message_delta", &delta));
                out.push_str(&event("message_stop", &json!({"type": "message_stop"})));
                out
            }
        }
    }

    fn error(&mut self, error: &ServerError) -> String {
        match self {
            Encoder::OpenAi { .. } => data(&error.body(Dialect::OpenAi)),
            Encoder::Anthropic { .. } => event("error", &error.body(Dialect::Anthropic)),
            Encoder::Responses(encoder) => encoder.error(error),
        }
    }
}

/// The kind of an open Anthropic content block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Block {
    Text,
    ToolUse,
    Thinking,
}

/// Opens a content block at the next index, closing the open one first.
fn open_new(
    open_block: &mut Option<(u32, Block)>,
    next_index: &mut u32,
    kind: Block,
    content_block: &Value,
    out: &mut String,
) -> u32 {
    out.push_str(&close_block(open_block));
    let index = *next_index;
    *next_index += 1;
    *open_block = Some((index, kind));
    out.push_str(&event(
        "content_block_start",
        &json!({"type": "content_block_start", "index": index, "content_block": content_block}),
    ));
    index
}

/// The open thinking block's index, opening one if another kind (or none) is open.
fn open_thinking(
    open_block: &mut Option<(u32, Block)>,
    next_index: &mut u32,
    out: &mut String,
) -> u32 {
    match *open_block {
        Some((index, Block::Thinking)) => index,
        _ => open_new(
            open_block,
            next_index,
            Block::Thinking,
            &json!({"type": "thinking", "thinking": "", "signature": ""}),
            out,
        ),
    }
}

fn block_delta(index: u32, delta: &Value) -> String {
    event(
        "content_block_delta",
        &json!({"type": "content_block_delta", "index": index, "delta": delta}),
    )
}

fn close_block(open_block: &mut Option<(u32, Block)>) -> String {
    match open_block.take() {
        Some((index, _)) => event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        ),
        None => String::new(),
    }
}

/// Answers with a stream whose first event has arrived (its model names the response
/// headers). A task pumps the rest to the client; the engine records the request when the
/// stream ends, fails, or is dropped because the client went away.
pub(crate) fn respond(stream: EngineStream, mut encoder: Encoder, in_flight: InFlight) -> Response {
    let headers = headers(&stream.request_id, &stream.planned, &stream.model, None);
    let first = encoder.start(&stream.model);
    let (sender, receiver) = mpsc::channel::<Bytes>(32);
    tokio::spawn(async move {
        let _in_flight = in_flight;
        pump(stream, &mut encoder, first, &sender).await;
    });
    let mut response =
        (StatusCode::OK, headers, Body::from_stream(frames(receiver))).into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The pump's frames as a response body; the body's drop (the client went away) closes the
/// channel, which the pump sees at once.
fn frames(
    receiver: mpsc::Receiver<Bytes>,
) -> impl futures::Stream<Item = Result<Bytes, Infallible>> + Send {
    futures::stream::unfold(receiver, |mut receiver| async move {
        let frame = receiver.recv().await?;
        Some((Ok(frame), receiver))
    })
}

/// Sends the stream to the client; returning early (the client went away) drops the stream,
/// which stops the upstream call and records the request as cancelled, with what the call
/// used.
async fn pump(
    mut stream: EngineStream,
    encoder: &mut Encoder,
    first: String,
    sender: &mpsc::Sender<Bytes>,
) {
    if sender.send(Bytes::from(first)).await.is_err() {
        return;
    }
    loop {
        // A client that went away is noticed now, not when the next piece would be sent.
        let item = tokio::select! {
            item = stream.next() => item,
            () = sender.closed() => return,
        };
        let Some(item) = item else {
            return;
        };
        let frame = match item {
            StreamItem::Delta(delta) => encoder.delta(&delta),
            StreamItem::Done { summary, accounted } => {
                let usage = match encoder.dialect() {
                    Dialect::OpenAi => openai::usage(&accounted.usage),
                    Dialect::Anthropic => anthropic::usage(&accounted.usage),
                    Dialect::Responses => responses::usage(&accounted.usage),
                };
                let figures = stream_figures(&stream.planned, &stream.model, &accounted, usage);
                let mut frame = encoder.done(&summary, figures);
                // For clients that read the raw stream: SSE comment lines are ignored by
                // SDKs, the cost is only known now.
                frame.push_str(&format!(
                    ": x-triage-cost-usd={} x-triage-attempts={}\n\n",
                    cost_text(&accounted),
                    accounted.attempts
                ));
                frame
            }
            StreamItem::Failed {
                error, attempts, ..
            } => encoder.error(&client_error(&error, attempts.len())),
        };
        if !frame.is_empty() && sender.send(Bytes::from(frame)).await.is_err() {
            return;
        }
    }
}
