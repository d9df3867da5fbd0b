//! One module per `triage` subcommand; each exposes its clap `Args` and a `run` function.

pub(crate) mod ask;
pub(crate) mod batch;
pub(crate) mod calibrate;
pub(crate) mod catalog;
pub(crate) mod catalog_args;
pub(crate) mod classify;
pub(crate) mod config;
pub(crate) mod context;
pub(crate) mod cost;
pub(crate) mod eval;
pub(crate) mod eval_outcomes;
pub(crate) mod jsonl;
pub(crate) mod mock_upstream;
pub(crate) mod models;
pub(crate) mod outcome_data;
pub(crate) mod output;
pub(crate) mod plot;
pub(crate) mod report;
pub(crate) mod route;
pub(crate) mod serve;

/// Exit status for a failed command (bad input, upstream failure).
pub(crate) const EXIT_FAILURE: u8 = 1;
/// Exit status for input that could not be read as asked (bad lines, usage errors).
pub(crate) const EXIT_USAGE: u8 = 2;
