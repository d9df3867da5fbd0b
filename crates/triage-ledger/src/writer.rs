//! The write side: a cloneable handle that queues records without blocking, and the writer
//! thread that commits them in batches, retrying while the database is locked and spilling to
//! an append-only journal beside it (`<ledger>.journal`, JSON lines) when it must, replayed
//! on recovery and at the next open.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};

use crate::schema;
use crate::{LedgerError, RequestRecord};

/// Tuning for [`Ledger::open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerOptions {
    /// How many records may wait for the writer. When the queue is full (the disk cannot keep
    /// up), new records are dropped and counted in [`LedgerStats::dropped`] rather than making
    /// requests wait.
    pub queue_capacity: usize,
    /// The most records committed in one transaction.
    pub max_batch: usize,
    /// How long one write waits for a lock held by another connection (SQLite's busy
    /// timeout). Default 5 s.
    pub busy_timeout: Duration,
    /// Retries of a failed batch, with doubling backoff, before it is spilled to the
    /// journal. Default 2.
    pub write_retries: u32,
    /// The first backoff between retries; it doubles each retry. Default 100 ms.
    pub retry_backoff: Duration,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            queue_capacity: 16_384,
            max_batch: 256,
            busy_timeout: Duration::from_secs(5),
            write_retries: 2,
            retry_backoff: Duration::from_millis(100),
        }
    }
}

/// The journal beside a ledger: `<ledger>.journal`, one JSON record per line, where records
/// wait while the database cannot be written.
pub fn journal_path(ledger: &Path) -> PathBuf {
    let mut name = OsString::from(ledger.as_os_str());
    name.push(".journal");
    PathBuf::from(name)
}

/// How often a pending journal is retried while the database stays unwritable.
const REPLAY_INTERVAL: Duration = Duration::from_millis(500);

/// Counters of what the writer has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LedgerStats {
    /// Records committed to the database.
    pub written: u64,
    /// Records lost: the queue was full, the ledger closed, or neither the database nor the
    /// journal could take them (each logged).
    pub dropped: u64,
    /// Write transactions that failed (each retried, then spilled to the journal).
    pub failed: u64,
    /// Records spilled to the journal because the database could not take them; replayed
    /// records are counted in `written` too.
    pub journaled: u64,
}

/// A handle on an open ledger. Cheap to clone; every clone feeds the same writer thread.
///
/// The writer commits whatever has queued up as soon as it is free, up to
/// [`LedgerOptions::max_batch`] records per transaction, so a record is on disk milliseconds
/// after [`Ledger::record`] returns. [`Ledger::close`] (or dropping the last clone) writes what
/// is queued and stops the thread.
#[derive(Debug, Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    sender: SyncSender<Command>,
    counters: Arc<Counters>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Default)]
struct Counters {
    written: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    journaled: AtomicU64,
}

#[derive(Debug)]
enum Command {
    Record(Box<RequestRecord>),
    Flush(mpsc::Sender<()>),
    Shutdown,
}

impl Ledger {
    /// Opens (creating if needed) the database at `path`, migrates its schema, and starts the
    /// writer thread.
    pub fn open(path: &Path, options: &LedgerOptions) -> Result<Ledger, LedgerError> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|source| LedgerError::CreateDir {
                path: parent.to_owned(),
                source,
            })?;
        }
        let open_error = |source| LedgerError::Open {
            path: path.to_owned(),
            source,
        };
        let mut connection = Connection::open(path).map_err(open_error)?;
        schema::configure(&connection).map_err(open_error)?;
        connection
            .busy_timeout(options.busy_timeout)
            .map_err(open_error)?;
        schema::migrate(&mut connection, path)?;

        let (sender, receiver) = mpsc::sync_channel(options.queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let thread_counters = Arc::clone(&counters);
        let max_batch = options.max_batch.max(1);
        let mut sink = Sink {
            connection,
            journal: journal_path(path),
            counters: thread_counters,
            retries: options.write_retries,
            backoff: options.retry_backoff,
            journal_pending: false,
            last_replay: None,
        };
        // A journal left by an earlier run (the database was locked at its close) goes in
        // first, before anything new.
        sink.journal_pending = sink.journal_has_records();
        sink.replay();
        let thread = std::thread::Builder::new()
            .name("triage-ledger".to_owned())
            .spawn(move || write_loop(sink, &receiver, max_batch))
            .map_err(LedgerError::Spawn)?;
        Ok(Ledger {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                sender,
                counters,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// Queues a record for writing and returns at once. Never blocks: if the queue is full the
    /// record is dropped, counted and logged.
    pub fn record(&self, record: RequestRecord) {
        match self
            .inner
            .sender
            .try_send(Command::Record(Box::new(record)))
        {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let dropped = self.inner.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    tracing::warn!(dropped, "ledger queue full; dropping request records");
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                self.inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("ledger closed; dropping a request record");
            }
        }
    }

    /// Waits until every record queued before this call is committed. Blocks: for shutdown and
    /// tests, not for the request path.
    pub fn flush(&self) {
        let (ack, done) = mpsc::channel();
        if self.inner.sender.send(Command::Flush(ack)).is_ok() {
            // An error means the writer has stopped, which also means nothing is pending.
            let _ = done.recv();
        }
    }

    /// Commits what is queued and stops the writer thread. Later records are dropped. Safe to
    /// call more than once and from any clone.
    pub fn close(&self) {
        self.inner.close();
    }

    /// What the writer has done so far.
    pub fn stats(&self) -> LedgerStats {
        let counters = &self.inner.counters;
        LedgerStats {
            written: counters.written.load(Ordering::Relaxed),
            dropped: counters.dropped.load(Ordering::Relaxed),
            failed: counters.failed.load(Ordering::Relaxed),
            journaled: counters.journaled.load(Ordering::Relaxed),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }
}

impl Inner {
    fn close(&self) {
        let thread = match self.thread.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let Some(thread) = thread else { return };
        // A blocking send: the writer is draining, so there is room soon.
        let _ = self.sender.send(Command::Shutdown);
        if thread.join().is_err() {
            tracing::error!("the ledger writer thread panicked");
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.close();
    }
}

/// The writer thread's side: the connection, and the journal for when it cannot be written.
struct Sink {
    connection: Connection,
    journal: PathBuf,
    counters: Arc<Counters>,
    retries: u32,
    backoff: Duration,
    /// Records wait in the journal; they are replayed before new records are inserted, so
    /// the ledger keeps arrival order.
    journal_pending: bool,
    last_replay: Option<Instant>,
}

impl Sink {
    /// Writes a batch: to the database, retrying with backoff, else to the journal.
    fn write(&mut self, batch: &[Box<RequestRecord>]) {
        let count = batch.len() as u64;
        if self.journal_pending && !self.replay() {
            self.spill(batch);
            return;
        }
        let mut delay = self.backoff;
        for attempt in 0..=self.retries {
            match insert_batch(&mut self.connection, batch.iter().map(|r| &**r), false) {
                Ok(_) => {
                    self.counters.written.fetch_add(count, Ordering::Relaxed);
                    return;
                }
                Err(error) => {
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                    if attempt == self.retries {
                        tracing::warn!(%error, count, "could not write request records to the ledger; spilling them to its journal");
                    } else {
                        tracing::debug!(%error, count, attempt, "ledger write failed; retrying");
                        std::thread::sleep(delay);
                        delay = delay.saturating_mul(2);
                    }
                }
            }
        }
        self.spill(batch);
    }

    /// Appends a batch to the journal; what cannot be appended is dropped, counted and logged.
    fn spill(&mut self, batch: &[Box<RequestRecord>]) {
        let count = batch.len() as u64;
        match self.append(batch) {
            Ok(()) => {
                self.journal_pending = true;
                self.counters.journaled.fetch_add(count, Ordering::Relaxed);
            }
            Err(error) => {
                self.counters.dropped.fetch_add(count, Ordering::Relaxed);
                tracing::error!(%error, count, journal = %self.journal.display(), "could not journal request records; they are lost");
            }
        }
    }

    fn append(&self, batch: &[Box<RequestRecord>]) -> std::io::Result<()> {
        let mut lines = Vec::new();
        for record in batch {
            serde_json::to_writer(&mut lines, &**record)?;
            lines.push(b'\n');
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.journal)?;
        file.write_all(&lines)?;
        file.sync_data()
    }

    fn journal_has_records(&self) -> bool {
        std::fs::metadata(&self.journal).is_ok_and(|metadata| metadata.len() > 0)
    }

    /// Moves the journal's records into the database, skipping those already there (by
    /// request id and start time, so a replay cut short by a crash is not doubled), then
    /// empties it. `true` when nothing is left pending. Tried at most every
    /// [`REPLAY_INTERVAL`] while the database stays unwritable.
    fn replay(&mut self) -> bool {
        if !self.journal_pending {
            return true;
        }
        if self
            .last_replay
            .is_some_and(|last| last.elapsed() < REPLAY_INTERVAL)
        {
            return false;
        }
        self.last_replay = Some(Instant::now());
        let records = match self.read_journal() {
            Ok(records) => records,
            Err(error) => {
                tracing::error!(%error, journal = %self.journal.display(), "cannot read the ledger journal");
                return false;
            }
        };
        match insert_batch(&mut self.connection, records.iter(), true) {
            Ok(inserted) => {
                self.counters
                    .written
                    .fetch_add(inserted as u64, Ordering::Relaxed);
                if let Err(error) = File::create(&self.journal) {
                    // The records are in the database; a later replay skips them.
                    tracing::warn!(%error, journal = %self.journal.display(), "cannot empty the ledger journal");
                }
                tracing::info!(
                    replayed = inserted,
                    "ledger journal replayed into the database"
                );
                self.journal_pending = false;
                true
            }
            Err(error) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%error, "ledger still unwritable; the journal waits");
                false
            }
        }
    }

    /// The journal's records; a line that does not parse (torn by a crash mid-write) is
    /// dropped, counted and logged.
    fn read_journal(&self) -> std::io::Result<Vec<RequestRecord>> {
        let file = match File::open(&self.journal) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        let mut records = Vec::new();
        for (index, line) in BufReader::new(file).lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(&line) {
                Ok(record) => records.push(record),
                Err(error) => {
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(%error, line = index + 1, journal = %self.journal.display(), "unreadable ledger journal line; record lost");
                }
            }
        }
        Ok(records)
    }
}

fn write_loop(mut sink: Sink, receiver: &Receiver<Command>, max_batch: usize) {
    let mut batch: Vec<Box<RequestRecord>> = Vec::with_capacity(max_batch);
    let mut acks = Vec::new();
    loop {
        // While records wait in the journal, wake up to retry it even when idle.
        let first = if sink.journal_pending {
            match receiver.recv_timeout(REPLAY_INTERVAL) {
                Ok(command) => command,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    sink.replay();
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        } else {
            let Ok(first) = receiver.recv() else { break };
            first
        };
        let mut shutdown = false;
        let mut next = Some(first);
        // Group commit: take whatever else is already waiting, up to a batch.
        while let Some(command) = next.take() {
            match command {
                Command::Record(record) => batch.push(record),
                Command::Flush(ack) => acks.push(ack),
                Command::Shutdown => {
                    shutdown = true;
                    break;
                }
            }
            if batch.len() >= max_batch {
                break;
            }
            next = receiver.try_recv().ok();
        }
        if !batch.is_empty() {
            sink.write(&batch);
            batch.clear();
        }
        if shutdown || !acks.is_empty() {
            // A flush or a close wants the journal in the database if it can go there now.
            sink.last_replay = None;
            sink.replay();
        }
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
        if shutdown {
            if sink.journal_pending {
                tracing::warn!(journal = %sink.journal.display(), "the ledger is still locked; its journal is replayed at the next open");
            }
            break;
        }
    }
}

/// Inserts records in one transaction; with `skip_existing`, those whose request id and
/// start time are already stored are skipped. Returns how many were inserted.
fn insert_batch<'a>(
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
            let started_at_ms = (record.started_at.unix_timestamp_nanos() / 1_000_000) as i64;
            if skip_existing && exists.exists(params![started_at_ms, record.request_id])? {
                continue;
            }
            inserted += 1;
            insert_request.execute(params![
                record.request_id,
                started_at_ms,
                record.protocol,
                record.route,
                record.class.map(|class| class.as_str()),
                record.confidence.map(f64::from),
                record.outcome.as_str(),
                record.model,
                record.provider,
                saturating_i64(record.usage.input_tokens),
                saturating_i64(record.usage.output_tokens),
                saturating_i64(record.usage.cached_read_tokens),
                saturating_i64(record.usage.cache_write_tokens),
                saturating_i64(record.usage.reasoning_tokens),
                record.cost_usd.normalize().to_string(),
                record.baseline_model,
                record.baseline_cost_usd.normalize().to_string(),
                micros(record.latency),
                record.streamed,
                record
                    .attempts
                    .iter()
                    .filter(|attempt| !attempt.judge)
                    .count() as i64,
                record.unpriced,
                record.resolved_from,
                (!record.warnings.is_empty()).then(|| record.warnings.join("\n")),
                record.client_key,
                record.budget_note,
            ])?;
            let request = transaction.last_insert_rowid();
            for (position, attempt) in record.attempts.iter().enumerate() {
                insert_attempt.execute(params![
                    request,
                    position as i64,
                    attempt.model,
                    attempt.provider,
                    attempt.outcome.kind(),
                    attempt.outcome.detail(),
                    attempt.judge,
                    micros(attempt.latency),
                    saturating_i64(attempt.usage.input_tokens),
                    saturating_i64(attempt.usage.output_tokens),
                    attempt.cost_usd.normalize().to_string(),
                ])?;
            }
        }
    }
    transaction.commit()?;
    Ok(inserted)
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn micros(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}
