//! The three batch APIs against the mock: each line is the live request body exactly, the
//! requests' wire shapes (snapshotted), the status life cycle, per-line outcomes with
//! partial failure and expiry, and cancellation (answered lines kept, the rest cancelled).

use serde_json::Value;
use triage_mock::{MockUpstream, RecordedRequest};
use triage_providers::batch::{BatchItem, BatchOutcome, BatchProvider, BatchState};
use triage_providers::{
    HttpClientOptions, Protocol, Provider, build_batch_provider, build_http_client, build_provider,
};
use triage_types::{ChatRequest, Message, Role};

use crate::support::{KEY, settings_for};

struct Clients {
    mock: MockUpstream,
    live: std::sync::Arc<dyn Provider>,
    batch: std::sync::Arc<dyn BatchProvider>,
}

async fn connect(protocol: Protocol, provider_id: &str) -> Clients {
    let mock = MockUpstream::start().await.unwrap();
    let settings = settings_for(&mock, protocol, provider_id);
    let http = build_http_client(&HttpClientOptions::default()).unwrap();
    let live = build_provider(settings.clone(), http.clone()).unwrap();
    let batch = build_batch_provider(settings, http).unwrap().unwrap();
    Clients { mock, live, batch }
}

const PROTOCOLS: [(Protocol, &str, &str); 3] = [
    (Protocol::OpenAi, "openai", "gpt-5.4-mini"),
    (Protocol::Anthropic, "anthropic", "claude-haiku-4-5"),
    (Protocol::Gemini, "google", "gemini-2.5-flash-lite"),
];

fn request(prompt: &str) -> ChatRequest {
    let mut request = ChatRequest::from_prompt(prompt);
    request
        .messages
        .insert(0, Message::text(Role::System, "Answer briefly."));
    request.max_output_tokens = Some(64);
    request.temperature = Some(0.2);
    request
}

fn items(model: &str, prompts: &[&str]) -> Vec<BatchItem> {
    prompts
        .iter()
        .enumerate()
        .map(|(index, prompt)| BatchItem {
            custom_id: format!("line-{}", index + 1),
            model: model.to_owned(),
            request: request(prompt),
        })
        .collect()
}

/// The request bodies each batch line carries, as the provider received them.
fn batch_bodies(mock: &MockUpstream, protocol: Protocol) -> Vec<Value> {
    let create = |path_end: &str| -> RecordedRequest {
        mock.requests()
            .into_iter()
            .find(|request| request.method == "POST" && request.path.ends_with(path_end))
            .unwrap()
    };
    match protocol {
        Protocol::OpenAi | Protocol::OpenAiCompatible => mock.handle().uploaded_files()[0]
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap()["body"].clone())
            .collect(),
        Protocol::Anthropic => create("/v1/messages/batches").body["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["params"].clone())
            .collect(),
        Protocol::Gemini => {
            create(":batchGenerateContent").body["batch"]["input_config"]["requests"]["requests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| item["request"].clone())
                .collect()
        }
    }
}

/// A batch line is byte for byte the body the live client sends for the same request.
#[tokio::test]
async fn each_line_is_the_live_request_body() {
    for (protocol, provider, model) in PROTOCOLS {
        let clients = connect(protocol, provider).await;
        clients
            .live
            .complete(model, &request("What is 2 + 2?"))
            .await
            .unwrap();
        let live = clients.mock.requests()[0].body.clone();
        clients
            .batch
            .submit(&items(model, &["What is 2 + 2?"]))
            .await
            .unwrap();
        let batched = batch_bodies(&clients.mock, protocol);
        assert_eq!(batched, vec![live], "{provider}");
    }
}

/// Every request a batch's life makes, as the mock received it: method, path, the headers
/// that matter and the JSON body (or, for OpenAI's upload, the file), with the key redacted.
fn transcript(mock: &MockUpstream) -> String {
    let mut out = requests_transcript(&mock.requests());
    for file in mock.handle().uploaded_files() {
        out.push_str("uploaded file:\n");
        for line in file.lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

/// The requests' method, path, the headers that matter and JSON body, the key redacted.
fn requests_transcript(requests: &[RecordedRequest]) -> String {
    let mut out = String::new();
    for request in requests {
        out.push_str(&format!("{} {}\n", request.method, request.path));
        for name in [
            "authorization",
            "x-api-key",
            "x-goog-api-key",
            "anthropic-version",
        ] {
            if let Some(value) = request.headers.get(name) {
                out.push_str(&format!("  {name}: {}\n", value.replace(KEY, "[key]")));
            }
        }
        if let Some(kind) = request.headers.get("content-type")
            && kind.starts_with("multipart/form-data")
        {
            out.push_str("  content-type: multipart/form-data\n");
        }
        if !request.body.is_null() {
            out.push_str(&format!(
                "  {}\n",
                serde_json::to_string_pretty(&request.body)
                    .unwrap()
                    .replace('\n', "\n  ")
            ));
        }
    }
    out
}

/// Submit, poll (in progress, then ended), read: an answer, an error inside the batch, and an
/// answer, in submission order; the wire shapes are snapshotted per protocol.
#[tokio::test]
async fn a_batch_lives_and_answers_in_order_with_a_partial_failure() {
    for (protocol, provider, model) in PROTOCOLS {
        let clients = connect(protocol, provider).await;
        let batch = &clients.batch;
        let prompts = [
            "first question",
            "second [mock:batch-error]",
            "third question",
        ];
        let id = batch.submit(&items(model, &prompts)).await.unwrap();
        let first = batch.status(&id).await.unwrap();
        assert_eq!(first.state, BatchState::InProgress, "{provider}: {first:?}");
        assert_eq!(first.counts.total, 3, "{provider}: {first:?}");
        let ended = batch.status(&id).await.unwrap();
        assert_eq!(ended.state, BatchState::Ended, "{provider}: {ended:?}");
        assert_eq!(
            (
                ended.counts.succeeded,
                ended.counts.errored,
                ended.counts.processing
            ),
            (2, 1, 0),
            "{provider}: {ended:?}"
        );
        let custom_ids: Vec<String> = (1..=3).map(|n| format!("line-{n}")).collect();
        let outcomes = batch.results(&id, &custom_ids).await.unwrap();
        let summary: Vec<String> = outcomes
            .iter()
            .map(|outcome| match outcome {
                BatchOutcome::Succeeded(answer) => {
                    format!(
                        "succeeded: {} ({} in, {} out)",
                        answer.text, answer.usage.input_tokens, answer.usage.output_tokens
                    )
                }
                BatchOutcome::Errored(error) => format!("errored: {}", error.kind()),
                other => other.kind().to_owned(),
            })
            .collect();
        assert_eq!(
            summary,
            [
                "succeeded: echo: first question (12 in, 5 out)",
                "errored: server_error",
                "succeeded: echo: third question (12 in, 5 out)",
            ],
            "{provider}"
        );
        insta::assert_snapshot!(format!("batch_wire_{provider}"), transcript(&clients.mock));
    }
}

/// A batch that expires with a line unprocessed: that line is expired, the others answered.
#[tokio::test]
async fn an_expired_batch_marks_its_unprocessed_lines() {
    for (protocol, provider, model) in PROTOCOLS {
        let clients = connect(protocol, provider).await;
        let batch = &clients.batch;
        let id = batch
            .submit(&items(model, &["answered", "left over [mock:expired]"]))
            .await
            .unwrap();
        batch.status(&id).await.unwrap();
        let ended = batch.status(&id).await.unwrap();
        assert_eq!(ended.state, BatchState::Ended, "{provider}: {ended:?}");
        assert_eq!(ended.counts.expired, 1, "{provider}: {ended:?}");
        let custom_ids = ["line-1".to_owned(), "line-2".to_owned()];
        let kinds: Vec<&str> = batch
            .results(&id, &custom_ids)
            .await
            .unwrap()
            .iter()
            .map(BatchOutcome::kind)
            .collect();
        assert_eq!(kinds, ["succeeded", "expired"], "{provider}");
    }
}

/// A line still pending when its batch is cancelled is cancelled; the line already answered
/// keeps its answer. The cancel's answer, the state after it and the cancel request itself
/// are snapshotted per protocol; an ended batch cannot be cancelled; without a cancel the
/// pending line is answered when the batch ends.
#[tokio::test]
async fn a_cancelled_batch_keeps_its_answered_lines() {
    for (protocol, provider, model) in PROTOCOLS {
        let clients = connect(protocol, provider).await;
        let batch = &clients.batch;
        let prompts = ["answered", "still waiting [mock:batch-pending]"];
        let custom_ids = ["line-1".to_owned(), "line-2".to_owned()];

        let id = batch.submit(&items(model, &prompts)).await.unwrap();
        let running = batch.status(&id).await.unwrap();
        assert_eq!(running.state, BatchState::InProgress, "{provider}");
        let before = clients.mock.requests().len();
        let cancelling = batch.cancel(&id).await.unwrap();
        let cancel_requests = clients.mock.requests()[before..].to_vec();
        let ended = batch.status(&id).await.unwrap();
        assert_eq!(ended.state, BatchState::Ended, "{provider}: {ended:?}");
        assert_eq!(
            (
                ended.counts.total,
                ended.counts.succeeded,
                ended.counts.cancelled,
                ended.counts.processing
            ),
            (2, 1, 1, 0),
            "{provider}: {ended:?}"
        );
        let kinds: Vec<&str> = batch
            .results(&id, &custom_ids)
            .await
            .unwrap()
            .iter()
            .map(BatchOutcome::kind)
            .collect();
        assert_eq!(kinds, ["succeeded", "cancelled"], "{provider}");
        let refused = batch.cancel(&id).await.unwrap_err();
        assert_eq!(refused.kind(), "bad_request", "{provider}: {refused}");
        let cancel = format!(
            "cancel answered: {:?} ({})\nnext poll: {:?} ({})\nrefused again: {refused}\n{}",
            cancelling.state,
            cancelling.provider_status,
            ended.state,
            ended.provider_status,
            requests_transcript(&cancel_requests)
        );
        insta::assert_snapshot!(format!("batch_cancel_{provider}"), cancel);

        // Left alone, the pending line is answered when the batch ends.
        let id = batch.submit(&items(model, &prompts)).await.unwrap();
        batch.status(&id).await.unwrap();
        batch.status(&id).await.unwrap();
        let kinds: Vec<&str> = batch
            .results(&id, &custom_ids)
            .await
            .unwrap()
            .iter()
            .map(BatchOutcome::kind)
            .collect();
        assert_eq!(kinds, ["succeeded", "succeeded"], "{provider}");
    }
}

/// What the batch APIs refuse, and what has no batch API.
#[tokio::test]
async fn refusals_and_servers_without_a_batch_api() {
    let mock = MockUpstream::start().await.unwrap();
    let http = build_http_client(&HttpClientOptions::default()).unwrap();
    let compatible = settings_for(&mock, Protocol::OpenAiCompatible, "deepseek");
    assert!(
        build_batch_provider(compatible, http.clone())
            .unwrap()
            .is_none()
    );

    // One OpenAI batch file names one model; the mock fails its validation as OpenAI does.
    let clients = connect(Protocol::OpenAi, "openai").await;
    let mut mixed = items("gpt-5.4-mini", &["a", "b"]);
    mixed[1].model = "gpt-5.4".to_owned();
    let id = clients.batch.submit(&mixed).await.unwrap();
    let status = clients.batch.status(&id).await.unwrap();
    assert_eq!(
        status.state,
        BatchState::Failed {
            message: "a batch input file may name one model only".to_owned()
        }
    );

    // A Gemini batch names one model in its URL.
    let clients = connect(Protocol::Gemini, "google").await;
    let error = clients.batch.submit(&mixed).await.unwrap_err();
    assert_eq!(error.kind(), "bad_request");
    assert!(clients.mock.requests().is_empty());

    // An unknown batch id is the provider's 404.
    for (protocol, provider, _) in PROTOCOLS {
        let clients = connect(protocol, provider).await;
        let error = clients.batch.status("batches_missing").await.unwrap_err();
        assert_eq!(error.kind(), "not_found", "{provider}: {error}");
        let error = clients.batch.cancel("batches_missing").await.unwrap_err();
        assert_eq!(error.kind(), "not_found", "{provider}: {error}");
    }
}
