//! The providers' batch APIs behind one [`BatchProvider`] trait: OpenAI Files + Batches,
//! Anthropic Message Batches and Gemini batch mode. Each line is the very request body the live
//! client sends (the wire modules' `request_body`), and each result is read by the live client's
//! response parser, so a batch answer is what the live path would have returned, at the
//! provider's batch price. A batch not yet ended can be cancelled ([`BatchProvider::cancel`]):
//! requests already answered keep their answers, the rest come back
//! [`BatchOutcome::Cancelled`]. OpenAI-compatible servers have no batch API here
//! ([`build_batch_provider`] says so with `None`).

mod anthropic;
mod gemini;
mod openai;

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use triage_types::{ChatRequest, ChatResponse};

use crate::{Protocol, ProviderError, ProviderSettings};

/// One request of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchItem {
    /// The id that names the request in the batch and its results (`[A-Za-z0-9_-]{1,64}`, as
    /// Anthropic requires).
    pub custom_id: String,
    /// The provider's API model name.
    pub model: String,
    /// The request.
    pub request: ChatRequest,
}

/// Where a submitted batch stands, in the provider's terms mapped to three.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum BatchState {
    /// Accepted and not finished (OpenAI `validating`, `in_progress`, `finalizing`,
    /// `cancelling`; Anthropic `in_progress`, `canceling`; Gemini `PENDING`, `RUNNING`).
    InProgress,
    /// Finished: every request has a result, or expired or was cancelled unprocessed (OpenAI
    /// `completed`, `expired`, `cancelled`; Anthropic `ended`; Gemini `SUCCEEDED`, `EXPIRED`,
    /// `CANCELLED`). The results can be read.
    Ended,
    /// The batch as a whole failed (OpenAI `failed` validation, Gemini `FAILED`): no request
    /// was processed.
    Failed {
        /// The provider's reason.
        message: String,
    },
}

impl BatchState {
    /// Whether the batch will not change any more.
    pub fn is_finished(&self) -> bool {
        !matches!(self, BatchState::InProgress)
    }
}

/// How many of a batch's requests are where, as the provider counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BatchCounts {
    /// Every request.
    pub total: u64,
    /// Not finished yet.
    pub processing: u64,
    /// Answered.
    pub succeeded: u64,
    /// Failed individually.
    pub errored: u64,
    /// Left unprocessed when the batch expired.
    pub expired: u64,
    /// Left unprocessed when the batch was cancelled.
    pub cancelled: u64,
}

/// A batch's state and counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchStatus {
    /// The state, mapped.
    #[serde(flatten)]
    pub state: BatchState,
    /// The provider's own word for it (`in_progress`, `ended`, `BATCH_STATE_RUNNING`, …).
    pub provider_status: String,
    /// The counts.
    pub counts: BatchCounts,
}

/// What became of one request of a finished batch.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchOutcome {
    /// Answered; the usage is billed at the batch price.
    Succeeded(ChatResponse),
    /// The provider answered this request with an error (mapped as the live path maps it).
    Errored(ProviderError),
    /// The batch expired before this request was processed.
    Expired,
    /// The batch was cancelled before this request was processed.
    Cancelled,
    /// The results hold nothing for this request.
    Missing,
}

impl BatchOutcome {
    /// A short stable name: `succeeded`, `errored`, `expired`, `cancelled`, `missing`.
    pub fn kind(&self) -> &'static str {
        match self {
            BatchOutcome::Succeeded(_) => "succeeded",
            BatchOutcome::Errored(_) => "errored",
            BatchOutcome::Expired => "expired",
            BatchOutcome::Cancelled => "cancelled",
            BatchOutcome::Missing => "missing",
        }
    }
}

/// A client for one provider's batch API. Cheap to share (`Arc<dyn BatchProvider>`).
#[async_trait::async_trait]
pub trait BatchProvider: Send + Sync + fmt::Debug {
    /// The provider's id.
    fn id(&self) -> &str;

    /// The API's name, for people (`OpenAI Batch API`, …).
    fn api_name(&self) -> &'static str;

    /// Whether one batch may hold requests for several models (Anthropic's may; an OpenAI
    /// batch file and a Gemini batch name one model).
    fn mixes_models(&self) -> bool;

    /// Submits the requests as one batch and returns the provider's batch id.
    async fn submit(&self, items: &[BatchItem]) -> Result<String, ProviderError>;

    /// Where the batch stands.
    async fn status(&self, batch_id: &str) -> Result<BatchStatus, ProviderError>;

    /// Asks the provider to cancel a batch that has not ended, and returns where it stands
    /// then: usually still in progress (OpenAI `cancelling`, Anthropic `canceling`) until the
    /// requests being processed finish; it then ends, requests already answered keeping their
    /// answers and the rest [`BatchOutcome::Cancelled`]. A provider refuses to cancel a batch
    /// that has ended (an error, often [`ProviderError::BadRequest`]).
    async fn cancel(&self, batch_id: &str) -> Result<BatchStatus, ProviderError>;

    /// The outcome of each of `custom_ids` (the batch's requests, in submission order), in that
    /// order. Call once [`BatchStatus::state`] is finished.
    async fn results(
        &self,
        batch_id: &str,
        custom_ids: &[String],
    ) -> Result<Vec<BatchOutcome>, ProviderError>;
}

/// Builds the batch client for `settings.protocol`, sharing `client`'s connection pool; `None`
/// for an OpenAI-compatible server, which has no batch API triage knows (its lines go through
/// the live API).
///
/// Fails with [`ProviderError::MissingApiKey`] like [`crate::build_provider`].
pub fn build_batch_provider(
    settings: ProviderSettings,
    client: reqwest::Client,
) -> Result<Option<Arc<dyn BatchProvider>>, ProviderError> {
    let protocol = settings.protocol;
    let transport = crate::registry::transport(settings, client)?;
    Ok(match protocol {
        Protocol::OpenAi => Some(Arc::new(openai::OpenAiBatches::new(transport))),
        Protocol::OpenAiCompatible => None,
        Protocol::Anthropic => Some(Arc::new(anthropic::AnthropicBatches::new(transport))),
        Protocol::Gemini => Some(Arc::new(gemini::GeminiBatches::new(transport))),
    })
}

/// Puts each outcome found by custom id in the place of its id; ids without one are
/// `fallback` (missing, or expired when the batch expired).
fn in_order(
    custom_ids: &[String],
    mut found: std::collections::BTreeMap<String, BatchOutcome>,
    fallback: &BatchOutcome,
) -> Vec<BatchOutcome> {
    custom_ids
        .iter()
        .map(|id| found.remove(id).unwrap_or_else(|| fallback.clone()))
        .collect()
}

/// A JSON body that does not parse is a malformed response.
fn malformed(provider: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::MalformedResponse {
        provider: provider.to_owned(),
        message: message.into(),
    }
}
