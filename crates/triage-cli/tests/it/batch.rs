//! `triage batch` end to end: the real binary against `triage mock-upstream` (spawned on a
//! free loopback port). submit → status → results in input order, with an expired line and a
//! line the batch failed answered live, a line of a provider without a batch API answered
//! live, the batch discount in the ledger that `triage report` reads; bad input refused with
//! its line number; cancel keeping the answered lines and reporting the rest; and the mock's
//! batch APIs checked with the official Python SDKs (`tests/e2e/sdk_batches.py`).
#![expect(clippy::unwrap_used, reason = "test helpers panic on setup failures")]

use std::path::Path;
use std::process::{Command, Output};

use rust_decimal::Decimal;
use serde_json::Value;
use triage_catalog::{Catalog, CostOptions};
use triage_types::Usage;

use crate::gateway::{mock_envs, report_json, start};

/// `triage batch ARGS` with the providers pointed at the mock.
fn batch(mock_url: &str, args: &[&str]) -> Output {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("triage"));
    command.arg("batch").args(args);
    for (name, value) in mock_envs(mock_url) {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const INPUT: &str = r#"{"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": "Name the capital of France, in a few words please."}]}
{"model": "claude-haiku-4-5", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name the capital of Spain, in a few words please."}]}

{"custom_id": "mine-3", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gemini-2.5-flash-lite", "messages": [{"role": "user", "content": "Name the capital of Italy, in a few words please."}]}}
{"model": "deepseek-chat", "messages": [{"role": "user", "content": "Name the capital of Japan, in a few words please."}]}
{"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": "Name the capital of Peru, in a few words [mock:expired]"}]}
{"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "Name the capital of Chile, in a few words [mock:batch-error]"}]}
"#;

#[test]
fn submit_status_results_in_order_with_the_discount_in_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let (_mock, mock_url) = start(
        &["mock-upstream", "--port", "0"],
        &[],
        "mock upstream listening on ",
    );
    let input = dir.path().join("input.jsonl");
    std::fs::write(&input, INPUT).unwrap();
    let jobs = dir.path().join("jobs");
    let ledger = dir.path().join("ledger.sqlite3");
    let common = [
        "--dir",
        jobs.to_str().unwrap(),
        "--ledger",
        ledger.to_str().unwrap(),
        "--as-of",
        "2026-11-29",
    ];

    let mut args = vec!["submit", input.to_str().unwrap(), "--strategy", "keyword"];
    args.extend(common);
    let submitted = batch(&mock_url, &args);
    let stderr = text(&submitted.stderr);
    assert!(submitted.status.success(), "{stderr}");
    let id = text(&submitted.stdout).trim().to_owned();
    assert!(id.starts_with("batch_"), "{id}");
    assert!(jobs.join(format!("{id}.json")).is_file());
    for expected in [
        "submitted 6 line(s): 5 through batch APIs, 1 for the live path",
        "openai gpt-5.4-mini: 2 line(s) via OpenAI Batch API",
        "anthropic: 2 line(s) via Anthropic Message Batches",
        "google gemini-2.5-flash-lite: 1 line(s) via Gemini batch mode",
        "line 5: live path (deepseek has no batch API)",
    ] {
        assert!(stderr.contains(expected), "{expected}\n{stderr}");
    }

    // The first poll: every provider batch still in progress; results refuse without --wait.
    let mut args = vec!["status", &id, "--json"];
    args.extend(common);
    let status = batch(&mock_url, &args);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let states: Vec<&str> = status["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|group| group["status"]["provider_status"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["in_progress", "in_progress", "BATCH_STATE_RUNNING"]
    );
    assert_eq!(status["finished"], false);

    let out = dir.path().join("results.jsonl");
    let mut args = vec![
        "results",
        &id,
        "--wait",
        "--poll-interval",
        "0",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(common);
    let results = batch(&mock_url, &args);
    let stderr = text(&results.stderr);
    assert!(results.status.success(), "{stderr}");
    assert!(
        stderr.contains("6 line(s): 3 answered through batch APIs, 3 live, 0 failed"),
        "{stderr}"
    );
    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let summary: Vec<String> = lines
        .iter()
        .map(|line| {
            format!(
                "{} {} {} {}: {}",
                line["line"],
                line["custom_id"].as_str().unwrap(),
                line["x_triage"]["via"].as_str().unwrap(),
                line["x_triage"]["model"].as_str().unwrap(),
                line["response"]["body"]["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap()
            )
        })
        .collect();
    insta::assert_snapshot!(summary.join("\n"), @r"
    1 line-1 batch gpt-5.4-mini: echo: Name the capital of France, in a few words please.
    2 line-2 batch claude-haiku-4-5: echo: Name the capital of Spain, in a few words please.
    4 mine-3 batch gemini-2.5-flash-lite: echo: Name the capital of Italy, in a few words please.
    5 line-5 live gpt-5.4-mini: echo: Name the capital of Japan, in a few words please.
    6 line-6 live gpt-5.4-mini: echo: Name the capital of Peru, in a few words [mock:expired]
    7 line-7 live claude-haiku-4-5: echo: Name the capital of Chile, in a few words [mock:batch-error]
    ");
    let reasons: Vec<&str> = lines[3..]
        .iter()
        .map(|line| line["x_triage"]["reason"].as_str().unwrap())
        .collect();
    insta::assert_snapshot!(reasons.join("\n"), @r"
    answered live: deepseek has no batch API
    answered live: the OpenAI Batch API batch expired before it was processed
    answered live: the Anthropic Message Batches failed it: anthropic: server error (HTTP 500): Internal server error
    ");
    for line in &lines {
        assert_eq!(line["response"]["status_code"], 200);
        assert_eq!(line["response"]["body"]["object"], "chat.completion");
        assert!(line["error"].is_null());
    }

    // Collecting again writes the same lines and records nothing more.
    let again = batch(&mock_url, &args);
    assert!(again.status.success(), "{}", text(&again.stderr));
    let first = std::fs::read_to_string(&out).unwrap();
    assert_eq!(first.lines().count(), 6);

    // The ledger: one record per line; batch answers at half the live price.
    let report = report_json(&[ledger.to_str().unwrap()]);
    assert_eq!(report["requests"], 6, "{report:#}");
    let catalog = Catalog::embedded();
    let usage = Usage {
        input_tokens: 12,
        output_tokens: 5,
        ..Usage::default()
    };
    let mut batch_cost = Decimal::ZERO;
    let mut live_cost = Decimal::ZERO;
    for line in lines
        .iter()
        .filter(|line| line["x_triage"]["via"] == "batch")
    {
        let model = catalog
            .get(line["x_triage"]["model"].as_str().unwrap())
            .unwrap();
        batch_cost += model.cost(&usage, CostOptions { batch: true }).unwrap();
        live_cost += model.cost(&usage, CostOptions::default()).unwrap();
    }
    assert_eq!(batch_cost * Decimal::TWO, live_cost);
    let recorded: Decimal = lines
        .iter()
        .filter(|line| line["x_triage"]["via"] == "batch")
        .map(|line| {
            line["x_triage"]["cost_usd"]
                .as_f64()
                .map(|cost| Decimal::try_from(cost).unwrap())
                .unwrap()
        })
        .sum();
    assert_eq!(recorded.round_dp(12), batch_cost.round_dp(12));
}

const CANCEL_INPUT: &str = r#"{"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": "Name the capital of France, in a few words please."}]}
{"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": "Name the capital of Peru [mock:batch-pending]"}]}
{"custom_id": "mine-3", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "Name the capital of Spain, in a few words please."}]}}
{"model": "deepseek-chat", "messages": [{"role": "user", "content": "Name the capital of Japan, in a few words please."}]}
{"model": "gemini-2.5-flash-lite", "messages": [{"role": "user", "content": "Name the capital of Italy [mock:batch-pending]"}]}
"#;

/// submit → cancel → status → results: the lines the batches answered before the cancel are
/// written as usual, every other line (pending in its batch, or meant for the live path) as a
/// `batch_cancelled` error, in input order; only the answers are recorded. Cancelling again,
/// or after collection, says there is nothing to do; an unknown job is a usage error.
#[test]
fn cancel_keeps_the_answered_lines_and_reports_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (_mock, mock_url) = start(
        &["mock-upstream", "--port", "0"],
        &[],
        "mock upstream listening on ",
    );
    let input = dir.path().join("input.jsonl");
    std::fs::write(&input, CANCEL_INPUT).unwrap();
    let jobs = dir.path().join("jobs");
    let ledger = dir.path().join("ledger.sqlite3");
    let common = [
        "--dir",
        jobs.to_str().unwrap(),
        "--ledger",
        ledger.to_str().unwrap(),
        "--as-of",
        "2026-11-29",
    ];
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(common);
        batch(&mock_url, &all)
    };

    let submitted = run(&["submit", input.to_str().unwrap(), "--strategy", "keyword"]);
    assert!(submitted.status.success(), "{}", text(&submitted.stderr));
    let id = text(&submitted.stdout).trim().to_owned();

    let cancelled = run(&["cancel", &id]);
    assert!(cancelled.status.success(), "{}", text(&cancelled.stderr));
    insta::assert_snapshot!(text(&cancelled.stdout).replace(&id, "JOB"), @r"
    JOB: asked 3 provider batch(es) to cancel
      openai gpt-5.4-mini batch_mock_2: cancel requested, now cancelling
      anthropic msgbatch_mock_3: cancel requested, now canceling
      google gemini-2.5-flash-lite batches/mock-4: cancel requested, now BATCH_STATE_CANCELLED
    ");
    assert!(
        text(&cancelled.stderr).contains("reported as batch_cancelled"),
        "{}",
        text(&cancelled.stderr)
    );

    let again = run(&["cancel", &id, "--json"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["cancelled"], true, "{again:#}");
    assert_eq!(again["requested"], 0, "{again:#}");
    let actions: Vec<&str> = again["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|group| group["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["already_requested"; 3]);

    let status = run(&["status", &id, "--json"]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        (&status["cancelled"], &status["finished"]),
        (&Value::Bool(true), &Value::Bool(true))
    );
    let states: Vec<String> = status["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|group| {
            format!(
                "{} cancelled {}",
                group["status"]["provider_status"].as_str().unwrap(),
                group["status"]["counts"]["cancelled"]
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            "cancelled cancelled 1",
            "ended cancelled 0",
            "BATCH_STATE_CANCELLED cancelled 1"
        ]
    );
    let status_text = run(&["status", &id]);
    let stdout = text(&status_text.stdout);
    assert!(
        stdout.contains("cancelled: run `triage batch results`"),
        "{stdout}"
    );
    assert!(text(&status_text.stderr).contains("[cancel requested]"));

    let out = dir.path().join("results.jsonl");
    let results = run(&["results", &id, "--out", out.to_str().unwrap()]);
    let stderr = text(&results.stderr);
    assert!(results.status.success(), "{stderr}");
    assert!(
        stderr.contains("5 line(s): 2 answered through batch APIs, 0 live, 0 failed, 3 cancelled"),
        "{stderr}"
    );
    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let summary: Vec<String> = lines
        .iter()
        .map(|line| {
            let what = match line["error"]["code"].as_str() {
                Some(code) => format!("{code}: {}", line["error"]["message"].as_str().unwrap()),
                None => line["response"]["body"]["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            };
            format!(
                "{} {} {}: {what}",
                line["line"],
                line["custom_id"].as_str().unwrap(),
                line["x_triage"]["via"].as_str().unwrap(),
            )
        })
        .collect();
    insta::assert_snapshot!(summary.join("\n"), @r"
    1 line-1 batch: echo: Name the capital of France, in a few words please.
    2 line-2 batch: batch_cancelled: the job was cancelled before the OpenAI Batch API processed this line
    3 mine-3 batch: echo: Name the capital of Spain, in a few words please.
    4 line-4 live: batch_cancelled: the job was cancelled, so this line was not answered live (deepseek has no batch API)
    5 line-5 batch: batch_cancelled: the job was cancelled before the Gemini batch mode processed this line
    ");
    for line in lines.iter().filter(|line| !line["error"].is_null()) {
        assert!(line["response"].is_null(), "{line}");
        assert!(line["x_triage"]["request_id"].is_null(), "{line}");
    }

    let report = report_json(&[ledger.to_str().unwrap()]);
    assert_eq!(report["requests"], 2, "only the answered lines: {report:#}");

    let late = run(&["cancel", &id]);
    assert!(late.status.success(), "{}", text(&late.stderr));
    assert!(
        text(&late.stdout).contains("its results were collected already; nothing to cancel"),
        "{}",
        text(&late.stdout)
    );
    let unknown = run(&["cancel", "batch_0"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).contains("no batch job batch_0"));
}

#[test]
fn bad_lines_are_named_and_nothing_is_submitted() {
    let dir = tempfile::tempdir().unwrap();
    let (_mock, mock_url) = start(
        &["mock-upstream", "--port", "0"],
        &[],
        "mock upstream listening on ",
    );
    let input = dir.path().join("input.jsonl");
    std::fs::write(
        &input,
        "{\"model\": \"auto\", \"messages\": [{\"role\": \"user\", \"content\": \"fine\"}]}\n\
         {\"model\": \"auto\", \"messages\": []}\n\
         not json\n",
    )
    .unwrap();
    let jobs = dir.path().join("jobs");
    let output = batch(
        &mock_url,
        &[
            "submit",
            input.to_str().unwrap(),
            "--dir",
            jobs.to_str().unwrap(),
            "--no-ledger",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("2 bad line(s); nothing was submitted"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 2: `messages` must hold at least one message"),
        "{stderr}"
    );
    assert!(stderr.contains("line 3: not valid JSON"), "{stderr}");
    assert!(!jobs.exists());

    let unknown = batch(
        &mock_url,
        &["status", "batch_0", "--dir", jobs.to_str().unwrap()],
    );
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).contains("no batch job batch_0"));
}

fn python_sdks_importable() -> bool {
    Command::new("python3")
        .args(["-c", "import openai, anthropic"])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// The official OpenAI and Anthropic SDKs drive the mock's batch APIs (files, batches,
/// message batches, results, cancel), so the mock the clients are tested against is one the
/// SDKs accept. Without the SDKs the test says so and passes, but fails under `CI=true`.
#[test]
fn official_sdks_accept_the_mock_batch_apis() {
    if !python_sdks_importable() {
        let ci = std::env::var("CI").is_ok_and(|value| value == "true" || value == "1");
        assert!(
            !ci,
            "CI=true but the `openai` and `anthropic` Python packages are not importable"
        );
        eprintln!(
            "\n\n!!!!!!!! SKIPPED batch SDK check: python3 -m pip install openai anthropic !!!!!!!!\n"
        );
        return;
    }
    let (_mock, mock_url) = start(
        &["mock-upstream", "--port", "0"],
        &[],
        "mock upstream listening on ",
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/sdk_batches.py");
    let output = Command::new("python3")
        .arg(script)
        .env("TRIAGE_MOCK_URL", &mock_url)
        .output()
        .unwrap();
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "SDK checks failed:\n{stdout}\n{}",
        text(&output.stderr)
    );
    assert!(
        stdout.contains(r#"{"check": "all", "ok": true"#),
        "{stdout}"
    );
}
