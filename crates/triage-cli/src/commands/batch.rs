//! `triage batch submit|status|cancel|results`: many requests through the providers' batch APIs
//! at their batch price. The engine plans, groups, submits, polls, cancels and collects
//! (`triage_engine::BatchJob`); this command reads the JSONL input, keeps the job in a JSON file
//! between runs and writes one result line per input line.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use triage_engine::{
    BATCH_CANCELLED, BatchJob, BatchLine, CancelOutcome, CancelReport, Engine, LineOutcome,
    LineResult, LineRoute, Via,
};
use triage_strategies::StrategyKind;

use crate::commands::context::{Context as RoutingContext, LedgerArgs, RoutingArgs};
use crate::commands::output::{format_dollars, json_number, usage_error};
use crate::commands::{EXIT_FAILURE, EXIT_USAGE};

/// Answer many requests through the providers' batch APIs, at half price or so.
///
/// `submit` routes every line of a JSON Lines file exactly as the gateway would route it, groups
/// the lines by the chosen model's provider and submits each group through that provider's batch
/// API (OpenAI Files + Batches, Anthropic Message Batches, Gemini batch mode). `status` shows
/// where each provider batch stands; `cancel` cancels those that have not ended. `results`
/// writes one JSON line per input line, in input order; a line the batch failed, expired or left
/// out is answered through the normal live path (with fallback) or reported, never dropped.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  triage batch submit prompts.jsonl
  triage batch status batch_1929f4e0c3a7b1d2
  triage batch results batch_1929f4e0c3a7b1d2 --wait --out answers.jsonl
  triage batch cancel batch_1929f4e0c3a7b1d2      # then `results --wait` for what was answered

Input: one OpenAI Chat Completions request body per line, `model` being `auto`, a route alias
or a catalog id, e.g.
  {\"model\": \"auto\", \"messages\": [{\"role\": \"user\", \"content\": \"Summarise: ...\"}]}
An OpenAI batch file's lines ({\"custom_id\", \"method\", \"url\", \"body\"}) are read too; their
custom_id comes back in the results. A line that is not a valid request stops the submission
(exit 2) with its line number; nothing is sent.

Lines whose model's provider has no batch API (OpenAI-compatible servers such as DeepSeek), or
whose model has no batch price in the catalog, are answered through the live path by `results`.
Batches take up to 24 hours; `results --wait` polls until they end.

Results: one line per input line, in the shape of an OpenAI batch output line:
  {\"custom_id\", \"line\", \"response\": {\"status_code\": 200, \"body\": <chat.completion>},
   \"error\": null, \"x_triage\": {\"via\": \"batch\" | \"live\", \"reason\", \"model\", \"provider\",
   \"request_id\", \"cost_usd\"}}
or, for a line nothing could answer, \"response\": null and \"error\": {\"code\", \"message\"}.
Every line is recorded once in the ledger: batch answers at the catalog's batch discount
(`protocol` batch), live ones as usual (`protocol` batch-live); `triage report` counts both.

Cancel: `cancel` asks each provider batch that has not ended to stop (a job whose batches have
all ended is left as it was). Lines a batch answered before it stopped are kept; `results` then
writes every other line with \"error\": {\"code\": \"batch_cancelled\", \"message\"}, lines meant
for the live path included: a cancelled job calls nothing live and records only its answers.

Jobs are kept as JSON files in --dir (default: <data dir>/triage/batches).")]
pub(crate) struct Args {
    #[command(subcommand)]
    command: BatchCommand,
}

#[derive(Debug, clap::Subcommand)]
enum BatchCommand {
    /// Route every line of a JSONL file and submit the groups to the providers' batch APIs.
    Submit(SubmitArgs),
    /// Show each provider batch of a job: its state and request counts.
    Status(StatusArgs),
    /// Cancel every provider batch of a job that has not ended; answered lines are kept.
    Cancel(CancelArgs),
    /// Write one result per input line, in input order, once every provider batch has ended.
    Results(ResultsArgs),
}

/// What every batch subcommand takes.
#[derive(Debug, clap::Args)]
struct Common {
    /// Where job files are kept.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,

    #[command(flatten)]
    ledger: LedgerArgs,

    #[command(flatten)]
    routing: RoutingArgs,
}

#[derive(Debug, clap::Args)]
struct SubmitArgs {
    /// The JSON Lines file of requests (`-` for standard input).
    file: PathBuf,

    /// How to classify `auto` lines: model, keyword or length (default: [routing] strategy,
    /// else model).
    #[arg(long, value_name = "NAME")]
    strategy: Option<StrategyKind>,

    /// Print the job as one JSON object.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// The job id `submit` printed.
    id: String,

    /// Print the job's provider batches as one JSON object.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  triage batch cancel batch_1929f4e0c3a7b1d2
  triage batch cancel batch_1929f4e0c3a7b1d2 --json
  triage batch results batch_1929f4e0c3a7b1d2 --wait   # then collect what was answered

OpenAI's and Anthropic's batches go through `cancelling` before they end; `results --wait` waits
for that. Lines answered before the stop are kept at the batch price; every other line is
written as a `batch_cancelled` error and nothing is sent live. Exit 1 when a provider refused a
cancel (run it again to retry), 2 for an unknown job.")]
struct CancelArgs {
    /// The job id `submit` printed.
    id: String,

    /// Print what was done as one JSON object.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
struct ResultsArgs {
    /// The job id `submit` printed.
    id: String,

    /// Write the results here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,

    /// Poll until every provider batch has ended (else a job still running is an error).
    #[arg(long)]
    wait: bool,

    /// Seconds between polls with --wait.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    poll_interval: f64,

    /// Give up waiting after this many seconds (default: no limit).
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,

    #[command(flatten)]
    common: Common,
}

/// A job as kept on disk: the strategy its lines were planned with (live retries plan the
/// same way) and the engine's job.
#[derive(Debug, Serialize, Deserialize)]
struct JobFile {
    strategy: StrategyKind,
    /// The 1-based file line of each request (blank lines are skipped), for messages and
    /// results.
    input_lines: Vec<usize>,
    job: BatchJob,
}

impl JobFile {
    /// The file line of the request at `index`.
    fn file_line(&self, index: usize) -> usize {
        self.input_lines.get(index).copied().unwrap_or(index + 1)
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        BatchCommand::Submit(args) => submit(args),
        BatchCommand::Status(args) => status(args),
        BatchCommand::Cancel(args) => cancel(args),
        BatchCommand::Results(args) => results(args),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The engine over the routing arguments, recording where the flags say.
fn engine(
    common: &Common,
    strategy: Option<StrategyKind>,
) -> anyhow::Result<(Engine, StrategyKind)> {
    let context = RoutingContext::load(&common.routing)?;
    let kind = context.strategy_kind(strategy);
    let strategy = context.strategy(kind)?;
    let ledger = match context.open_ledger(&common.ledger) {
        Ok(ledger) => ledger,
        Err(error) => {
            eprintln!("warning: not recording this batch: {error:#}");
            None
        }
    };
    Ok((context.engine(strategy, ledger, None)?, kind))
}

fn jobs_dir(common: &Common) -> anyhow::Result<PathBuf> {
    match &common.dir {
        Some(dir) => Ok(dir.clone()),
        None => {
            let data =
                dirs::data_dir().context("cannot find the user's data directory; pass --dir")?;
            Ok(data.join("triage").join("batches"))
        }
    }
}

fn job_path(dir: &Path, id: &str) -> anyhow::Result<PathBuf> {
    let plain = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    anyhow::ensure!(plain, "`{id}` is not a batch id (batch_ and hex digits)");
    Ok(dir.join(format!("{id}.json")))
}

/// The job `id` and an engine built for its strategy.
fn open_job(common: &Common, id: &str) -> anyhow::Result<(PathBuf, JobFile, Engine)> {
    let (path, file) = load_job(common, id)?;
    let (engine, _) = engine(common, Some(file.strategy))?;
    Ok((path, file, engine))
}

fn load_job(common: &Common, id: &str) -> anyhow::Result<(PathBuf, JobFile)> {
    let path = job_path(&jobs_dir(common)?, id)?;
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no batch job {id} in {} (pass the --dir it was submitted with)",
            path.parent()
                .map_or_else(String::new, |dir| dir.display().to_string())
        )
    })?;
    let file: JobFile = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a batch job file", path.display()))?;
    Ok((path, file))
}

/// Writes the job file whole, through a temporary file, so a crash never leaves half a job.
fn save_job(path: &Path, file: &JobFile) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, serde_json::to_vec_pretty(file)?)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The requests of the input file, each with its 1-based file line.
type Input = Vec<(usize, BatchLine)>;

/// Reads the input lines; every bad line is reported with its number.
fn read_lines(path: &Path) -> anyhow::Result<Result<Input, Vec<String>>> {
    let reader = crate::commands::jsonl::open(path)?;
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    crate::commands::jsonl::for_each_line(reader, |index, text| {
        match parse_line(text) {
            Ok(line) => lines.push((index + 1, line)),
            Err(problem) => problems.push(format!("line {}: {problem}", index + 1)),
        }
        Ok(std::ops::ControlFlow::Continue(()))
    })?;
    Ok(if problems.is_empty() {
        Ok(lines)
    } else {
        Err(problems)
    })
}

/// One line: a Chat Completions body, or an OpenAI batch file line around one.
fn parse_line(text: &str) -> Result<BatchLine, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|error| format!("not valid JSON ({error})"))?;
    let Value::Object(object) = &value else {
        return Err("not a JSON object".to_owned());
    };
    let (custom_id, body) = match object.get("body") {
        Some(body) if object.contains_key("url") || object.contains_key("custom_id") => {
            if let Some(url) = object.get("url").and_then(Value::as_str)
                && url != "/v1/chat/completions"
            {
                return Err(format!(
                    "`url` is {url}; a batch line must call /v1/chat/completions"
                ));
            }
            let custom_id = match object.get("custom_id") {
                None => None,
                Some(Value::String(id)) => Some(id.clone()),
                Some(_) => return Err("`custom_id` is not a string".to_owned()),
            };
            (custom_id, body.to_string())
        }
        _ => (None, text.to_owned()),
    };
    let (model, request) = triage_server::chat_wire::parse_chat_request(body.as_bytes())
        .map_err(|error| error.to_string())?;
    Ok(BatchLine {
        model,
        request,
        custom_id,
    })
}

fn submit(args: SubmitArgs) -> anyhow::Result<ExitCode> {
    let lines = match read_lines(&args.file) {
        Ok(Ok(lines)) => lines,
        Ok(Err(problems)) => {
            eprintln!(
                "error: {}: {} bad line(s); nothing was submitted",
                args.file.display(),
                problems.len()
            );
            for problem in problems.iter().take(20) {
                eprintln!("  {problem}");
            }
            if problems.len() > 20 {
                eprintln!("  … and {} more", problems.len() - 20);
            }
            return Ok(ExitCode::from(EXIT_USAGE));
        }
        Err(error) => return Ok(usage_error(&error)),
    };
    let (engine, strategy) = match engine(&args.common, args.strategy) {
        Ok(built) => built,
        Err(error) => return Ok(usage_error(&error)),
    };
    let dir = jobs_dir(&args.common)?;
    let (input_lines, lines): (Vec<usize>, Vec<BatchLine>) = lines.into_iter().unzip();
    let job = match runtime()?.block_on(engine.batch_submit(lines)) {
        Ok(job) => job,
        Err(error) => {
            let message = match error {
                triage_engine::BatchError::Line { line, error } => {
                    let line = input_lines.get(line - 1).copied().unwrap_or(line);
                    format!("line {line}: {error}")
                }
                other => other.to_string(),
            };
            eprintln!(
                "error: {}: {message}; nothing was submitted",
                args.file.display()
            );
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let path = job_path(&dir, &job.id)?;
    let file = JobFile {
        strategy,
        input_lines,
        job,
    };
    save_job(&path, &file)?;
    let job = &file.job;
    if args.json {
        print_json(&job_json(&file))?;
    } else {
        let (batched, live) = job.split();
        println!("{}", job.id);
        eprintln!(
            "submitted {} line(s): {batched} through batch APIs, {live} for the live path",
            job.lines.len()
        );
        print_groups(&file);
        eprintln!(
            "next: triage batch status {id}; triage batch results {id} --wait",
            id = job.id
        );
    }
    if let Some(ledger) = engine.ledger() {
        ledger.close();
    }
    Ok(ExitCode::SUCCESS)
}

/// The provider batches and the live lines, on stderr.
fn print_groups(file: &JobFile) {
    let job = &file.job;
    for group in &job.groups {
        let model = group
            .model
            .as_ref()
            .map_or_else(String::new, |model| format!(" {model}"));
        let state = match (&group.batch_id, &group.submit_error, &group.status) {
            (None, Some(error), _) => format!("submission failed ({error}); answered live"),
            (Some(id), _, None) => format!("{id}: submitted"),
            (Some(id), _, Some(status)) => {
                let counts = status.counts;
                format!(
                    "{id}: {} (total {}, processing {}, succeeded {}, errored {}, expired {}, cancelled {})",
                    status.provider_status,
                    counts.total,
                    counts.processing,
                    counts.succeeded,
                    counts.errored,
                    counts.expired,
                    counts.cancelled
                )
            }
            (None, None, _) => "not submitted".to_owned(),
        };
        let poll = group
            .poll_error
            .as_ref()
            .map_or_else(String::new, |error| format!(" [last poll failed: {error}]"));
        let cancel = match (&group.cancel_requested_unix, &group.cancel_error) {
            (Some(_), _) => " [cancel requested]".to_owned(),
            (None, Some(error)) => format!(" [cancel failed: {error}]"),
            (None, None) => String::new(),
        };
        eprintln!(
            "  {}{model}: {} line(s) via {}, {state}{poll}{cancel}",
            group.provider,
            group.lines.len(),
            group.api
        );
    }
    for line in &job.lines {
        if let LineRoute::Live { reason } = &line.route {
            eprintln!(
                "  line {}: live path ({reason})",
                file.file_line(line.index)
            );
        }
    }
}

fn job_json(file: &JobFile) -> Value {
    let job = &file.job;
    let (batched, live) = job.split();
    let live_lines: Vec<Value> = job
        .lines
        .iter()
        .filter_map(|line| match &line.route {
            LineRoute::Live { reason } => {
                Some(json!({"line": file.file_line(line.index), "reason": reason}))
            }
            LineRoute::Batch { .. } => None,
        })
        .collect();
    json!({
        "id": job.id,
        "lines": job.lines.len(),
        "batched": batched,
        "live": live,
        "finished": job.is_finished(),
        "cancelled": job.is_cancelled(),
        "collected": job.results.is_some(),
        "groups": job.groups,
        "live_lines": live_lines,
    })
}

fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let (path, mut file, engine) = match open_job(&args.common, &args.id) {
        Ok(opened) => opened,
        Err(error) => return Ok(usage_error(&error)),
    };
    runtime()?.block_on(engine.batch_poll(&mut file.job));
    save_job(&path, &file)?;
    let job = &file.job;
    if args.json {
        print_json(&job_json(&file))?;
    } else {
        let state = match (job.results.is_some(), job.is_cancelled(), job.is_finished()) {
            (true, _, _) => "collected",
            (false, true, true) => {
                "cancelled: run `triage batch results` to collect what was answered"
            }
            (false, true, false) => "cancelling",
            (false, false, true) => "ended: run `triage batch results` to collect",
            (false, false, false) => "in progress",
        };
        println!("{}: {} line(s), {state}", job.id, job.lines.len());
        print_groups(&file);
    }
    Ok(ExitCode::SUCCESS)
}

fn cancel(args: CancelArgs) -> anyhow::Result<ExitCode> {
    let (path, mut file, engine) = match open_job(&args.common, &args.id) {
        Ok(opened) => opened,
        Err(error) => return Ok(usage_error(&error)),
    };
    let collected = file.job.results.is_some();
    let report = runtime()?.block_on(engine.batch_cancel(&mut file.job));
    save_job(&path, &file)?;
    if let Some(ledger) = engine.ledger() {
        ledger.close();
    }
    let job = &file.job;
    if args.json {
        print_json(&cancel_json(&file, &report))?;
    } else {
        let headline = if collected {
            "its results were collected already; nothing to cancel".to_owned()
        } else if report.had_finished() {
            "every provider batch had already ended; nothing to cancel".to_owned()
        } else {
            let mut headline = match (report.requested(), report.failed()) {
                (0, 0) => "cancelled already; nothing more to cancel".to_owned(),
                (0, _) => "no cancel was sent".to_owned(),
                (requested, _) => format!("asked {requested} provider batch(es) to cancel"),
            };
            if report.failed() > 0 {
                headline.push_str(&format!(", {} cancel(s) failed", report.failed()));
            }
            headline
        };
        println!("{}: {headline}", job.id);
        for cancelled in &report.groups {
            println!(
                "  {}",
                cancel_line(&file, cancelled.group, &cancelled.outcome)
            );
        }
        if job.is_cancelled() {
            eprintln!(
                "next: triage batch results {} --wait (answered lines are kept; the rest are reported as {BATCH_CANCELLED})",
                job.id
            );
        } else if !collected && report.had_finished() {
            eprintln!("next: triage batch results {}", job.id);
        }
    }
    if report.failed() > 0 {
        eprintln!(
            "error: {} cancel request(s) failed; `triage batch cancel {}` retries them",
            report.failed(),
            job.id
        );
        return Ok(ExitCode::from(EXIT_FAILURE));
    }
    Ok(ExitCode::SUCCESS)
}

/// One provider batch's line of `cancel`'s output: what it is and what was done.
fn cancel_line(file: &JobFile, group: usize, outcome: &CancelOutcome) -> String {
    let Some(group) = file.job.groups.get(group) else {
        return String::new();
    };
    let model = group
        .model
        .as_ref()
        .map_or_else(String::new, |model| format!(" {model}"));
    let batch_id = group.batch_id.as_deref().unwrap_or("-");
    let status = group
        .status
        .as_ref()
        .map_or("not polled", |status| status.provider_status.as_str());
    let what = match outcome {
        CancelOutcome::Requested => format!("cancel requested, now {status}"),
        CancelOutcome::AlreadyRequested => format!("cancel requested earlier, now {status}"),
        CancelOutcome::Ended => format!("had ended ({status}); its answers are kept"),
        CancelOutcome::NotSubmitted => "never submitted; nothing to cancel".to_owned(),
        CancelOutcome::Failed { message } => format!("cancel failed: {message}"),
    };
    format!("{}{model} {batch_id}: {what}", group.provider)
}

fn cancel_json(file: &JobFile, report: &CancelReport) -> Value {
    let job = &file.job;
    let groups: Vec<Value> = report
        .groups
        .iter()
        .map(|cancelled| {
            let group = job.groups.get(cancelled.group);
            let mut value = json!({
                "provider": group.map(|group| &group.provider),
                "model": group.and_then(|group| group.model.as_ref()),
                "batch_id": group.and_then(|group| group.batch_id.as_ref()),
                "status": group.and_then(|group| group.status.as_ref()),
            });
            if let (Value::Object(fields), Ok(Value::Object(outcome))) =
                (&mut value, serde_json::to_value(&cancelled.outcome))
            {
                fields.extend(outcome);
            }
            value
        })
        .collect();
    json!({
        "id": job.id,
        "cancelled": job.is_cancelled(),
        "already_finished": report.had_finished(),
        "collected": job.results.is_some(),
        "requested": report.requested(),
        "failed": report.failed(),
        "groups": groups,
    })
}

fn results(args: ResultsArgs) -> anyhow::Result<ExitCode> {
    let (path, mut file) = match load_job(&args.common, &args.id) {
        Ok(found) => found,
        Err(error) => return Ok(usage_error(&error)),
    };
    let seconds = |value: f64, flag: &str| {
        Duration::try_from_secs_f64(value)
            .map_err(|_| anyhow::anyhow!("{flag} {value} is not a number of seconds"))
    };
    let every = match seconds(args.poll_interval, "--poll-interval") {
        Ok(every) => every,
        Err(error) => return Ok(usage_error(&error)),
    };
    let limit = match args
        .timeout
        .map(|value| seconds(value, "--timeout"))
        .transpose()
    {
        Ok(limit) => limit,
        Err(error) => return Ok(usage_error(&error)),
    };
    let (engine, _) = match engine(&args.common, Some(file.strategy)) {
        Ok(built) => built,
        Err(error) => return Ok(usage_error(&error)),
    };
    let runtime = runtime()?;
    let collected = runtime.block_on(async {
        if file.job.results.is_none() {
            let waited = if args.wait {
                engine.batch_wait(&mut file.job, every, limit).await
            } else {
                engine.batch_poll(&mut file.job).await;
                Ok(())
            };
            waited?;
        }
        engine.batch_collect(&mut file.job).await
    });
    // Whatever happened, keep what was learnt (statuses, and the results once recorded).
    save_job(&path, &file)?;
    if let Some(ledger) = engine.ledger() {
        ledger.close();
    }
    let results = match collected {
        Ok(results) => results,
        Err(error) => {
            eprintln!("error: {error}");
            if matches!(error, triage_engine::BatchError::NotFinished { .. }) && !args.wait {
                eprintln!("  (pass --wait to poll until it ends)");
            }
            return Ok(ExitCode::from(EXIT_FAILURE));
        }
    };
    let mut out: Box<dyn std::io::Write> = match &args.out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let created = file.job.submitted_unix;
    for result in &results {
        let line = file.file_line(result.index);
        serde_json::to_writer(&mut out, &result_json(result, line, created))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    summarise(&results);
    Ok(ExitCode::SUCCESS)
}

/// One result line, in the shape of an OpenAI batch output line with triage's figures.
fn result_json(result: &LineResult, line: usize, created: i64) -> Value {
    let custom_id = result
        .custom_id
        .clone()
        .unwrap_or_else(|| format!("line-{line}"));
    let (via, reason) = match (&result.outcome, result.outcome.via()) {
        (LineOutcome::Failed { message, .. }, Via::Batch { .. }) => ("batch", message.clone()),
        (_, Via::Batch { api }) => ("batch", format!("answered through the {api}")),
        (_, Via::Live { reason }) => ("live", reason.clone()),
    };
    let mut x_triage = json!({
        "via": via,
        "reason": reason,
        "request_id": result.request_id,
        "cost_usd": result.cost_usd.map_or(Value::Null, json_number),
    });
    let (response, error) = match &result.outcome {
        LineOutcome::Answered {
            model,
            provider,
            response,
            ..
        } => {
            x_triage["model"] = json!(model);
            x_triage["provider"] = json!(provider);
            let id = format!(
                "chatcmpl-{}",
                result.request_id.as_deref().unwrap_or(&custom_id)
            );
            let body = triage_server::chat_wire::chat_completion(&id, created, model, response);
            (json!({"status_code": 200, "body": body}), Value::Null)
        }
        LineOutcome::Failed { kind, message, .. } => {
            (Value::Null, json!({"code": kind, "message": message}))
        }
    };
    json!({
        "custom_id": custom_id,
        "line": line,
        "response": response,
        "error": error,
        "x_triage": x_triage,
    })
}

/// One line on stderr: how many lines each path answered, and what they cost.
fn summarise(results: &[LineResult]) {
    let mut batch = 0;
    let mut live = 0;
    let mut failed = 0;
    let mut cancelled = 0;
    let mut cost = Decimal::ZERO;
    for result in results {
        match &result.outcome {
            LineOutcome::Answered {
                via: Via::Batch { .. },
                ..
            } => batch += 1,
            LineOutcome::Answered { .. } => live += 1,
            LineOutcome::Failed { kind, .. } if kind == BATCH_CANCELLED => cancelled += 1,
            LineOutcome::Failed { .. } => failed += 1,
        }
        cost += result.cost_usd.unwrap_or(Decimal::ZERO);
    }
    let cancelled = if cancelled > 0 {
        format!(", {cancelled} cancelled")
    } else {
        String::new()
    };
    eprintln!(
        "{} line(s): {batch} answered through batch APIs, {live} live, {failed} failed{cancelled}; ${} in all",
        results.len(),
        format_dollars(cost)
    );
}

fn print_json(value: &Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    out.write_all(b"\n")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_chat_bodies_or_batch_file_lines() {
        let check = |text: &str| match parse_line(text) {
            Ok(line) => format!(
                "ok model={} custom_id={:?} messages={}",
                line.model,
                line.custom_id,
                line.request.messages.len()
            ),
            Err(problem) => format!("error: {problem}"),
        };
        let cases = [
            r#"{"model": "auto", "messages": [{"role": "user", "content": "hi"}]}"#,
            r#"{"custom_id": "a-1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}}"#,
            r#"{"custom_id": "a-2", "method": "POST", "url": "/v1/embeddings", "body": {"model": "x", "input": "hi"}}"#,
            r#"{"model": "auto", "messages": []}"#,
            r#"{"messages": [{"role": "user", "content": "hi"}]}"#,
            "[1, 2]",
            "{",
        ];
        let out: Vec<String> = cases.iter().map(|case| check(case)).collect();
        insta::assert_snapshot!(out.join("\n"), @r#"
        ok model=auto custom_id=None messages=1
        ok model=gpt-4o-mini custom_id=Some("a-1") messages=1
        error: `url` is /v1/embeddings; a batch line must call /v1/chat/completions
        error: `messages` must hold at least one message
        error: malformed request body: missing field `model` at line 1 column 49
        error: not a JSON object
        error: not valid JSON (EOF while parsing an object at line 1 column 1)
        "#);
    }

    #[test]
    fn job_ids_cannot_leave_the_directory() {
        let dir = Path::new("/jobs");
        assert_eq!(
            job_path(dir, "batch_1a2b").unwrap(),
            Path::new("/jobs/batch_1a2b.json")
        );
        for bad in ["../x", "a/b", "", "batch 1"] {
            assert!(job_path(dir, bad).is_err(), "{bad}");
        }
    }
}
