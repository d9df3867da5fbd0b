//! Batch jobs end to end against the mock's batch APIs: lines planned like live requests and
//! grouped by provider, polled to their end, collected in input order; an expired line and a
//! line the batch failed are answered live, a line no path can answer is reported; every line
//! is recorded once, batch answers at the batch discount. A cancelled job keeps what its
//! batches answered and reports the rest `batch_cancelled`, calling nothing live.

use std::time::Duration;

use rust_decimal::Decimal;
use triage_catalog::CostOptions;
use triage_engine::{
    BATCH_CANCELLED, BATCH_ENTRY, BATCH_LIVE_ENTRY, BatchError, BatchLine, CancelOutcome,
    LineOutcome, LineResult, Via,
};
use triage_mock::MockUpstream;
use triage_types::ChatRequest;

use crate::Setup;

fn line(model: &str, prompt: &str) -> BatchLine {
    BatchLine {
        model: model.to_owned(),
        request: ChatRequest::from_prompt(prompt),
        custom_id: None,
    }
}

fn recorded(path: &std::path::Path) -> Vec<triage_ledger::RequestRecord> {
    triage_ledger::LedgerReader::open(path)
        .unwrap()
        .requests(&triage_ledger::SummaryOptions::default())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_grouped_polled_collected_in_order_and_recorded_once() {
    let mock = MockUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite3");
    let engine = Setup {
        ledger: Some(&ledger),
        ..Setup::new(&mock)
    }
    .engine();
    let lines = vec![
        line(
            "gpt-5.4-mini",
            "Name the capital of France in a few words, please.",
        ),
        line(
            "claude-haiku-4-5",
            "Name the capital of Spain in a few words, please.",
        ),
        line(
            "gemini-2.5-flash-lite",
            "Name the capital of Italy in a few words, please.",
        ),
        line(
            "deepseek-chat",
            "Name the capital of Japan in a few words, please.",
        ),
        line(
            "gpt-5.4-mini",
            "Name the capital of Peru in a few words [mock:expired]",
        ),
        line(
            "claude-haiku-4-5",
            "Name the capital of Chile in a few words [mock:batch-error]",
        ),
        line(
            "gpt-5.4-mini",
            "This one is refused everywhere [mock:status=400]",
        ),
    ];
    let mut job = engine.batch_submit(lines).await.unwrap();

    let groups: Vec<String> = job
        .groups
        .iter()
        .map(|group| {
            format!(
                "{} {:?} lines {:?} via {}",
                group.provider, group.model, group.lines, group.api
            )
        })
        .collect();
    insta::assert_snapshot!(groups.join("\n"), @r#"
    openai Some("gpt-5.4-mini") lines [0, 4, 6] via OpenAI Batch API
    anthropic None lines [1, 5] via Anthropic Message Batches
    google Some("gemini-2.5-flash-lite") lines [2] via Gemini batch mode
    "#);
    assert_eq!(job.split(), (6, 1));

    // Not finished yet: collecting is refused, and nothing is recorded.
    engine.batch_poll(&mut job).await;
    let early = engine.batch_collect(&mut job).await.unwrap_err();
    assert!(matches!(early, BatchError::NotFinished { .. }), "{early}");
    engine
        .batch_wait(&mut job, Duration::ZERO, Some(Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(job.is_finished());

    let results = engine.batch_collect(&mut job).await.unwrap();
    let summary: Vec<String> = results
        .iter()
        .map(|result| match &result.outcome {
            LineOutcome::Answered {
                model,
                response,
                via,
                ..
            } => {
                let path = match via {
                    Via::Batch { api } => format!("batch ({api})"),
                    Via::Live { reason } => format!("live ({reason})"),
                };
                format!("{}: {model}: {} [{path}]", result.index + 1, response.text)
            }
            LineOutcome::Failed { kind, via, .. } => {
                let Via::Live { reason } = via else {
                    panic!("{via:?}")
                };
                format!("{}: failed {kind} [live ({reason})]", result.index + 1)
            }
        })
        .collect();
    insta::assert_snapshot!(summary.join("\n"), @r"
    1: gpt-5.4-mini: echo: Name the capital of France in a few words, please. [batch (OpenAI Batch API)]
    2: claude-haiku-4-5: echo: Name the capital of Spain in a few words, please. [batch (Anthropic Message Batches)]
    3: gemini-2.5-flash-lite: echo: Name the capital of Italy in a few words, please. [batch (Gemini batch mode)]
    4: deepseek-v4-flash: echo: Name the capital of Japan in a few words, please. [live (answered live: deepseek has no batch API)]
    5: gpt-5.4-mini: echo: Name the capital of Peru in a few words [mock:expired] [live (answered live: the OpenAI Batch API batch expired before it was processed)]
    6: claude-haiku-4-5: echo: Name the capital of Chile in a few words [mock:batch-error] [live (answered live: the Anthropic Message Batches failed it: anthropic: server error (HTTP 500): Internal server error)]
    7: failed invalid_request [live (answered live: the OpenAI Batch API failed it: openai: bad request: Invalid request.)]
    ");

    // Collecting again gives the same results and records nothing more.
    let again = engine.batch_collect(&mut job).await.unwrap();
    assert_eq!(again, results);
    engine.ledger().unwrap().close();

    let records = recorded(&ledger);
    assert_eq!(records.len(), 7, "one record per line");
    let catalog = engine.catalog();
    for record in &records {
        let batch = record.protocol == BATCH_ENTRY;
        assert!(
            batch || record.protocol == BATCH_LIVE_ENTRY,
            "{}",
            record.protocol
        );
        if !batch {
            continue;
        }
        let model = catalog.get(record.model.as_deref().unwrap()).unwrap();
        let discounted = model
            .cost(&record.usage, CostOptions { batch: true })
            .unwrap();
        let live = model.cost(&record.usage, CostOptions::default()).unwrap();
        assert_eq!(record.cost_usd, discounted, "{record:?}");
        assert_eq!(record.cost_usd * Decimal::TWO, live, "half price");
        assert!(
            record
                .warnings
                .iter()
                .any(|warning| warning.contains("at the batch price")),
            "{:?}",
            record.warnings
        );
    }
    let batch_rows = records
        .iter()
        .filter(|record| record.protocol == BATCH_ENTRY)
        .count();
    assert_eq!(batch_rows, 3, "lines 1-3 answered by their batches");
}

/// A line naming a model that does not exist refuses the job before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_model_refuses_the_whole_job() {
    let mock = MockUpstream::start().await.unwrap();
    let engine = Setup::new(&mock).engine();
    let error = engine
        .batch_submit(vec![
            line("auto", "fine"),
            line("gpt-17-ultra", "not a model"),
        ])
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("line 2: model `gpt-17-ultra` does not exist"),
        "{error}"
    );
    assert!(mock.requests().is_empty());
    let empty = engine.batch_submit(Vec::new()).await.unwrap_err();
    assert_eq!(empty, BatchError::Empty);
}

/// A provider without a key sends its lines to the live path, which fails over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_of_a_keyless_provider_go_live() {
    let mock = MockUpstream::start().await.unwrap();
    let engine = Setup {
        keys: &["ANTHROPIC_API_KEY", "GEMINI_API_KEY"],
        ..Setup::new(&mock)
    }
    .engine();
    let mut job = engine
        .batch_submit(vec![line(
            "gpt-5.4-mini",
            "Name the capital of France, please.",
        )])
        .await
        .unwrap();
    assert!(job.groups.is_empty());
    let results = engine.batch_collect(&mut job).await.unwrap();
    let LineOutcome::Answered { provider, via, .. } = &results[0].outcome else {
        panic!("{results:?}");
    };
    assert_ne!(provider, "openai");
    assert_eq!(
        via,
        &Via::Live {
            reason: "answered live: openai has no API key (OPENAI_API_KEY)".to_owned()
        }
    );
}

/// One line per result: its number, how it ended and by which path.
fn summarise(results: &[LineResult]) -> String {
    let lines: Vec<String> = results
        .iter()
        .map(|result| {
            let path = |via: &Via| match via {
                Via::Batch { api } => format!("batch ({api})"),
                Via::Live { reason } => format!("live ({reason})"),
            };
            match &result.outcome {
                LineOutcome::Answered {
                    model,
                    response,
                    via,
                    ..
                } => format!(
                    "{}: {model}: {} [{}]",
                    result.index + 1,
                    response.text,
                    path(via)
                ),
                LineOutcome::Failed {
                    kind, message, via, ..
                } => format!(
                    "{}: failed {kind}: {message} [{}]",
                    result.index + 1,
                    path(via)
                ),
            }
        })
        .collect();
    lines.join("\n")
}

/// Cancel before the batches end: the lines they had answered keep their answers (recorded at
/// the batch price), the lines still pending are reported `batch_cancelled`, and so are the
/// lines that would have gone live (no batch API, a line the batch failed): nothing is called
/// live, every line has a result, in input order. Cancelling again asks nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_job_keeps_answered_lines_and_reports_the_rest() {
    let mock = MockUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite3");
    let engine = Setup {
        ledger: Some(&ledger),
        ..Setup::new(&mock)
    }
    .engine();
    let lines = vec![
        line("gpt-5.4-mini", "Name the capital of France, please."),
        line(
            "gpt-5.4-mini",
            "Name the capital of Peru [mock:batch-pending]",
        ),
        line("claude-haiku-4-5", "Name the capital of Spain, please."),
        line(
            "claude-haiku-4-5",
            "Name the capital of Chile [mock:batch-pending]",
        ),
        line(
            "gemini-2.5-flash-lite",
            "Name the capital of Italy [mock:batch-pending]",
        ),
        line("deepseek-chat", "Name the capital of Japan, please."),
        line(
            "claude-haiku-4-5",
            "Name the capital of Cuba [mock:batch-error]",
        ),
        line("gemini-2.5-flash-lite", "Name the capital of Mali, please."),
    ];
    let mut job = engine.batch_submit(lines).await.unwrap();
    assert_eq!(job.groups.len(), 3);

    let report = engine.batch_cancel(&mut job).await;
    assert!(!report.had_finished());
    assert_eq!((report.requested(), report.failed()), (3, 0), "{report:?}");
    assert!(job.is_cancelled());
    let states: Vec<String> = job
        .groups
        .iter()
        .map(|group| {
            let status = group.status.as_ref().unwrap();
            format!(
                "{} {:?} {}",
                group.provider, status.state, status.provider_status
            )
        })
        .collect();
    insta::assert_snapshot!(states.join("\n"), @r"
    openai InProgress cancelling
    anthropic InProgress canceling
    google Ended BATCH_STATE_CANCELLED
    ");
    let cancels = |mock: &MockUpstream| {
        mock.requests()
            .iter()
            .filter(|request| request.path.ends_with("cancel"))
            .count()
    };
    assert_eq!(cancels(&mock), 3);
    let again = engine.batch_cancel(&mut job).await;
    assert!(
        again
            .groups
            .iter()
            .all(|group| group.outcome == CancelOutcome::AlreadyRequested),
        "{again:?}"
    );
    assert_eq!(cancels(&mock), 3, "nothing is cancelled twice");

    engine
        .batch_wait(&mut job, Duration::ZERO, Some(Duration::from_secs(10)))
        .await
        .unwrap();
    let live_before = mock.requests().len();
    let results = engine.batch_collect(&mut job).await.unwrap();
    insta::assert_snapshot!(summarise(&results), @r"
    1: gpt-5.4-mini: echo: Name the capital of France, please. [batch (OpenAI Batch API)]
    2: failed batch_cancelled: the job was cancelled before the OpenAI Batch API processed this line [batch (OpenAI Batch API)]
    3: claude-haiku-4-5: echo: Name the capital of Spain, please. [batch (Anthropic Message Batches)]
    4: failed batch_cancelled: the job was cancelled before the Anthropic Message Batches processed this line [batch (Anthropic Message Batches)]
    5: failed batch_cancelled: the job was cancelled before the Gemini batch mode processed this line [batch (Gemini batch mode)]
    6: failed batch_cancelled: the job was cancelled, so this line was not answered live (deepseek has no batch API) [live (the job was cancelled, so this line was not answered live (deepseek has no batch API))]
    7: failed batch_cancelled: the job was cancelled, so this line was not answered live (the Anthropic Message Batches failed it: anthropic: server error (HTTP 500): Internal server error) [batch (Anthropic Message Batches)]
    8: gemini-2.5-flash-lite: echo: Name the capital of Mali, please. [batch (Gemini batch mode)]
    ");
    let live_calls: Vec<String> = mock.requests()[live_before..]
        .iter()
        .filter(|request| request.method == "POST")
        .map(|request| request.path.clone())
        .collect();
    assert!(live_calls.is_empty(), "{live_calls:?}");
    for result in &results {
        if let LineOutcome::Failed { kind, .. } = &result.outcome {
            assert_eq!(kind, BATCH_CANCELLED);
            assert_eq!((&result.request_id, result.cost_usd), (&None, None));
        }
    }
    engine.ledger().unwrap().close();

    let records = recorded(&ledger);
    let protocols: Vec<&str> = records
        .iter()
        .map(|record| record.protocol.as_str())
        .collect();
    assert_eq!(
        protocols, [BATCH_ENTRY; 3],
        "only the answered lines are recorded"
    );
}

/// Cancelling a job whose batches have all ended changes nothing: the job is collected as
/// usual, live lines included. A cancel the provider fails is reported and leaves the job
/// uncancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_finished_job_is_a_no_op_and_provider_errors_are_reported() {
    let mock = MockUpstream::start().await.unwrap();
    let engine = Setup::new(&mock).engine();
    let mut job = engine
        .batch_submit(vec![
            line("gpt-5.4-mini", "Name the capital of France, please."),
            line("deepseek-chat", "Name the capital of Japan, please."),
        ])
        .await
        .unwrap();
    engine
        .batch_wait(&mut job, Duration::ZERO, Some(Duration::from_secs(10)))
        .await
        .unwrap();
    let report = engine.batch_cancel(&mut job).await;
    assert!(report.had_finished(), "{report:?}");
    assert_eq!(report.groups[0].outcome, CancelOutcome::Ended);
    assert!(!job.is_cancelled());
    let results = engine.batch_collect(&mut job).await.unwrap();
    insta::assert_snapshot!(summarise(&results), @r"
    1: gpt-5.4-mini: echo: Name the capital of France, please. [batch (OpenAI Batch API)]
    2: deepseek-v4-flash: echo: Name the capital of Japan, please. [live (answered live: deepseek has no batch API)]
    ");

    let mut job = engine
        .batch_submit(vec![line("gpt-5.4-mini", "Name the capital of Peru.")])
        .await
        .unwrap();
    job.groups[0].batch_id = Some("batch_unknown".to_owned());
    let report = engine.batch_cancel(&mut job).await;
    let CancelOutcome::Failed { message } = &report.groups[0].outcome else {
        panic!("{report:?}");
    };
    assert_eq!(message, "openai: not found: No batch found");
    assert_eq!(
        job.groups[0].cancel_error.as_deref(),
        Some(message.as_str())
    );
    assert!(!report.had_finished());
    assert!(!job.is_cancelled());
}
