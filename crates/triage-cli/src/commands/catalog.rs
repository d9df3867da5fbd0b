//! `triage catalog`: work with catalog files. `diff` lists what a catalog file changes: prices
//! that moved, models added or removed, deprecations, retirements and successors; `import`
//! reads a public price list (LiteLLM's JSON) into a catalog overlay.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use triage_catalog::{Catalog, Change};

use crate::commands::output::usage_error;

/// Work with catalog files.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// List what changes between two catalogs: prices, new and removed models, deprecation
    /// and retirement dates, successors.
    Diff(DiffArgs),
    /// Read a public price list (LiteLLM's `model_prices_and_context_window.json`) into a
    /// catalog overlay, with its source and date.
    Import(ImportArgs),
}

/// Import prices. Every catalog model the list has (same provider, its API name or id, bare
/// or with LiteLLM's provider prefix such as `gemini/`) is written as a whole `[[models]]`
/// entry with the list's prices; tiers, limits, capabilities and lifecycle stay the
/// catalog's, and cache or batch prices the list leaves out keep theirs. Models the list has
/// but the catalog does not are counted, not added: their tier is the catalog's call.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  triage catalog import model_prices_and_context_window.json --out prices.toml
  triage catalog diff prices.toml                    what the overlay changes
  triage report --reprice prices.toml                the recorded traffic at those prices
  triage serve --catalog prices.toml                 route and price with them

The list is read as given (no download): fetch it yourself from
https://github.com/BerriAI/litellm (model_prices_and_context_window.json).")]
pub(crate) struct ImportArgs {
    /// The LiteLLM price list (JSON).
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// Write the overlay here instead of to standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,

    /// The prices' source, stored in every entry (default: LiteLLM and the file's name).
    #[arg(long, value_name = "TEXT")]
    source: Option<String>,

    /// The day the list was read, stored in every entry, YYYY-MM-DD (default: today, UTC).
    #[arg(long, value_name = "DATE", value_parser = crate::commands::catalog_args::parse_date)]
    checked_on: Option<time::Date>,

    /// A catalog file laid over the embedded one, whose models are priced instead.
    #[arg(long, value_name = "FILE")]
    catalog: Option<PathBuf>,
}

/// Compare catalogs. Each file is laid over the embedded catalog, as `--catalog` does, so a
/// file of a few updated entries shows just its effect.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  triage catalog diff prices-2026-12.toml            the embedded catalog → with that file
  triage catalog diff old.toml new.toml              one file's catalog → the other's
  triage catalog diff new.toml --json | jq '.[] | select(.change == \"price\")'

Exit status: 0 when the catalogs are the same, 1 when they differ (like diff(1)), 2 when a file
cannot be read or is not a valid catalog.")]
pub(crate) struct DiffArgs {
    /// With one file: the new catalog, compared against the embedded one. With two: the old.
    #[arg(value_name = "FILE")]
    first: PathBuf,

    /// The new catalog, when the first file is the old one.
    #[arg(value_name = "NEW")]
    second: Option<PathBuf>,

    /// Print the changes as a JSON array (objects with `change`: added, removed, price,
    /// lifecycle).
    #[arg(long)]
    json: bool,
}

/// Runs a `triage catalog` subcommand.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Diff(args) => diff(&args),
        Command::Import(args) => import(&args),
    }
}

fn import(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let catalog_args = crate::commands::catalog_args::CatalogArgs {
        catalog: args.catalog.clone(),
        as_of: None,
    };
    let imported = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read price list {}", args.file.display()))
        .and_then(|json| {
            let base = catalog_args.load()?;
            let origin = args.file.display().to_string();
            let file_name = args.file.file_name().map_or_else(
                || origin.clone(),
                |name| name.to_string_lossy().into_owned(),
            );
            let source = args
                .source
                .clone()
                .unwrap_or_else(|| format!("LiteLLM {file_name}"));
            let checked_on = args
                .checked_on
                .unwrap_or_else(|| time::OffsetDateTime::now_utc().date());
            Ok(triage_catalog::import_litellm(
                &base, &json, &origin, &source, checked_on,
            )?)
        });
    let imported = match imported {
        Ok(imported) => imported,
        Err(error) => return Ok(usage_error(&error)),
    };
    match &args.out {
        Some(out) => std::fs::write(out, &imported.overlay)
            .with_context(|| format!("cannot write {}", out.display()))?,
        None => print!("{}", imported.overlay),
    }
    let changed: Vec<&str> = imported
        .priced
        .iter()
        .filter(|price| price.changed)
        .map(|price| price.model.as_str())
        .collect();
    let plural = |count: usize, one: &str, many: &str| {
        format!("{count} {}", if count == 1 { one } else { many })
    };
    eprintln!(
        "priced {} from {}; {} new prices{}",
        plural(imported.priced.len(), "catalog model", "catalog models"),
        args.file.display(),
        plural(changed.len(), "has", "have"),
        if changed.is_empty() {
            String::new()
        } else {
            format!(": {}", changed.join(", "))
        },
    );
    if !imported.unpriced.is_empty() {
        eprintln!(
            "not in the list, so kept the catalog's prices: {}",
            imported.unpriced.join(", ")
        );
    }
    if imported.unmatched > 0 {
        eprintln!(
            "{} of the list {} no catalog model (not added: a model's tier is the catalog's call)",
            plural(imported.unmatched, "chat entry", "chat entries"),
            if imported.unmatched == 1 {
                "matches"
            } else {
                "match"
            },
        );
    }
    if let Some(out) = &args.out {
        eprintln!(
            "wrote {}; `triage catalog diff {}` lists the changes",
            out.display(),
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn diff(args: &DiffArgs) -> anyhow::Result<ExitCode> {
    let load = |path: &Path| -> anyhow::Result<Catalog> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read catalog file {}", path.display()))?;
        Ok(Catalog::embedded().overlay(&text, &path.display().to_string())?)
    };
    let catalogs = match &args.second {
        None => {
            load(&args.first).map(|new| (Catalog::embedded().clone(), "embedded".to_owned(), new))
        }
        Some(second) => load(&args.first)
            .and_then(|old| Ok((old, args.first.display().to_string(), load(second)?))),
    };
    let (old, old_name, new) = match catalogs {
        Ok(catalogs) => catalogs,
        Err(error) => return Ok(usage_error(&error)),
    };
    let changes = triage_catalog::diff(&old, &new);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&changes)?);
    } else if changes.is_empty() {
        println!("no changes");
    } else {
        let new_name = args
            .second
            .as_ref()
            .unwrap_or(&args.first)
            .display()
            .to_string();
        println!("{old_name} → {new_name}: {}", summary(&changes));
        for change in &changes {
            println!("  {change}");
        }
    }
    Ok(if changes.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::commands::EXIT_FAILURE)
    })
}

/// `3 price changes, 1 model added, …`.
fn summary(changes: &[Change]) -> String {
    let count = |pick: fn(&Change) -> bool| changes.iter().filter(|change| pick(change)).count();
    let parts = [
        (count(|c| matches!(c, Change::Price { .. })), "price change"),
        (count(|c| matches!(c, Change::Added { .. })), "model added"),
        (
            count(|c| matches!(c, Change::Removed { .. })),
            "model removed",
        ),
        (
            count(|c| matches!(c, Change::Lifecycle { .. })),
            "lifecycle change",
        ),
    ];
    parts
        .iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, what)| match (*count, *what) {
            (1, what) => format!("1 {what}"),
            (count, "model added") => format!("{count} models added"),
            (count, "model removed") => format!("{count} models removed"),
            (count, what) => format!("{count} {what}s"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
