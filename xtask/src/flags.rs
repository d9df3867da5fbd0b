//! The xtask command line.

use clap::{Parser, Subcommand};

/// Project automation for triage.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
pub(crate) struct Xtask {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Measure the gateway's added latency, throughput and memory against the mock upstream.
    BenchGateway(crate::bench_gateway::Args),
    /// Download a model repository from the Hugging Face Hub, verified against models/manifest.toml.
    FetchModel(crate::fetch_model::Args),
    /// Train the on-device classifier from ../shared/data and write it to models/default
    /// (runs the xtask-train package; `cargo xtask train-model --help` lists its options).
    TrainModel(crate::train_model::Args),
    /// Learn the keyword strategy's default weights from ../shared/data/train.jsonl and write
    /// crates/triage-strategies/src/keywords.toml (`--check`: fail if it is stale).
    LearnKeywords(crate::keywords::Args),
}
