//! `cargo xtask`: project automation that is not part of the product (model training,
//! model fetching, benchmarks).

mod bench_gateway;
mod fetch_model;
mod flags;
mod keywords;
#[cfg(test)]
mod tidy;
mod train;

use std::path::PathBuf;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = flags::Xtask::parse();
    match cli.command {
        flags::Command::BenchGateway(args) => bench_gateway::run(args),
        flags::Command::FetchModel(args) => fetch_model::run(args),
        flags::Command::TrainModel(args) => train::run(*args),
        flags::Command::LearnKeywords(args) => keywords::run(args),
    }
}

/// The repository root, found from this crate's manifest directory.
pub(crate) fn project_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
