//! `xtask-train`: the classifier training behind `cargo xtask train-model`, in its own package
//! because it needs candle and tokenizers, which the other xtask commands (and `--help`) should
//! not wait for. `cargo xtask train-model ARGS` runs `cargo run -p xtask-train -- ARGS`.

mod train;

use std::path::PathBuf;

use clap::Parser;

/// Train the on-device classifier and write it to a model directory.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask train-model", bin_name = "cargo xtask train-model")]
struct Cli {
    #[command(flatten)]
    args: Box<train::Args>,
}

fn main() -> anyhow::Result<()> {
    train::run(*Cli::parse().args)
}

/// The repository root, found from this crate's manifest directory (`xtask/train`).
pub(crate) fn project_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map_or(manifest.clone(), PathBuf::from)
}
