//! `triage classify`: classifies JSON Lines of prompts with one strategy, streaming one JSON
//! object per input line to stdout, in input order.

use std::io::{BufWriter, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};
use triage_strategies::StrategyKind;
use triage_types::ChatRequest;

use crate::commands::EXIT_USAGE;
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
    let reader = match jsonl::open(&args.jsonl) {
        Ok(reader) => reader,
        Err(error) => return Ok(usage_error(&error)),
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut status = ExitCode::SUCCESS;
    let mut skipped = 0_usize;
    let result = jsonl::for_each_line(reader, |index, line| {
        let item = match jsonl::parse_line(index, line) {
            Ok(item) => item,
            Err(problem) => {
                if args.skip_invalid {
                    skipped += 1;
                    eprintln!("warning: line {} (1-based) skipped: {problem}", index + 1);
                    return Ok(ControlFlow::Continue(()));
                }
                eprintln!(
                    "error: {}: line {} (1-based): {problem}; every line must be a JSON object with a string `text` (use --skip-invalid to skip bad lines)",
                    args.jsonl.display(),
                    index + 1
                );
                status = ExitCode::from(EXIT_USAGE);
                return Ok(ControlFlow::Break(()));
            }
        };
        let verdict = strategy.classify(&ChatRequest::from_prompt(item.text))?;
        let id = item.id.unwrap_or_else(|| Value::from(item.index));
        let line =
            json!({"id": id, "class": verdict.class, "confidence": round4(verdict.confidence)});
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
        Ok(ControlFlow::Continue(()))
    });
    let flushed = out.flush();
    let failure = result
        .err()
        .or_else(|| flushed.err().map(anyhow::Error::from));
    if let Some(error) = failure {
        if is_broken_pipe(&error) {
            return Ok(ExitCode::SUCCESS);
        }
        return Err(error);
    }
    if skipped > 0 {
        eprintln!("warning: {skipped} invalid line(s) skipped");
    }
    Ok(status)
}

/// Whether an error is a closed stdout (`triage classify … | head`), which is not a failure.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .is_some_and(|json| json.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}
