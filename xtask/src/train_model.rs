//! `cargo xtask train-model`: hands its arguments to the `xtask-train` package
//! (`cargo run -p xtask-train -- ARGS`), which holds the candle training code, so that building
//! xtask itself never compiles candle.

use std::ffi::OsString;
use std::process::Command;

use anyhow::{Context, bail};

use crate::project_root;

/// The cargo that runs xtask.
const CARGO: &str = "CARGO";

/// Every argument, `--help` included, goes to `xtask-train`.
#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub(crate) struct Args {
    /// The training options (`cargo xtask train-model --help` lists them).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    args: Vec<OsString>,
}

/// Runs the training package with the same profile as xtask (dependencies optimised, see the
/// root manifest), so the two share build outputs.
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let cargo = std::env::var_os(CARGO).unwrap_or_else(|| OsString::from("cargo"));
    let status = Command::new(cargo)
        .args(["run", "--quiet", "-p", "xtask-train", "--"])
        .args(&args.args)
        .current_dir(project_root())
        .status()
        .context("cannot run cargo run -p xtask-train")?;
    if !status.success() {
        bail!("cargo xtask train-model failed ({status})");
    }
    Ok(())
}
