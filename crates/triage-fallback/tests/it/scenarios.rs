//! The fallback scenarios as one table: each case scripts the mock upstreams (one per
//! provider), runs one or more requests through the executor, and snapshots every attempt
//! recorded and the final answer or error.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use triage_catalog::Catalog;
use triage_fallback::{
    Attempt, AttemptKind, Executor, FallbackConfig, FallbackEvent, FallbackSettings, JudgeConfig,
    Next, Outcome,
};
use triage_mock::{MockFinish, MockUpstream, Scenario};
use triage_providers::{
    ApiKey, HttpClientOptions, Protocol, ProviderSettings, build_http_client, build_provider,
};
use triage_strategies::RoutePlan;
use triage_types::{ChatRequest, ResponseFormat, RouteClass, StreamEvent};

const CATALOG: &str = include_str!("fixtures/catalog.toml");

/// One scenario: what the mocks answer, which plan and request, and how many requests.
struct Case {
    name: &'static str,
    plan: &'static [&'static str],
    /// Stream the answer instead of waiting for it whole.
    stream: bool,
    /// Ask for a JSON object.
    json: bool,
    /// Answers of the OpenAI-protocol mock, in order (then it echoes).
    openai: Vec<Scenario>,
    /// Answers of the Anthropic-protocol mock, in order (then it echoes).
    anthropic: Vec<Scenario>,
    /// Milliseconds to wait before each request; its length is the number of requests.
    pauses_ms: &'static [u64],
    /// Adjusts the test configuration.
    configure: fn(&mut FallbackConfig),
    /// The most wall time the whole case may take.
    within_ms: u64,
}

impl Default for Case {
    fn default() -> Self {
        Case {
            name: "",
            plan: &[
                "cheap-openai",
                "cheap-anthropic",
                "mid-openai",
                "big-anthropic",
            ],
            stream: false,
            json: false,
            openai: Vec::new(),
            anthropic: Vec::new(),
            pauses_ms: &[0],
            configure: |_| {},
            within_ms: 8_000,
        }
    }
}

/// Short limits so the table runs in a couple of seconds, with room for a loaded machine.
fn test_config() -> FallbackConfig {
    let mut config = FallbackConfig {
        max_attempts: 6,
        deadline_ms: 5_000,
        attempt_timeout_ms: 2_000,
        first_token_timeout_ms: 2_000,
        retries_per_model: 1,
        backoff_base_ms: 5,
        max_retry_wait_ms: 500,
        ..FallbackConfig::default()
    };
    config.stream.holdback_chars = 40;
    config.breaker.minimum_requests = 2;
    config.breaker.window_ms = 10_000;
    config.breaker.cooldown_ms = 300;
    config
}

fn long_sentence() -> String {
    "The answer is a complete sentence. It goes on with more detail that the caller reads as \
     it streams in."
        .to_owned()
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "rate_limited_then_success",
            openai: vec![
                Scenario::status(429).with_retry_after("0.05"),
                Scenario::text(long_sentence()),
            ],
            ..Case::default()
        },
        Case {
            name: "server_errors_fail_over_to_other_provider",
            openai: vec![Scenario::status(500), Scenario::status(500)],
            anthropic: vec![Scenario::text(long_sentence())],
            ..Case::default()
        },
        Case {
            name: "timeout_before_first_token_fails_over",
            stream: true,
            openai: vec![
                Scenario::text(long_sentence())
                    .with_delay_before_first_chunk(Duration::from_secs(5)),
            ],
            anthropic: vec![Scenario::text(long_sentence())],
            configure: |config| {
                config.retries_per_model = 0;
                config.first_token_timeout_ms = 600;
            },
            within_ms: 4_000,
            ..Case::default()
        },
        Case {
            name: "empty_cheap_answer_escalates",
            plan: &["cheap-openai", "mid-openai", "big-anthropic"],
            openai: vec![Scenario::empty(), Scenario::text(long_sentence())],
            ..Case::default()
        },
        Case {
            name: "cut_off_answer_escalates",
            plan: &["cheap-openai", "cheap-anthropic", "mid-openai"],
            openai: vec![
                Scenario::text("The answer begins and then").with_finish(MockFinish::Length),
                Scenario::text(long_sentence()),
            ],
            ..Case::default()
        },
        Case {
            name: "invalid_json_escalates",
            plan: &["cheap-openai", "big-anthropic"],
            json: true,
            openai: vec![Scenario::text("Sure! Here it is: {\"name\": \"Ada\"}")],
            anthropic: vec![Scenario::json(&serde_json::json!({"name": "Ada"}))],
            ..Case::default()
        },
        Case {
            name: "stream_cut_before_first_byte_falls_back_transparently",
            stream: true,
            openai: vec![Scenario::cut_stream("Partial ans")],
            anthropic: vec![Scenario::text(long_sentence())],
            configure: |config| config.retries_per_model = 0,
            ..Case::default()
        },
        Case {
            name: "stream_cut_after_bytes_ends_with_error_event",
            stream: true,
            openai: vec![Scenario::cut_stream(long_sentence())],
            ..Case::default()
        },
        Case {
            name: "stream_refusal_in_head_escalates",
            plan: &["cheap-openai", "big-anthropic"],
            stream: true,
            openai: vec![Scenario::text(
                "I'm sorry, but I can't help with that request.",
            )],
            anthropic: vec![Scenario::text(long_sentence())],
            ..Case::default()
        },
        Case {
            name: "circuit_breaker_opens_skips_and_closes",
            plan: &["cheap-openai", "cheap-anthropic"],
            // Request 1: a 500 and its retry count once (one request), below the minimum of
            // two calls; request 2's 500 makes 2 of 2 and opens the breaker, so it is not
            // retried; request 3 skips openai; request 4, after the cool-down, probes openai
            // and closes the breaker.
            openai: vec![
                Scenario::status(500),
                Scenario::status(500),
                Scenario::status(500),
                Scenario::text(long_sentence()),
            ],
            anthropic: vec![
                Scenario::text(long_sentence()),
                Scenario::text(long_sentence()),
                Scenario::text(long_sentence()),
            ],
            pauses_ms: &[0, 0, 0, 350],
            ..Case::default()
        },
        Case {
            name: "deadline_respected",
            plan: &["cheap-openai", "cheap-anthropic"],
            openai: vec![
                Scenario::text(long_sentence()).with_delay_before_headers(Duration::from_secs(2)),
            ],
            configure: |config| config.deadline_ms = 250,
            within_ms: 1_500,
            ..Case::default()
        },
        Case {
            name: "judge_rejects_then_passes",
            plan: &["cheap-openai", "mid-openai"],
            openai: vec![
                Scenario::text("Paris is in Italy, of course."),
                Scenario::text(long_sentence()),
            ],
            anthropic: vec![
                Scenario::text("FAIL\nParis is in France."),
                Scenario::text("PASS"),
            ],
            configure: |config| {
                config.checks.judge = Some(JudgeConfig {
                    enabled: true,
                    model: "cheap-anthropic".to_owned(),
                    rubric: None,
                });
            },
            ..Case::default()
        },
        Case {
            name: "refused_key_skips_the_providers_other_models",
            plan: &["cheap-openai", "mid-openai", "big-anthropic"],
            openai: vec![Scenario::status(401)],
            anthropic: vec![Scenario::text(long_sentence())],
            ..Case::default()
        },
        Case {
            name: "every_model_fails_is_a_typed_error",
            plan: &["cheap-openai", "mid-openai"],
            openai: vec![Scenario::status(404), Scenario::empty()],
            ..Case::default()
        },
        Case {
            // A 400 is not escalated: one failover to another provider (the 400 may be
            // provider-specific), then the caller's error, after two calls.
            name: "every_provider_says_bad_request",
            openai: vec![Scenario::status(400); 4],
            anthropic: vec![Scenario::status(400); 4],
            ..Case::default()
        },
        Case {
            name: "every_provider_says_bad_request_streaming",
            stream: true,
            openai: vec![Scenario::status(400); 4],
            anthropic: vec![Scenario::status(400); 4],
            ..Case::default()
        },
        Case {
            name: "bad_request_on_one_provider_fails_over_once",
            openai: vec![Scenario::status(400)],
            anthropic: vec![Scenario::text(long_sentence())],
            ..Case::default()
        },
        Case {
            name: "max_attempts_bounds_the_walk",
            plan: &["cheap-openai", "cheap-anthropic", "mid-openai"],
            openai: vec![Scenario::status(503).with_retry_after("0.01"); 2],
            anthropic: vec![Scenario::status(503).with_retry_after("0.01"); 2],
            configure: |config| config.max_attempts = 3,
            ..Case::default()
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_scenarios() {
    for case in cases() {
        let name = case.name;
        let rendered = check(case).await;
        insta::assert_snapshot!(name, rendered);
    }
}

/// Runs one case and renders what happened: per request, the attempts and the result.
async fn check(case: Case) -> String {
    let openai = MockUpstream::start().await.unwrap();
    let anthropic = MockUpstream::start().await.unwrap();
    for scenario in case.openai {
        openai.push(scenario);
    }
    for scenario in case.anthropic {
        anthropic.push(scenario);
    }
    let client = build_http_client(&HttpClientOptions::default()).unwrap();
    let key = || ApiKey::new("test-key");
    let openai_client = build_provider(
        ProviderSettings::new("openai", Protocol::OpenAi, openai.openai_base_url())
            .with_api_key(key()),
        client.clone(),
    )
    .unwrap();
    let anthropic_client = build_provider(
        ProviderSettings::new("anthropic", Protocol::Anthropic, anthropic.url())
            .with_api_key(key()),
        client,
    )
    .unwrap();
    let catalog = Arc::new(Catalog::parse(CATALOG, "fixtures/catalog.toml").unwrap());
    let mut config = test_config();
    (case.configure)(&mut config);
    let settings = FallbackSettings::from_config(&config).unwrap();
    let checks = settings.checks(None, None).clone();
    let executor = Executor::builder(catalog.clone(), settings)
        .provider(openai_client)
        .provider(anthropic_client)
        .build();
    let plan = RoutePlan::fixed(&catalog, RouteClass::Faq, case.plan).unwrap();
    let mut request = ChatRequest::from_prompt("What is the capital of France?");
    if case.json {
        request.response_format = Some(ResponseFormat::JsonObject);
    }

    let started = Instant::now();
    let mut out = String::new();
    for (index, pause) in case.pauses_ms.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(*pause)).await;
        let mode = if case.stream { "stream" } else { "complete" };
        writeln!(out, "request {} ({mode}):", index + 1).unwrap();
        if case.stream {
            let events = executor
                .stream(plan.clone(), request.clone(), checks.clone())
                .collect::<Vec<_>>()
                .await;
            render_events(&mut out, &events);
        } else {
            match executor.execute(&plan, &request, &checks).await {
                Ok(answer) => {
                    render_attempts(&mut out, &answer.attempts);
                    let total = answer.total_cost().unwrap();
                    writeln!(
                        out,
                        "  => answer from {} ({}): {:?}, total cost ${total}",
                        answer.model, answer.provider, answer.response.text
                    )
                    .unwrap();
                }
                Err(failure) => {
                    render_attempts(&mut out, &failure.attempts);
                    writeln!(
                        out,
                        "  => error {}: {}",
                        failure.error.kind(),
                        failure.error
                    )
                    .unwrap();
                    if let Some(last) = &failure.last_answer {
                        writeln!(out, "  => last rejected answer: {:?}", last.text).unwrap();
                    }
                }
            }
        }
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(case.within_ms),
        "{} took {elapsed:?}",
        case.name
    );
    writeln!(
        out,
        "upstream calls: openai={} anthropic={}",
        openai.requests().len(),
        anthropic.requests().len()
    )
    .unwrap();
    writeln!(
        out,
        "breakers: {}",
        executor
            .breaker()
            .snapshot()
            .iter()
            .map(|breaker| format!("{}={:?}/{}", breaker.key, breaker.state, breaker.failures))
            .collect::<Vec<_>>()
            .join(" ")
    )
    .unwrap();
    out
}

fn render_attempts(out: &mut String, attempts: &[Attempt]) {
    for attempt in attempts {
        let kind = match attempt.kind {
            AttemptKind::Answer => "",
            AttemptKind::Judge => "judge ",
        };
        let outcome = match &attempt.outcome {
            Outcome::ProviderError { kind, .. } => format!("provider_error({kind})"),
            Outcome::QualityFailed { failure } => format!("quality_failed({})", failure.kind()),
            Outcome::SkippedCircuitOpen { breaker, .. } => {
                format!("skipped_circuit_open({breaker})")
            }
            other => other.status().to_owned(),
        };
        let next = match attempt.next {
            // Jittered waits vary; waits a provider asked for are exact.
            Next::Retry { after_ms } => match &attempt.outcome {
                Outcome::ProviderError { kind, .. }
                    if kind == "rate_limited" || kind == "overloaded" =>
                {
                    format!("retry after {after_ms} ms")
                }
                _ => "retry".to_owned(),
            },
            other => format!("{other:?}").to_lowercase(),
        };
        let cost = match (&attempt.cost_usd, &attempt.cost_error) {
            (Some(cost), _) => format!(" ${cost}"),
            (None, Some(error)) => format!(" cost error: {error}"),
            (None, None) => String::new(),
        };
        writeln!(
            out,
            "  {kind}{} @{} t{}: {outcome} -> {next}{cost}",
            attempt.model, attempt.provider, attempt.tier
        )
        .unwrap();
    }
}

fn render_events(out: &mut String, events: &[FallbackEvent]) {
    let mut text = String::new();
    let mut shape: Vec<String> = Vec::new();
    for event in events {
        let label = match event {
            FallbackEvent::Start { model, .. } => format!("start({model})"),
            FallbackEvent::Delta(StreamEvent::TextDelta { text: piece }) => {
                text.push_str(piece);
                "text".to_owned()
            }
            FallbackEvent::Delta(StreamEvent::Usage { .. }) => "usage".to_owned(),
            FallbackEvent::Delta(StreamEvent::Finish { reason }) => format!("finish({reason:?})"),
            FallbackEvent::Delta(other) => format!("{other:?}"),
            FallbackEvent::Done(summary) => {
                render_attempts(out, &summary.attempts);
                format!("done({})", summary.model)
            }
            FallbackEvent::Error(failure) => {
                render_attempts(out, &failure.attempts);
                format!("error({})", failure.error.kind())
            }
        };
        if label == "text" && shape.last().is_some_and(|last| last.starts_with("text")) {
            continue;
        }
        shape.push(label);
    }
    writeln!(out, "  => events: {}", shape.join(" ")).unwrap();
    writeln!(out, "  => streamed text: {text:?}").unwrap();
    let terminal = events
        .iter()
        .filter(|event| matches!(event, FallbackEvent::Done(_) | FallbackEvent::Error(_)))
        .count();
    assert_eq!(terminal, 1, "exactly one terminal event");
    assert!(matches!(
        events.last(),
        Some(FallbackEvent::Done(_) | FallbackEvent::Error(_))
    ));
}
