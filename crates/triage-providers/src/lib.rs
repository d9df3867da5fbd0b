//! Provider clients for triage: the [`Provider`] trait over the neutral
//! [`triage_types::ChatRequest`], one module per wire protocol (OpenAI Chat Completions,
//! Anthropic Messages, Google Gemini, OpenAI-compatible servers), streaming, one error taxonomy
//! with [`ProviderError::is_retryable`], and a [`RetryPolicy`]; and the providers' batch APIs
//! ([`batch`]: OpenAI Files + Batches, Anthropic Message Batches, Gemini batch mode) behind
//! [`BatchProvider`].
//!
//! The crate knows no provider by id, does no environment lookups and no pricing: the caller
//! resolves the catalog's provider facts (base URL, key variable, quirks), `triage.toml` and
//! the environment into [`ProviderSettings`], and prices [`triage_types::Usage`] through the
//! catalog. [`Protocol`], [`OpenAiQuirks`] and [`MaxTokensField`] are `triage-types`'s, the
//! same types the catalog uses.
#![deny(missing_docs)]

mod accumulate;
mod anthropic;
pub mod batch;
mod error;
mod gemini;
mod http;
mod openai;
mod registry;
mod retry;
pub mod settings;
mod sse;

use std::fmt;
use std::pin::Pin;

use futures::Stream;
use triage_types::{ChatRequest, ChatResponse, StreamEvent};

pub use accumulate::StreamAccumulator;
pub use batch::{BatchProvider, build_batch_provider};
pub use error::{ProviderError, TimeoutPhase};
pub use registry::build_provider;
pub use retry::{RetryPolicy, parse_retry_after};
pub use settings::{ApiKey, HttpClientOptions, ProviderSettings, Timeouts, build_http_client};
pub use triage_types::{MaxTokensField, OpenAiQuirks, ParseProtocolError, Protocol};

/// A streamed answer: typed events, ending after [`StreamEvent::Finish`] (usage comes before
/// it), or with an error. A stream that stops without its protocol's terminal event yields an
/// error, never a clean end.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, ProviderError>> + Send>>;

/// A client for one provider. Implementations are cheap to share (`Arc<dyn Provider>`).
#[async_trait::async_trait]
pub trait Provider: Send + Sync + fmt::Debug {
    /// The provider's id (`openai`, `anthropic`, `google`, `deepseek`, …).
    fn id(&self) -> &str;

    /// The wire protocol it speaks.
    fn protocol(&self) -> Protocol;

    /// Sends the request to `model` (the provider's API model name) and waits for the whole
    /// answer.
    async fn complete(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError>;

    /// Sends the request to `model` and streams the answer. The returned future resolves once
    /// the response headers arrived with a success status; errors before that (status codes,
    /// connection) come from the future, later ones from the stream.
    async fn stream(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<EventStream, ProviderError>;
}
