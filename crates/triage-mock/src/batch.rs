//! The three batch APIs, in memory: OpenAI Files + Batches (`/v1/files`, `/v1/batches`),
//! Anthropic Message Batches (`/v1/messages/batches`) and Gemini batch mode
//! (`/v1beta/models/{model}:batchGenerateContent`, `/v1beta/batches/{id}`).
//!
//! Every line is answered when the batch is created, by the same per-line logic as a live
//! request (a `[mock:NAME]` marker, else an echo; the scripted queue is left for live calls),
//! rendered as the provider's non-streaming answer. A batch is in progress at its first poll and
//! ends at the second. Three markers exist only here: `[mock:batch-error]` makes the line fail
//! inside the batch (HTTP 500 in the provider's error shape) while a live call echoes,
//! `[mock:expired]` leaves the line unprocessed and makes the whole batch expire, and
//! `[mock:batch-pending]` answers the line only when the batch ends (an echo), so a cancel
//! before then cancels it.
//!
//! The three cancel endpoints (`POST /v1/batches/{id}/cancel`,
//! `POST /v1/messages/batches/{id}/cancel`, `POST /v1beta/batches/{id}:cancel`) work as the
//! providers document: lines already answered keep their answers, the rest are cancelled; the
//! cancel's own answer reads `cancelling` (OpenAI) or `canceling` (Anthropic; Gemini answers
//! `{}`), and the next poll finds the batch ended (`cancelled`, `ended`,
//! `BATCH_STATE_CANCELLED`). A batch that has ended or failed cannot be cancelled (HTTP 400).

use std::collections::{BTreeMap, BTreeSet};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::MockHandle;
use crate::scenario::Scenario;
use crate::wire::{self, Call, Wire};

/// The fixed clock of every batch object (Unix seconds), so bodies are deterministic.
const CREATED_AT: i64 = 1_700_000_000;
/// Polls a batch answers as in progress before it ends.
const POLLS_IN_PROGRESS: u32 = 1;

/// Uploaded files and created batches.
#[derive(Debug, Default)]
pub(crate) struct Store {
    next: u64,
    /// File id → content, with the upload order kept in `uploads`.
    files: BTreeMap<String, String>,
    uploads: Vec<String>,
    batches: BTreeMap<String, Batch>,
}

impl Store {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{}", self.next)
    }

    /// Every uploaded file's content, in upload order.
    pub(crate) fn uploads(&self) -> Vec<String> {
        self.uploads
            .iter()
            .filter_map(|id| self.files.get(id).cloned())
            .collect()
    }
}

#[derive(Debug, Clone)]
struct Batch {
    wire: Wire,
    id: String,
    /// Status reads so far.
    polls: u32,
    /// The status reads done when a cancel arrived: the batch ends at the next one.
    cancelled_at: Option<u32>,
    lines: Vec<Line>,
    /// OpenAI: the input file, and the result files once ended.
    input_file_id: String,
    output_file_id: Option<String>,
    error_file_id: Option<String>,
    /// OpenAI: why validation failed, if it did.
    invalid: Option<String>,
    /// Gemini: the model of the URL.
    model: String,
}

#[derive(Debug, Clone)]
struct Line {
    custom_id: String,
    fate: Fate,
}

/// What becomes of a line.
#[derive(Debug, Clone)]
enum Fate {
    /// Answered (HTTP status and body) when the batch was created.
    Answered(u16, Value),
    /// Answered when the batch ends, unless it is cancelled first (`[mock:batch-pending]`).
    Pending(u16, Value),
    /// Left unprocessed: the batch expires (`[mock:expired]`).
    Unprocessed,
    /// Not processed because the batch was cancelled.
    Cancelled,
}

/// How many lines of an ended batch came to what.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    succeeded: u64,
    errored: u64,
    expired: u64,
    cancelled: u64,
}

impl Line {
    /// The line's answer once the batch has ended, if it has one.
    fn answer(&self) -> Option<(u16, &Value)> {
        match &self.fate {
            Fate::Answered(status, body) | Fate::Pending(status, body) => Some((*status, body)),
            Fate::Unprocessed | Fate::Cancelled => None,
        }
    }
}

impl Batch {
    fn ended(&self) -> bool {
        self.invalid.is_none()
            && (self.polls > POLLS_IN_PROGRESS
                || self.cancelled_at.is_some_and(|at| self.polls > at))
    }

    /// A cancel arrived and no poll has seen the batch since.
    fn cancelling(&self) -> bool {
        !self.ended() && self.cancelled_at.is_some()
    }

    fn expired(&self) -> bool {
        self.cancelled_at.is_none()
            && self
                .lines
                .iter()
                .any(|line| matches!(line.fate, Fate::Unprocessed))
    }

    /// What the lines came to, once ended.
    fn tally(&self) -> Tally {
        let mut tally = Tally::default();
        for line in &self.lines {
            match &line.fate {
                Fate::Answered(200, _) | Fate::Pending(200, _) => tally.succeeded += 1,
                Fate::Answered(..) | Fate::Pending(..) => tally.errored += 1,
                Fate::Unprocessed => tally.expired += 1,
                Fate::Cancelled => tally.cancelled += 1,
            }
        }
        tally
    }

    /// Cancels what has not been processed, or says why the batch cannot be cancelled (the
    /// provider's word for its state).
    fn cancel(&mut self, status: &str) -> Result<(), String> {
        if self.invalid.is_some() || self.ended() {
            return Err(status.to_owned());
        }
        if self.cancelled_at.is_none() {
            self.cancelled_at = Some(self.polls);
            for line in &mut self.lines {
                if matches!(line.fate, Fate::Pending(..) | Fate::Unprocessed) {
                    line.fate = Fate::Cancelled;
                }
            }
        }
        Ok(())
    }
}

/// Answers a batch API request, or `None` when `path` is not one.
pub(crate) fn handle(
    handle: &MockHandle,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Option<Response<Body>> {
    let mut store = handle
        .shared
        .batches
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let store = &mut *store;
    let host = headers
        .get("host")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let post = *method == Method::POST;
    Some(match segments.as_slice() {
        ["v1", "files"] if post => upload(store, headers, body),
        ["v1", "files", id] => match store.files.get(*id) {
            Some(content) => json_response(200, &file_object(id, content.len())),
            None => openai_error(404, "No such File object"),
        },
        ["v1", "files", id, "content"] => match store.files.get(*id) {
            Some(content) => Response::new(Body::from(content.clone())),
            None => openai_error(404, "No such File object"),
        },
        ["v1", "batches"] if post => openai_create(store, body),
        ["v1", "batches", id, "cancel"] if post => match store.batches.get_mut(*id) {
            Some(batch) if batch.wire == Wire::OpenAi => {
                let mut batch = batch.clone();
                let status = openai_batch(store, &batch)["status"].clone();
                match batch.cancel(status.as_str().unwrap_or_default()) {
                    Ok(()) => {
                        let value = openai_batch(store, &batch);
                        store.batches.insert(batch.id.clone(), batch);
                        json_response(200, &value)
                    }
                    Err(status) => openai_error(
                        400,
                        &format!("Cannot cancel a batch with status '{status}'."),
                    ),
                }
            }
            _ => openai_error(404, "No batch found"),
        },
        ["v1", "batches", id] => match store.batches.get_mut(*id) {
            Some(batch) if batch.wire == Wire::OpenAi => {
                batch.polls += 1;
                let batch = batch.clone();
                json_response(200, &openai_batch(store, &batch))
            }
            _ => openai_error(404, "No batch found"),
        },
        ["v1", "messages", "batches"] if post => anthropic_create(store, body),
        ["v1", "messages", "batches", id, "cancel"] if post => match store.batches.get_mut(*id) {
            Some(batch) if batch.wire == Wire::Anthropic => match batch.cancel("ended") {
                Ok(()) => json_response(200, &anthropic_batch(batch, &host)),
                Err(_) => anthropic_error(
                    400,
                    "invalid_request_error",
                    "the message batch has ended and cannot be canceled",
                ),
            },
            _ => anthropic_error(404, "not_found_error", "no such message batch"),
        },
        ["v1", "messages", "batches", id] => match store.batches.get_mut(*id) {
            Some(batch) if batch.wire == Wire::Anthropic => {
                batch.polls += 1;
                json_response(200, &anthropic_batch(batch, &host))
            }
            _ => anthropic_error(404, "not_found_error", "no such message batch"),
        },
        ["v1", "messages", "batches", id, "results"] => match store.batches.get(*id) {
            Some(batch) if batch.wire == Wire::Anthropic && batch.ended() => {
                Response::new(Body::from(anthropic_results(batch)))
            }
            Some(_) => anthropic_error(
                400,
                "invalid_request_error",
                "the message batch is still in progress",
            ),
            None => anthropic_error(404, "not_found_error", "no such message batch"),
        },
        ["v1beta", "models", model_action] if post => {
            let (model, action) = model_action.split_once(':')?;
            if action != "batchGenerateContent" {
                return None;
            }
            gemini_create(store, model, body)
        }
        ["v1beta", "batches", id_action] if post && id_action.ends_with(":cancel") => {
            let id = id_action.trim_end_matches(":cancel");
            match store.batches.get_mut(&format!("batches/{id}")) {
                Some(batch) if batch.wire == Wire::Gemini => {
                    let state = gemini_operation(batch)["metadata"]["state"].clone();
                    match batch.cancel(state.as_str().unwrap_or_default()) {
                        Ok(()) => json_response(200, &json!({})),
                        Err(state) => gemini_error(
                            400,
                            "FAILED_PRECONDITION",
                            &format!("batch is in state {state} and cannot be cancelled"),
                        ),
                    }
                }
                _ => gemini_error(404, "NOT_FOUND", "batch not found"),
            }
        }
        ["v1beta", "batches", id] => match store.batches.get_mut(&format!("batches/{id}")) {
            Some(batch) if batch.wire == Wire::Gemini => {
                batch.polls += 1;
                json_response(200, &gemini_operation(batch))
            }
            _ => gemini_error(404, "NOT_FOUND", "batch not found"),
        },
        _ => return None,
    })
}

/// What the mock answers one line, as a live non-streaming call of `wire` would be answered.
fn answer_line(wire: Wire, model: &str, request: &Value) -> Fate {
    let text = request.to_string();
    let mut pending = false;
    let scenario = match crate::marker_name(&text) {
        Some("expired") => return Fate::Unprocessed,
        Some("batch-error") => Scenario::status(500),
        Some("batch-pending") => {
            pending = true;
            Scenario::echo()
        }
        Some(name) => Scenario::from_marker(name).unwrap_or_else(Scenario::echo),
        None => Scenario::echo(),
    };
    let call = Call {
        wire,
        model: model.to_owned(),
        stream: false,
        include_usage: false,
        last_user_text: wire::last_user_text(wire, request),
        thinking: wire::wants_thinking(wire, request),
    };
    let rendered = wire::render(&call, &scenario);
    let body = rendered.chunks.concat();
    let (status, body) = match serde_json::from_str::<Value>(&body) {
        Ok(value) => (rendered.status, value),
        // A cut or malformed answer has no JSON to put in a result: a server error.
        Err(_) => (500, wire_error_body(wire)),
    };
    if pending {
        Fate::Pending(status, body)
    } else {
        Fate::Answered(status, body)
    }
}

fn wire_error_body(wire: Wire) -> Value {
    match wire {
        Wire::OpenAi => {
            json!({"error": {"message": "The server had an error.", "type": "server_error", "param": null, "code": null}})
        }
        Wire::Anthropic => {
            json!({"type": "error", "error": {"type": "api_error", "message": "Internal server error"}})
        }
        Wire::Gemini => {
            json!({"error": {"code": 500, "message": "An internal error has occurred.", "status": "INTERNAL"}})
        }
    }
}

fn json_response(status: u16, value: &Value) -> Response<Body> {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    response
}

fn openai_error(status: u16, message: &str) -> Response<Body> {
    json_response(
        status,
        &json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}}),
    )
}

fn anthropic_error(status: u16, kind: &str, message: &str) -> Response<Body> {
    json_response(
        status,
        &json!({"type": "error", "error": {"type": kind, "message": message}}),
    )
}

fn gemini_error(status: u16, name: &str, message: &str) -> Response<Body> {
    json_response(
        status,
        &json!({"error": {"code": status, "message": message, "status": name}}),
    )
}

// ---- OpenAI Files + Batches ----

fn file_object(id: &str, bytes: usize) -> Value {
    json!({
        "id": id,
        "object": "file",
        "bytes": bytes,
        "created_at": CREATED_AT,
        "filename": "batch.jsonl",
        "purpose": "batch",
        "status": "processed",
        "status_details": null,
    })
}

/// `POST /v1/files`: a `multipart/form-data` body with `purpose=batch` and `file`.
fn upload(store: &mut Store, headers: &HeaderMap, body: &Bytes) -> Response<Body> {
    let content_type = headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let Some(boundary) = content_type
        .split(';')
        .find_map(|part| part.trim().strip_prefix("boundary="))
        .map(|boundary| boundary.trim_matches('"').to_owned())
    else {
        return openai_error(400, "expected a multipart/form-data body");
    };
    let fields = multipart_fields(&String::from_utf8_lossy(body), &boundary);
    if fields.get("purpose").map(String::as_str) != Some("batch") {
        return openai_error(400, "the mock takes files with purpose `batch` only");
    }
    let Some(content) = fields.get("file") else {
        return openai_error(400, "no `file` part");
    };
    let id = store.id("file-mock-");
    store.files.insert(id.clone(), content.clone());
    store.uploads.push(id.clone());
    json_response(200, &file_object(&id, content.len()))
}

/// The named parts of a multipart body (part headers dropped).
fn multipart_fields(body: &str, boundary: &str) -> BTreeMap<String, String> {
    let delimiter = format!("--{boundary}");
    let mut fields = BTreeMap::new();
    for part in body.split(&delimiter) {
        let Some((head, content)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let Some(name) = head
            .split(';')
            .find_map(|item| item.trim().strip_prefix("name="))
            .map(|name| {
                name.split(['\r', '\n'])
                    .next()
                    .unwrap_or_default()
                    .trim_matches('"')
                    .to_owned()
            })
        else {
            continue;
        };
        let content = content.strip_suffix("\r\n").unwrap_or(content);
        fields.insert(name, content.to_owned());
    }
    fields
}

/// `POST /v1/batches`: validates the request and the input file as OpenAI does (one model,
/// unique custom ids, the batch's endpoint on every line); a bad file makes a `failed` batch.
fn openai_create(store: &mut Store, body: &Bytes) -> Response<Body> {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return openai_error(400, "the body is not JSON");
    };
    let endpoint = request["endpoint"].as_str().unwrap_or_default();
    if endpoint != "/v1/chat/completions" {
        return openai_error(400, "the mock batches `/v1/chat/completions` only");
    }
    if request["completion_window"] != "24h" {
        return openai_error(400, "completion_window must be `24h`");
    }
    let input_file_id = request["input_file_id"].as_str().unwrap_or_default();
    let Some(content) = store.files.get(input_file_id).cloned() else {
        return openai_error(404, "No such File object");
    };
    let mut lines = Vec::new();
    let mut invalid = None;
    let mut seen = BTreeSet::new();
    let mut models = BTreeSet::new();
    for (number, text) in content
        .lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
    {
        let Ok(line) = serde_json::from_str::<Value>(text) else {
            invalid = Some(format!("line {}: not JSON", number + 1));
            break;
        };
        let custom_id = line["custom_id"].as_str().unwrap_or_default().to_owned();
        if custom_id.is_empty() || !seen.insert(custom_id.clone()) {
            invalid = Some(format!(
                "line {}: missing or repeated custom_id",
                number + 1
            ));
            break;
        }
        if line["method"] != "POST" || line["url"] != endpoint {
            invalid = Some(format!(
                "line {}: method and url must be POST {endpoint}",
                number + 1
            ));
            break;
        }
        let model = line["body"]["model"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        models.insert(model.clone());
        lines.push(Line {
            custom_id,
            fate: answer_line(Wire::OpenAi, &model, &line["body"]),
        });
    }
    if models.len() > 1 {
        invalid = Some("a batch input file may name one model only".to_owned());
    }
    let id = store.id("batch_mock_");
    let batch = Batch {
        wire: Wire::OpenAi,
        id: id.clone(),
        polls: 0,
        cancelled_at: None,
        lines,
        input_file_id: input_file_id.to_owned(),
        output_file_id: None,
        error_file_id: None,
        invalid,
        model: models.into_iter().next().unwrap_or_default(),
    };
    let value = openai_batch(store, &batch);
    store.batches.insert(id, batch);
    json_response(200, &value)
}

/// The batch object; at its end, writes the output and error files.
fn openai_batch(store: &mut Store, batch: &Batch) -> Value {
    let total = batch.lines.len();
    let mut errors = Value::Null;
    let mut files = (None, None);
    let status = if let Some(message) = &batch.invalid {
        errors = json!({"object": "list", "data": [{"code": "invalid_request", "message": message, "param": null, "line": null}]});
        "failed"
    } else if batch.cancelling() {
        "cancelling"
    } else if batch.polls == 0 {
        "validating"
    } else if !batch.ended() {
        "in_progress"
    } else {
        files = openai_files(store, batch);
        if batch.cancelled_at.is_some() {
            "cancelled"
        } else if batch.expired() {
            "expired"
        } else {
            "completed"
        }
    };
    let tally = batch.tally();
    // Cancelled and expired requests count as neither completed nor failed.
    let counts = if batch.ended() {
        json!({"total": total, "completed": tally.succeeded, "failed": tally.errored})
    } else {
        json!({"total": total, "completed": 0, "failed": 0})
    };
    let cancelling_at = batch.cancelled_at.map(|_| CREATED_AT + 60);
    let cancelled_at = batch
        .cancelled_at
        .filter(|_| batch.ended())
        .map(|_| CREATED_AT + 120);
    json!({
        "id": batch.id,
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "model": batch.model,
        "errors": errors,
        "input_file_id": batch.input_file_id,
        "completion_window": "24h",
        "status": status,
        "output_file_id": files.0,
        "error_file_id": files.1,
        "created_at": CREATED_AT,
        "in_progress_at": null,
        "expires_at": CREATED_AT + 86_400,
        "finalizing_at": null,
        "completed_at": null,
        "failed_at": null,
        "expired_at": null,
        "cancelling_at": cancelling_at,
        "cancelled_at": cancelled_at,
        "request_counts": counts,
        "metadata": null,
    })
}

/// Writes (once) the output file of answered lines and the error file of failed and
/// unprocessed ones, as OpenAI lays them out.
fn openai_files(store: &mut Store, batch: &Batch) -> (Option<String>, Option<String>) {
    if let Some(stored) = store.batches.get(&batch.id)
        && (stored.output_file_id.is_some() || stored.error_file_id.is_some())
    {
        return (stored.output_file_id.clone(), stored.error_file_id.clone());
    }
    let mut output = String::new();
    let mut errors = String::new();
    for (index, line) in batch.lines.iter().enumerate() {
        let request_id = format!("batch_req_mock_{}", index + 1);
        let unprocessed = |code: &str, message: &str| {
            json!({
                "id": request_id,
                "custom_id": line.custom_id,
                "response": null,
                "error": {"code": code, "message": message},
            })
        };
        let (target, value) = match &line.fate {
            Fate::Answered(status, body) | Fate::Pending(status, body) => (
                if *status == 200 {
                    &mut output
                } else {
                    &mut errors
                },
                json!({
                    "id": request_id,
                    "custom_id": line.custom_id,
                    "response": {"status_code": status, "request_id": format!("req_mock_{}", index + 1), "body": body},
                    "error": null,
                }),
            ),
            Fate::Unprocessed => (
                &mut errors,
                unprocessed(
                    "batch_expired",
                    "This request could not be executed before the completion window expired.",
                ),
            ),
            Fate::Cancelled => (
                &mut errors,
                unprocessed(
                    "batch_cancelled",
                    "This request was not executed because the batch was cancelled.",
                ),
            ),
        };
        target.push_str(&value.to_string());
        target.push('\n');
    }
    let mut file = |content: String| {
        (!content.is_empty()).then(|| {
            let id = store.id("file-mock-");
            store.files.insert(id.clone(), content);
            id
        })
    };
    let ids = (file(output), file(errors));
    if let Some(stored) = store.batches.get_mut(&batch.id) {
        stored.output_file_id.clone_from(&ids.0);
        stored.error_file_id.clone_from(&ids.1);
    }
    ids
}

// ---- Anthropic Message Batches ----

fn anthropic_create(store: &mut Store, body: &Bytes) -> Response<Body> {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return anthropic_error(400, "invalid_request_error", "the body is not JSON");
    };
    let Some(requests) = request["requests"]
        .as_array()
        .filter(|list| !list.is_empty())
    else {
        return anthropic_error(
            400,
            "invalid_request_error",
            "requests: a non-empty list is required",
        );
    };
    let mut lines = Vec::new();
    let mut seen = BTreeSet::new();
    for item in requests {
        let custom_id = item["custom_id"].as_str().unwrap_or_default();
        let valid = (1..=64).contains(&custom_id.len())
            && custom_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid || !seen.insert(custom_id.to_owned()) {
            return anthropic_error(
                400,
                "invalid_request_error",
                "custom_id must be unique and match ^[a-zA-Z0-9_-]{1,64}$",
            );
        }
        let params = &item["params"];
        if params["max_tokens"].as_u64().is_none() || params.get("stream").is_some() {
            return anthropic_error(
                400,
                "invalid_request_error",
                "params need max_tokens and may not stream",
            );
        }
        let model = params["model"].as_str().unwrap_or_default();
        lines.push(Line {
            custom_id: custom_id.to_owned(),
            fate: answer_line(Wire::Anthropic, model, params),
        });
    }
    let id = store.id("msgbatch_mock_");
    let batch = Batch {
        wire: Wire::Anthropic,
        id: id.clone(),
        polls: 0,
        cancelled_at: None,
        lines,
        input_file_id: String::new(),
        output_file_id: None,
        error_file_id: None,
        invalid: None,
        model: String::new(),
    };
    let value = anthropic_batch(&batch, "");
    store.batches.insert(id, batch);
    json_response(200, &value)
}

fn anthropic_batch(batch: &Batch, host: &str) -> Value {
    let ended = batch.ended();
    let tally = batch.tally();
    let counts = if ended {
        json!({"processing": 0, "succeeded": tally.succeeded, "errored": tally.errored, "canceled": tally.cancelled, "expired": tally.expired})
    } else {
        json!({"processing": batch.lines.len(), "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0})
    };
    let status = if ended {
        "ended"
    } else if batch.cancelling() {
        "canceling"
    } else {
        "in_progress"
    };
    json!({
        "id": batch.id,
        "type": "message_batch",
        "processing_status": status,
        "request_counts": counts,
        "ended_at": if ended { json!("2023-11-14T22:13:20Z") } else { Value::Null },
        "created_at": "2023-11-14T22:13:20Z",
        "expires_at": "2023-11-15T22:13:20Z",
        "archived_at": null,
        "cancel_initiated_at": batch.cancelled_at.map(|_| "2023-11-14T22:14:20Z"),
        "results_url": if ended {
            json!(format!("http://{host}/v1/messages/batches/{}/results", batch.id))
        } else {
            Value::Null
        },
    })
}

fn anthropic_results(batch: &Batch) -> String {
    let mut out = String::new();
    for line in &batch.lines {
        let result = match &line.fate {
            Fate::Answered(200, message) | Fate::Pending(200, message) => {
                json!({"type": "succeeded", "message": message})
            }
            Fate::Answered(_, error) | Fate::Pending(_, error) => {
                json!({"type": "errored", "error": error})
            }
            Fate::Unprocessed => json!({"type": "expired"}),
            Fate::Cancelled => json!({"type": "canceled"}),
        };
        out.push_str(&json!({"custom_id": line.custom_id, "result": result}).to_string());
        out.push('\n');
    }
    out
}

// ---- Gemini batch mode ----

fn gemini_create(store: &mut Store, model: &str, body: &Bytes) -> Response<Body> {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return gemini_error(400, "INVALID_ARGUMENT", "the body is not JSON");
    };
    let batch = &request["batch"];
    let input = batch
        .get("input_config")
        .or_else(|| batch.get("inputConfig"));
    let Some(requests) = input
        .and_then(|input| input["requests"]["requests"].as_array())
        .filter(|list| !list.is_empty())
    else {
        return gemini_error(
            400,
            "INVALID_ARGUMENT",
            "batch.input_config.requests.requests is required",
        );
    };
    let lines = requests
        .iter()
        .enumerate()
        .map(|(index, item)| Line {
            custom_id: item["metadata"]["key"]
                .as_str()
                .map_or_else(|| format!("{}", index + 1), str::to_owned),
            fate: answer_line(Wire::Gemini, model, &item["request"]),
        })
        .collect();
    let id = store.id("batches/mock-");
    let batch = Batch {
        wire: Wire::Gemini,
        id: id.clone(),
        polls: 0,
        cancelled_at: None,
        lines,
        input_file_id: String::new(),
        output_file_id: None,
        error_file_id: None,
        invalid: None,
        model: model.to_owned(),
    };
    let value = gemini_operation(&batch);
    store.batches.insert(id, batch);
    json_response(200, &value)
}

fn gemini_operation(batch: &Batch) -> Value {
    let ended = batch.ended();
    let tally = batch.tally();
    let total = batch.lines.len();
    // Gemini has no cancelling state: a batch being cancelled still runs.
    let state = match (batch.polls, ended) {
        (_, true) if batch.cancelled_at.is_some() => "BATCH_STATE_CANCELLED",
        (_, true) if tally.expired > 0 => "BATCH_STATE_EXPIRED",
        (_, true) => "BATCH_STATE_SUCCEEDED",
        (0, false) if batch.cancelled_at.is_none() => "BATCH_STATE_PENDING",
        (_, false) => "BATCH_STATE_RUNNING",
    };
    let stats = if ended {
        json!({
            "requestCount": total.to_string(),
            "successfulRequestCount": tally.succeeded.to_string(),
            "failedRequestCount": tally.errored.to_string(),
            "pendingRequestCount": (tally.expired + tally.cancelled).to_string(),
        })
    } else {
        json!({"requestCount": total.to_string(), "pendingRequestCount": total.to_string()})
    };
    let mut operation = json!({
        "name": batch.id,
        "metadata": {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch",
            "model": format!("models/{}", batch.model),
            "displayName": "triage batch",
            "name": batch.id,
            "createTime": "2023-11-14T22:13:20Z",
            "updateTime": "2023-11-14T22:13:20Z",
            "batchStats": stats,
            "state": state,
        },
    });
    if ended {
        let responses: Vec<Value> = batch
            .lines
            .iter()
            .filter_map(|line| {
                let (status, body) = line.answer()?;
                let metadata = json!({"key": line.custom_id});
                Some(if status == 200 {
                    json!({"response": body, "metadata": metadata})
                } else {
                    json!({"error": body["error"], "metadata": metadata})
                })
            })
            .collect();
        operation["done"] = json!(true);
        operation["response"] = json!({
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatchOutput",
            "inlinedResponses": {"inlinedResponses": responses},
        });
    }
    operation
}
