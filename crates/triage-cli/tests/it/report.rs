//! `triage report` over a ledger of known requests across several days: the JSON figures
//! exactly, the table, and the HTML page (self-contained; rendered in headless Chromium when it
//! is installed, see `tests/report-screenshot.sh`).
#![expect(clippy::unwrap_used, reason = "test helpers panic on setup failures")]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rust_decimal::Decimal;
use time::macros::datetime;
use triage_ledger::{AttemptOutcome, AttemptRecord, Ledger, LedgerOptions, RequestRecord};
use triage_types::{RouteClass, Usage};

/// Fourteen days of traffic: (day, class, model, cost, baseline, latency ms, a failed attempt
/// first?). Costs are exact decimals.
fn write_ledger(path: &Path) {
    let ledger = Ledger::open(path, &LedgerOptions::default()).unwrap();
    let models = [
        (RouteClass::Extract, "gpt-4.1-nano", "0.00004"),
        (RouteClass::Faq, "gemini-2.0-flash", "0.00003"),
        (RouteClass::Transform, "claude-haiku-4-5", "0.0011"),
        (RouteClass::Analyze, "gpt-4.1", "0.0068"),
        (RouteClass::Reason, "o4-mini", "0.0042"),
        (RouteClass::Critical, "claude-opus-4-5", "0.0310"),
    ];
    let mut sequence = 0;
    for day in 0..14_i64 {
        let start = datetime!(2026-11-01 09:00 UTC) + time::Duration::days(day);
        for (index, (class, model, cost)) in models.iter().enumerate() {
            // Busier mid-period, and more cheap classes than expensive ones.
            let count = (6 - index as i64) + (day % 5);
            for minute in 0..count {
                sequence += 1;
                let cost: Decimal = cost.parse().unwrap();
                let usage = Usage {
                    input_tokens: 400,
                    output_tokens: 120,
                    ..Usage::default()
                };
                let mut attempts = Vec::new();
                if sequence % 17 == 0 {
                    attempts.push(AttemptRecord {
                        model: "gpt-4o-mini".to_owned(),
                        provider: "openai".to_owned(),
                        outcome: AttemptOutcome::Failed {
                            error: "status 503".to_owned(),
                        },
                        judge: false,
                        latency: Duration::from_millis(40),
                        usage: Usage::default(),
                        cost_usd: Decimal::ZERO,
                    });
                }
                attempts.push(AttemptRecord {
                    model: (*model).to_owned(),
                    provider: "mock".to_owned(),
                    outcome: AttemptOutcome::Success,
                    judge: false,
                    latency: Duration::from_millis(200 + 10 * index as u64),
                    usage,
                    cost_usd: cost,
                });
                ledger.record(RequestRecord {
                    started_at: start + time::Duration::minutes(minute),
                    class: Some(*class),
                    confidence: Some(0.8),
                    model: Some((*model).to_owned()),
                    provider: Some("mock".to_owned()),
                    usage,
                    cost_usd: cost,
                    unpriced: None,
                    baseline_model: Some("claude-opus-4-5".to_owned()),
                    baseline_cost_usd: "0.0310".parse().unwrap(),
                    latency: Duration::from_millis(
                        200 + 10 * index as u64 + (minute as u64 % 7) * 30,
                    ),
                    attempts,
                    client_key: match sequence % 3 {
                        0 => Some("support-bot".to_owned()),
                        1 => Some("batch".to_owned()),
                        _ => None,
                    },
                    ..RequestRecord::new(format!("r{sequence}"), "auto")
                });
            }
        }
    }
    ledger.close();
}

fn triage() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("triage").unwrap()
}

#[test]
fn json_table_and_since_over_a_known_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite3");
    write_ledger(&ledger);
    let ledger = ledger.to_str().unwrap();

    let output = triage()
        .args(["report", "--ledger", ledger, "--json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // The report names what it compared against, and the date of that model's prices.
    assert_eq!(json["baseline_model"], "claude-opus-4-5");
    assert_eq!(json["baseline_price_checked_on"], "2026-11-29");
    insta::assert_json_snapshot!("report_json", json);

    let output = triage()
        .args(["report", "--ledger", ledger])
        .output()
        .unwrap();
    insta::assert_snapshot!("report_table", String::from_utf8(output.stdout).unwrap());

    let output = triage()
        .args(["report", "--ledger", ledger, "--by", "key"])
        .output()
        .unwrap();
    insta::assert_snapshot!("report_by_key", String::from_utf8(output.stdout).unwrap());

    let output = triage()
        .args([
            "report",
            "--ledger",
            ledger,
            "--json",
            "--since",
            "2026-11-14",
        ])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["daily"].as_array().unwrap().len(), 1);
    assert_eq!(json["since"], "2026-11-14T00:00:00Z");
}

#[test]
fn usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.sqlite3");
    triage()
        .args(["report", "--ledger", missing.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no ledger at"));
    triage()
        .args([
            "report",
            "--ledger",
            missing.to_str().unwrap(),
            "--since",
            "last tuesday",
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("expected a day"));
    // A PostgreSQL ledger that cannot be reached is named without its password, and `--help`
    // does not print the variable's value.
    let secret = "postgres://triage:s3cret@127.0.0.1:1/triage";
    let output = triage()
        .args(["report", "--ledger", secret])
        .output()
        .unwrap();
    let error = String::from_utf8(output.stderr).unwrap();
    assert!(!output.status.success());
    assert!(
        error.contains("postgres://triage:***@127.0.0.1:1/triage"),
        "{error}"
    );
    assert!(!error.contains("s3cret"), "{error}");
    let output = triage()
        .args(["report", "--help"])
        .env("TRIAGE_LEDGER", secret)
        .output()
        .unwrap();
    assert!(!String::from_utf8(output.stdout).unwrap().contains("s3cret"));
}

/// A desktop and a phone viewport (CSS pixels).
const SCREEN_SIZES: [(u32, u32); 2] = [(1280, 1600), (390, 2600)];

/// Lists every tile whose number wraps onto a second line or is cut off, and the page if it is
/// wider than the window, in `<pre id="probe">`; `ok` when there is none.
const WRAP_PROBE: &str = r#"<script>
const problems = [];
for (const value of document.querySelectorAll('.card .value')) {
  const style = getComputedStyle(value);
  const line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.45;
  if (value.getBoundingClientRect().height > line * 1.5) problems.push('wraps: ' + value.textContent);
  if (value.scrollWidth > value.clientWidth + 1) problems.push('cut off: ' + value.textContent);
}
if (document.documentElement.scrollWidth > window.innerWidth + 1) {
  problems.push('page ' + document.documentElement.scrollWidth + ' px wide in ' + window.innerWidth);
}
const pre = document.createElement('pre');
pre.id = 'probe';
pre.textContent = problems.length ? problems.join('; ') : 'ok';
document.body.appendChild(pre);
</script>
"#;

fn chromium_args(width: u32, height: u32) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain([format!("--window-size={width},{height}")])
    .collect()
}

/// The HTML page is self-contained, and renders in headless Chromium when one is installed,
/// at 1280 and 390 px wide, with every tile's number on one line and nothing cut off.
/// `tests/report-screenshot.sh` runs this with `TRIAGE_SCREENSHOT_DIR` set to keep the PNG
/// for a person to look at.
#[test]
fn html_page_is_self_contained_and_renders() {
    let keep = std::env::var_os("TRIAGE_SCREENSHOT_DIR").map(std::path::PathBuf::from);
    let temp = tempfile::tempdir().unwrap();
    let dir = keep.clone().unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&dir).unwrap();
    let ledger = dir.join("report-ledger.sqlite3");
    let _ = std::fs::remove_file(&ledger);
    write_ledger(&ledger);
    let html = dir.join("report.html");
    triage()
        .args([
            "report",
            "--ledger",
            ledger.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
        ])
        .assert()
        .success();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(!page.contains("<script") && !page.contains("http://") && !page.contains("https://"));
    assert_eq!(page.matches("<svg ").count(), 3);
    assert!(
        page.matches("<rect x=").count() >= 28,
        "two bars a day for 14 days"
    );

    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|out| out.status.success())
        });
    let Some(chromium) = chromium else {
        eprintln!(
            "\n!!!!!!!! html_page_is_self_contained_and_renders: no chromium on PATH, so the page was \
             checked as text only. Install it (apt-get install -y chromium) and run \
             tests/report-screenshot.sh to render and look at it. !!!!!!!!\n"
        );
        return;
    };
    for (width, height) in SCREEN_SIZES {
        let png = dir.join(format!("report-{width}.png"));
        let _ = std::fs::remove_file(&png);
        let status = Command::new(chromium)
            .args(chromium_args(width, height))
            .arg(format!("--screenshot={}", png.display()))
            .arg(format!("file://{}", html.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let png_width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let png_height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!((png_width, png_height), (width, height));
        // A blank or error page compresses to a few kilobytes; charts and tables do not.
        assert!(
            bytes.len() > 40_000,
            "screenshot at {width} px suspiciously small: {} bytes",
            bytes.len()
        );
        if keep.is_some() {
            eprintln!("screenshot: {}", png.display());
        }

        // The same page with a probe that measures, in the browser, whether a tile's number
        // wraps or is cut off and whether the page scrolls sideways.
        let probe = dir.join(format!("report-probe-{width}.html"));
        std::fs::write(
            &probe,
            page.replace("</body>", &format!("{WRAP_PROBE}</body>")),
        )
        .unwrap();
        let output = Command::new(chromium)
            .args(chromium_args(width, height))
            .args(["--virtual-time-budget=2000", "--dump-dom"])
            .arg(format!("file://{}", probe.display()))
            .stderr(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(output.status.success());
        let dom = String::from_utf8_lossy(&output.stdout);
        let result = dom
            .split_once("<pre id=\"probe\">")
            .and_then(|(_, rest)| rest.split_once("</pre>"))
            .map(|(result, _)| result.to_owned())
            .unwrap_or_else(|| panic!("the probe did not run at {width} px"));
        assert_eq!(
            result, "ok",
            "at {width} px wide the report's tiles or page do not fit"
        );
    }
}

/// `--reprice`: every recorded attempt's tokens at another catalog's prices. At the embedded
/// prices that is each answer's 400 + 120 tokens at its model's price; a file that doubles one
/// model's prices adds exactly that model's share again.
#[test]
fn reprice_prices_the_recorded_traffic_at_another_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite3");
    write_ledger(&ledger);
    let ledger = ledger.to_str().unwrap();
    let catalog = triage_catalog::Catalog::embedded();
    let answer = |model: &triage_catalog::Model| {
        (Decimal::from(400) * model.pricing.input + Decimal::from(120) * model.pricing.output)
            / Decimal::from(1_000_000)
    };
    let repriced = |file: &std::path::Path| -> (Decimal, serde_json::Value) {
        let output = triage()
            .args(["report", "--ledger", ledger, "--json", "--reprice"])
            .arg(file)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let spend = json["repriced"]["spend_usd"].to_string().parse().unwrap();
        (spend, json)
    };
    let same = dir.path().join("same.toml");
    std::fs::write(&same, "").unwrap();
    let (spend, json) = repriced(&same);
    let expected: Decimal = json["model_mix"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, share)| {
            answer(catalog.get(id).unwrap()) * Decimal::from(share["requests"].as_u64().unwrap())
        })
        .sum();
    assert_eq!(spend, expected.normalize());
    assert_eq!(json["repriced"]["unpriced_attempts"], 0);

    let opus = catalog.get("claude-opus-4-5").unwrap();
    let doubled = dir.path().join("doubled.toml");
    std::fs::write(
        &doubled,
        format!(
            "[[models]]\nid = \"claude-opus-4-5\"\nprovider = \"anthropic\"\napi_name = \"{}\"\ntier = {}\ncontext_window = {}\nmax_output_tokens = {}\npricing.input = {}\npricing.output = {}\npricing.checked_on = 2026-12-01\npricing.source = \"test\"\n",
            opus.api_name,
            opus.tier,
            opus.context_window,
            opus.max_output_tokens,
            opus.pricing.input * Decimal::from(2),
            opus.pricing.output * Decimal::from(2),
        ),
    )
    .unwrap();
    let (doubled_spend, json) = repriced(&doubled);
    let opus_requests = Decimal::from(
        json["model_mix"]["claude-opus-4-5"]["requests"]
            .as_u64()
            .unwrap(),
    );
    assert_eq!(
        doubled_spend,
        (expected + answer(opus) * opus_requests).normalize()
    );
    let text = triage()
        .args(["report", "--ledger", ledger, "--reprice"])
        .arg(&doubled)
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("at other prices"), "{text}");
}
