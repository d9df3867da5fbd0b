//! What the mock answers to one request: a reply, its timing and its usage figures.

use std::time::Duration;

use serde_json::Value;

/// Token counts the mock reports, in triage's terms (`input` counts cached tokens too; each
/// wire format is derived from these, e.g. Anthropic's `input_tokens` excludes cached ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MockUsage {
    /// All prompt tokens.
    pub input: u64,
    /// All output tokens, reasoning included.
    pub output: u64,
    /// Prompt tokens read from the cache.
    pub cached_read: u64,
    /// Prompt tokens written to the cache.
    pub cache_write: u64,
    /// Output tokens spent reasoning.
    pub reasoning: u64,
}

impl Default for MockUsage {
    fn default() -> Self {
        MockUsage {
            input: 12,
            output: 5,
            cached_read: 0,
            cache_write: 0,
            reasoning: 0,
        }
    }
}

/// Why the mock says the answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MockFinish {
    /// A natural end.
    Stop,
    /// The output limit.
    Length,
    /// A safety filter.
    ContentFilter,
}

/// The body of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Answer `"echo: <last user text>"`.
    Echo,
    /// Answer this text (empty for an empty answer), split into several chunks when streaming.
    Text(String),
    /// Call one tool with these arguments.
    ToolCall {
        /// The call id (Gemini has none on the wire and ignores it).
        id: String,
        /// The tool's name.
        name: String,
        /// The arguments object.
        arguments: Value,
    },
    /// Fail with this HTTP status and the protocol's own error body (or `body` when given).
    Error {
        /// HTTP status.
        status: u16,
        /// `Retry-After` header value, seconds or an HTTP date.
        retry_after: Option<String>,
        /// A body to send instead of the protocol's usual one.
        body: Option<Value>,
    },
    /// Send the first half of this text, then end the body without the terminal event
    /// (streaming), or break off the JSON body (non-streaming).
    CutStream(String),
    /// Send one good chunk, then a chunk that is not JSON (streaming), or a body that is not
    /// JSON (non-streaming).
    MalformedChunk,
}

/// One scripted answer. Build with the constructors, adjust with the `with_*` methods.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// What to answer.
    pub reply: Reply,
    /// Wait before sending the response headers.
    pub delay_before_headers: Duration,
    /// Wait after the headers, before the first body chunk.
    pub delay_before_first_chunk: Duration,
    /// Wait between body chunks (streaming).
    pub delay_between_chunks: Duration,
    /// Usage to report.
    pub usage: MockUsage,
    /// Finish reason to report for text answers.
    pub finish: MockFinish,
}

impl Scenario {
    fn new(reply: Reply) -> Self {
        Scenario {
            reply,
            delay_before_headers: Duration::ZERO,
            delay_before_first_chunk: Duration::ZERO,
            delay_between_chunks: Duration::ZERO,
            usage: MockUsage::default(),
            finish: MockFinish::Stop,
        }
    }

    /// Echo the last user message.
    pub fn echo() -> Self {
        Scenario::new(Reply::Echo)
    }

    /// Answer this text.
    pub fn text(text: impl Into<String>) -> Self {
        Scenario::new(Reply::Text(text.into()))
    }

    /// Answer with this JSON value as text.
    pub fn json(value: &Value) -> Self {
        Scenario::new(Reply::Text(value.to_string()))
    }

    /// An empty answer.
    pub fn empty() -> Self {
        Scenario::new(Reply::Text(String::new()))
    }

    /// Call `name` with `arguments`.
    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        Scenario::new(Reply::ToolCall {
            id: "call_mock_1".to_owned(),
            name: name.into(),
            arguments,
        })
    }

    /// Fail with `status` and the protocol's error body.
    pub fn status(status: u16) -> Self {
        Scenario::new(Reply::Error {
            status,
            retry_after: None,
            body: None,
        })
    }

    /// A stream cut before its terminal event, after part of `text`.
    pub fn cut_stream(text: impl Into<String>) -> Self {
        Scenario::new(Reply::CutStream(text.into()))
    }

    /// A malformed chunk after one good one.
    pub fn malformed_chunk() -> Self {
        Scenario::new(Reply::MalformedChunk)
    }

    /// Adds a `Retry-After` header (for [`Scenario::status`]).
    pub fn with_retry_after(mut self, value: impl Into<String>) -> Self {
        if let Reply::Error { retry_after, .. } = &mut self.reply {
            *retry_after = Some(value.into());
        }
        self
    }

    /// Replaces the error body (for [`Scenario::status`]).
    pub fn with_error_body(mut self, value: Value) -> Self {
        if let Reply::Error { body, .. } = &mut self.reply {
            *body = Some(value);
        }
        self
    }

    /// Waits before the headers.
    pub fn with_delay_before_headers(mut self, delay: Duration) -> Self {
        self.delay_before_headers = delay;
        self
    }

    /// Waits between the headers and the first chunk.
    pub fn with_delay_before_first_chunk(mut self, delay: Duration) -> Self {
        self.delay_before_first_chunk = delay;
        self
    }

    /// Waits between chunks.
    pub fn with_delay_between_chunks(mut self, delay: Duration) -> Self {
        self.delay_between_chunks = delay;
        self
    }

    /// Reports this usage.
    pub fn with_usage(mut self, usage: MockUsage) -> Self {
        self.usage = usage;
        self
    }

    /// Reports this finish reason.
    pub fn with_finish(mut self, finish: MockFinish) -> Self {
        self.finish = finish;
        self
    }

    /// The scenario a `[mock:NAME]` marker in a prompt asks for: `echo`, `empty`, `json`,
    /// `tool`, `cut`, `malformed`, `length`, `slow` (two seconds before the headers), `drip`
    /// (200 words, one every 20 ms), `status=CODE` (with `Retry-After: 1` for 429/503/529),
    /// `text=WORDS`.
    pub fn from_marker(marker: &str) -> Option<Scenario> {
        let (name, argument) = match marker.split_once('=') {
            Some((name, argument)) => (name, Some(argument)),
            None => (marker, None),
        };
        Some(match (name, argument) {
            ("echo", None) => Scenario::echo(),
            ("empty", None) => Scenario::empty(),
            ("json", None) => Scenario::json(&serde_json::json!({"answer": 42, "source": "mock"})),
            ("tool", None) => {
                Scenario::tool_call("get_weather", serde_json::json!({"city": "Paris"}))
            }
            ("cut", None) => Scenario::cut_stream("This answer will be cut off half way through"),
            ("malformed", None) => Scenario::malformed_chunk(),
            ("length", None) => {
                Scenario::text("This answer ran out of").with_finish(MockFinish::Length)
            }
            ("slow", None) => Scenario::echo().with_delay_before_headers(Duration::from_secs(2)),
            ("drip", None) => Scenario::text("word ".repeat(200))
                .with_delay_between_chunks(Duration::from_millis(20)),
            ("text", Some(text)) => Scenario::text(text),
            ("status", Some(code)) => {
                let status = code.parse::<u16>().ok()?;
                let scenario = Scenario::status(status);
                if matches!(status, 429 | 503 | 529) {
                    scenario.with_retry_after("1")
                } else {
                    scenario
                }
            }
            _ => return None,
        })
    }
}
