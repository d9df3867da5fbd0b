//! The report aggregates over a known set of requests, snapshotted.

use rust_decimal_macros::dec;
use time::macros::datetime;
use triage_ledger::{
    Ledger, LedgerOptions, LedgerReader, ReportContext, SummaryOptions, render_html, render_text,
};
use triage_types::RouteClass;

use crate::{Spec, request};

#[test]
fn summary_of_a_known_workload() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite3");
    let ledger = Ledger::open(&path, &LedgerOptions::default()).unwrap();
    let day_one = datetime!(2026-03-01 23:59:59 UTC);
    let day_two = datetime!(2026-03-02 00:00:00 UTC);
    let rows = [
        (
            "1",
            day_one,
            Some(RouteClass::Faq),
            "cheap",
            dec!(0.0001),
            dec!(0.01),
            10,
            None,
        ),
        (
            "2",
            day_one,
            Some(RouteClass::Faq),
            "cheap",
            dec!(0.0001),
            dec!(0.01),
            20,
            None,
        ),
        (
            "3",
            day_one,
            Some(RouteClass::Reason),
            "thinker",
            dec!(0.004),
            dec!(0.01),
            30,
            None,
        ),
        (
            "4",
            day_two,
            Some(RouteClass::Analyze),
            "mid",
            dec!(0.002),
            dec!(0.01),
            40,
            Some("cheap"),
        ),
        (
            "5",
            day_two,
            None,
            "frontier",
            dec!(0.01),
            dec!(0.01),
            50,
            None,
        ),
    ];
    for (id, at, class, model, cost, baseline, latency_ms, fallback_from) in rows {
        ledger.record(request(Spec {
            id,
            at,
            class,
            model,
            cost,
            baseline,
            latency_ms,
            fallback_from,
        }));
    }
    ledger.close();

    let reader = LedgerReader::open(&path).unwrap();
    let summary = reader.summary(&SummaryOptions::default()).unwrap();
    insta::assert_json_snapshot!(summary);
    insta::assert_snapshot!(render_text(&summary));

    let html = render_html(
        &summary,
        &ReportContext {
            ledger_path: "/tmp/<ledger>.sqlite3".to_owned(),
            generated_at: "2026-03-03T00:00:00Z".to_owned(),
        },
    );
    // Self-contained: no scripts, no fetched resources; three charts; names escaped.
    assert!(!html.contains("<script"));
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("src="));
    assert_eq!(html.matches("<svg ").count(), 3);
    assert!(html.contains("/tmp/&lt;ledger&gt;.sqlite3"));
    assert!(html.contains("2026-03-02 spend: $0.012"));

    let since_day_two = reader
        .summary(&SummaryOptions {
            since: Some(day_two),
            ..SummaryOptions::default()
        })
        .unwrap();
    assert_eq!(since_day_two.requests, 2);
    assert_eq!(since_day_two.spend_usd, dec!(0.012));
    assert_eq!(since_day_two.fallbacks, 1);
}

#[test]
fn an_empty_ledger_summarises_to_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite3");
    Ledger::open(&path, &LedgerOptions::default())
        .unwrap()
        .close();
    let summary = LedgerReader::open(&path)
        .unwrap()
        .summary(&SummaryOptions::default())
        .unwrap();
    assert_eq!(summary.requests, 0);
    assert_eq!(summary.savings_pct, None);
    assert_eq!(summary.cost_per_request_usd, None);
    assert_eq!(summary.fallback_rate, 0.0);
}

/// A period whose baseline changed (the config moved, or the baseline retired and its
/// successor took over) names every baseline with its price date, most used first.
#[test]
fn the_report_names_every_baseline_and_its_price_date() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite3");
    let ledger = Ledger::open(&path, &LedgerOptions::default()).unwrap();
    let at = datetime!(2026-03-01 12:00:00 UTC);
    for (id, baseline_model) in [("1", "old"), ("2", "new"), ("3", "new")] {
        let mut record = request(Spec {
            id,
            at,
            class: Some(RouteClass::Faq),
            model: "cheap",
            cost: dec!(0.001),
            baseline: dec!(0.01),
            latency_ms: 10,
            fallback_from: None,
        });
        record.baseline_model = Some(baseline_model.to_owned());
        ledger.record(record);
    }
    ledger.close();

    let mut summary = LedgerReader::open(&path)
        .unwrap()
        .summary(&SummaryOptions::default())
        .unwrap();
    summary.date_baseline_prices(|model| {
        (model == "new").then_some(time::macros::date!(2026 - 11 - 29))
    });
    assert_eq!(summary.baseline_model.as_deref(), Some("new"));
    assert_eq!(
        summary.baseline_price_checked_on.as_deref(),
        Some("2026-11-29")
    );
    let json = serde_json::to_value(&summary).unwrap();
    insta::assert_json_snapshot!(json["baselines"], @r#"
    [
      {
        "baseline_usd": 0.02,
        "model": "new",
        "price_checked_on": "2026-11-29",
        "requests": 2
      },
      {
        "baseline_usd": 0.01,
        "model": "old",
        "price_checked_on": null,
        "requests": 1
      }
    ]
    "#);
    let text = render_text(&summary);
    let line = text
        .lines()
        .find(|line| line.split_whitespace().take(2).eq(["baseline", "new,"]))
        .unwrap();
    insta::assert_snapshot!(line, @"  baseline             new, prices of 2026-11-29 (2 requests); old, price date unknown (1 request)");
}

/// The prompt-cache line: the cached share of input and, at the given prices, what caching
/// saved — reads at the input price less their cached price, less what writes cost above it —
/// checked by hand; a model without a price is counted, not guessed.
#[test]
fn the_cache_share_and_saving_are_computed_from_the_recorded_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite3");
    let ledger = Ledger::open(&path, &LedgerOptions::default()).unwrap();
    for (id, model, cached_read, cache_write) in [
        ("1", "cached", 60, 0),
        ("2", "cached", 0, 40),
        ("3", "unknown", 50, 0),
    ] {
        let mut record = request(Spec {
            id,
            at: datetime!(2026-03-01 12:00:00 UTC),
            class: Some(RouteClass::Faq),
            model,
            cost: dec!(0.001),
            baseline: dec!(0.01),
            latency_ms: 10,
            fallback_from: None,
        });
        record.usage.cached_read_tokens = cached_read;
        record.usage.cache_write_tokens = cache_write;
        ledger.record(record);
    }
    ledger.close();
    let prices = [(
        "cached".to_owned(),
        triage_ledger::BaselinePrice {
            model: "cached".to_owned(),
            input: dec!(3),
            cached_input: dec!(0.3),
            output: dec!(15),
            cache_write: dec!(3.75),
        },
    )];
    let summary = LedgerReader::open(&path)
        .unwrap()
        .summary(&SummaryOptions {
            prices: Some(prices.into_iter().collect()),
            ..SummaryOptions::default()
        })
        .unwrap();
    // 110 of 300 input tokens came from a cache.
    assert!((summary.cache.hit_share - 110.0 / 300.0).abs() < 1e-9);
    // 60 × (3 − 0.3) − 40 × (3.75 − 3), per million tokens.
    assert_eq!(summary.cache.saved_usd, Some(dec!(0.000132)));
    assert_eq!(summary.cache.unpriced_requests, 1);
    assert!(
        render_text(&summary)
            .contains("  prompt cache         36.7% of input from cache, saved $0.000132\n"),
        "{}",
        render_text(&summary)
    );
    let html = render_html(
        &summary,
        &ReportContext {
            ledger_path: "ledger.sqlite3".to_owned(),
            generated_at: "2026-03-02T00:00:00Z".to_owned(),
        },
    );
    assert!(
        html.contains(r#"<div class="label">Prompt cache</div><div class="value">36.7%</div><div class="note">of input; saved $0.000132</div>"#),
        "{html}"
    );
    let without = LedgerReader::open(&path)
        .unwrap()
        .summary(&SummaryOptions::default())
        .unwrap();
    assert_eq!(without.cache.saved_usd, None);
}
