//! One module per `triage` subcommand; each exposes its clap `Args` and a `run` function.

pub(crate) mod catalog_args;
pub(crate) mod cost;
pub(crate) mod mock_upstream;
pub(crate) mod models;
