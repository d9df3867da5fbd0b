//! The command-line surface: global options, the subcommand list and dispatch.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands;

/// triage sends each LLM request to the cheapest model that can handle it.
///
/// It classifies a request into one of six routing classes (extract, faq, transform,
/// analyze, reason, critical), maps the class to a model from a priced catalog, calls the
/// provider, falls back to a stronger model when the answer is not good enough, and records
/// what every request cost against a single-model baseline.
#[derive(Debug, Parser)]
#[command(
    name = "triage",
    version = version(),
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace); `RUST_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the catalog's models with prices, context window, tier and lifecycle status.
    Models(commands::models::Args),
    /// Compare catalog files: prices that moved, models added, deprecated or retired.
    Catalog(commands::catalog::Args),
    /// Compare the monthly cost of one baseline model with a routed mix of models.
    Cost(commands::cost::Args),
    /// Summarise recorded requests: spend, baseline spend, savings, class and model mix.
    Report(commands::report::Args),
    /// Serve the OpenAI- and Anthropic-compatible gateway that routes, falls back and records.
    Serve(commands::serve::Args),
    /// Serve a scripted mock of the OpenAI, Anthropic and Gemini APIs for demos and tests.
    MockUpstream(commands::mock_upstream::Args),
    /// Answer a prompt with the cheapest adequate model, falling back on failure.
    Ask(commands::ask::Args),
    /// Answer many requests through the providers' batch APIs, at their batch price.
    Batch(commands::batch::Args),
    /// Show which model a prompt would be routed to, and why (no API call).
    Route(commands::route::Args),
    /// Classify prompts from a JSON Lines file with one strategy.
    Classify(commands::classify::Args),
    /// Measure routing strategies on labelled prompts: accuracy, F1, under-routing, cost, latency.
    Eval(commands::eval::Args),
    /// Validate a triage.toml and print the effective policy.
    Config(commands::config::Args),
    /// Fit the expected-quality table and the knob to your own per-prompt outcome data.
    Calibrate(commands::calibrate::Args),
}

/// What `--version` prints after `triage `: the project's version, the embedded classifier's id
/// and the date of the embedded catalog's prices. Built from constants and the catalog's text,
/// never by loading the model, so `--version` stays instant.
fn version() -> &'static str {
    static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let prices = triage_catalog::Catalog::embedded()
            .prices_checked_on()
            .map_or_else(|| "unknown".to_owned(), |day| day.to_string());
        format!(
            "{} (model {}, catalog prices of {prices})",
            env!("CARGO_PKG_VERSION"),
            triage_classifier::EMBEDDED_MODEL_ID,
        )
    });
    &VERSION
}

/// Sends log output to stderr, at a level chosen by `-v` unless `RUST_LOG` is set.
pub(crate) fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env(triage_config::env::RUST_LOG)
        .unwrap_or_else(|_| EnvFilter::new(default));
    use std::io::IsTerminal as _;
    let no_color = std::env::var_os(triage_config::env::NO_COLOR);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(use_colours(
            std::io::stderr().is_terminal(),
            no_color.as_deref(),
        ))
        .with_target(false)
        .init();
}

/// Colours only on a terminal (logs redirected to a file stay plain text), and never when
/// `NO_COLOR` is set to a non-empty value.
fn use_colours(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(std::ffi::OsStr::is_empty)
}

/// Runs the chosen command.
pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Models(args) => commands::models::run(args),
        Command::Catalog(args) => commands::catalog::run(args),
        Command::Cost(args) => commands::cost::run(args),
        Command::Report(args) => commands::report::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::MockUpstream(args) => commands::mock_upstream::run(args),
        Command::Ask(args) => commands::ask::run(args),
        Command::Batch(args) => commands::batch::run(args),
        Command::Route(args) => commands::route::run(args),
        Command::Classify(args) => commands::classify::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Config(args) => commands::config::run(args),
        Command::Calibrate(args) => commands::calibrate::run(args),
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    #[test]
    fn colours_need_a_terminal_and_no_no_color() {
        let cases = [
            (true, None, true),
            (true, Some(""), true),
            (true, Some("1"), false),
            (false, None, false),
            (false, Some("1"), false),
        ];
        for (terminal, no_color, expect) in cases {
            assert_eq!(
                super::use_colours(terminal, no_color.map(OsStr::new)),
                expect,
                "terminal {terminal}, NO_COLOR {no_color:?}"
            );
        }
    }
}
