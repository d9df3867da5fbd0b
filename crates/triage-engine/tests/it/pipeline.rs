//! One table per concern: what the engine plans and runs, and what it records.

use std::time::Duration;

use triage_engine::{EngineError, StreamItem, Target};
use triage_fallback::Outcome;
use triage_ledger::{LedgerReader, SummaryOptions};
use triage_mock::{MockUpstream, MockUsage, Scenario};
use triage_types::{ChatRequest, Message, Role, RouteClass};

use crate::{Setup, cli};

const PROMPT: &str = "What is the capital of France?";

/// Every request in the ledger at `path`, oldest first.
fn recorded(path: &std::path::Path) -> Vec<triage_ledger::RequestRecord> {
    LedgerReader::open(path)
        .unwrap()
        .requests(&SummaryOptions::default())
        .unwrap()
}

fn long_answer() -> Scenario {
    Scenario::text("Paris is the capital of France, and has been for many centuries now.")
}

/// `[fallback.routes.<class>]` and `[fallback.aliases.<alias>]` checks apply to the requests
/// they name (the gateway used to compile only `[fallback.checks]`, and alias checks could not
/// be set at all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_class_and_per_alias_checks_apply() {
    let cases: [(&str, &str, &str, usize); 4] = [
        // (config, model, what the short answer leads to, answer attempts)
        ("", "auto", "accepted", 1),
        (
            "[fallback.routes.faq]\nmin_chars = 40\n",
            "auto",
            "escalated",
            2,
        ),
        (
            "[aliases.quick]\nmodel = \"gpt-4o-mini\"\n[fallback.aliases.quick]\nmin_chars = 40\n",
            "quick",
            "escalated",
            2,
        ),
        (
            "[aliases.quick]\nmodel = \"gpt-4o-mini\"\n[fallback.aliases.quick]\nmin_chars = 40\n",
            "auto",
            "accepted",
            1,
        ),
    ];
    for (config, model, what, calls) in cases {
        let mock = MockUpstream::start().await.unwrap();
        mock.push(Scenario::text("Paris."));
        mock.push(long_answer());
        let engine = Setup {
            config,
            ..Setup::new(&mock)
        }
        .engine();
        let request = ChatRequest::from_prompt(PROMPT);
        let completed = engine.complete(cli(), model, &request).await.unwrap();
        assert_eq!(
            completed.answer.attempts.len(),
            calls,
            "{config} / {model}: the short answer should be {what}: {:?}",
            completed.answer.attempts
        );
    }
}

/// A model whose provider has no key is skipped with the variable that would enable it, and
/// the plan's next keyed model answers; with no key at all the error names the variables and
/// nothing is called.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_models_are_skipped_and_named() {
    let mock = MockUpstream::start().await.unwrap();
    mock.push(long_answer());
    let engine = Setup {
        keys: &["GEMINI_API_KEY", "ANTHROPIC_API_KEY"],
        ..Setup::new(&mock)
    }
    .engine();
    let request = ChatRequest::from_prompt(PROMPT);
    let planned = engine.plan("auto", &request).unwrap();
    assert_eq!(planned.plan.primary.id, "gpt-5.4-mini");
    let completed = engine.complete(cli(), "auto", &request).await.unwrap();
    assert_ne!(completed.answer.provider, "openai");
    let Outcome::SkippedNoClient { message } = &completed.answer.attempts[0].outcome else {
        panic!("{:?}", completed.answer.attempts);
    };
    assert!(message.contains("OPENAI_API_KEY"), "{message}");

    let engine = Setup {
        keys: &[],
        ..Setup::new(&mock)
    }
    .engine();
    let failed = engine.complete(cli(), "auto", &request).await.unwrap_err();
    let EngineError::NoProviderKey { variables } = &failed.error else {
        panic!("{:?}", failed.error);
    };
    assert!(
        variables.contains(&"OPENAI_API_KEY".to_owned()),
        "{variables:?}"
    );
    assert!(failed.error.to_string().starts_with("no provider key set"));
    assert_eq!(mock.requests().len(), 1, "only the first engine's call");
}

/// An unsure classification is weighed by the knob through the class probabilities (the
/// low-confidence step up is for plans the knob does not choose); either way the plan says
/// why, and what runs first is the plan's primary (the executor does not re-plan).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unsure_plan_is_what_runs() {
    let mock = MockUpstream::start().await.unwrap();
    mock.push(long_answer());
    // analyze 0.35 ahead of faq 0.30: unsure, and faq's model is the cheaper, so the class
    // stays analyze and the plan starts above analyze's tier.
    let engine = Setup {
        scores: Some([0.1, 0.3, 0.1, 0.35, 0.1, 0.05]),
        ..Setup::new(&mock)
    }
    .engine();
    let request = ChatRequest::from_prompt(PROMPT);
    let planned = engine.plan("auto", &request).unwrap();
    assert_eq!(planned.class(), Some(RouteClass::Analyze));
    assert!(
        planned
            .plan
            .reasons
            .iter()
            .any(|reason| reason.starts_with("quality 0.")),
        "{:?}",
        planned.plan.reasons
    );
    let completed = engine.complete(cli(), "auto", &request).await.unwrap();
    assert_eq!(completed.answer.attempts[0].model, planned.plan.primary.id);
    assert_eq!(completed.answer.attempts.len(), 1);

    let sure = Setup {
        scores: Some([0.0, 0.0, 0.0, 0.9, 0.1, 0.0]),
        ..Setup::new(&mock)
    }
    .engine();
    let planned_sure = sure.plan("auto", &request).unwrap();
    assert_eq!(planned_sure.class(), Some(RouteClass::Analyze));
    assert!(planned_sure.plan.quality.is_some());
}

/// A retired id resolves to its successor with a warning the caller sees; an unknown one is
/// an error listing the choices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_models_resolve_through_the_catalog() {
    let mock = MockUpstream::start().await.unwrap();
    let engine = Setup::new(&mock).engine();
    let request = ChatRequest::from_prompt(PROMPT);
    let planned = engine.plan("claude-opus-4", &request).unwrap();
    assert_eq!(
        planned.target,
        Target::Model {
            requested: "claude-opus-4".to_owned()
        }
    );
    assert_ne!(planned.plan.primary.id, "claude-opus-4");
    assert_eq!(
        planned.plan.primary.requested.as_deref(),
        Some("claude-opus-4")
    );
    assert!(!planned.warnings().is_empty());
    assert!(planned.class().is_none());
    let error = engine.plan("gpt-7", &request).unwrap_err();
    assert!(matches!(error, EngineError::UnknownModel { .. }), "{error}");
}

/// An answer the catalog cannot price (cached tokens on a model with no cached price) has an
/// unknown cost, never $0, and the ledger says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpriced_answer_fails_closed() {
    let mock = MockUpstream::start().await.unwrap();
    mock.push(long_answer().with_usage(MockUsage {
        input: 100,
        output: 20,
        cached_read: 80,
        cache_write: 0,
        reasoning: 0,
    }));
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite3");
    let config = "[catalog]\n[[catalog.models]]\nid = \"mystery\"\nprovider = \"openai\"\ntier = 1\ncontext_window = 128000\nmax_output_tokens = 4096\npricing.input = 0.1\npricing.output = 0.4\npricing.checked_on = 2026-11-01\npricing.source = \"test\"\n";
    let engine = Setup {
        config,
        ledger: Some(&ledger),
        ..Setup::new(&mock)
    }
    .engine();
    let completed = engine
        .complete(cli(), "mystery", &ChatRequest::from_prompt(PROMPT))
        .await
        .unwrap();
    assert!(
        completed.accounted.cost.is_err(),
        "{:?} {} {:?}",
        completed.accounted,
        completed.answer.model,
        completed.answer.response.usage
    );
    engine.ledger().unwrap().close();
    let records = recorded(&ledger);
    assert_eq!(records.len(), 1);
    assert!(
        records[0]
            .unpriced
            .as_deref()
            .is_some_and(|why| why.contains("mystery"))
    );
}

/// Every request is recorded exactly once, however it ends: answered, failed, streamed to the
/// end, a stream dropped by its client, or a request for an unknown model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_recorded_once() {
    let mock = MockUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite3");
    let engine = Setup {
        ledger: Some(&ledger),
        config: "[fallback]\nmax_attempts = 2\nretries_per_model = 0\n",
        ..Setup::new(&mock)
    }
    .engine();
    let request = ChatRequest::from_prompt(PROMPT);

    mock.push(long_answer());
    engine.complete(cli(), "auto", &request).await.unwrap();

    mock.push(Scenario::status(500));
    mock.push(Scenario::status(500));
    engine.complete(cli(), "auto", &request).await.unwrap_err();

    mock.push(long_answer());
    let mut stream = engine.stream(cli(), "auto", request.clone()).await.unwrap();
    let mut done = false;
    while let Some(item) = stream.next().await {
        done |= matches!(item, StreamItem::Done { .. });
    }
    assert!(done);
    drop(stream);

    mock.push(
        Scenario::text("word ".repeat(200)).with_delay_between_chunks(Duration::from_millis(20)),
    );
    let stream = engine.stream(cli(), "auto", request.clone()).await.unwrap();
    drop(stream);

    engine.complete(cli(), "gpt-7", &request).await.unwrap_err();

    // The dropped stream is recorded once its call has stopped.
    engine.settled().await;
    engine.ledger().unwrap().close();
    let outcomes: Vec<String> = recorded(&ledger)
        .iter()
        .map(|record| record.outcome.as_str().to_owned())
        .collect();
    assert_eq!(
        outcomes,
        [
            "success",
            "no_provider",
            "success",
            "client_disconnected",
            "unknown_model"
        ]
    );
}

/// The ledger says what the caller sent, which retired model was replaced and the warnings
/// the caller got; with no baseline configured, savings are measured on the catalog's
/// `default_baseline`, a current model, and the record names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_keeps_the_requested_model_and_the_baseline() {
    let mock = MockUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite3");
    let engine = Setup {
        ledger: Some(&ledger),
        ..Setup::new(&mock)
    }
    .engine();
    assert_eq!(engine.baseline(), Some("gpt-5.4"));
    let request = ChatRequest::from_prompt(PROMPT);
    mock.push(long_answer());
    engine
        .complete(cli(), "claude-opus-4", &request)
        .await
        .unwrap();
    mock.push(long_answer());
    engine.complete(cli(), "auto", &request).await.unwrap();
    engine.ledger().unwrap().close();

    let records = recorded(&ledger);
    let lines: Vec<String> = records
        .iter()
        .map(|record| {
            format!(
                "route={} resolved_from={:?} model={:?} baseline={:?} warnings={:?}",
                record.route,
                record.resolved_from,
                record.model,
                record.baseline_model,
                record.warnings
            )
        })
        .collect();
    insta::assert_snapshot!(lines.join("\n"), @r#"
    route=claude-opus-4 resolved_from=Some("claude-opus-4") model=Some("claude-opus-4-5") baseline=Some("gpt-5.4") warnings=["claude-opus-4 retired on 2026-06-15; using its successor claude-opus-4-5"]
    route=auto resolved_from=None model=Some("gpt-5.4-mini") baseline=Some("gpt-5.4") warnings=[]
    "#);
}

/// Cache affinity: a conversation with a long system prompt that a fallback model answered
/// goes on with that model (its provider holds the prompt in cache), saying why in the plan;
/// a new conversation on the same system prompt is routed afresh.
#[tokio::test]
async fn a_continued_long_conversation_stays_on_the_model_that_answered_it() {
    let mock = MockUpstream::start().await.unwrap();
    let engine = Setup {
        scores: Some([0.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
        ..Setup::new(&mock)
    }
    .engine();
    let conversation = |turns: &[&str]| {
        let mut request = ChatRequest::from_prompt(turns[0]);
        request.messages.insert(
            0,
            Message::text(Role::System, "Our refund policy, in full: ".repeat(200)),
        );
        for (index, turn) in turns.iter().enumerate().skip(1) {
            let role = if index % 2 == 1 {
                Role::Assistant
            } else {
                Role::User
            };
            request.messages.push(Message::text(role, *turn));
        }
        request
    };
    // The plan's first model refuses the request; the next answers it.
    mock.push(Scenario::status(400));
    mock.push(long_answer());
    let first = engine
        .complete(cli(), "auto", &conversation(&["Can I return shoes?"]))
        .await
        .unwrap();
    let usual = first.planned.plan.primary.id.clone();
    let answered = first.answer.model.clone();
    assert_ne!(usual, answered);

    mock.push(long_answer());
    let next = engine
        .complete(
            cli(),
            "auto",
            &conversation(&["Can I return shoes?", "Yes, within 30 days.", "And boots?"]),
        )
        .await
        .unwrap();
    assert_eq!(next.planned.plan.primary.id, answered);
    assert_eq!(next.answer.model, answered);
    assert!(
        next.planned
            .plan
            .reasons
            .iter()
            .any(|reason| reason.starts_with(&format!("cache affinity: {answered} answered"))),
        "{:?}",
        next.planned.plan.reasons
    );

    mock.push(long_answer());
    let other = engine
        .complete(cli(), "auto", &conversation(&["Where is my parcel?"]))
        .await
        .unwrap();
    assert_eq!(other.planned.plan.primary.id, usual);
}

/// A whole answer that runs past the request timeout: the executor stops at the timeout
/// itself, so the failure and the record keep the call that was cut short.
#[tokio::test]
async fn a_request_timeout_keeps_the_attempt_it_cut_short() {
    let mock = MockUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite3");
    let engine = Setup {
        ledger: Some(&ledger),
        request_timeout: Some(Duration::from_millis(300)),
        ..Setup::new(&mock)
    }
    .engine();
    mock.push(long_answer().with_delay_before_headers(Duration::from_secs(3)));
    let started = std::time::Instant::now();
    let failed = engine
        .complete(cli(), "gpt-4o-mini", &ChatRequest::from_prompt(PROMPT))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(1_200),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(failed.error, EngineError::Timeout { after_ms: 300 }),
        "{:?}",
        failed.error
    );
    let outcomes: Vec<&str> = failed
        .attempts
        .iter()
        .map(|attempt| attempt.outcome.status())
        .collect();
    assert_eq!(outcomes, ["deadline"]);
    engine.ledger().unwrap().close();
    let records = recorded(&ledger);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome.as_str(), "timeout");
    assert_eq!(records[0].attempts.len(), 1);
}
