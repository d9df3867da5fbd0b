//! The write side: a cloneable handle that queues records without blocking, and the writer
//! thread that commits them in batches.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

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
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            queue_capacity: 16_384,
            max_batch: 256,
        }
    }
}

/// Counters of what the writer has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LedgerStats {
    /// Records committed to the database.
    pub written: u64,
    /// Records dropped because the queue was full or the ledger closed.
    pub dropped: u64,
    /// Records lost because their transaction failed (logged).
    pub failed: u64,
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
        schema::migrate(&mut connection, path)?;

        let (sender, receiver) = mpsc::sync_channel(options.queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let thread_counters = Arc::clone(&counters);
        let max_batch = options.max_batch.max(1);
        let thread = std::thread::Builder::new()
            .name("triage-ledger".to_owned())
            .spawn(move || write_loop(connection, &receiver, &thread_counters, max_batch))
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

fn write_loop(
    mut connection: Connection,
    receiver: &Receiver<Command>,
    counters: &Counters,
    max_batch: usize,
) {
    let mut batch: Vec<Box<RequestRecord>> = Vec::with_capacity(max_batch);
    let mut acks = Vec::new();
    loop {
        let Ok(first) = receiver.recv() else { break };
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
            let count = batch.len() as u64;
            match insert_batch(&mut connection, &batch) {
                Ok(()) => {
                    counters.written.fetch_add(count, Ordering::Relaxed);
                }
                Err(error) => {
                    counters.failed.fetch_add(count, Ordering::Relaxed);
                    tracing::error!(%error, count, "could not write request records to the ledger");
                }
            }
            batch.clear();
        }
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
        if shutdown {
            break;
        }
    }
}

fn insert_batch(connection: &mut Connection, batch: &[Box<RequestRecord>]) -> rusqlite::Result<()> {
    let transaction = connection.transaction()?;
    {
        let mut insert_request = transaction.prepare_cached(
            "INSERT INTO requests (request_id, started_at_ms, protocol, route, class, confidence,
                outcome, model, provider, input_tokens, output_tokens, cached_read_tokens,
                cache_write_tokens, reasoning_tokens, cost_usd, baseline_model, baseline_cost_usd,
                latency_us, streamed, attempt_count, unpriced, resolved_from, warnings)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                ?18, ?19, ?20, ?21, ?22, ?23)",
        )?;
        let mut insert_attempt = transaction.prepare_cached(
            "INSERT INTO attempts (request, position, model, provider, outcome, detail, judge,
                latency_us, input_tokens, output_tokens, cost_usd)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for record in batch {
            let started_at_ms = (record.started_at.unix_timestamp_nanos() / 1_000_000) as i64;
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
    transaction.commit()
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn micros(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}
