//! `triage ask` against the in-process mock upstream: plain and streamed answers, fallback
//! shown in `--json`, a stream broken after output, and the missing-key error. One table.
// The helpers below are not `#[test]` functions, so clippy treats them as normal code.
#![expect(clippy::unwrap_used, reason = "test helpers panic on setup failures")]

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;
use triage_mock::{MockUpstream, Scenario};

/// One `triage ask` run: extra arguments, what the mock answers, which keys are set.
struct Case {
    name: &'static str,
    args: &'static [&'static str],
    /// The mock's answers, in order (then it echoes).
    script: Vec<Scenario>,
    /// Set ANTHROPIC_API_KEY but not OPENAI_API_KEY.
    without_openai_key: bool,
    /// Set no provider key at all.
    no_keys: bool,
    /// A config file in `fixtures/`, passed with `--config`.
    config: Option<&'static str>,
}

const PROMPT: &str = "What is the capital of France?";

fn long_answer() -> Scenario {
    Scenario::text(
        "Paris is the capital of France. It has been the seat of government for centuries.",
    )
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "plain",
            args: &[],
            script: vec![long_answer()],
            without_openai_key: false,
            no_keys: false,
            config: None,
        },
        Case {
            name: "stream",
            args: &["--stream"],
            script: vec![long_answer()],
            without_openai_key: false,
            no_keys: false,
            config: None,
        },
        Case {
            name: "json_shows_escalation",
            args: &["--json"],
            script: vec![Scenario::empty(), long_answer()],
            without_openai_key: false,
            no_keys: false,
            config: None,
        },
        Case {
            name: "stream_json_after_transparent_fallback",
            args: &["--stream", "--json"],
            script: vec![Scenario::status(500), Scenario::status(500), long_answer()],
            without_openai_key: false,
            no_keys: false,
            config: None,
        },
        Case {
            name: "stream_cut_after_output",
            args: &["--stream"],
            script: vec![Scenario::cut_stream(
                "Paris is the capital of France. It has been the seat of government for \
                 centuries and it is also the largest city of the country.",
            )],
            without_openai_key: false,
            no_keys: false,
            config: None,
        },
        Case {
            name: "every_model_fails",
            args: &["--json", "--model", "big-anthropic"],
            // The forced model, then the class's ladder: every one refuses the request.
            script: vec![
                Scenario::status(400),
                Scenario::status(400),
                Scenario::status(400),
            ],
            without_openai_key: false,
            no_keys: false,
            config: None,
        },
        Case {
            // The routed models' provider has no key: they are skipped (and named, with the
            // variable) and the first keyed model of the plan answers.
            name: "missing_key_skips_to_a_keyed_model",
            args: &[],
            script: vec![long_answer()],
            without_openai_key: true,
            no_keys: false,
            config: None,
        },
        Case {
            name: "no_key_at_all",
            args: &["--json"],
            script: Vec::new(),
            without_openai_key: true,
            no_keys: true,
            config: None,
        },
        Case {
            name: "config_min_chars_escalates",
            args: &["--json"],
            script: vec![Scenario::text("Paris."), long_answer()],
            without_openai_key: false,
            no_keys: false,
            config: Some("ask-fallback.toml"),
        },
        Case {
            name: "config_unknown_key",
            args: &[],
            script: Vec::new(),
            without_openai_key: false,
            no_keys: false,
            config: Some("ask-bad-fallback.toml"),
        },
    ]
}

#[test]
fn ask_table() {
    for case in cases() {
        let name = case.name;
        insta::assert_snapshot!(format!("ask_{name}"), check(case));
    }
}

/// Where the table's runs record their answers (one ledger file per case).
fn ledger_dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap())
}

/// The runtime the mock servers run on, alive for the whole test binary.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

fn check(case: Case) -> String {
    let mock = runtime().block_on(MockUpstream::start()).unwrap();
    for scenario in case.script {
        mock.push(scenario);
    }
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures");
    let mut command = assert_cmd::Command::cargo_bin("triage").unwrap();
    command
        .env_clear()
        .env("OPENAI_BASE_URL", mock.openai_base_url())
        .env("ANTHROPIC_BASE_URL", mock.url())
        .env(
            triage_config::env::TRIAGE_LEDGER,
            ledger_dir().path().join(format!("{}.sqlite3", case.name)),
        )
        .arg("ask")
        .arg("--catalog")
        .arg(fixtures.join("ask-catalog.toml"))
        // The keyword strategy needs no model files and classifies this prompt as faq.
        .args(["--strategy", "keyword"])
        .args(case.args)
        .arg(PROMPT);
    if let Some(config) = case.config {
        command.arg("--config").arg(fixtures.join(config));
    }
    if !case.without_openai_key {
        command.env("OPENAI_API_KEY", "test-key");
    }
    if !case.no_keys {
        command.env("ANTHROPIC_API_KEY", "test-key");
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    let stdout = if case.args.contains(&"--json") && !stdout.is_empty() {
        let mut value: Value = serde_json::from_str(&stdout).unwrap();
        redact(&mut value);
        serde_json::to_string_pretty(&value).unwrap()
    } else {
        stdout
    };
    let stderr = stderr.replace(&fixtures.display().to_string(), "[fixtures]");
    format!(
        "exit: {}\nupstream calls: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status.code().unwrap_or(-1),
        mock.requests().len()
    )
}

/// Replaces the values that vary between runs.
fn redact(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for (key, field) in object.iter_mut() {
                match key.as_str() {
                    "latency_ms" | "opened_at_unix_ms" | "confidence" | "probe_in_ms"
                    | "after_ms" | "request_id" => {
                        *field = Value::String("[redacted]".to_owned());
                    }
                    _ => redact(field),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// `[providers.settings.<id>]` replaces the catalog's base URL and key variable: with no
/// `OPENAI_BASE_URL` set, the request reaches the mock through the config alone, with the key
/// read from the configured variable.
#[test]
fn provider_settings_from_config() {
    let mock = runtime().block_on(MockUpstream::start()).unwrap();
    mock.push(long_answer());
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("triage.toml");
    std::fs::write(
        &config,
        format!(
            "[providers.settings.openai]\nbase_url = \"{}\"\napi_key_env = \"MY_OPENAI_KEY\"\n",
            mock.openai_base_url()
        ),
    )
    .unwrap();
    let output = assert_cmd::Command::cargo_bin("triage")
        .unwrap()
        .env_clear()
        .env("MY_OPENAI_KEY", "configured-key")
        .arg("ask")
        .arg("--catalog")
        .arg(fixtures.join("ask-catalog.toml"))
        .args(["--strategy", "keyword", "--config"])
        .arg(&config)
        .arg(PROMPT)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap().trim(),
        "Paris is the capital of France. It has been the seat of government for centuries."
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/chat/completions");
    assert_eq!(
        requests[0].headers.get("authorization").map(String::as_str),
        Some("Bearer configured-key")
    );
}

/// A base URL that is not http(s) is an error naming the file, line and key.
#[test]
fn provider_settings_bad_base_url() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("triage.toml");
    std::fs::write(
        &config,
        "[providers.settings.openai]\nbase_url = \"api.openai.com\"\n",
    )
    .unwrap();
    let output = assert_cmd::Command::cargo_bin("triage")
        .unwrap()
        .args(["config", "check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("triage.toml:2:12")
            && stderr.contains("providers.settings.openai.base_url")
            && stderr.contains("not an http:// or https:// URL"),
        "{stderr}"
    );
}

/// `triage ask` records its answer in the ledger `serve` uses (`TRIAGE_LEDGER` here), so
/// `triage report` counts it.
#[test]
fn ask_is_recorded_in_the_ledger() {
    let mock = runtime().block_on(MockUpstream::start()).unwrap();
    mock.push(long_answer());
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures");
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite3");
    let output = assert_cmd::Command::cargo_bin("triage")
        .unwrap()
        .env_clear()
        .env("OPENAI_BASE_URL", mock.openai_base_url())
        .env("OPENAI_API_KEY", "test-key")
        .env(triage_config::env::TRIAGE_LEDGER, &ledger)
        .arg("ask")
        .arg("--catalog")
        .arg(fixtures.join("ask-catalog.toml"))
        .args(["--strategy", "keyword", PROMPT])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let report = assert_cmd::Command::cargo_bin("triage")
        .unwrap()
        .args(["report", "--json", "--ledger"])
        .arg(&ledger)
        .output()
        .unwrap();
    assert!(report.status.success(), "{report:?}");
    let summary: Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(summary["requests"], 1, "{summary}");
    assert_eq!(summary["succeeded"], 1, "{summary}");
}
