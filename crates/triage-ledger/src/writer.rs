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

use crate::location::LedgerLocation;
use crate::store::{SqliteMode, Store};
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
    /// Where records wait while the database cannot take them. Default for SQLite: beside
    /// the file ([`journal_path`]); PostgreSQL needs one (each replica its own).
    pub journal: Option<PathBuf>,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            queue_capacity: 16_384,
            max_batch: 256,
            busy_timeout: Duration::from_secs(5),
            write_retries: 2,
            retry_backoff: Duration::from_millis(100),
            journal: None,
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
    location: LedgerLocation,
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
    /// Opens (creating if needed) the SQLite database at `path`, migrates its schema, and
    /// starts the writer thread.
    pub fn open(path: &Path, options: &LedgerOptions) -> Result<Ledger, LedgerError> {
        Ledger::open_at(&LedgerLocation::Sqlite(path.to_owned()), options)
    }

    /// Opens the ledger at `location` (an SQLite file, created if needed, or a PostgreSQL
    /// database), migrates its schema, and starts the writer thread.
    pub fn open_at(
        location: &LedgerLocation,
        options: &LedgerOptions,
    ) -> Result<Ledger, LedgerError> {
        let journal = match (&options.journal, location) {
            (Some(journal), _) => journal.clone(),
            (None, LedgerLocation::Sqlite(path)) => journal_path(path),
            (None, LedgerLocation::Postgres(_)) => {
                return Err(LedgerError::JournalRequired {
                    location: location.to_string(),
                });
            }
        };
        let store = Store::open(
            location,
            SqliteMode::Create {
                busy_timeout: options.busy_timeout,
            },
        )?;

        let (sender, receiver) = mpsc::sync_channel(options.queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let thread_counters = Arc::clone(&counters);
        let max_batch = options.max_batch.max(1);
        let mut sink = Sink {
            store,
            journal,
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
                location: location.clone(),
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

    /// Where the ledger is.
    pub fn location(&self) -> &LedgerLocation {
        &self.inner.location
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
    store: Store,
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
            match self.store.insert_batch(batch.iter().map(|r| &**r), false) {
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
        // Processes sharing a journal (`triage ask` beside `triage serve`, replicas given the
        // same path) take turns: an append never lands between another's read and truncate.
        file.lock()?;
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
        // The journal stays locked from its reading to its emptying (`file` is dropped last).
        let (records, file) = match self.read_journal() {
            Ok(read) => read,
            Err(error) => {
                tracing::error!(%error, journal = %self.journal.display(), "cannot read the ledger journal");
                return false;
            }
        };
        match self.store.insert_batch(records.iter(), true) {
            Ok(inserted) => {
                self.counters
                    .written
                    .fetch_add(inserted as u64, Ordering::Relaxed);
                if let Err(error) = file.as_ref().map_or(Ok(()), |file| file.set_len(0)) {
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

    /// The journal's records, and the journal itself, locked until the caller drops it; a line
    /// that does not parse (torn by a crash mid-write) is dropped, counted and logged.
    fn read_journal(&self) -> std::io::Result<(Vec<RequestRecord>, Option<File>)> {
        let file = match OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.journal)
        {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Vec::new(), None));
            }
            Err(error) => return Err(error),
        };
        file.lock()?;
        let mut records = Vec::new();
        for (index, line) in BufReader::new(&file).lines().enumerate() {
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
        Ok((records, Some(file)))
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
