//! A ledger that never drops silently: records written while another process holds the
//! database locked wait (retry, then the journal) and all arrive; a journal left behind is
//! replayed once at the next open.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::time::Duration;

use rust_decimal_macros::dec;
use time::macros::datetime;
use triage_ledger::{Ledger, LedgerOptions, LedgerReader, SummaryOptions, journal_path};

use crate::{Spec, request};

fn record(id: &str) -> triage_ledger::RequestRecord {
    request(Spec {
        id,
        at: datetime!(2026-01-02 10:00:00 UTC),
        class: None,
        model: "cheap",
        cost: dec!(0.001),
        baseline: dec!(0.01),
        latency_ms: 1,
        fallback_from: None,
    })
}

#[expect(clippy::unwrap_used, reason = "a test helper panics on setup failures")]
fn stored_ids(path: &std::path::Path) -> Vec<String> {
    LedgerReader::open(path)
        .unwrap()
        .requests(&SummaryOptions::default())
        .unwrap()
        .into_iter()
        .map(|record| record.request_id)
        .collect()
}

/// The database is locked while records arrive: they wait in the journal and all arrive, with
/// one writer, and with two sharing one journal (`triage ask` beside `triage serve`), whose
/// appends and replays take turns on the journal's lock.
#[test]
fn an_exclusive_lock_loses_no_record() {
    const RECORDS: usize = 2_000;
    for writers in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite3");
        let options = LedgerOptions {
            busy_timeout: Duration::from_millis(100),
            write_retries: 1,
            retry_backoff: Duration::from_millis(20),
            ..LedgerOptions::default()
        };
        let ledgers: Vec<Ledger> = (0..writers)
            .map(|_| Ledger::open(&path, &options).unwrap())
            .collect();
        // Another process (here a second connection) holds the database for two seconds.
        let locker = rusqlite::Connection::open(&path).unwrap();
        locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(2));
            locker.execute_batch("COMMIT").unwrap();
        });
        for index in 0..RECORDS {
            ledgers[index % writers].record(record(&index.to_string()));
            if index % 100 == 0 {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        release.join().unwrap();
        let mut journaled = 0;
        for ledger in &ledgers {
            ledger.close();
            let stats = ledger.stats();
            eprintln!("lock test, {writers} writer(s): {stats:?}");
            assert_eq!(stats.dropped, 0, "{stats:?}");
            journaled += stats.journaled;
        }
        assert!(journaled > 0, "the lock was felt");
        let ids: BTreeSet<String> = stored_ids(&path).into_iter().collect();
        assert_eq!(ids.len(), RECORDS, "{writers} writer(s)");
        assert_eq!(stored_ids(&path).len(), RECORDS, "no duplicates");
        assert_eq!(std::fs::metadata(journal_path(&path)).unwrap().len(), 0);
    }
}

#[test]
fn a_journal_left_behind_is_replayed_once_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite3");
    let ledger = Ledger::open(&path, &LedgerOptions::default()).unwrap();
    ledger.record(record("a"));
    ledger.close();
    // A crash after a replay's commit but before the journal was emptied left `a` in both.
    let mut journal = std::fs::File::create(journal_path(&path)).unwrap();
    for id in ["a", "b", "c"] {
        serde_json::to_writer(&mut journal, &record(id)).unwrap();
        journal.write_all(b"\n").unwrap();
    }
    // A line torn by the crash is lost, and counted.
    journal.write_all(b"{\"request_id\":\"d\",").unwrap();
    drop(journal);
    for _ in 0..2 {
        let ledger = Ledger::open(&path, &LedgerOptions::default()).unwrap();
        ledger.flush();
        ledger.close();
    }
    assert_eq!(stored_ids(&path), ["a", "b", "c"]);
    assert_eq!(std::fs::metadata(journal_path(&path)).unwrap().len(), 0);
}
