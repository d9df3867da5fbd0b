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
    path: Option<PathBuf>,
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
    /// Whether requests are recorded.
    pub enabled: bool,
}

impl Default for LedgerSettings {
    fn default() -> Self {
        LedgerSettings {
            path: None,
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
    Ok(LedgerSettings {
        path: raw.path.map(|path| match base_dir {
            Some(base) if path.is_relative() => base.join(path),
            _ => path,
        }),
        enabled: raw.enabled.unwrap_or(true),
    })
}
