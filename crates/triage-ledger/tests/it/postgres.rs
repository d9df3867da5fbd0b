//! The PostgreSQL ledger against the machine's server (127.0.0.1:5432, trust auth): each test
//! in a database of its own, dropped at the end. Without the server the tests fail under
//! `CI=true` and say loudly that they skipped elsewhere.

use std::time::Duration;

use rust_decimal_macros::dec;
use time::macros::datetime;
use triage_ledger::{
    AttemptOutcome, AttemptRecord, Ledger, LedgerLocation, LedgerOptions, LedgerReader,
    RequestOutcome, RequestRecord, SummaryOptions,
};
use triage_types::{RouteClass, Usage};

use crate::{Spec, request};

const ADMIN: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";

/// A fresh database, dropped when this goes out of scope.
struct Database {
    name: String,
}

impl Database {
    /// A new database for `test`, or `None` (after saying so) without a server.
    #[expect(clippy::unwrap_used, reason = "a test helper panics on setup failures")]
    fn create(test: &str) -> Option<Database> {
        let mut admin = match postgres::Client::connect(ADMIN, postgres::NoTls) {
            Ok(admin) => admin,
            Err(error) => {
                assert!(
                    !std::env::var("CI").is_ok_and(|value| value == "true"),
                    "{test}: PostgreSQL is not reachable at 127.0.0.1:5432 and CI=true: {error}"
                );
                eprintln!(
                    "\n*** SKIPPED {test}: no PostgreSQL at 127.0.0.1:5432 (CI=true makes this a failure): {error} ***\n"
                );
                return None;
            }
        };
        let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000;
        let name = format!("triage_ledger_{test}_{}_{nanos}", std::process::id());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        Some(Database { name })
    }

    fn location(&self) -> LedgerLocation {
        LedgerLocation::parse(&format!("postgres://postgres@127.0.0.1:5432/{}", self.name))
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(ADMIN, postgres::NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

fn options(dir: &tempfile::TempDir) -> LedgerOptions {
    LedgerOptions {
        journal: Some(dir.path().join("ledger.journal")),
        retry_backoff: Duration::from_millis(20),
        ..LedgerOptions::default()
    }
}

/// Records with every field set one way or another: classes and none, failures, fallbacks,
/// judge calls, keys, warnings, unpriced costs.
fn varied() -> Vec<RequestRecord> {
    let mut records = Vec::new();
    let classes = [
        Some(RouteClass::Faq),
        Some(RouteClass::Reason),
        None,
        Some(RouteClass::Critical),
    ];
    for index in 0..12u32 {
        let mut record = request(Spec {
            id: &format!("r{index}"),
            at: datetime!(2026-11-30 23:59:00 UTC) + time::Duration::minutes(i64::from(index)),
            class: classes[index as usize % classes.len()],
            model: if index % 3 == 0 { "cheap" } else { "frontier" },
            cost: dec!(0.000123) * rust_decimal::Decimal::from(index + 1),
            baseline: dec!(0.01),
            latency_ms: u64::from(100 + index * 7),
            fallback_from: (index % 4 == 1).then_some("flaky"),
        });
        record.client_key = (index % 2 == 0).then(|| format!("key-{}", index % 3));
        if index % 5 == 0 {
            record.budget_note = Some("daily budget 85% spent ($4.25 of $5)".to_owned());
            record.warnings = vec!["one".to_owned(), "two".to_owned()];
        }
        if index == 7 {
            record.outcome = RequestOutcome::Failure {
                kind: "budget_exceeded".to_owned(),
            };
            record.unpriced = Some("model x has no price".to_owned());
            record.attempts.push(AttemptRecord {
                model: "judge".to_owned(),
                provider: "mock".to_owned(),
                outcome: AttemptOutcome::Rejected {
                    reason: "too short".to_owned(),
                },
                judge: true,
                latency: Duration::from_millis(3),
                usage: Usage::default(),
                cost_usd: dec!(0.00001),
            });
        }
        record.streamed = index % 2 == 1;
        record.confidence = record.class.map(|_| 0.5 + index as f32 / 100.0);
        records.push(record);
    }
    records
}

#[test]
fn postgres_and_sqlite_read_back_the_same_records_and_summary() {
    let Some(database) = Database::create("equal") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("ledger.sqlite3");
    let records = varied();
    for location in [LedgerLocation::Sqlite(sqlite.clone()), database.location()] {
        let ledger = Ledger::open_at(&location, &options(&dir)).unwrap();
        for record in &records {
            ledger.record(record.clone());
        }
        ledger.close();
        let stats = ledger.stats();
        assert_eq!(stats.written, records.len() as u64, "{location}");
        // A healthy database takes every batch at once: a write that fails and is rescued by
        // the journal's replay would hide a broken insert.
        assert_eq!(
            (stats.failed, stats.journaled),
            (0, 0),
            "{location}: {stats:?}"
        );
    }
    let read = |location: &LedgerLocation| {
        let reader = LedgerReader::open_at(location).unwrap();
        let since = SummaryOptions {
            since: Some(datetime!(2026-12-01 00:00:00 UTC)),
            ..SummaryOptions::default()
        };
        (
            reader.requests(&SummaryOptions::default()).unwrap(),
            reader.summary(&SummaryOptions::default()).unwrap(),
            reader.summary(&since).unwrap(),
        )
    };
    let from_sqlite = read(&LedgerLocation::Sqlite(sqlite));
    let from_postgres = read(&database.location());
    // What went in comes back, field by field (times to the millisecond, as stored).
    let stored: Vec<RequestRecord> = records
        .iter()
        .cloned()
        .map(|mut record| {
            let ms = record.started_at.unix_timestamp_nanos() / 1_000_000;
            record.started_at =
                time::OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).unwrap();
            for attempt in &mut record.attempts {
                attempt.usage.cached_read_tokens = 0;
                attempt.usage.cache_write_tokens = 0;
                attempt.usage.reasoning_tokens = 0;
            }
            record
        })
        .collect();
    assert_eq!(from_sqlite.0, stored);
    assert_eq!(from_postgres.0, from_sqlite.0);
    assert_eq!(from_postgres.1, from_sqlite.1);
    assert_eq!(from_postgres.2, from_sqlite.2);
    assert_eq!(from_postgres.1.by_key["key-0"].requests, 2);
}

#[test]
fn replicas_starting_together_migrate_once() {
    let Some(database) = Database::create("migrate") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let location = database.location();
    let opened: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|index| {
                let location = location.clone();
                let options = LedgerOptions {
                    journal: Some(dir.path().join(format!("{index}.journal"))),
                    ..LedgerOptions::default()
                };
                scope.spawn(move || {
                    Ledger::open_at(&location, &options).map(|ledger| ledger.close())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    for result in opened {
        result.unwrap();
    }
    let mut client = postgres::Client::connect(
        &format!("host=127.0.0.1 user=postgres dbname={}", database.name),
        postgres::NoTls,
    )
    .unwrap();
    let versions = client
        .query("SELECT version FROM triage_schema", &[])
        .unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].get::<_, i32>(0), 1);
    // A schema newer than this build is refused, not written to.
    client
        .execute("UPDATE triage_schema SET version = 99", &[])
        .unwrap();
    let error = Ledger::open_at(&location, &options(&dir)).unwrap_err();
    assert!(error.to_string().contains("schema version 99"), "{error}");
}

#[test]
fn a_lost_connection_loses_no_record() {
    let Some(database) = Database::create("reconnect") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let location = database.location();
    let ledger = Ledger::open_at(&location, &options(&dir)).unwrap();
    let records = varied();
    for record in &records[..6] {
        ledger.record(record.clone());
    }
    ledger.flush();
    // The database drops every connection to the ledger (a failover, a restart).
    let mut admin = postgres::Client::connect(ADMIN, postgres::NoTls).unwrap();
    let terminated = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&database.name],
        )
        .unwrap();
    assert!(!terminated.is_empty(), "no ledger connection to end");
    for record in &records[6..] {
        ledger.record(record.clone());
    }
    ledger.close();
    let stats = ledger.stats();
    assert_eq!(stats.dropped, 0, "{stats:?}");
    let ids: Vec<String> = LedgerReader::open_at(&location)
        .unwrap()
        .requests(&SummaryOptions::default())
        .unwrap()
        .into_iter()
        .map(|record| record.request_id)
        .collect();
    let expected: Vec<String> = records
        .iter()
        .map(|record| record.request_id.clone())
        .collect();
    assert_eq!(ids, expected);
}

#[test]
fn a_postgres_ledger_needs_a_journal() {
    let location = LedgerLocation::parse("postgres://postgres:secret@127.0.0.1:1/none");
    let error = Ledger::open_at(&location, &LedgerOptions::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the ledger at postgres://postgres:***@127.0.0.1:1/none needs a journal file ([ledger] journal)"
    );
}
