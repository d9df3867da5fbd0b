//! One module per `triage` subcommand; each exposes its clap `Args` and a `run` function.
