//! `cargo xtask`: project automation that is not part of the product (model fetching,
//! keyword learning, benchmarks, tidy tests). Training needs candle, so it lives in the
//! `xtask-train` package (`xtask/train`) and `train-model` runs it: `--help` and the other
//! commands build without candle.

mod bench_gateway;
mod fetch_model;
mod flags;
mod keywords;
#[cfg(test)]
mod tidy;
mod train_model;

use std::path::PathBuf;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = flags::Xtask::parse();
    match cli.command {
        flags::Command::BenchGateway(args) => bench_gateway::run(args),
        flags::Command::FetchModel(args) => fetch_model::run(args),
        flags::Command::TrainModel(args) => train_model::run(&args),
        flags::Command::LearnKeywords(args) => keywords::run(args),
    }
}

/// The repository root, found from this crate's manifest directory.
pub(crate) fn project_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
