//! The two backends behind one interface: open (and migrate), insert a batch, fetch rows.
//! SQLite's connection is kept for the ledger's life; PostgreSQL's is remade after a failure,
//! so a database that restarts is written again as soon as it is back.

use rusqlite::{Connection, OpenFlags, params};

use crate::location::LedgerLocation;
use crate::rows::{StoredAttempt, StoredRequest};
use crate::{LedgerError, RequestRecord, postgres, schema};

/// An open ledger database.
pub(crate) enum Store {
    Sqlite(Connection),
    Postgres {
        url: String,
        /// `None` after the connection broke; remade at the next use.
        client: Option<Box<::postgres::Client>>,
    },
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Store::Sqlite(_) => "Store::Sqlite",
            Store::Postgres { .. } => "Store::Postgres",
        })
    }
}

/// How a SQLite file is opened.
pub(crate) enum SqliteMode {
    /// Created if missing, for writing.
    Create { busy_timeout: std::time::Duration },
    /// Must exist (a wrong path is noticed), for reading.
    Existing,
}

impl Store {
    /// Opens the database at `location` and brings its schema up to date.
    pub(crate) fn open(location: &LedgerLocation, mode: SqliteMode) -> Result<Store, LedgerError> {
        match location {
            LedgerLocation::Sqlite(path) => {
                let open_error = |source| LedgerError::Open {
                    path: path.clone(),
                    source,
                };
                let mut connection = match mode {
                    SqliteMode::Create { busy_timeout } => {
                        if let Some(parent) = path
                            .parent()
                            .filter(|parent| !parent.as_os_str().is_empty())
                        {
                            std::fs::create_dir_all(parent).map_err(|source| {
                                LedgerError::CreateDir {
                                    path: parent.to_owned(),
                                    source,
                                }
                            })?;
                        }
                        let connection = Connection::open(path).map_err(open_error)?;
                        schema::configure(&connection).map_err(open_error)?;
                        connection.busy_timeout(busy_timeout).map_err(open_error)?;
                        connection
                    }
                    SqliteMode::Existing => {
                        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
                            | OpenFlags::SQLITE_OPEN_NO_MUTEX
                            | OpenFlags::SQLITE_OPEN_URI;
                        let connection =
                            Connection::open_with_flags(path, flags).map_err(open_error)?;
                        schema::configure(&connection).map_err(open_error)?;
                        connection
                    }
                };
                schema::migrate(&mut connection, path)?;
                Ok(Store::Sqlite(connection))
            }
            LedgerLocation::Postgres(url) => {
                let shown = location.to_string();
                // The synchronous client runs a runtime of its own, which cannot start inside
                // another: connect from a plain thread, whatever the caller runs on.
                let client = std::thread::scope(|scope| {
                    scope
                        .spawn(|| -> Result<::postgres::Client, LedgerError> {
                            let mut client =
                                postgres::connect(url).map_err(|source| LedgerError::Postgres {
                                    location: shown.clone(),
                                    source,
                                })?;
                            postgres::migrate(&mut client, &shown)?;
                            Ok(client)
                        })
                        .join()
                })
                .map_err(|_| LedgerError::Internal {
                    message: "the PostgreSQL connection thread panicked".to_owned(),
                })??;
                Ok(Store::Postgres {
                    url: url.clone(),
                    client: Some(Box::new(client)),
                })
            }
        }
    }

    /// Inserts records in one transaction; with `skip_existing`, those whose request id and
    /// start time are already stored are skipped. Returns how many were inserted.
    pub(crate) fn insert_batch<'a>(
        &mut self,
        batch: impl Iterator<Item = &'a RequestRecord>,
        skip_existing: bool,
    ) -> Result<usize, String> {
        match self {
            Store::Sqlite(connection) => {
                sqlite_insert(connection, batch, skip_existing).map_err(|error| error.to_string())
            }
            Store::Postgres { url, client } => {
                let connection = connected(url, client).map_err(|error| error.to_string())?;
                let inserted = postgres::insert_batch(connection, batch, skip_existing);
                if inserted.is_err() && connection.is_closed() {
                    *client = None;
                }
                inserted.map_err(|error| error.to_string())
            }
        }
    }

    /// The requests that started at or after `since_ms`, and their attempts.
    pub(crate) fn fetch(
        &mut self,
        since_ms: i64,
    ) -> Result<(Vec<StoredRequest>, Vec<StoredAttempt>), LedgerError> {
        match self {
            Store::Sqlite(connection) => Ok(sqlite_fetch(connection, since_ms)?),
            Store::Postgres { url, client } => {
                let location = || LedgerLocation::Postgres(url.clone()).to_string();
                let connection =
                    connected(url, client).map_err(|source| LedgerError::Postgres {
                        location: location(),
                        source,
                    })?;
                postgres::fetch(connection, since_ms).map_err(|source| LedgerError::Postgres {
                    location: location(),
                    source,
                })
            }
        }
    }
}

/// The open PostgreSQL connection, remade first when it is gone or broken.
fn connected<'a>(
    url: &str,
    client: &'a mut Option<Box<::postgres::Client>>,
) -> Result<&'a mut ::postgres::Client, ::postgres::Error> {
    let connection = match client.take() {
        Some(connection) if !connection.is_closed() => connection,
        _ => Box::new(postgres::connect(url)?),
    };
    Ok(client.insert(connection))
}

fn sqlite_insert<'a>(
    connection: &mut Connection,
    batch: impl Iterator<Item = &'a RequestRecord>,
    skip_existing: bool,
) -> rusqlite::Result<usize> {
    let transaction = connection.transaction()?;
    let mut inserted = 0;
    {
        let mut exists = transaction.prepare_cached(
            "SELECT 1 FROM requests WHERE started_at_ms = ?1 AND request_id = ?2 LIMIT 1",
        )?;
        let mut insert_request = transaction.prepare_cached(
            "INSERT INTO requests (request_id, started_at_ms, protocol, route, class, confidence,
                outcome, model, provider, input_tokens, output_tokens, cached_read_tokens,
                cache_write_tokens, reasoning_tokens, cost_usd, baseline_model, baseline_cost_usd,
                latency_us, streamed, attempt_count, unpriced, resolved_from, warnings, client_key,
                budget_note)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)",
        )?;
        let mut insert_attempt = transaction.prepare_cached(
            "INSERT INTO attempts (request, position, model, provider, outcome, detail, judge,
                latency_us, input_tokens, output_tokens, cost_usd)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for record in batch {
            let row = StoredRequest::of(record);
            if skip_existing && exists.exists(params![row.started_at_ms, row.request_id])? {
                continue;
            }
            inserted += 1;
            insert_request.execute(params![
                row.request_id,
                row.started_at_ms,
                row.protocol,
                row.route,
                row.class,
                row.confidence,
                row.outcome,
                row.model,
                row.provider,
                row.input_tokens,
                row.output_tokens,
                row.cached_read_tokens,
                row.cache_write_tokens,
                row.reasoning_tokens,
                row.cost_usd,
                row.baseline_model,
                row.baseline_cost_usd,
                row.latency_us,
                row.streamed,
                row.attempt_count,
                row.unpriced,
                row.resolved_from,
                row.warnings,
                row.client_key,
                row.budget_note,
            ])?;
            let request = transaction.last_insert_rowid();
            for (position, attempt) in record.attempts.iter().enumerate() {
                let attempt = StoredAttempt::of(request, attempt);
                insert_attempt.execute(params![
                    request,
                    position as i64,
                    attempt.model,
                    attempt.provider,
                    attempt.outcome,
                    attempt.detail,
                    attempt.judge,
                    attempt.latency_us,
                    attempt.input_tokens,
                    attempt.output_tokens,
                    attempt.cost_usd,
                ])?;
            }
        }
    }
    transaction.commit()?;
    Ok(inserted)
}

fn sqlite_fetch(
    connection: &Connection,
    since_ms: i64,
) -> rusqlite::Result<(Vec<StoredRequest>, Vec<StoredAttempt>)> {
    let mut statement = connection.prepare(
        "SELECT id, request_id, started_at_ms, protocol, route, class, confidence, outcome,
            model, provider, input_tokens, output_tokens, cached_read_tokens,
            cache_write_tokens, reasoning_tokens, cost_usd, baseline_model,
            baseline_cost_usd, latency_us, streamed, attempt_count, unpriced, resolved_from,
            warnings, client_key, budget_note
         FROM requests WHERE started_at_ms >= ?1 ORDER BY started_at_ms, id",
    )?;
    let requests = statement
        .query_map(params![since_ms], |row| {
            Ok(StoredRequest {
                id: row.get(0)?,
                request_id: row.get(1)?,
                started_at_ms: row.get(2)?,
                protocol: row.get(3)?,
                route: row.get(4)?,
                class: row.get(5)?,
                confidence: row.get(6)?,
                outcome: row.get(7)?,
                model: row.get(8)?,
                provider: row.get(9)?,
                input_tokens: row.get(10)?,
                output_tokens: row.get(11)?,
                cached_read_tokens: row.get(12)?,
                cache_write_tokens: row.get(13)?,
                reasoning_tokens: row.get(14)?,
                cost_usd: row.get(15)?,
                baseline_model: row.get(16)?,
                baseline_cost_usd: row.get(17)?,
                latency_us: row.get(18)?,
                streamed: row.get(19)?,
                attempt_count: row.get(20)?,
                unpriced: row.get(21)?,
                resolved_from: row.get(22)?,
                warnings: row.get(23)?,
                client_key: row.get(24)?,
                budget_note: row.get(25)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut statement = connection.prepare(
        "SELECT a.request, a.model, a.provider, a.outcome, a.detail, a.judge, a.latency_us,
            a.input_tokens, a.output_tokens, a.cost_usd
         FROM attempts a JOIN requests r ON r.id = a.request
         WHERE r.started_at_ms >= ?1 ORDER BY a.request, a.position",
    )?;
    let attempts = statement
        .query_map(params![since_ms], |row| {
            Ok(StoredAttempt {
                request: row.get(0)?,
                model: row.get(1)?,
                provider: row.get(2)?,
                outcome: row.get(3)?,
                detail: row.get(4)?,
                judge: row.get(5)?,
                latency_us: row.get(6)?,
                input_tokens: row.get(7)?,
                output_tokens: row.get(8)?,
                cost_usd: row.get(9)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((requests, attempts))
}
