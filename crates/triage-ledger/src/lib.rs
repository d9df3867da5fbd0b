//! The request ledger: every request the gateway routes, with every attempt, written by a
//! background thread to an embedded SQLite database (one machine) or to PostgreSQL (every
//! replica of a gateway in one ledger), and the aggregates `triage report` shows.
//!
//! Writing never blocks the request path: [`Ledger::record`] hands the record to a bounded
//! queue and returns at once; a dedicated writer thread commits whatever has queued up in one
//! transaction (group commit), so rows reach the database within milliseconds and a killed
//! process loses only requests still in flight. Money is stored as exact decimal text and summed
//! with [`rust_decimal::Decimal`], never as floating point.
//!
//! ```
//! use triage_ledger::{Ledger, LedgerOptions, LedgerReader, RequestRecord, SummaryOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("ledger.sqlite3");
//! let ledger = Ledger::open(&path, &LedgerOptions::default())?;
//! ledger.record(RequestRecord::new("req-1", "auto"));
//! ledger.close();
//!
//! let summary = LedgerReader::open(&path)?.summary(&SummaryOptions::default())?;
//! assert_eq!(summary.requests, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod error;
mod location;
mod postgres;
mod record;
mod report;
mod rows;
mod schema;
mod store;
mod summary;
mod writer;

pub use error::LedgerError;
pub use location::{LedgerLocation, is_postgres_url};
pub use record::{AttemptOutcome, AttemptRecord, RequestOutcome, RequestRecord};
pub use report::{ReportContext, render_html, render_keys, render_text};
pub use summary::{
    BaselinePrice, BaselineShare, CacheSummary, ClassMix, DailySpend, KeyShare, LatencyPercentiles,
    LedgerReader, ModelShare, NO_KEY, Summary, SummaryOptions, TokenTotals,
};
pub use writer::{Ledger, LedgerOptions, LedgerStats, journal_path};
