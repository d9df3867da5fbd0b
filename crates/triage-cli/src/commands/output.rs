//! The commands' output kit: usage errors, money, numbers and plain-text tables, and the
//! ledger's default path.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::commands::EXIT_USAGE;

/// Warnings to show once each: `located` (about what the user wrote, each prefixed with the
/// file, line and key by `Config::check_models`) first, then `more` (plan or lifecycle
/// warnings) unless the same text is already shown, located or not.
pub(crate) fn merge_warnings<'a>(
    located: &'a [String],
    more: impl IntoIterator<Item = &'a String>,
) -> Vec<&'a String> {
    let mut merged: Vec<&String> = Vec::new();
    for warning in located.iter().chain(more) {
        let already = merged
            .iter()
            .any(|shown| *shown == warning || shown.ends_with(&format!("): {warning}")));
        if !already {
            merged.push(warning);
        }
    }
    merged
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
        if position > 0 && (digits.len() - position).is_multiple_of(3) {
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

/// A confidence rounded to four decimals for output (f32 noise like 0.6683647632598877 says
/// nothing).
pub(crate) fn round4(value: f32) -> f64 {
    (f64::from(value) * 10_000.0).round() / 10_000.0
}

/// `<data dir>/triage/ledger.sqlite3` (`~/.local/share/triage/ledger.sqlite3` on Linux).
pub(crate) fn default_ledger_path() -> anyhow::Result<PathBuf> {
    let data = dirs::data_dir()
        .context("cannot find the user's data directory; set [ledger] path in triage.toml")?;
    Ok(data.join("triage").join("ledger.sqlite3"))
}

/// `<user data dir>/triage/ledger-postgres.journal`: where records for a PostgreSQL ledger
/// wait while it cannot take them, unless `[ledger] journal` says otherwise.
pub(crate) fn default_postgres_journal() -> anyhow::Result<PathBuf> {
    let data = dirs::data_dir()
        .context("cannot find the user's data directory; set [ledger] journal in triage.toml")?;
    Ok(data.join("triage").join("ledger-postgres.journal"))
}
