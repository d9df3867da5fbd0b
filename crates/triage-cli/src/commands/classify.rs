//! `triage classify`: classifies JSON Lines of prompts with one strategy, streaming one JSON
//! object per input line to stdout, in input order.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};
use triage_strategies::StrategyKind;
use triage_types::ChatRequest;

use crate::commands::context::{Context, RoutingArgs};
use crate::commands::jsonl;
use crate::commands::output::{round4, usage_error};

/// Classify prompts from a JSON Lines file (no routing, no API calls).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Input: one JSON object per line with a string `text`; an `id` is echoed back, other fields are
ignored. Blank lines are skipped (they still count for line numbers).
Output: one line per input object, in order:
  {\"id\": <the input id, or the 0-based line number>, \"class\": \"faq\", \"confidence\": 0.93}

A line that is not a JSON object with a string `text` stops the run with exit status 2 and a
message naming the line (1-based), unless --skip-invalid.

Examples:
  triage classify --strategy keyword --jsonl prompts.jsonl > classes.jsonl
  cat prompts.jsonl | triage classify --strategy length --jsonl -")]
pub(crate) struct Args {
    /// How to classify: model, keyword or length (default: [routing] strategy, else model).
    #[arg(long, value_name = "NAME")]
    strategy: Option<StrategyKind>,

    /// The JSON Lines file to read; `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    jsonl: PathBuf,

    /// Skip invalid lines with a warning on stderr instead of stopping.
    #[arg(long)]
    skip_invalid: bool,

    #[command(flatten)]
    routing: RoutingArgs,
}

/// Classifies and prints.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let context = match Context::load(&args.routing) {
        Ok(context) => context,
        Err(error) => return Ok(usage_error(&error)),
    };
    let strategy = match context.strategy(context.strategy_kind(args.strategy)) {
        Ok(strategy) => strategy,
        Err(error) => return Ok(usage_error(&error)),
    };
    jsonl::map_lines(&args.jsonl, args.skip_invalid, |item| {
        let verdict = strategy.classify(&ChatRequest::from_prompt(item.text))?;
        let id = item.id.unwrap_or_else(|| Value::from(item.index));
        Ok(json!({"id": id, "class": verdict.class, "confidence": round4(verdict.confidence)}))
    })
}
