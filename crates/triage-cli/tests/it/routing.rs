//! `triage route`, `classify`, `eval` and `config check`: outputs, contracts and bad input.

use std::io::Write;
use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::Value;

const AS_OF: &str = "2026-11-29";

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// Runs `triage` with `args` (and `stdin`), without `TRIAGE_CONFIG` from the environment;
/// answers the exit code, stdout and stderr.
fn triage_with_input(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let output = Command::cargo_bin("triage")
        .expect("the triage binary is built")
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("TRIAGE_CONFIG")
        .write_stdin(stdin.to_vec())
        .output()
        .expect("triage runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    )
}

fn triage(args: &[&str]) -> (i32, String, String) {
    triage_with_input(args, b"")
}

/// `route` arguments on the test catalog, fixed day.
fn route(extra: &[&str]) -> (i32, String, String) {
    let catalog = fixture("routing-catalog.toml");
    let mut args = vec!["route", "--catalog", &catalog, "--as-of", AS_OF];
    args.extend_from_slice(extra);
    triage(&args)
}

#[test]
fn route_explains_its_choice() {
    let cases = [
        (
            "route_poem_explain",
            vec![
                "--strategy",
                "keyword",
                "--explain",
                "Write a poem about the sea at night",
            ],
        ),
        (
            "route_code_plain",
            vec![
                "--strategy",
                "keyword",
                "Write a Python function that parses ISO dates",
            ],
        ),
        (
            "route_length_strategy",
            vec![
                "--strategy",
                "length",
                "--explain",
                "What is the capital of Peru?",
            ],
        ),
        (
            "route_reason_retired_model",
            vec![
                "--explain",
                "--strategy",
                "keyword",
                "If a train leaves at 3pm going 60 mph and another at 4pm going 80 mph, how many hours until the second catches up? Plan the steps.",
            ],
        ),
    ];
    for (name, args) in cases {
        let (code, stdout, stderr) = route(&args);
        assert_eq!(code, 0, "{stderr}");
        insta::assert_snapshot!(name, stdout);
    }
}

#[test]
fn route_json_is_one_object() {
    let (code, stdout, stderr) = route(&[
        "--strategy",
        "keyword",
        "--json",
        "Translate into French: good morning, everyone",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let value: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value["class"], "transform");
    assert_eq!(value["model"], "test-mid");
    assert_eq!(value["strategy"], "keyword");
    for key in [
        "confidence",
        "fallbacks",
        "estimated_cost_usd",
        "estimated_input_tokens",
        "reasons",
        "warnings",
        "scores",
    ] {
        assert!(value.get(key).is_some(), "missing {key}: {value}");
    }
    assert!(value["estimated_cost_usd"].as_f64().unwrap() > 0.0);
}

#[test]
fn route_defaults_to_the_embedded_model() {
    let (code, stdout, stderr) = route(&["--json", "Write a poem about the sea at night"]);
    assert_eq!(code, 0, "{stderr}");
    let value: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value["strategy"], "model");
    assert!(
        value["reasons"][0].as_str().unwrap().starts_with("model "),
        "{value}"
    );
}

#[test]
fn route_with_config_applies_rules_routes_and_keywords() {
    let config = fixture("routing-config.toml");
    let (code, stdout, stderr) = route(&[
        "--config",
        &config,
        "--explain",
        "Please review this contract clause",
    ]);
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!("route_config_rule", stdout);
    let (_, stdout, _) = route(&[
        "--config",
        &config,
        "--json",
        "Say a few words as a wedding toast",
    ]);
    let value: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value["class"], "critical", "{value}");
}

#[test]
fn route_usage_errors_exit_2() {
    let (code, _, stderr) = route(&[
        "--strategy",
        "model",
        "--model-dir",
        "/nonexistent/model",
        "hello",
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("cannot load the classifier model from /nonexistent/model"),
        "{stderr}"
    );
    let (code, _, stderr) = route(&["--config", &fixture("bad-config.toml"), "hello"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("bad-config.toml:6:1"), "{stderr}");
    assert!(stderr.contains("rules[0].clas"), "{stderr}");
}

#[test]
fn classify_writes_one_line_per_input_in_order() {
    let (code, stdout, stderr) = triage(&[
        "classify",
        "--strategy",
        "keyword",
        "--jsonl",
        &fixture("labelled.jsonl"),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 30);
    assert_eq!(lines[0]["id"], "x1");
    assert_eq!(lines[29]["id"], "c5");
    for line in &lines {
        let object = line.as_object().unwrap();
        assert_eq!(object.len(), 3, "{line}");
        assert!(object["class"].is_string());
        let confidence = object["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&confidence));
    }
    insta::assert_snapshot!("classify_keyword_fixture", stdout);
}

#[test]
fn classify_ids_default_to_line_numbers_and_blank_lines_are_skipped() {
    let input = b"{\"text\": \"What is the capital of Peru?\"}\n\n{\"text\": \"Write a haiku\", \"label\": \"x\"}\n{\"id\": 7, \"text\": \"hi\"}\n";
    let (code, stdout, stderr) =
        triage_with_input(&["classify", "--strategy", "length", "--jsonl", "-"], input);
    assert_eq!(code, 0, "{stderr}");
    let ids: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["id"].clone())
        .collect();
    assert_eq!(ids, [Value::from(0), Value::from(2), Value::from(7)]);
}

#[test]
fn classify_bad_lines_exit_2_naming_the_line() {
    let input = b"{\"text\": \"ok\"}\n{\"text\": \"fine\"}\n{\"txt\": \"oops\"}\n{\"text\": \"never read\"}\n";
    let (code, stdout, stderr) = triage_with_input(
        &["classify", "--strategy", "keyword", "--jsonl", "-"],
        input,
    );
    assert_eq!(code, 2);
    assert_eq!(
        stdout.lines().count(),
        2,
        "lines before the bad one are written"
    );
    assert!(
        stderr.contains("line 3 (1-based): no `text` field"),
        "{stderr}"
    );

    for bad in ["not json", "[1, 2]", "{\"text\": 42}"] {
        let input = format!("{bad}\n");
        let (code, _, stderr) = triage_with_input(&["classify", "--jsonl", "-"], input.as_bytes());
        assert_eq!(code, 2, "{bad}");
        assert!(stderr.contains("line 1 (1-based)"), "{stderr}");
    }
}

#[test]
fn classify_skip_invalid_warns_and_continues() {
    let input = b"{\"text\": \"ok\"}\nnope\n{\"text\": 1}\n{\"id\": \"z\", \"text\": \"fine\"}\n";
    let (code, stdout, stderr) = triage_with_input(
        &[
            "classify",
            "--strategy",
            "keyword",
            "--skip-invalid",
            "--jsonl",
            "-",
        ],
        input,
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 2);
    assert!(stderr.contains("line 2 (1-based) skipped"), "{stderr}");
    assert!(stderr.contains("line 3 (1-based) skipped"), "{stderr}");
}

#[test]
fn classify_streams_ten_thousand_lines() {
    let mut input = Vec::new();
    for index in 0..10_000 {
        let text = match index % 4 {
            0 => "Write a poem about the moon",
            1 => "What is the capital of France?",
            2 => "Summarize this article about the economy",
            _ => "Write a Rust function that sorts a vector",
        };
        writeln!(
            input,
            "{{\"id\": \"p{index}\", \"text\": \"{text} #{index}\"}}"
        )
        .unwrap();
    }
    let (code, stdout, stderr) = triage_with_input(
        &["classify", "--strategy", "keyword", "--jsonl", "-"],
        &input,
    );
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 10_000);
    for (index, line) in lines.iter().enumerate().step_by(997) {
        let value: Value = serde_json::from_str(line).unwrap();
        assert_eq!(value["id"], format!("p{index}"));
    }
}

#[test]
fn eval_reports_every_strategy() {
    let data = fixture("labelled.jsonl");
    let catalog = fixture("routing-catalog.toml");
    let (code, stdout, stderr) = triage(&[
        "eval",
        "--data",
        &data,
        "--catalog",
        &catalog,
        "--as-of",
        AS_OF,
        "--baseline",
        "test-strong",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let value: Value = serde_json::from_str(&stdout).unwrap();
    let object = value.as_object().unwrap();
    assert!(
        object.contains_key("keyword") && object.contains_key("length"),
        "{value}"
    );
    for report in object.values() {
        for key in [
            "accuracy",
            "macro_f1",
            "under_routing_rate",
            "over_routing_rate",
            "latency_p50_us",
            "latency_p99_us",
            "per_class",
            "confusion",
            "cost_usd",
            "baseline_cost_usd",
        ] {
            assert!(report.get(key).is_some(), "missing {key}");
        }
        assert_eq!(report["count"], 30);
        assert_eq!(report["per_class"]["faq"]["support"], 5);
        assert_eq!(report["by_source"]["bench"]["count"], 15);
        assert_eq!(report["by_source"]["forum"]["count"], 15);
        assert_eq!(report["by_script"]["latin"]["count"], 30);
        assert!(report["cost_usd"].as_f64().unwrap() > 0.0);
    }
    assert!(
        value["keyword"]["accuracy"].as_f64().unwrap()
            > value["length"]["accuracy"].as_f64().unwrap()
    );

    let (code, stdout, stderr) = triage(&[
        "eval",
        "--data",
        &data,
        "--catalog",
        &catalog,
        "--as-of",
        AS_OF,
        "--strategy",
        "length",
        "--baseline",
        "test-strong",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let stable: String = stdout
        .lines()
        .filter(|line| !line.starts_with("latency"))
        .map(|line| format!("{line}\n"))
        .collect::<String>()
        .replace(&data, "labelled.jsonl");
    insta::assert_snapshot!("eval_length_text", stable);
}

#[test]
fn eval_bad_lines_exit_2_naming_the_line() {
    let input =
        b"{\"text\": \"a\", \"label\": \"faq\"}\n{\"text\": \"b\", \"label\": \"poetry\"}\n";
    let (code, _, stderr) = triage_with_input(&["eval", "--data", "-"], input);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("line 2 (1-based): unknown routing class `poetry`"),
        "{stderr}"
    );
    let (code, _, stderr) = triage_with_input(&["eval", "--data", "-"], b"{\"text\": \"a\"}\n");
    assert_eq!(code, 2);
    assert!(
        stderr.contains("line 1 (1-based): no `label` field"),
        "{stderr}"
    );
}

#[test]
fn config_check_prints_the_effective_policy() {
    let config = fixture("routing-config.toml");
    let catalog = fixture("routing-catalog.toml");
    // Only the variables this output depends on, set to known values.
    let output = Command::cargo_bin("triage")
        .unwrap()
        .args([
            "config",
            "check",
            "--config",
            &config,
            "--catalog",
            &catalog,
        ])
        .args(["--as-of", AS_OF])
        .env_clear()
        .env("HOME", "/home/user")
        .env("XDG_DATA_HOME", "/home/user/data")
        .env("OPENAI_BASE_URL", "http://127.0.0.1:8089/v1")
        .env("OPENAI_API_KEY", "test")
        .output()
        .unwrap();
    let (code, stdout, stderr) = (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    );
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!(
        "config_check",
        stdout
            .replace(&config, "routing-config.toml")
            .replace(&catalog, "routing-catalog.toml")
    );

    let (code, _, stderr) = triage(&["config", "check", "--config", &fixture("bad-config.toml")]);
    assert_eq!(code, 2);
    insta::assert_snapshot!(
        "config_check_bad",
        stderr.replace(&fixture("bad-config.toml"), "bad-config.toml")
    );
}

/// `config check` runs the validation `serve` and `ask` run: a `[fallback]` that `serve` would
/// refuse is refused here too, naming the file, line and key.
#[test]
fn config_check_refuses_what_serve_refuses() {
    let cases = [
        (
            "[fallback]\nmax_attempts = 0\n",
            "triage.toml:2:16",
            "fallback.max_attempts",
        ),
        (
            "[fallback]\ndeadline_ms = 0\n",
            "triage.toml:2:15",
            "fallback.deadline_ms",
        ),
        (
            "[fallback]\nlow_confidence_threshold = 7.0\n",
            "triage.toml:2:1",
            "[routing] low_confidence",
        ),
        (
            "[fallback.checks]\nrefusal_patterns = [\"(\"]\n",
            "triage.toml:2:20",
            "fallback.checks.refusal_patterns",
        ),
        (
            "[fallback]\nmax_atempts = 3\n",
            "triage.toml:2:1",
            "fallback.max_atempts",
        ),
        (
            "[routing]\nbaseline = \"gpt-7\"\n",
            "triage.toml:2:12",
            "routing.baseline",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("triage.toml");
    for (text, at, key) in cases {
        std::fs::write(&path, text).unwrap();
        for command in [&["config", "check"][..], &["route", "hello"][..]] {
            let output = Command::cargo_bin("triage")
                .unwrap()
                .args(command)
                .arg("--config")
                .arg(&path)
                .output()
                .unwrap();
            let stderr = String::from_utf8(output.stderr).unwrap();
            assert_eq!(
                output.status.code(),
                Some(2),
                "{command:?} {text}: {stderr}"
            );
            assert!(
                stderr.contains(at) && stderr.contains(key),
                "{command:?} {text}: {stderr}"
            );
        }
    }
}

#[test]
fn config_path_comes_from_the_environment_too() {
    let output = Command::cargo_bin("triage")
        .unwrap()
        .args(["config", "check"])
        .env("TRIAGE_CONFIG", fixture("bad-config.toml"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

/// The README's first command, on the shipped defaults, prints no warnings: the default
/// routes name current models (on the catalog's price date and after).
#[test]
fn readme_route_explain_prints_no_warnings() {
    let prompt = "Summarise this article in three bullet points: the council voted to expand the bike lanes.";
    for day in [AS_OF, "2026-12-06"] {
        let (code, stdout, stderr) = triage(&["route", "--explain", "--as-of", day, prompt]);
        assert_eq!(code, 0, "{stderr}");
        assert!(!stdout.contains("warning"), "{day}: {stdout}");
        assert!(!stderr.contains("warning"), "{day}: {stderr}");
        assert!(stdout.contains("class       transform"), "{stdout}");
    }
}

/// `config check` of the README's own sketch warns only about what the sketch wrote, once
/// each, with its file, line and key.
#[test]
fn readme_config_sketch_warns_once_about_what_it_names() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let sketch = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("triage.toml");
    std::fs::write(&path, sketch).unwrap();
    let path = path.display().to_string();
    let (code, stdout, stderr) = triage(&["config", "check", "--config", &path, "--as-of", AS_OF]);
    assert_eq!(code, 0, "{stderr}");
    let warnings: Vec<&str> = stdout
        .split_once("\nwarnings\n")
        .map(|(_, rest)| rest.lines().collect())
        .unwrap_or_default();
    let mut unique = warnings.clone();
    unique.sort_unstable();
    unique.dedup();
    unique.sort_by_key(|warning| warnings.iter().position(|shown| shown == warning));
    assert_eq!(unique, warnings, "{stdout}");
    for warning in &warnings {
        assert!(
            warning.contains(&format!("{path}:")),
            "unlocated: {warning}"
        );
    }
}
