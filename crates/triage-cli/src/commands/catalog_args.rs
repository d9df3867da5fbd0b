//! Options shared by every command that reads the model catalog: `--catalog FILE` and `--as-of`.

use std::path::PathBuf;

use anyhow::Context;
use time::Date;
use time::macros::format_description;
use triage_catalog::Catalog;

/// Which catalog to use and which day to judge model lifecycles on. Flatten into a command's
/// `Args` with `#[command(flatten)]`.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct CatalogArgs {
    /// A catalog file in the embedded catalog's TOML format, laid over it: its models and
    /// providers replace those with the same id or are added, and each route class it lists
    /// replaces that class's models.
    #[arg(long, value_name = "FILE")]
    pub(crate) catalog: Option<PathBuf>,

    /// Judge model lifecycles (active, deprecated, retired) as of this day, YYYY-MM-DD, instead
    /// of today (UTC).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub(crate) as_of: Option<Date>,
}

impl CatalogArgs {
    /// The embedded catalog, with the `--catalog` file laid over it when given.
    pub(crate) fn load(&self) -> anyhow::Result<Catalog> {
        let embedded = Catalog::embedded();
        let Some(path) = &self.catalog else {
            return Ok(embedded.clone());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read catalog file {}", path.display()))?;
        Ok(embedded.overlay(&text, &path.display().to_string())?)
    }

    /// The day lifecycles are judged on: `--as-of`, or today in UTC.
    pub(crate) fn today(&self) -> Date {
        self.as_of
            .unwrap_or_else(|| time::OffsetDateTime::now_utc().date())
    }
}

/// Parses a YYYY-MM-DD day for clap.
pub(crate) fn parse_date(text: &str) -> Result<Date, String> {
    Date::parse(text.trim(), format_description!("[year]-[month]-[day]"))
        .map_err(|error| format!("expected a date like 2026-11-29 ({error})"))
}
