//! `[catalog]`: catalog overrides: a user catalog file and/or inline entries, in the catalog's
//! own format, overlaid on the embedded catalog (`Catalog::overlay`).

use std::path::PathBuf;

use serde::Deserialize;

use crate::ConfigError;
use triage_catalog::Source;

/// `[catalog]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCatalogSection {
    /// A catalog file to overlay (relative to the config file).
    path: Option<PathBuf>,
    /// Inline providers (`[catalog.providers.<id>]`), in the catalog's format.
    providers: Option<toml::Table>,
    /// Inline models (`[[catalog.models]]`), in the catalog's format.
    models: Option<Vec<toml::Table>>,
}

/// Validated `[catalog]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CatalogSettings {
    /// The user catalog file, resolved against the config file's directory.
    pub path: Option<PathBuf>,
    /// Inline entries as catalog TOML text, overlaid after the file.
    pub inline: Option<String>,
}

pub(crate) fn validate(
    _source: &Source<'_>,
    raw: RawCatalogSection,
    base_dir: Option<&std::path::Path>,
) -> Result<CatalogSettings, ConfigError> {
    let path = raw.path.map(|path| match base_dir {
        Some(base) if path.is_relative() => base.join(path),
        _ => path,
    });
    let mut table = toml::Table::new();
    if let Some(providers) = raw.providers {
        table.insert("providers".to_owned(), toml::Value::Table(providers));
    }
    if let Some(models) = raw.models {
        table.insert(
            "models".to_owned(),
            toml::Value::Array(models.into_iter().map(toml::Value::Table).collect()),
        );
    }
    let inline = (!table.is_empty()).then(|| table.to_string());
    Ok(CatalogSettings { path, inline })
}
