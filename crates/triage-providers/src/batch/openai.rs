//! OpenAI's Batch API: the requests as a JSONL file uploaded with `POST {base}/files`
//! (multipart, `purpose=batch`; one line `{custom_id, method, url, body}` each), the batch
//! created with `POST {base}/batches` (`input_file_id`, `endpoint`, `completion_window`),
//! polled with `GET {base}/batches/{id}`, cancelled with `POST {base}/batches/{id}/cancel`
//! (`cancelling`, then `cancelled`), and its output and error files read with
//! `GET {base}/files/{id}/content` (a cancelled batch's output file holds the requests that
//! finished; the error file the rest, `batch_cancelled`).

use std::collections::BTreeMap;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    BatchCounts, BatchItem, BatchOutcome, BatchProvider, BatchState, BatchStatus, in_order,
    malformed,
};
use crate::ProviderError;
use crate::error::HttpFailure;
use crate::http::{Transport, parse_body, secret_header};

/// The endpoint every line calls, as the batch names it.
const ENDPOINT: &str = "/v1/chat/completions";

/// The only completion window OpenAI offers.
const COMPLETION_WINDOW: &str = "24h";

/// The multipart boundary of the upload: no line of a JSON body can hold it (JSON escapes
/// control characters, and the boundary line starts with `--` after a CRLF).
const BOUNDARY: &str = "triage-batch-boundary-7d4f0c2a9e";

#[derive(Debug, Clone)]
pub(crate) struct OpenAiBatches {
    transport: Transport,
}

impl OpenAiBatches {
    pub(crate) fn new(transport: Transport) -> Self {
        OpenAiBatches { transport }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.transport.settings.base())
    }

    fn headers(&self) -> Result<HeaderMap, ProviderError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = &self.transport.key {
            let value = secret_header(self.id(), &format!("Bearer {}", key.expose()))?;
            headers.insert(AUTHORIZATION, value);
        }
        Ok(headers)
    }

    async fn get(&self, path: &str) -> Result<bytes::Bytes, ProviderError> {
        let url = self.url(path);
        let request = self.transport.client.get(&url).headers(self.headers()?);
        self.transport.fetch(&url, request).await
    }

    async fn batch(&self, batch_id: &str) -> Result<WireBatch, ProviderError> {
        let bytes = self.get(&format!("batches/{batch_id}")).await?;
        parse_body(self.id(), &bytes)
    }

    /// Reads one of the batch's files and files each line under its custom id.
    async fn read_file(
        &self,
        file_id: &str,
        found: &mut BTreeMap<String, BatchOutcome>,
    ) -> Result<(), ProviderError> {
        let bytes = self.get(&format!("files/{file_id}/content")).await?;
        let text = String::from_utf8_lossy(&bytes);
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            let wire: WireResultLine = serde_json::from_str(line)
                .map_err(|error| malformed(self.id(), format!("bad batch result line: {error}")))?;
            let outcome = self.outcome(&wire);
            found.insert(wire.custom_id, outcome);
        }
        Ok(())
    }

    fn outcome(&self, line: &WireResultLine) -> BatchOutcome {
        let provider = self.id();
        if let Some(error) = &line.error {
            match error.code.as_deref() {
                Some("batch_expired") => return BatchOutcome::Expired,
                Some("batch_cancelled") => return BatchOutcome::Cancelled,
                _ => {}
            }
            let status = line
                .response
                .as_ref()
                .map_or(500, |response| response.status_code);
            let body = json!({"error": {"message": error.message, "code": error.code}});
            let failure = HttpFailure {
                provider,
                status,
                retry_after: None,
            };
            return BatchOutcome::Errored(crate::openai::map_error(&failure, &body.to_string()));
        }
        let Some(response) = &line.response else {
            return BatchOutcome::Errored(malformed(
                provider,
                "a batch result line has neither `response` nor `error`",
            ));
        };
        let body = response.body.to_string();
        if response.status_code != 200 {
            let failure = HttpFailure {
                provider,
                status: response.status_code,
                retry_after: None,
            };
            return BatchOutcome::Errored(crate::openai::map_error(&failure, &body));
        }
        let model = response.body["model"].as_str().unwrap_or_default();
        match crate::openai::response_from_body(provider, model, body.as_bytes()) {
            Ok(answer) => BatchOutcome::Succeeded(answer),
            Err(error) => BatchOutcome::Errored(error),
        }
    }
}

/// The JSONL input file: one Chat Completions request per line, exactly the live body.
pub(crate) fn input_file(items: &[BatchItem], quirks: crate::OpenAiQuirks) -> String {
    let mut out = String::new();
    for item in items {
        let line = json!({
            "custom_id": item.custom_id,
            "method": "POST",
            "url": ENDPOINT,
            "body": crate::openai::request_body(&item.model, &item.request, quirks, false),
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// A `multipart/form-data` body with the `purpose` field and the file.
fn multipart(file: &str) -> Vec<u8> {
    format!(
        "--{BOUNDARY}\r\n\
         Content-Disposition: form-data; name=\"purpose\"\r\n\r\n\
         batch\r\n\
         --{BOUNDARY}\r\n\
         Content-Disposition: form-data; name=\"file\"; filename=\"triage-batch.jsonl\"\r\n\
         Content-Type: application/jsonl\r\n\r\n\
         {file}\r\n\
         --{BOUNDARY}--\r\n"
    )
    .into_bytes()
}

#[async_trait::async_trait]
impl BatchProvider for OpenAiBatches {
    fn id(&self) -> &str {
        &self.transport.settings.provider_id
    }

    fn api_name(&self) -> &'static str {
        "OpenAI Batch API"
    }

    fn mixes_models(&self) -> bool {
        false
    }

    async fn submit(&self, items: &[BatchItem]) -> Result<String, ProviderError> {
        let file = input_file(items, self.transport.settings.openai_quirks);
        let url = self.url("files");
        let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
        let mut headers = self.headers()?;
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_str(&content_type).map_err(|_| malformed(self.id(), "boundary"))?,
        );
        let upload = self
            .transport
            .client
            .post(&url)
            .headers(headers)
            .body(multipart(&file));
        let bytes = self.transport.fetch(&url, upload).await?;
        let uploaded: WireFile = parse_body(self.id(), &bytes)?;
        let body = json!({
            "input_file_id": uploaded.id,
            "endpoint": ENDPOINT,
            "completion_window": COMPLETION_WINDOW,
        });
        let bytes = self
            .transport
            .post_json(&self.url("batches"), self.headers()?, &body)
            .await?;
        let batch: WireBatch = parse_body(self.id(), &bytes)?;
        Ok(batch.id)
    }

    async fn status(&self, batch_id: &str) -> Result<BatchStatus, ProviderError> {
        Ok(self.batch(batch_id).await?.status())
    }

    async fn cancel(&self, batch_id: &str) -> Result<BatchStatus, ProviderError> {
        let url = self.url(&format!("batches/{batch_id}/cancel"));
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
        let mut found = BTreeMap::new();
        for file in [&batch.output_file_id, &batch.error_file_id]
            .into_iter()
            .flatten()
        {
            self.read_file(file, &mut found).await?;
        }
        let fallback = match batch.status.as_str() {
            "expired" => BatchOutcome::Expired,
            "cancelled" => BatchOutcome::Cancelled,
            _ => BatchOutcome::Missing,
        };
        Ok(in_order(custom_ids, found, &fallback))
    }
}

#[derive(Debug, Deserialize)]
struct WireFile {
    id: String,
}

#[derive(Debug, Deserialize)]
struct WireBatch {
    id: String,
    status: String,
    #[serde(default)]
    output_file_id: Option<String>,
    #[serde(default)]
    error_file_id: Option<String>,
    #[serde(default)]
    request_counts: Option<WireCounts>,
    #[serde(default)]
    errors: Option<Value>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
struct WireCounts {
    #[serde(default)]
    total: u64,
    #[serde(default)]
    completed: u64,
    #[serde(default)]
    failed: u64,
}

impl WireBatch {
    fn status(&self) -> BatchStatus {
        let counts = self.request_counts.unwrap_or_default();
        let left = counts
            .total
            .saturating_sub(counts.completed + counts.failed);
        let mut mapped = BatchCounts {
            total: counts.total,
            processing: left,
            succeeded: counts.completed,
            errored: counts.failed,
            expired: 0,
            cancelled: 0,
        };
        let state = match self.status.as_str() {
            "completed" => BatchState::Ended,
            "expired" => {
                mapped.processing = 0;
                mapped.expired = left;
                BatchState::Ended
            }
            "cancelled" => {
                mapped.processing = 0;
                mapped.cancelled = left;
                BatchState::Ended
            }
            "failed" => BatchState::Failed {
                message: self.failure_message(),
            },
            _ => BatchState::InProgress,
        };
        BatchStatus {
            state,
            provider_status: self.status.clone(),
            counts: mapped,
        }
    }

    /// `errors.data[].message`, joined; what a batch that failed validation says.
    fn failure_message(&self) -> String {
        let messages: Vec<&str> = self
            .errors
            .as_ref()
            .and_then(|errors| errors["data"].as_array())
            .map(|data| {
                data.iter()
                    .filter_map(|error| error["message"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        if messages.is_empty() {
            "the batch failed".to_owned()
        } else {
            messages.join("; ")
        }
    }
}

#[derive(Debug, Deserialize)]
struct WireResultLine {
    custom_id: String,
    #[serde(default)]
    response: Option<WireResultResponse>,
    #[serde(default)]
    error: Option<WireLineError>,
}

#[derive(Debug, Deserialize)]
struct WireResultResponse {
    status_code: u16,
    #[serde(default)]
    body: Value,
}

#[derive(Debug, Deserialize)]
struct WireLineError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}
