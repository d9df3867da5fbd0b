//! The database schema and its migrations, versioned with `PRAGMA user_version`.

use std::path::Path;

use rusqlite::Connection;

use crate::LedgerError;

/// Each migration takes the schema from version `index` to `index + 1`. Append, never edit:
/// a ledger written by an older triage is brought forward one step at a time.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: requests and their attempts. Money is exact decimal text; times are Unix
    // milliseconds (UTC); latencies are microseconds.
    "CREATE TABLE requests (
        id INTEGER PRIMARY KEY,
        request_id TEXT NOT NULL,
        started_at_ms INTEGER NOT NULL,
        protocol TEXT NOT NULL,
        route TEXT NOT NULL,
        class TEXT,
        confidence REAL,
        outcome TEXT NOT NULL,
        model TEXT,
        provider TEXT,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cached_read_tokens INTEGER NOT NULL,
        cache_write_tokens INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL,
        cost_usd TEXT NOT NULL,
        baseline_model TEXT,
        baseline_cost_usd TEXT NOT NULL,
        latency_us INTEGER NOT NULL,
        streamed INTEGER NOT NULL,
        attempt_count INTEGER NOT NULL -- answer attempts, judge calls excluded
    );
    CREATE INDEX requests_by_time ON requests (started_at_ms);
    CREATE TABLE attempts (
        request INTEGER NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        model TEXT NOT NULL,
        provider TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT,
        judge INTEGER NOT NULL,
        latency_us INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cost_usd TEXT NOT NULL,
        PRIMARY KEY (request, position)
    ) WITHOUT ROWID;",
    // 1 -> 2: why a request's cost is unknown (an attempt the catalog could not price), NULL
    // when every attempt was priced. `cost_usd` then holds only the priced part.
    "ALTER TABLE requests ADD COLUMN unpriced TEXT;",
    // 2 -> 3: lifecycle facts the caller was told. `resolved_from` is the retired model the
    // caller named when its successor answered instead (`route` keeps the id as sent);
    // `warnings` the warnings sent with the answer, one per line, NULL when none.
    "ALTER TABLE requests ADD COLUMN resolved_from TEXT;
    ALTER TABLE requests ADD COLUMN warnings TEXT;",
    // 3 -> 4: who asked and what their budget did. `client_key` is the name of the client key
    // (`[[server.keys]]`) that made the request, NULL without one; `budget_note` why the request
    // was routed cheaper than its plan (its key near a budget), NULL when it was not.
    "ALTER TABLE requests ADD COLUMN client_key TEXT;
    ALTER TABLE requests ADD COLUMN budget_note TEXT;",
];

/// The schema version this build writes.
pub(crate) const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Sets the connection up for the ledger's access pattern: WAL so that `triage report` reads
/// while the gateway writes, `synchronous = NORMAL` because WAL keeps committed transactions
/// across a process crash without an fsync per commit.
pub(crate) fn configure(connection: &Connection) -> rusqlite::Result<()> {
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

/// Brings the schema up to [`CURRENT_VERSION`], each step in its own transaction.
pub(crate) fn migrate(connection: &mut Connection, path: &Path) -> Result<(), LedgerError> {
    let found: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > CURRENT_VERSION {
        return Err(LedgerError::SchemaTooNew {
            path: path.to_owned(),
            found,
            supported: CURRENT_VERSION,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let transaction = connection.transaction()?;
        transaction.execute_batch(sql)?;
        transaction.pragma_update(None, "user_version", index as i64 + 1)?;
        transaction.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_an_empty_database_once() {
        let mut connection = Connection::open_in_memory().unwrap();
        migrate(&mut connection, Path::new(":memory:")).unwrap();
        migrate(&mut connection, Path::new(":memory:")).unwrap();
        let version: i64 = connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, CURRENT_VERSION);
    }

    #[test]
    fn refuses_a_newer_schema() {
        let mut connection = Connection::open_in_memory().unwrap();
        connection
            .pragma_update(None, "user_version", CURRENT_VERSION + 1)
            .unwrap();
        let error = migrate(&mut connection, Path::new("x.sqlite3")).unwrap_err();
        assert!(
            matches!(error, LedgerError::SchemaTooNew { found, .. } if found == CURRENT_VERSION + 1)
        );
    }
}
