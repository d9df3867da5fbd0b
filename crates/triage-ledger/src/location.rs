//! Where a ledger lives: an SQLite file (one machine) or a PostgreSQL database (every replica
//! of a gateway writing one ledger).

use std::fmt;
use std::path::{Path, PathBuf};

/// An SQLite file or a PostgreSQL URL. Displayed with any password hidden.
#[derive(Clone, PartialEq, Eq)]
pub enum LedgerLocation {
    /// An SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user[:password]@host[:port]/database`).
    Postgres(String),
}

impl LedgerLocation {
    /// `postgres://…` and `postgresql://…` are PostgreSQL URLs; anything else is a file path.
    pub fn parse(text: &str) -> LedgerLocation {
        let trimmed = text.trim();
        if is_postgres_url(trimmed) {
            LedgerLocation::Postgres(trimmed.to_owned())
        } else {
            LedgerLocation::Sqlite(PathBuf::from(text))
        }
    }

    /// The SQLite file, if it is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            LedgerLocation::Sqlite(path) => Some(path),
            LedgerLocation::Postgres(_) => None,
        }
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            LedgerLocation::Sqlite(_) => "sqlite",
            LedgerLocation::Postgres(_) => "postgres",
        }
    }
}

/// Whether `text` is a PostgreSQL URL.
pub fn is_postgres_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

impl fmt::Display for LedgerLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerLocation::Sqlite(path) => write!(f, "{}", path.display()),
            LedgerLocation::Postgres(url) => f.write_str(&triage_types::url::redact_password(url)),
        }
    }
}

impl fmt::Debug for LedgerLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LedgerLocation({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_hide_passwords() {
        let cases = [
            ("ledger.sqlite3", "sqlite", "ledger.sqlite3"),
            ("/var/lib/triage/l.db", "sqlite", "/var/lib/triage/l.db"),
            (
                "postgres://triage@db:5432/triage",
                "postgres",
                "postgres://triage@db:5432/triage",
            ),
            (
                "postgresql://triage:s3cret@db/triage",
                "postgres",
                "postgresql://triage:***@db/triage",
            ),
        ];
        for (text, backend, shown) in cases {
            let location = LedgerLocation::parse(text);
            assert_eq!(location.backend(), backend, "{text}");
            assert_eq!(location.to_string(), shown, "{text}");
        }
    }
}
