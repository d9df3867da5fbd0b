//! The xtask command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Project automation for triage.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
pub(crate) struct Xtask {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {}

/// The repository root, found from this crate's manifest directory.
pub(crate) fn project_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
