//! The ledger's one error type.

use std::path::PathBuf;

/// What went wrong opening, writing or reading the ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The database file (or its folder) could not be created or opened.
    #[error("cannot open the ledger at {path}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
    /// The folder for the database could not be created.
    #[error("cannot create the ledger folder {path}")]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The database was written by a newer triage whose schema this one does not know.
    #[error(
        "the ledger at {path} has schema version {found}, newer than this triage's {supported}"
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// The version in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// A query failed.
    #[error("ledger query failed")]
    Query(#[from] rusqlite::Error),
    /// A stored value could not be read back (a cost that is not a decimal, an unknown class).
    #[error("the ledger holds an unreadable value `{value}` in column {column}")]
    BadValue {
        /// The column.
        column: &'static str,
        /// The text found.
        value: String,
    },
    /// PostgreSQL refused a connection or a query.
    #[error("ledger {location}: PostgreSQL failed")]
    Postgres {
        /// The database, its password hidden.
        location: String,
        /// Why.
        #[source]
        source: postgres::Error,
    },
    /// A PostgreSQL ledger was opened without a journal for the records it cannot take at once.
    #[error("the ledger at {location} needs a journal file ([ledger] journal)")]
    JournalRequired {
        /// The database, its password hidden.
        location: String,
    },
    /// A bug: something that cannot fail did.
    #[error("ledger: {message}")]
    Internal {
        /// What.
        message: String,
    },
    /// The writer thread could not be started.
    #[error("cannot start the ledger writer thread")]
    Spawn(#[source] std::io::Error),
}
