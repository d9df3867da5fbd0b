//! `triage models`, `triage cost` and `triage catalog`: outputs, the classic $225.00 example,
//! user catalogs, price imports, errors.

use assert_cmd::Command;
use serde_json::Value;

/// The day lifecycles are judged on, so that statuses do not change with the calendar.
const AS_OF: &str = "2026-11-29";

const CLASSIC: [&str; 9] = [
    "--requests-per-day",
    "1000",
    "--input-tokens",
    "1000",
    "--output-tokens",
    "500",
    "--baseline",
    "gpt-4o",
    "--as-of",
];

/// Runs `triage` with `args` and answers its exit code, stdout and stderr.
fn triage(args: &[&str]) -> (i32, String, String) {
    let output = Command::cargo_bin("triage")
        .expect("the triage binary is built")
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("triage runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    )
}

fn classic(extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["cost"].iter().map(|arg| (*arg).to_owned()).collect();
    args.extend(CLASSIC.iter().map(|arg| (*arg).to_owned()));
    args.push(AS_OF.to_owned());
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    args
}

fn run_classic(extra: &[&str]) -> (i32, String, String) {
    let args = classic(extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    triage(&args)
}

fn cost_json(extra: &[&str]) -> Value {
    let mut extra = extra.to_vec();
    extra.push("--json");
    let (code, stdout, stderr) = run_classic(&extra);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).expect("cost --json prints JSON")
}

#[test]
fn models_json_lists_at_least_25_models_with_the_documented_fields() {
    let (code, stdout, stderr) = triage(&["models", "--json", "--as-of", AS_OF]);
    assert_eq!(code, 0, "{stderr}");
    let models: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    assert!(models.len() >= 25, "{} models", models.len());
    for model in &models {
        for key in [
            "id",
            "provider",
            "input_per_mtok",
            "output_per_mtok",
            "context_window",
            "status",
            "successor",
        ] {
            assert!(model.get(key).is_some(), "{key} missing in {model}");
        }
        assert!(model["input_per_mtok"].is_number());
        assert!(["active", "deprecated", "retired"].contains(&model["status"].as_str().unwrap()));
    }
    insta::assert_json_snapshot!("models_json_first_entry", models[0]);
    let statuses: Vec<String> = models
        .iter()
        .map(|model| {
            format!(
                "{} {} {} -> {}",
                model["id"].as_str().unwrap(),
                model["provider"].as_str().unwrap(),
                model["status"].as_str().unwrap(),
                model["successor"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    insta::assert_snapshot!("models_json_statuses", statuses.join("\n"));
}

#[test]
fn models_table_for_one_provider() {
    let (code, stdout, stderr) = triage(&["models", "--provider", "anthropic", "--as-of", AS_OF]);
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!(stdout);
}

#[test]
fn models_with_a_user_catalog() {
    let (code, stdout, stderr) = triage(&[
        "models",
        "--catalog",
        "tests/it/fixtures/extra-model.toml",
        "--provider",
        "local",
        "--as-of",
        AS_OF,
    ]);
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!(stdout, @r"
    id           provider  $ in/1M  $ out/1M  context  tier  status
    local-llama  local        0.00      0.00    8,192     1  active
    ");
}

#[test]
fn cost_reproduces_the_classic_example() {
    let (code, stdout, stderr) = run_classic(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("baseline (gpt-4o)  $225.00  / month"),
        "{stdout}"
    );
    insta::assert_snapshot!("cost_classic_table", stdout);
    insta::assert_snapshot!("cost_classic_warnings", stderr);
}

#[test]
fn cost_json_has_the_documented_keys() {
    let report = cost_json(&[]);
    assert_eq!(report["baseline_monthly_usd"], 225.0);
    for key in ["routed_monthly_usd", "savings_usd", "savings_pct"] {
        assert!(report[key].is_number(), "{key}: {report}");
    }
    insta::assert_json_snapshot!("cost_classic_json", report);
}

#[test]
fn batch_and_cached_pricing() {
    // Half price through the batch API.
    let batch = cost_json(&["--batch", "--mix", "analyze=1"]);
    assert_eq!(batch["baseline_monthly_usd"], 112.5);
    // analyze routes to claude-sonnet-4-6: (1,000 x 3 + 500 x 15) per million, 30,000 times,
    // halved.
    assert_eq!(batch["routed_monthly_usd"], 157.5);
    assert_eq!(batch["savings_usd"], -45.0);
    // Half of the input at $1.25 instead of $2.50: 500 x 2.50 + 500 x 1.25 + 500 x 10 per
    // million tokens, 30,000 times.
    let cached = cost_json(&["--cached-share", "0.5"]);
    assert_eq!(cached["baseline_monthly_usd"], 206.25);
}

#[test]
fn model_mix_and_overridden_prices() {
    let report = cost_json(&["--model-mix", "gpt-4o-mini=0.7,gpt-4o=0.3"]);
    // 0.7 x 30,000 x (1,000 x 0.15 + 500 x 0.60) / 1M + 0.3 x 225.
    assert_eq!(report["routed_monthly_usd"], 9.45 + 67.5);
    let report = cost_json(&["--catalog", "tests/it/fixtures/extra-model.toml"]);
    assert_eq!(report["baseline_monthly_usd"], 180.0);
}

#[test]
fn bad_input_gets_a_clear_message_and_a_non_zero_exit() {
    let cases: &[(&str, Vec<String>)] = &[
        ("unknown baseline", {
            let mut args = classic(&[]);
            args[8] = "gpt4o".to_owned();
            args
        }),
        (
            "unknown model in model mix",
            classic(&["--model-mix", "gpt-4o-mni=1"]),
        ),
        (
            "unknown class",
            classic(&["--mix", "extract=0.5,expert=0.5"]),
        ),
        (
            "shares not summing to 1",
            classic(&["--mix", "extract=0.5,faq=0.45"]),
        ),
        (
            "negative share",
            classic(&["--mix", "extract=1.5,faq=-0.5"]),
        ),
        (
            "share that is not a number",
            classic(&["--mix", "extract=half"]),
        ),
        ("cached share above 1", classic(&["--cached-share", "1.5"])),
        (
            "malformed catalog file",
            classic(&["--catalog", "tests/it/fixtures/malformed.toml"]),
        ),
        (
            "missing catalog file",
            classic(&["--catalog", "tests/it/fixtures/absent.toml"]),
        ),
        ("batch on a model without a batch API", {
            let mut args = classic(&["--batch"]);
            args[8] = "deepseek-v4-flash".to_owned();
            args
        }),
        (
            "unknown provider",
            vec![
                "models".to_owned(),
                "--provider".to_owned(),
                "openia".to_owned(),
            ],
        ),
    ];
    let mut out = String::new();
    for (name, args) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = triage(&args);
        assert_ne!(code, 0, "{name} succeeded: {stdout}");
        assert!(stdout.is_empty(), "{name} printed {stdout}");
        // clap's usage errors end with a help hint; keep the first line.
        let message = stderr.lines().next().unwrap_or_default();
        out.push_str(&format!("{name} (exit {code}):\n  {message}\n"));
    }
    insta::assert_snapshot!(out);
}

/// A price update for one model and a new model, as a provider's announcement would bring.
const UPDATE: &str = r#"
[[models]]
id = "gpt-4o"
provider = "openai"
tier = 4
context_window = 128_000
max_output_tokens = 16_384
pricing.input = 2.0
pricing.output = 10
pricing.cached_input = 1.0
pricing.batch_discount = 0.5
pricing.checked_on = 2026-12-01
pricing.source = "https://openai.com/api/pricing"
retires_on = 2027-06-01
successor = "gpt-5.4"

[[models]]
id = "acme-small"
provider = "openai"
api_name = "acme-small-1"
tier = 2
context_window = 32_000
max_output_tokens = 4_096
pricing.input = 0.1
pricing.output = 0.4
pricing.checked_on = 2026-12-01
pricing.source = "https://example.com/pricing"
"#;

#[test]
fn catalog_diff_lists_prices_models_and_lifecycle_changes() {
    let dir = tempfile::tempdir().unwrap();
    let update = dir.path().join("update.toml");
    std::fs::write(&update, UPDATE).unwrap();
    let update = update.to_str().unwrap();
    let (code, text, _) = triage(&["catalog", "diff", update]);
    assert_eq!(code, 1, "the catalogs differ");
    insta::assert_snapshot!("catalog_diff", text.replace(update, "update.toml"));
    let (_, json, _) = triage(&["catalog", "diff", update, "--json"]);
    let changes: Value = serde_json::from_str(&json).unwrap();
    let kinds: Vec<&str> = changes
        .as_array()
        .unwrap()
        .iter()
        .map(|change| change["change"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["added", "price", "price", "lifecycle"]);
    assert_eq!(changes[1]["percent"], "-20");
    // A file against itself: nothing, exit 0.
    let (code, text, _) = triage(&["catalog", "diff", update, update]);
    assert_eq!((code, text.as_str()), (0, "no changes\n"));
    // A broken file: its line and key, exit 2.
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[[models]]\nid = \"x\"\nprise = 1\n").unwrap();
    let (code, _, error) = triage(&["catalog", "diff", broken.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(error.contains("broken.toml:"), "{error}");
}

/// `catalog import` writes an overlay of the models a LiteLLM price list prices, says what it
/// found, and `catalog diff` then shows exactly the price that moved; a broken list is exit 2
/// naming the file and place.
#[test]
fn catalog_import_writes_an_overlay_that_diff_reads() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("model_prices_and_context_window.json");
    std::fs::write(
        &list,
        r#"{"gpt-4o-mini": {"input_cost_per_token": 1.2e-07, "output_cost_per_token": 6e-07, "litellm_provider": "openai", "mode": "chat"},
            "azure/gpt-4o-mini": {"input_cost_per_token": 1.65e-07, "output_cost_per_token": 6.6e-07, "litellm_provider": "azure", "mode": "chat"}}"#,
    )
    .unwrap();
    let overlay = dir.path().join("prices.toml");
    let (code, stdout, stderr) = triage(&[
        "catalog",
        "import",
        list.to_str().unwrap(),
        "--out",
        overlay.to_str().unwrap(),
        "--checked-on",
        "2026-12-03",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.starts_with("priced 1 catalog model from ")
            && stderr.contains("; 1 has new prices: gpt-4o-mini\n")
            && stderr.contains("1 chat entry of the list matches no catalog model"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&overlay).unwrap();
    assert!(
        text.contains("pricing.source = \"LiteLLM model_prices_and_context_window.json\""),
        "{text}"
    );

    let (code, stdout, stderr) = triage(&["catalog", "diff", overlay.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.contains("1 price change"), "{stdout}");
    assert!(stdout.contains("gpt-4o-mini"), "{stdout}");

    std::fs::write(&list, "{\"gpt-4o\": ").unwrap();
    let (code, _, stderr) = triage(&["catalog", "import", list.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with(&format!(
            "error: {}:1:11: not a LiteLLM price list",
            list.display()
        )),
        "{stderr}"
    );
}
