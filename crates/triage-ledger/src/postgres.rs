//! The PostgreSQL backend: its schema and migrations (applied under an advisory lock, so
//! replicas starting together migrate once), batch inserts, and the rows reports read.
//!
//! Money is `NUMERIC` (exact), sent and read as decimal text; times are Unix milliseconds
//! (UTC) as `BIGINT`, latencies microseconds. The `postgres` client is synchronous (it wraps
//! tokio-postgres on a runtime of its own): it runs on the ledger's writer thread and in
//! `triage report`, never on the gateway's async workers. TLS is not supported yet.

use std::time::Duration;

use postgres::{Client, NoTls};

use crate::rows::{StoredAttempt, StoredRequest};
use crate::{LedgerError, RequestRecord};

/// Each migration takes the schema from version `index` to `index + 1`. Append, never edit.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: requests and their attempts, with every column of the SQLite schema's version 4.
    "CREATE TABLE requests (
        id BIGSERIAL PRIMARY KEY,
        request_id TEXT NOT NULL,
        started_at_ms BIGINT NOT NULL,
        protocol TEXT NOT NULL,
        route TEXT NOT NULL,
        class TEXT,
        confidence DOUBLE PRECISION,
        outcome TEXT NOT NULL,
        model TEXT,
        provider TEXT,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        cached_read_tokens BIGINT NOT NULL,
        cache_write_tokens BIGINT NOT NULL,
        reasoning_tokens BIGINT NOT NULL,
        cost_usd NUMERIC NOT NULL,
        baseline_model TEXT,
        baseline_cost_usd NUMERIC NOT NULL,
        latency_us BIGINT NOT NULL,
        streamed BOOLEAN NOT NULL,
        attempt_count BIGINT NOT NULL,
        unpriced TEXT,
        resolved_from TEXT,
        warnings TEXT,
        client_key TEXT,
        budget_note TEXT
    );
    CREATE INDEX requests_by_time ON requests (started_at_ms);
    CREATE INDEX requests_by_request_id ON requests (request_id, started_at_ms);
    CREATE INDEX requests_by_client_key ON requests (client_key, started_at_ms);
    CREATE TABLE attempts (
        request BIGINT NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        model TEXT NOT NULL,
        provider TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT,
        judge BOOLEAN NOT NULL,
        latency_us BIGINT NOT NULL,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        cost_usd NUMERIC NOT NULL,
        PRIMARY KEY (request, position)
    );",
];

/// The schema version this build writes.
const CURRENT_VERSION: i32 = MIGRATIONS.len() as i32;

/// Serializes migrations between replicas: `pg_advisory_xact_lock` on this key.
const MIGRATION_LOCK: i64 = 0x7472_6961_6765; // "triage"

/// How long an unanswered connection lives before it counts as lost, unless the URL says
/// otherwise (`connect_timeout`, `tcp_user_timeout`, `keepalives_idle`).
const DEAD_CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects to `url`, as `triage-ledger`. A server gone without closing the connection (a host
/// down, a partition) fails the batch within about half a minute rather than after TCP's own
/// quarter of an hour, so the writer journals and reconnects instead of stalling.
pub(crate) fn connect(url: &str) -> Result<Client, postgres::Error> {
    let mut config: postgres::Config = url.parse()?;
    if config.get_application_name().is_none() {
        config.application_name("triage-ledger");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(DEAD_CONNECTION_TIMEOUT);
    }
    if config.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
        config.keepalives_idle(DEAD_CONNECTION_TIMEOUT);
    }
    if config.get_keepalives_interval().is_none() {
        config.keepalives_interval(Duration::from_secs(10));
    }
    config.connect(NoTls)
}

/// Brings the schema up to date in one transaction, under the advisory lock: a replica that
/// starts while another migrates waits, then finds the work done.
pub(crate) fn migrate(client: &mut Client, location: &str) -> Result<(), LedgerError> {
    let query = |source| LedgerError::Postgres {
        location: location.to_owned(),
        source,
    };
    let mut transaction = client.transaction().map_err(query)?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(query)?;
    transaction
        .batch_execute("CREATE TABLE IF NOT EXISTS triage_schema (version INTEGER NOT NULL)")
        .map_err(query)?;
    let found: Option<i32> = transaction
        .query_opt("SELECT version FROM triage_schema", &[])
        .map_err(query)?
        .map(|row| row.get(0));
    let found = match found {
        Some(found) => found,
        None => {
            transaction
                .execute("INSERT INTO triage_schema (version) VALUES (0)", &[])
                .map_err(query)?;
            0
        }
    };
    if found > CURRENT_VERSION {
        return Err(LedgerError::SchemaTooNew {
            path: location.into(),
            found: i64::from(found),
            supported: i64::from(CURRENT_VERSION),
        });
    }
    for sql in MIGRATIONS.iter().skip(usize::try_from(found).unwrap_or(0)) {
        transaction.batch_execute(sql).map_err(query)?;
    }
    transaction
        .execute("UPDATE triage_schema SET version = $1", &[&CURRENT_VERSION])
        .map_err(query)?;
    transaction.commit().map_err(query)
}

/// Inserts records in one transaction; with `skip_existing`, those whose request id and start
/// time are already stored are skipped (one query for the whole batch). Returns how many were
/// inserted. Whatever the batch's size it takes three statements (new ids, then every request
/// and every attempt as arrays through `UNNEST`) instead of two round trips per record: at a
/// gateway's rates per-row statements cost PostgreSQL more CPU than the requests cost the
/// gateway.
pub(crate) fn insert_batch<'a>(
    client: &mut Client,
    batch: impl Iterator<Item = &'a RequestRecord>,
    skip_existing: bool,
) -> Result<usize, postgres::Error> {
    let mut records: Vec<&RequestRecord> = batch.collect();
    let mut transaction = client.transaction()?;
    if skip_existing && !records.is_empty() {
        let keys: Vec<(String, i64)> = records
            .iter()
            .map(|record| {
                let row = StoredRequest::of(record);
                (row.request_id, row.started_at_ms)
            })
            .collect();
        let ids: Vec<&str> = keys.iter().map(|(id, _)| id.as_str()).collect();
        let starts: Vec<i64> = keys.iter().map(|(_, start)| *start).collect();
        let stored: std::collections::HashSet<(String, i64)> = transaction
            .query(
                "SELECT r.request_id, r.started_at_ms FROM requests r
                 JOIN UNNEST($1::text[], $2::bigint[]) AS t (request_id, started_at_ms)
                   ON r.request_id = t.request_id AND r.started_at_ms = t.started_at_ms",
                &[&ids, &starts],
            )?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let mut keys = keys.into_iter();
        records.retain(|_| keys.next().is_some_and(|key| !stored.contains(&key)));
    }
    if records.is_empty() {
        return Ok(0);
    }
    let count = i64::try_from(records.len()).unwrap_or(i64::MAX);
    let ids: Vec<i64> = transaction
        .query(
            "SELECT nextval(pg_get_serial_sequence('requests', 'id')) FROM generate_series(1::bigint, $1::bigint)",
            &[&count],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let rows: Vec<StoredRequest> = records
        .iter()
        .map(|record| StoredRequest::of(record))
        .collect();
    // One column of a batch's rows, as the array UNNEST takes apart.
    macro_rules! column {
        ($rows:expr, $field:ident) => {
            $rows
                .iter()
                .map(|row| row.$field.clone())
                .collect::<Vec<_>>()
        };
    }
    transaction.execute(
        "INSERT INTO requests (id, request_id, started_at_ms, protocol, route, class, confidence,
            outcome, model, provider, input_tokens, output_tokens, cached_read_tokens,
            cache_write_tokens, reasoning_tokens, cost_usd, baseline_model, baseline_cost_usd,
            latency_us, streamed, attempt_count, unpriced, resolved_from, warnings, client_key,
            budget_note)
         SELECT id, request_id, started_at_ms, protocol, route, class, confidence, outcome,
            model, provider, input_tokens, output_tokens, cached_read_tokens, cache_write_tokens,
            reasoning_tokens, cost_usd::numeric, baseline_model, baseline_cost_usd::numeric,
            latency_us, streamed, attempt_count, unpriced, resolved_from, warnings, client_key,
            budget_note
         FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[],
            $7::float8[], $8::text[], $9::text[], $10::text[], $11::bigint[], $12::bigint[],
            $13::bigint[], $14::bigint[], $15::bigint[], $16::text[], $17::text[], $18::text[],
            $19::bigint[], $20::bool[], $21::bigint[], $22::text[], $23::text[], $24::text[],
            $25::text[], $26::text[])
            AS t (id, request_id, started_at_ms, protocol, route, class, confidence, outcome,
            model, provider, input_tokens, output_tokens, cached_read_tokens, cache_write_tokens,
            reasoning_tokens, cost_usd, baseline_model, baseline_cost_usd, latency_us, streamed,
            attempt_count, unpriced, resolved_from, warnings, client_key, budget_note)",
        &[
            &ids,
            &column!(rows, request_id),
            &column!(rows, started_at_ms),
            &column!(rows, protocol),
            &column!(rows, route),
            &column!(rows, class),
            &column!(rows, confidence),
            &column!(rows, outcome),
            &column!(rows, model),
            &column!(rows, provider),
            &column!(rows, input_tokens),
            &column!(rows, output_tokens),
            &column!(rows, cached_read_tokens),
            &column!(rows, cache_write_tokens),
            &column!(rows, reasoning_tokens),
            &column!(rows, cost_usd),
            &column!(rows, baseline_model),
            &column!(rows, baseline_cost_usd),
            &column!(rows, latency_us),
            &column!(rows, streamed),
            &column!(rows, attempt_count),
            &column!(rows, unpriced),
            &column!(rows, resolved_from),
            &column!(rows, warnings),
            &column!(rows, client_key),
            &column!(rows, budget_note),
        ],
    )?;
    let mut positions: Vec<i32> = Vec::new();
    let mut attempts: Vec<StoredAttempt> = Vec::new();
    for (record, id) in records.iter().zip(&ids) {
        for (position, attempt) in record.attempts.iter().enumerate() {
            positions.push(i32::try_from(position).unwrap_or(i32::MAX));
            attempts.push(StoredAttempt::of(*id, attempt));
        }
    }
    if !attempts.is_empty() {
        transaction.execute(
            "INSERT INTO attempts (request, position, model, provider, outcome, detail, judge,
                latency_us, input_tokens, output_tokens, cost_usd)
             SELECT request, position, model, provider, outcome, detail, judge, latency_us,
                input_tokens, output_tokens, cost_usd::numeric
             FROM UNNEST($1::bigint[], $2::int[], $3::text[], $4::text[], $5::text[],
                $6::text[], $7::bool[], $8::bigint[], $9::bigint[], $10::bigint[], $11::text[])
                AS t (request, position, model, provider, outcome, detail, judge, latency_us,
                input_tokens, output_tokens, cost_usd)",
            &[
                &column!(attempts, request),
                &positions,
                &column!(attempts, model),
                &column!(attempts, provider),
                &column!(attempts, outcome),
                &column!(attempts, detail),
                &column!(attempts, judge),
                &column!(attempts, latency_us),
                &column!(attempts, input_tokens),
                &column!(attempts, output_tokens),
                &column!(attempts, cost_usd),
            ],
        )?;
    }
    transaction.commit()?;
    Ok(records.len())
}

/// The requests since `since_ms` and their attempts, oldest first: two queries.
pub(crate) fn fetch(
    client: &mut Client,
    since_ms: i64,
) -> Result<(Vec<StoredRequest>, Vec<StoredAttempt>), postgres::Error> {
    let requests = client
        .query(
            "SELECT id, request_id, started_at_ms, protocol, route, class, confidence, outcome,
                model, provider, input_tokens, output_tokens, cached_read_tokens,
                cache_write_tokens, reasoning_tokens, cost_usd::text, baseline_model,
                baseline_cost_usd::text, latency_us, streamed, attempt_count, unpriced,
                resolved_from, warnings, client_key, budget_note
             FROM requests WHERE started_at_ms >= $1 ORDER BY started_at_ms, id",
            &[&since_ms],
        )?
        .into_iter()
        .map(|row| StoredRequest {
            id: row.get(0),
            request_id: row.get(1),
            started_at_ms: row.get(2),
            protocol: row.get(3),
            route: row.get(4),
            class: row.get(5),
            confidence: row.get(6),
            outcome: row.get(7),
            model: row.get(8),
            provider: row.get(9),
            input_tokens: row.get(10),
            output_tokens: row.get(11),
            cached_read_tokens: row.get(12),
            cache_write_tokens: row.get(13),
            reasoning_tokens: row.get(14),
            cost_usd: row.get(15),
            baseline_model: row.get(16),
            baseline_cost_usd: row.get(17),
            latency_us: row.get(18),
            streamed: row.get(19),
            attempt_count: row.get(20),
            unpriced: row.get(21),
            resolved_from: row.get(22),
            warnings: row.get(23),
            client_key: row.get(24),
            budget_note: row.get(25),
        })
        .collect();
    let attempts = client
        .query(
            "SELECT a.request, a.model, a.provider, a.outcome, a.detail, a.judge, a.latency_us,
                a.input_tokens, a.output_tokens, a.cost_usd::text
             FROM attempts a JOIN requests r ON r.id = a.request
             WHERE r.started_at_ms >= $1 ORDER BY a.request, a.position",
            &[&since_ms],
        )?
        .into_iter()
        .map(|row| StoredAttempt {
            request: row.get(0),
            model: row.get(1),
            provider: row.get(2),
            outcome: row.get(3),
            detail: row.get(4),
            judge: row.get(5),
            latency_us: row.get(6),
            input_tokens: row.get(7),
            output_tokens: row.get(8),
            cost_usd: row.get(9),
        })
        .collect();
    Ok((requests, attempts))
}
