//! `triage catalog`: work with catalog files. `diff` lists what a catalog file changes: prices
//! that moved, models added or removed, deprecations, retirements and successors.

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
    }
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
