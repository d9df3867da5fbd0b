//! Options shared by every command that reads the model catalog: `--catalog FILE` and `--as-of`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use time::Date;
use time::macros::format_description;
use triage_catalog::Catalog;

use crate::cli::EXIT_USAGE;

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

fn parse_date(text: &str) -> Result<Date, String> {
    Date::parse(text.trim(), format_description!("[year]-[month]-[day]"))
        .map_err(|error| format!("expected a date like 2026-11-29 ({error})"))
}

/// Prints `error` the way `main` does and answers the usage-error exit status: for input the
/// user can fix (unknown ids, malformed files, bad shares).
pub(crate) fn usage_error(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    ExitCode::from(EXIT_USAGE)
}

/// A dollar amount with at least two decimals and no more than it needs (`2.50`, `0.075`).
pub(crate) fn format_dollars(amount: rust_decimal::Decimal) -> String {
    let mut amount = amount.normalize();
    if amount.scale() < 2 {
        amount.rescale(2);
    }
    amount.to_string()
}

/// A decimal as a JSON number. JSON consumers read numbers as doubles anyway; the conversion
/// happens here, at the output edge, after all arithmetic was done exactly.
pub(crate) fn json_number(amount: rust_decimal::Decimal) -> serde_json::Value {
    use rust_decimal::prelude::ToPrimitive;
    amount
        .to_f64()
        .and_then(serde_json::Number::from_f64)
        .map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// A number with thousands separators (`1,048,576`).
pub(crate) fn group_thousands(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Lays out rows as columns separated by two spaces; columns listed in `right` are
/// right-aligned (numbers). Trailing spaces are trimmed.
pub(crate) fn render_table(header: &[&str], rows: &[Vec<String>], right: &[usize]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|cell| cell.chars().count()).collect();
    for row in rows {
        for (column, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(column) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let header: Vec<String> = header.iter().map(|cell| (*cell).to_owned()).collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            let width = widths.get(column).copied().unwrap_or(0);
            if column > 0 {
                line.push_str("  ");
            }
            if right.contains(&column) {
                line.push_str(&format!("{cell:>width$}"));
            } else {
                line.push_str(&format!("{cell:<width$}"));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
