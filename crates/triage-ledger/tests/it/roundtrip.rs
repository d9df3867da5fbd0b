//! Records written through [`Ledger`] come back unchanged, survive reopening, and a full queue
//! drops instead of blocking.

use rust_decimal_macros::dec;
use time::macros::datetime;
use triage_ledger::{Ledger, LedgerOptions, LedgerReader, RequestOutcome, SummaryOptions};
use triage_types::RouteClass;

use crate::{Spec, request};

#[test]
fn records_round_trip_with_their_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/ledger.sqlite3");
    let ledger = Ledger::open(&path, &LedgerOptions::default()).unwrap();
    let first = request(Spec {
        id: "a",
        at: datetime!(2026-01-02 10:00:00.123 UTC),
        class: Some(RouteClass::Faq),
        model: "cheap",
        cost: dec!(0.0000123),
        baseline: dec!(0.0012),
        latency_ms: 12,
        fallback_from: Some("flaky"),
    });
    let mut second = request(Spec {
        id: "b",
        at: datetime!(2026-01-02 10:00:01 UTC),
        class: None,
        model: "frontier",
        cost: dec!(0.5),
        baseline: dec!(0.5),
        latency_ms: 30,
        fallback_from: None,
    });
    second.outcome = RequestOutcome::Failure {
        kind: "timeout".to_owned(),
    };
    second.streamed = true;
    // A retired id the caller sent, answered by its successor, with the warning it was sent.
    second.route = "old-frontier".to_owned();
    second.resolved_from = Some("old-frontier".to_owned());
    second.warnings = vec![
        "old-frontier retired on 2026-01-01; using its successor frontier".to_owned(),
        "a second warning".to_owned(),
    ];
    ledger.record(first.clone());
    ledger.record(second.clone());
    ledger.flush();
    assert_eq!(ledger.stats().written, 2);

    let reader = LedgerReader::open(&path).unwrap();
    let read = reader.requests(&SummaryOptions::default()).unwrap();
    assert_eq!(read, vec![first, second]);
    ledger.close();
    ledger.close();
    assert_eq!(ledger.stats().dropped, 0);
}

#[test]
fn closing_writes_everything_queued_and_reopening_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite3");
    for round in 0..2 {
        let ledger = Ledger::open(&path, &LedgerOptions::default()).unwrap();
        for index in 0..500 {
            ledger.record(request(Spec {
                id: &format!("{round}-{index}"),
                at: datetime!(2026-01-02 10:00:00 UTC),
                class: Some(RouteClass::Extract),
                model: "cheap",
                cost: dec!(0.001),
                baseline: dec!(0.01),
                latency_ms: 5,
                fallback_from: None,
            }));
        }
        // Dropping the last handle closes the ledger, which commits the queue.
        drop(ledger);
    }
    let summary = LedgerReader::open(&path)
        .unwrap()
        .summary(&SummaryOptions::default())
        .unwrap();
    assert_eq!(summary.requests, 1000);
    assert_eq!(summary.spend_usd, dec!(1));
    assert_eq!(summary.baseline_usd, dec!(10));
}

#[test]
fn a_full_queue_drops_instead_of_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite3");
    let options = LedgerOptions {
        queue_capacity: 1,
        max_batch: 1,
        ..LedgerOptions::default()
    };
    let ledger = Ledger::open(&path, &options).unwrap();
    let start = std::time::Instant::now();
    for index in 0..2000 {
        ledger.record(request(Spec {
            id: &index.to_string(),
            at: datetime!(2026-01-02 10:00:00 UTC),
            class: None,
            model: "cheap",
            cost: dec!(0.001),
            baseline: dec!(0.001),
            latency_ms: 1,
            fallback_from: None,
        }));
    }
    assert!(start.elapsed() < std::time::Duration::from_secs(1));
    ledger.close();
    let stats = ledger.stats();
    assert_eq!(stats.written + stats.dropped, 2000);
    assert!(stats.dropped > 0, "{stats:?}");
}

#[test]
fn a_missing_ledger_is_an_error_for_readers() {
    let dir = tempfile::tempdir().unwrap();
    let error = LedgerReader::open(&dir.path().join("absent.sqlite3")).unwrap_err();
    assert!(
        error.to_string().starts_with("cannot open the ledger at"),
        "{error}"
    );
}
