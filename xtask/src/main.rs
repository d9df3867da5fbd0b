//! `cargo xtask`: project automation that is not part of the product (model training,
//! model fetching, benchmarks).

mod flags;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = flags::Xtask::parse();
    match cli.command {}
}
