//! `[ledger]`: where `triage serve` records requests, and the model savings are measured
//! against.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::sections::model_ref;
use crate::{ConfigError, ModelRef};
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
    /// The catalog model savings are measured against: what every request would have cost on
    /// it. Default: the first model of the `critical` route.
    baseline: Option<Spanned<String>>,
}

/// Validated `[ledger]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerSettings {
    /// The database file, resolved against the config file's folder; `None` for the default.
    pub path: Option<PathBuf>,
    /// Whether requests are recorded.
    pub enabled: bool,
    /// The baseline model, if configured.
    pub baseline: Option<ModelRef>,
}

impl Default for LedgerSettings {
    fn default() -> Self {
        LedgerSettings {
            path: None,
            enabled: true,
            baseline: None,
        }
    }
}

pub(crate) fn validate(
    source: &Source<'_>,
    raw: RawLedger,
    base_dir: Option<&Path>,
) -> Result<LedgerSettings, ConfigError> {
    Ok(LedgerSettings {
        path: raw.path.map(|path| match base_dir {
            Some(base) if path.is_relative() => base.join(path),
            _ => path,
        }),
        enabled: raw.enabled.unwrap_or(true),
        baseline: raw
            .baseline
            .map(|baseline| model_ref(source, &baseline, "ledger.baseline")),
    })
}
