//! `[ledger]`: where `triage serve` and `triage ask` record requests.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::ConfigError;
use crate::sections::invalid;
use triage_catalog::Source;

/// `[ledger]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLedger {
    /// The SQLite file; relative paths are relative to the config file. Default (chosen by the
    /// CLI): `<user data dir>/triage/ledger.sqlite3`.
    path: Option<Spanned<PathBuf>>,
    /// A PostgreSQL URL (`postgres://user@host:5432/db`) instead of `path`: one ledger for
    /// every replica of the gateway.
    url: Option<Spanned<String>>,
    /// Where records wait while the database cannot take them (JSON lines, replayed when it
    /// can); relative to the config file. Default: beside the SQLite file, or
    /// `<user data dir>/triage/ledger-postgres.journal` for PostgreSQL.
    journal: Option<PathBuf>,
    /// Whether to record requests at all (default true).
    enabled: Option<bool>,
    /// Moved to `[routing] baseline`; refused here with that hint.
    baseline: Option<Spanned<String>>,
}

/// Validated `[ledger]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerSettings {
    /// The database file, resolved against the config file's folder; `None` for the default.
    pub path: Option<PathBuf>,
    /// A PostgreSQL URL, when the ledger lives there instead.
    pub url: Option<String>,
    /// The journal file, resolved against the config file's folder; `None` for the default.
    pub journal: Option<PathBuf>,
    /// Whether requests are recorded.
    pub enabled: bool,
}

impl Default for LedgerSettings {
    fn default() -> Self {
        LedgerSettings {
            path: None,
            url: None,
            journal: None,
            enabled: true,
        }
    }
}

pub(crate) fn validate(
    source: &Source<'_>,
    raw: RawLedger,
    base_dir: Option<&Path>,
) -> Result<LedgerSettings, ConfigError> {
    if let Some(baseline) = raw.baseline {
        return Err(invalid(
            source,
            &baseline.span(),
            "ledger.baseline",
            "the baseline moved to [routing] baseline (one baseline for route, ask, serve, eval, cost and report)",
        ));
    }
    let url = match raw.url {
        Some(url)
            if !["postgres://", "postgresql://"]
                .iter()
                .any(|scheme| url.get_ref().trim().starts_with(scheme)) =>
        {
            return Err(invalid(
                source,
                &url.span(),
                "ledger.url",
                "a ledger URL is a PostgreSQL URL: postgres://user@host:5432/database (for SQLite, set path)",
            ));
        }
        Some(url) => {
            if let Some(path) = &raw.path {
                return Err(invalid(
                    source,
                    &path.span(),
                    "ledger.path",
                    "set path (SQLite) or url (PostgreSQL), not both",
                ));
            }
            Some(url.into_inner().trim().to_owned())
        }
        None => None,
    };
    let resolve = |path: PathBuf| match base_dir {
        Some(base) if path.is_relative() => base.join(path),
        _ => path,
    };
    Ok(LedgerSettings {
        path: raw.path.map(|path| resolve(path.into_inner())),
        url,
        journal: raw.journal.map(resolve),
        enabled: raw.enabled.unwrap_or(true),
    })
}
