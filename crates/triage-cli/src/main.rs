//! The `triage` binary: parses the command line and hands off to one command module.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    pin_inference_threads();
    let cli = cli::Cli::parse();
    cli::init_tracing(cli.verbose);
    match cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(commands::EXIT_FAILURE)
        }
    }
}

/// Runs each classification on one thread unless the user chose otherwise.
///
/// candle reads [`RAYON_NUM_THREADS`](triage_config::env::RAYON_NUM_THREADS) on every matrix product; unset, it spreads the classifier's
/// tiny products over every core and re-reads the CPU count each time, which made a 1 ms
/// classification take 5 ms, and 40 ms at p99 under concurrent gateway load (measured, see
/// `notes/candle-cpu.md` in the project's shared notes and `cargo xtask bench-gateway`).
/// Concurrent requests use the cores instead.
fn pin_inference_threads() {
    use triage_config::env::{CANDLE_NUM_THREADS, RAYON_NUM_THREADS};
    for variable in [RAYON_NUM_THREADS, CANDLE_NUM_THREADS] {
        if std::env::var_os(variable).is_none() {
            // SAFETY: called first thing in `main`, before any other thread exists, so nothing
            // can read the environment concurrently.
            #[expect(
                unsafe_code,
                reason = "set_var is unsafe in edition 2024; single-threaded here"
            )]
            unsafe {
                std::env::set_var(variable, "1");
            }
        }
    }
}
