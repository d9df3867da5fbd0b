//! Anthropic's Message Batches: `POST {base}/v1/messages/batches` with
//! `requests: [{custom_id, params}]` (`params` the Messages body), polled with
//! `GET {base}/v1/messages/batches/{id}` (`processing_status`, `request_counts`,
//! `results_url`), cancelled with `POST {base}/v1/messages/batches/{id}/cancel` (`canceling`,
//! then `ended`), results read from `results_url` as JSONL lines
//! `{custom_id, result: {type: succeeded | errored | canceled | expired, message | error}}`.

use std::collections::BTreeMap;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    BatchCounts, BatchItem, BatchOutcome, BatchProvider, BatchState, BatchStatus, in_order,
    malformed,
};
use crate::ProviderError;
use crate::anthropic::ANTHROPIC_VERSION;
use crate::error::HttpFailure;
use crate::http::{Transport, parse_body, secret_header};

#[derive(Debug, Clone)]
pub(crate) struct AnthropicBatches {
    transport: Transport,
}

impl AnthropicBatches {
    pub(crate) fn new(transport: Transport) -> Self {
        AnthropicBatches { transport }
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/v1/messages/batches{path}",
            self.transport.settings.base()
        )
    }

    fn headers(&self) -> Result<HeaderMap, ProviderError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = &self.transport.key {
            headers.insert("x-api-key", secret_header(self.id(), key.expose())?);
        }
        headers.insert(
            "anthropic-version",
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(headers)
    }

    async fn get(&self, url: &str) -> Result<bytes::Bytes, ProviderError> {
        let request = self.transport.client.get(url).headers(self.headers()?);
        self.transport.fetch(url, request).await
    }

    async fn batch(&self, batch_id: &str) -> Result<WireBatch, ProviderError> {
        let bytes = self.get(&self.url(&format!("/{batch_id}"))).await?;
        parse_body(self.id(), &bytes)
    }

    fn outcome(&self, result: &WireResult) -> BatchOutcome {
        let provider = self.id();
        match result.kind.as_str() {
            "succeeded" => {
                let body = result.message.to_string();
                let model = result.message["model"].as_str().unwrap_or_default();
                match crate::anthropic::response_from_body(provider, model, body.as_bytes()) {
                    Ok(answer) => BatchOutcome::Succeeded(answer),
                    Err(error) => BatchOutcome::Errored(error),
                }
            }
            "errored" => {
                // `error` is the Messages error body, `{"type": "error", "error": {…}}`.
                let failure = HttpFailure {
                    provider,
                    status: 500,
                    retry_after: None,
                };
                BatchOutcome::Errored(crate::anthropic::map_error(
                    &failure,
                    &result.error.to_string(),
                ))
            }
            "expired" => BatchOutcome::Expired,
            "canceled" => BatchOutcome::Cancelled,
            other => BatchOutcome::Errored(malformed(
                provider,
                format!("unknown batch result type `{other}`"),
            )),
        }
    }
}

#[async_trait::async_trait]
impl BatchProvider for AnthropicBatches {
    fn id(&self) -> &str {
        &self.transport.settings.provider_id
    }

    fn api_name(&self) -> &'static str {
        "Anthropic Message Batches"
    }

    fn mixes_models(&self) -> bool {
        true
    }

    async fn submit(&self, items: &[BatchItem]) -> Result<String, ProviderError> {
        let default_max = self.transport.settings.default_max_output_tokens;
        let requests: Vec<Value> = items
            .iter()
            .map(|item| {
                json!({
                    "custom_id": item.custom_id,
                    "params": crate::anthropic::request_body(
                        &item.model,
                        &item.request,
                        default_max,
                        false,
                    ),
                })
            })
            .collect();
        let body = json!({ "requests": requests });
        let bytes = self
            .transport
            .post_json(&self.url(""), self.headers()?, &body)
            .await?;
        let batch: WireBatch = parse_body(self.id(), &bytes)?;
        Ok(batch.id)
    }

    async fn status(&self, batch_id: &str) -> Result<BatchStatus, ProviderError> {
        Ok(self.batch(batch_id).await?.status())
    }

    async fn cancel(&self, batch_id: &str) -> Result<BatchStatus, ProviderError> {
        let url = self.url(&format!("/{batch_id}/cancel"));
        let bytes = self.transport.post_empty(&url, self.headers()?).await?;
        let batch: WireBatch = parse_body(self.id(), &bytes)?;
        Ok(batch.status())
    }

    async fn results(
        &self,
        batch_id: &str,
        custom_ids: &[String],
    ) -> Result<Vec<BatchOutcome>, ProviderError> {
        let batch = self.batch(batch_id).await?;
        let url = batch
            .results_url
            .clone()
            .unwrap_or_else(|| self.url(&format!("/{batch_id}/results")));
        let bytes = self.get(&url).await?;
        let text = String::from_utf8_lossy(&bytes);
        let mut found = BTreeMap::new();
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            let wire: WireResultLine = serde_json::from_str(line)
                .map_err(|error| malformed(self.id(), format!("bad batch result line: {error}")))?;
            let outcome = self.outcome(&wire.result);
            found.insert(wire.custom_id, outcome);
        }
        Ok(in_order(custom_ids, found, &BatchOutcome::Missing))
    }
}

#[derive(Debug, Deserialize)]
struct WireBatch {
    id: String,
    processing_status: String,
    #[serde(default)]
    request_counts: WireCounts,
    #[serde(default)]
    results_url: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
struct WireCounts {
    #[serde(default)]
    processing: u64,
    #[serde(default)]
    succeeded: u64,
    #[serde(default)]
    errored: u64,
    #[serde(default)]
    canceled: u64,
    #[serde(default)]
    expired: u64,
}

impl WireBatch {
    fn status(&self) -> BatchStatus {
        let counts = self.request_counts;
        BatchStatus {
            state: match self.processing_status.as_str() {
                "ended" => BatchState::Ended,
                _ => BatchState::InProgress,
            },
            provider_status: self.processing_status.clone(),
            counts: BatchCounts {
                total: counts.processing
                    + counts.succeeded
                    + counts.errored
                    + counts.canceled
                    + counts.expired,
                processing: counts.processing,
                succeeded: counts.succeeded,
                errored: counts.errored,
                expired: counts.expired,
                cancelled: counts.canceled,
            },
        }
    }
}

#[derive(Debug, Deserialize)]
struct WireResultLine {
    custom_id: String,
    result: WireResult,
}

#[derive(Debug, Deserialize)]
struct WireResult {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    message: Value,
    #[serde(default)]
    error: Value,
}
