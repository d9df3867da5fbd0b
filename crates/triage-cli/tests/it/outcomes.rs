//! `eval --outcomes` and `calibrate` on a four-prompt fixture whose numbers are checked by
//! hand: every prompt costs 1,000 input and 500 output tokens; gpt-4o-mini is $0.15 / $0.60 per
//! million ($0.00045 a prompt), gpt-4o $2.50 / $10.00 ($0.0075 a prompt).

use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::Value;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn triage(args: &[&str]) -> (i32, String, String) {
    let output = Command::cargo_bin("triage")
        .expect("the triage binary is built")
        .args(args)
        .env_remove("TRIAGE_CONFIG")
        .output()
        .expect("triage runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    )
}

fn close(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 1e-9)
}

#[test]
fn eval_outcomes_reference_points_by_hand() {
    let (outcomes, map) = (fixture("outcomes.jsonl"), fixture("outcomes-map.json"));
    let (code, stdout, stderr) = triage(&[
        "eval",
        "--outcomes",
        &outcomes,
        "--map",
        &map,
        "--baseline",
        "gpt-4o",
        "--strategy",
        "keyword",
        "--as-of",
        "2026-12-01",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["baseline_model"], "gpt-4o");
    assert_eq!(report["items"], 4);
    let single = |name: &str| {
        report["singles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap()
    };
    // gpt-4o-mini: right on a and c; 4 × $0.00045.
    let mini = single("always gpt-4o-mini");
    assert!(
        close(&mini["quality"], 0.5) && close(&mini["cost_usd"], 0.0018),
        "{mini}"
    );
    // gpt-4o: right on a, b and d; 4 × $0.0075.
    let big = single("always gpt-4o");
    assert!(
        close(&big["quality"], 0.75) && close(&big["cost_usd"], 0.03),
        "{big}"
    );
    // The oracle: mini on a and c, gpt-4o on b and d.
    let oracle = &report["oracle"];
    assert!(
        close(&oracle["quality"], 1.0) && close(&oracle["cost_usd"], 0.0159),
        "{oracle}"
    );
    assert_eq!(report["weak"], "gpt-4o-mini");
    assert_eq!(report["strong"], "gpt-4o");
    let sweep = report["strategies"]["keyword"]["sweep"].as_array().unwrap();
    let at = |knob: f64| sweep.iter().find(|p| close(&p["knob"], knob)).unwrap();
    // Knob 0: the cheapest candidate everywhere; PGR 0, half the baseline's quality lost.
    assert!(close(&at(0.0)["cost_usd"], 0.0018), "{}", at(0.0));
    assert!(close(&at(0.0)["pgr"], 0.0), "{}", at(0.0));
    assert!(close(&at(0.0)["cost_share"], 0.06), "{}", at(0.0));
    // Knob 1: the best expected quality (gpt-4o) everywhere; PGR 1.
    assert!(close(&at(1.0)["quality"], 0.75), "{}", at(1.0));
    assert!(close(&at(1.0)["cost_usd"], 0.03), "{}", at(1.0));
    assert!(close(&at(1.0)["pgr"], 1.0), "{}", at(1.0));
}

#[test]
fn calibrate_writes_a_table_that_route_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("quality.toml");
    let (outcomes, map) = (fixture("outcomes.jsonl"), fixture("outcomes-map.json"));
    // `calibrate` on the fixture into `out`, with `extra` options first.
    let calibrate = |extra: &[&str], out: &std::path::Path| {
        let mut args = vec!["calibrate"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[
            "--outcomes",
            &outcomes,
            "--map",
            &map,
            "--out",
            out.to_str().unwrap(),
            "--folds",
            "2",
            "--strategy",
            "keyword",
            "--baseline",
            "gpt-4o",
            "--as-of",
            "2026-12-01",
        ]);
        triage(&args)
    };
    let (code, stdout, stderr) = calibrate(&[], &out);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("recommended knob"), "{stdout}");
    // The held-out sweep sits beside random routing at equal cost, and says how it compares.
    assert!(
        stdout.contains(" random ") && stdout.contains("of 16 knob values, ties it"),
        "{stdout}"
    );
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(
        written.contains("[difficulty]")
            && written.contains("recommended_knob")
            && written.contains("price_weights = ["),
        "{written}"
    );
    let config = dir.path().join("triage.toml");
    std::fs::write(&config, "[quality]\nfile = \"quality.toml\"\n").unwrap();
    // Refitting on the same data with the fitted table as the base gives the same table: the
    // fit does not drift from one run to the next.
    let again = dir.path().join("again.toml");
    let (code, _, stderr) = calibrate(&["--config", config.to_str().unwrap()], &again);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read_to_string(&again).unwrap(), written);
    let (code, stdout, stderr) = triage(&[
        "route",
        "--explain",
        "--strategy",
        "keyword",
        "--config",
        config.to_str().unwrap(),
        "What is the capital of France?",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("difficulty"), "{stdout}");
}

#[test]
fn outcome_input_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"id\": \"a\", \"prompt\": \"x\", \"scores\": {\"small\": 1}, \"out_tokens\": {\"small\": 5}}\n{\"id\": \"b\", \"prompt\": \"y\", \"scores\": {\"small\": 2}, \"out_tokens\": {\"small\": 5}}\n",
    )
    .unwrap();
    let map = fixture("outcomes-map.json");
    let (code, _, stderr) = triage(&["eval", "--outcomes", bad.to_str().unwrap(), "--map", &map]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("line 2") && stderr.contains("scores.small"),
        "{stderr}"
    );
}

/// `route --jsonl`: one decision line per input line, ids echoed, the knob's difficulty given.
#[test]
fn route_jsonl_prints_one_decision_per_line() {
    let output = Command::cargo_bin("triage")
        .unwrap()
        .args(["route", "--strategy", "keyword", "--jsonl", "-"])
        .write_stdin("{\"id\": \"q1\", \"text\": \"What is the capital of France?\"}\n\n{\"text\": \"Prove Fermat's little theorem.\"}\n")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["id"], "q1");
    assert_eq!(lines[1]["id"], 2);
    for line in &lines {
        for key in [
            "class",
            "model",
            "difficulty",
            "p_cheap_right",
            "estimated_cost_usd",
        ] {
            assert!(!line[key].is_null(), "{key} in {line}");
        }
    }
}

/// `--plot` writes the chart as SVG text or as a PNG image, by the file's extension; any other
/// extension is a usage error that names the two.
#[test]
fn plot_writes_svg_or_png_by_extension() {
    let (outcomes, map) = (fixture("outcomes.jsonl"), fixture("outcomes-map.json"));
    let dir = tempfile::tempdir().unwrap();
    let plot = |name: &str| {
        let path = dir.path().join(name);
        let (code, _, stderr) = triage(&[
            "eval",
            "--outcomes",
            &outcomes,
            "--map",
            &map,
            "--strategy",
            "keyword",
            "--as-of",
            "2026-12-01",
            "--plot",
            path.to_str().unwrap(),
        ]);
        (code, stderr, std::fs::read(&path).ok())
    };
    let (code, stderr, svg) = plot("chart.svg");
    assert_eq!(code, 0, "{stderr}");
    assert!(String::from_utf8(svg.unwrap()).unwrap().starts_with("<svg"));

    let (code, stderr, png) = plot("chart.png");
    assert_eq!(code, 0, "{stderr}");
    let png = png.unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG signature");
    // The IHDR chunk: twice the SVG's 880 × 560.
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1760, 1120));

    let (code, stderr, written) = plot("chart.jpg");
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(".svg or .png"), "{stderr}");
    assert!(written.is_none());
}
