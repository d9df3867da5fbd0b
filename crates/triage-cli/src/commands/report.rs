//! `triage report`: what the gateway's requests cost, what the baseline model would have cost,
//! and what routing saved, from the request ledger; as a table, JSON or an HTML page.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime};
use triage_catalog::Catalog;
use triage_ledger::{BaselinePrice, LedgerLocation, LedgerReader, ReportContext, SummaryOptions};

use crate::commands::EXIT_USAGE;

/// Reads the ledger `triage serve` writes and summarises spend against the baseline.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  triage report                          all requests, as a table
  triage report --since 2026-11-01       from that day (UTC) on
  triage report --since 7d --json        the last seven days, as JSON
  triage report --html report.html       a page with charts that opens offline
  triage report --baseline gpt-4o        savings against gpt-4o at today's prices
  triage report --by key                 spend, savings and refusals per client key
  triage report --reprice prices-2026-12.toml   the same traffic at another catalog's prices
  triage report --ledger postgres://triage@db:5432/triage   every replica's requests")]
pub(crate) struct Args {
    /// The triage.toml whose `[ledger] path` names the ledger.
    #[arg(long, value_name = "FILE", env = triage_config::env::TRIAGE_CONFIG)]
    pub(crate) config: Option<PathBuf>,

    /// The ledger itself, overriding the config and the default
    /// (`<data dir>/triage/ledger.sqlite3`): an SQLite file or a PostgreSQL URL
    /// (postgres://user@host:5432/db).
    #[arg(long, value_name = "FILE|URL", env = triage_config::env::TRIAGE_LEDGER, hide_env_values = true)]
    pub(crate) ledger: Option<PathBuf>,

    /// Also price the recorded traffic at this catalog file's prices (laid over the embedded
    /// catalog, as `--catalog` does): what the same requests would cost after a price change.
    #[arg(long, value_name = "CATALOG")]
    pub(crate) reprice: Option<PathBuf>,

    /// Print only one breakdown: `key` (spend, savings and refusals per client key).
    #[arg(long, value_name = "WHAT", value_enum)]
    pub(crate) by: Option<Breakdown>,

    /// Only requests from this time on: a UTC day (2026-11-01), an RFC 3339 time
    /// (2026-11-01T12:00:00Z), or a number of days or hours back (7d, 12h).
    #[arg(long, value_name = "DATE", value_parser = parse_since)]
    pub(crate) since: Option<OffsetDateTime>,

    /// Print the summary as JSON (money as numbers in US dollars) instead of a table.
    #[arg(long)]
    pub(crate) json: bool,

    /// Also write a self-contained HTML page with charts to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,

    /// Measure savings against this model instead of the baseline recorded with each request
    /// (each answered request's recorded tokens at its current catalog prices).
    #[arg(long, value_name = "MODEL")]
    pub(crate) baseline: Option<String>,
}

/// A breakdown `--by` prints on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Breakdown {
    /// Per client key (`[[server.keys]]`).
    Key,
}

/// Runs `triage report`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let location = ledger_location(args.ledger.as_deref(), args.config.as_deref())?;
    if let Some(path) = location.path()
        && !path.exists()
    {
        eprintln!(
            "error: no ledger at {} (nothing recorded yet, or pass --ledger / --config)",
            path.display()
        );
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let reader = LedgerReader::open_at(&location)?;
    // The ledger stores which baseline each request was measured on; the catalog (with the
    // config's overlays) says when that model's prices were read.
    let catalog = match &args.config {
        Some(config) => triage_config::Config::load(config)?.catalog(Catalog::embedded())?,
        None => Catalog::embedded().clone(),
    };
    let baseline = match &args.baseline {
        Some(id) => {
            let model = match catalog.get(id) {
                Ok(model) => model,
                Err(error) => {
                    eprintln!("error: --baseline {id}: {error}");
                    return Ok(ExitCode::from(EXIT_USAGE));
                }
            };
            Some(prices(model))
        }
        None => None,
    };
    let reprice = match &args.reprice {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read catalog file {}", path.display()))?;
            let other = match Catalog::embedded().overlay(&text, &path.display().to_string()) {
                Ok(other) => other,
                Err(error) => {
                    eprintln!("error: --reprice: {error}");
                    return Ok(ExitCode::from(EXIT_USAGE));
                }
            };
            Some(price_map(&other))
        }
        None => None,
    };
    let mut summary = reader.summary(&SummaryOptions {
        since: args.since,
        baseline,
        reprice,
        prices: Some(price_map(&catalog)),
    })?;
    summary.date_baseline_prices(|model| catalog.find(model).map(|model| model.pricing.checked_on));

    if let Some(html_path) = &args.html {
        let context = ReportContext {
            ledger_path: location.to_string(),
            generated_at: OffsetDateTime::now_utc()
                .replace_nanosecond(0)
                .unwrap_or_else(|_| OffsetDateTime::now_utc())
                .format(&Rfc3339)
                .unwrap_or_default(),
        };
        std::fs::write(html_path, triage_ledger::render_html(&summary, &context))
            .with_context(|| format!("cannot write {}", html_path.display()))?;
        if !args.json {
            eprintln!("wrote {}", html_path.display());
        }
    }
    match (args.json, args.by) {
        (true, None) => println!("{}", serde_json::to_string_pretty(&summary)?),
        (true, Some(Breakdown::Key)) => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "since": summary.since,
                "requests": summary.requests,
                "by_key": summary.by_key,
            }))?
        ),
        (false, None) => print!("{}", triage_ledger::render_text(&summary)),
        (false, Some(Breakdown::Key)) => print!("{}", triage_ledger::render_keys(&summary)),
    }
    Ok(ExitCode::SUCCESS)
}

/// A catalog model's prices, as the ledger's summaries take them (cached input at the input
/// price when the model has none).
/// Every model's prices, by id.
fn price_map(catalog: &Catalog) -> std::collections::BTreeMap<String, BaselinePrice> {
    catalog
        .models()
        .map(|model| (model.id.clone(), prices(model)))
        .collect()
}

fn prices(model: &triage_catalog::Model) -> BaselinePrice {
    BaselinePrice {
        model: model.id.clone(),
        input: model.pricing.input,
        cached_input: model.pricing.cached_input.unwrap_or(model.pricing.input),
        output: model.pricing.output,
        cache_write: model.pricing.cache_write.unwrap_or(model.pricing.input),
    }
}

/// Where the ledger lives: `explicit` if given (a file or a PostgreSQL URL), else the config's
/// `[ledger] url` or `path` (relative to the config file's folder), else
/// `<data dir>/triage/ledger.sqlite3`.
pub(crate) fn ledger_location(
    explicit: Option<&Path>,
    config: Option<&Path>,
) -> anyhow::Result<LedgerLocation> {
    let settings = match (explicit, config) {
        (None, Some(config)) => triage_config::Config::load(config)?.ledger,
        _ => triage_config::LedgerSettings::default(),
    };
    crate::commands::context::ledger_location(explicit, &settings)
}

fn parse_since(text: &str) -> Result<OffsetDateTime, String> {
    let text = text.trim();
    if let Ok(date) = Date::parse(text, format_description!("[year]-[month]-[day]")) {
        return Ok(date.midnight().assume_utc());
    }
    if let Ok(time) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(time);
    }
    let relative = |digits: &str, unit: fn(i64) -> Duration| {
        digits
            .parse::<i64>()
            .ok()
            .map(|count| OffsetDateTime::now_utc() - unit(count))
    };
    let parsed = if let Some(days) = text.strip_suffix('d') {
        relative(days, Duration::days)
    } else if let Some(hours) = text.strip_suffix('h') {
        relative(hours, Duration::hours)
    } else {
        None
    };
    parsed.ok_or_else(|| {
        format!(
            "expected a day (2026-11-01), an RFC 3339 time or a span back (7d, 12h), not `{text}`"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_days_times_and_spans() {
        let day = parse_since("2026-11-01").unwrap();
        assert_eq!(day.format(&Rfc3339).unwrap(), "2026-11-01T00:00:00Z");
        let time = parse_since("2026-11-01T12:30:00+02:00").unwrap();
        assert_eq!(
            time.unix_timestamp(),
            day.unix_timestamp() + 10 * 3600 + 1800
        );
        let week = parse_since("7d").unwrap();
        let age = OffsetDateTime::now_utc() - week;
        assert!(age >= Duration::days(7) && age < Duration::days(7) + Duration::minutes(1));
        assert!(parse_since("yesterday").is_err());
    }

    #[test]
    fn config_paths_are_relative_to_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("triage.toml");
        std::fs::write(&config, "[ledger]\npath = \"data/ledger.sqlite3\"\n").unwrap();
        let location = ledger_location(None, Some(&config)).unwrap();
        assert_eq!(
            location,
            LedgerLocation::Sqlite(dir.path().join("data/ledger.sqlite3"))
        );
        let explicit = ledger_location(Some(Path::new("x.sqlite3")), Some(&config)).unwrap();
        assert_eq!(explicit, LedgerLocation::Sqlite("x.sqlite3".into()));
        std::fs::write(&config, "[ledger]\nurl = \"postgres://t@db/t\"\n").unwrap();
        let url = ledger_location(None, Some(&config)).unwrap();
        assert_eq!(
            url,
            LedgerLocation::Postgres("postgres://t@db/t".to_owned())
        );
    }
}
