//! Gemini batch mode with inlined requests: `POST {base}/v1beta/models/{model}:batchGenerateContent`
//! with `batch: {display_name, input_config: {requests: {requests: [{request, metadata: {key}}]}}}`
//! answers a long-running operation named `batches/{id}`, polled with `GET {base}/v1beta/{name}`
//! (`metadata.state` `BATCH_STATE_*`, `metadata.batchStats`) and cancelled with
//! `POST {base}/v1beta/{name}:cancel` (an empty answer; the batch then reads
//! `BATCH_STATE_CANCELLED`); once done, its
//! `response.inlinedResponses.inlinedResponses[]` hold a `response` or an `error` per request,
//! in input order.

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Value, json};

use super::{
    BatchCounts, BatchItem, BatchOutcome, BatchProvider, BatchState, BatchStatus, malformed,
};
use crate::ProviderError;
use crate::error::HttpFailure;
use crate::http::{Transport, parse_body, secret_header};

#[derive(Debug, Clone)]
pub(crate) struct GeminiBatches {
    transport: Transport,
}

impl GeminiBatches {
    pub(crate) fn new(transport: Transport) -> Self {
        GeminiBatches { transport }
    }

    fn headers(&self) -> Result<HeaderMap, ProviderError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = &self.transport.key {
            headers.insert("x-goog-api-key", secret_header(self.id(), key.expose())?);
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(headers)
    }

    async fn operation(&self, batch_id: &str) -> Result<Value, ProviderError> {
        let url = format!("{}/v1beta/{batch_id}", self.transport.settings.base());
        let request = self.transport.client.get(&url).headers(self.headers()?);
        let bytes = self.transport.fetch(&url, request).await?;
        parse_body(self.id(), &bytes)
    }

    fn outcome(&self, response: &Value) -> BatchOutcome {
        let provider = self.id();
        if let Some(error) = response.get("error") {
            let failure = HttpFailure {
                provider,
                status: 500,
                retry_after: None,
            };
            let body = json!({ "error": error }).to_string();
            return BatchOutcome::Errored(crate::gemini::map_error(&failure, &body));
        }
        let Some(answer) = response.get("response") else {
            return BatchOutcome::Missing;
        };
        let model = answer["modelVersion"].as_str().unwrap_or_default();
        match crate::gemini::response_from_body(provider, model, answer.to_string().as_bytes()) {
            Ok(answer) => BatchOutcome::Succeeded(answer),
            Err(error) => BatchOutcome::Errored(error),
        }
    }
}

/// The batch's state word (`BATCH_STATE_RUNNING`; the SDKs' `JOB_STATE_*` too) without its
/// prefix.
fn state_word(operation: &Value) -> String {
    operation["metadata"]["state"]
        .as_str()
        .unwrap_or("BATCH_STATE_UNSPECIFIED")
        .to_owned()
}

fn bare(state: &str) -> &str {
    state
        .strip_prefix("BATCH_STATE_")
        .or_else(|| state.strip_prefix("JOB_STATE_"))
        .unwrap_or(state)
}

/// An int64 count, which proto JSON writes as a string.
fn count(stats: &Value, name: &str) -> u64 {
    match &stats[name] {
        Value::String(text) => text.parse().unwrap_or(0),
        Value::Number(number) => number.as_u64().unwrap_or(0),
        _ => 0,
    }
}

/// The inlined responses, wherever this API version puts them.
fn inlined(operation: &Value) -> Vec<Value> {
    let candidates = [
        &operation["response"]["inlinedResponses"]["inlinedResponses"],
        &operation["response"]["inlinedResponses"],
        &operation["metadata"]["output"]["inlinedResponses"]["inlinedResponses"],
    ];
    candidates
        .into_iter()
        .find_map(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

#[async_trait::async_trait]
impl BatchProvider for GeminiBatches {
    fn id(&self) -> &str {
        &self.transport.settings.provider_id
    }

    fn api_name(&self) -> &'static str {
        "Gemini batch mode"
    }

    fn mixes_models(&self) -> bool {
        false
    }

    async fn submit(&self, items: &[BatchItem]) -> Result<String, ProviderError> {
        let Some(first) = items.first() else {
            return Err(ProviderError::BadRequest {
                provider: self.id().to_owned(),
                message: "a batch needs at least one request".to_owned(),
            });
        };
        if items.iter().any(|item| item.model != first.model) {
            return Err(ProviderError::BadRequest {
                provider: self.id().to_owned(),
                message: "a Gemini batch names one model".to_owned(),
            });
        }
        let model = first.model.strip_prefix("models/").unwrap_or(&first.model);
        let requests: Vec<Value> = items
            .iter()
            .map(|item| {
                json!({
                    "request": crate::gemini::request_body(&item.request),
                    "metadata": {"key": item.custom_id},
                })
            })
            .collect();
        let body = json!({
            "batch": {
                "display_name": format!("triage-{}", first.custom_id),
                "input_config": {"requests": {"requests": requests}},
            }
        });
        let url = format!(
            "{}/v1beta/models/{model}:batchGenerateContent",
            self.transport.settings.base()
        );
        let bytes = self
            .transport
            .post_json(&url, self.headers()?, &body)
            .await?;
        let operation: Value = parse_body(self.id(), &bytes)?;
        operation["name"]
            .as_str()
            .or_else(|| operation["metadata"]["name"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| malformed(self.id(), "the batch operation has no `name`"))
    }

    async fn status(&self, batch_id: &str) -> Result<BatchStatus, ProviderError> {
        let operation = self.operation(batch_id).await?;
        let word = state_word(&operation);
        let stats = &operation["metadata"]["batchStats"];
        let total = count(stats, "requestCount");
        let succeeded = count(stats, "successfulRequestCount");
        let errored = count(stats, "failedRequestCount");
        let pending = count(stats, "pendingRequestCount");
        let mut counts = BatchCounts {
            total,
            processing: pending,
            succeeded,
            errored,
            expired: 0,
            cancelled: 0,
        };
        let state = match bare(&word) {
            "SUCCEEDED" => BatchState::Ended,
            "EXPIRED" => {
                counts.expired = std::mem::take(&mut counts.processing);
                BatchState::Ended
            }
            "CANCELLED" => {
                counts.cancelled = std::mem::take(&mut counts.processing);
                BatchState::Ended
            }
            "FAILED" => BatchState::Failed {
                message: operation["error"]["message"]
                    .as_str()
                    .unwrap_or("the batch failed")
                    .to_owned(),
            },
            _ if operation["done"] == true => BatchState::Ended,
            _ => BatchState::InProgress,
        };
        Ok(BatchStatus {
            state,
            provider_status: word,
            counts,
        })
    }

    async fn cancel(&self, batch_id: &str) -> Result<BatchStatus, ProviderError> {
        let url = format!(
            "{}/v1beta/{batch_id}:cancel",
            self.transport.settings.base()
        );
        self.transport
            .post_json(&url, self.headers()?, &json!({}))
            .await?;
        // The answer is empty (`google.protobuf.Empty`): the state is read after it.
        self.status(batch_id).await
    }

    async fn results(
        &self,
        batch_id: &str,
        custom_ids: &[String],
    ) -> Result<Vec<BatchOutcome>, ProviderError> {
        let operation = self.operation(batch_id).await?;
        let fallback = match bare(&state_word(&operation)) {
            "EXPIRED" => BatchOutcome::Expired,
            "CANCELLED" => BatchOutcome::Cancelled,
            _ => BatchOutcome::Missing,
        };
        let responses = inlined(&operation);
        // Responses come in input order; they carry the request's metadata key when the API
        // returns it, and that wins over the position.
        let keyed = responses
            .iter()
            .all(|response| response["metadata"]["key"].is_string());
        let mut found = std::collections::BTreeMap::new();
        for (position, response) in responses.iter().enumerate() {
            let id = if keyed {
                response["metadata"]["key"].as_str().map(str::to_owned)
            } else {
                custom_ids.get(position).cloned()
            };
            if let Some(id) = id {
                found.insert(id, self.outcome(response));
            }
        }
        Ok(super::in_order(custom_ids, found, &fallback))
    }
}
