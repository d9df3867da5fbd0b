//! `triage ask`: classifies a prompt, routes it, and answers it through the fallback executor
//! against the providers (real ones, or the mock upstream), printing the answer or, with
//! `--json`, the answer with every attempt.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use triage_engine::{Caller, Completed, Engine, EngineError, Failed, Planned, StreamItem};
use triage_fallback::{Attempt, Outcome, total_cost};
use triage_strategies::StrategyKind;
use triage_types::{ChatRequest, ChatResponse, Message, Role, StreamEvent};

use crate::commands::context::{Context as RoutingContext, LedgerArgs, RoutingArgs};
use crate::commands::output::{json_number, usage_error};
use crate::commands::{EXIT_FAILURE, EXIT_USAGE};

/// Answer a prompt with the cheapest adequate model, falling back on failure.
///
/// The prompt is classified (the on-device model by default), routed to the class's first usable
/// model, and sent; a provider error is retried and then failed over to an equivalent model of
/// another provider, and an answer that fails a quality check (empty, cut off, refusal,
/// invalid JSON, …) escalates to the next tier of the plan.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  triage ask \"What is the capital of France?\"
  triage ask --stream \"Write a haiku about routers\"
  triage ask --json \"Summarise: ...\" | jq '.attempts'
  triage ask --model claude-haiku-4-5 \"Translate 'good morning' into French\"

Keys come from OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY (or the variable the catalog
names for a provider); base URLs from OPENAI_BASE_URL (with /v1), ANTHROPIC_BASE_URL and
GEMINI_BASE_URL (host root). Against the mock upstream:
  triage mock-upstream --port 8089 &
  OPENAI_BASE_URL=http://127.0.0.1:8089/v1 OPENAI_API_KEY=test triage ask \"hello\"

A model whose provider has no key is skipped (the attempts say which variable would enable
it). Every answer is recorded in the same ledger as `triage serve` ([ledger] path, --ledger
or TRIAGE_LEDGER; --no-ledger records nothing), so `triage report` counts it.

JSON output: request_id, class, confidence, strategy, model, provider, text, finish_reason,
usage, cost_usd (the answering call), total_cost_usd (every attempt), warnings, attempts
(model, provider, tier, outcome, latency_ms, usage, cost_usd, next) and breakers
(circuit-breaker states). On failure: class, error {kind, message}, attempts and breakers, with
exit status 1 (2 for a model name or config that cannot be used).")]
pub(crate) struct Args {
    /// The prompt to answer.
    prompt: String,

    /// Print the answer as it arrives. The first sentence (or 80 characters) is held back until
    /// the early quality checks pass, so a bad start can still fall back unseen.
    #[arg(long)]
    stream: bool,

    /// Print one JSON object with the answer, its cost and every attempt.
    #[arg(long)]
    json: bool,

    /// What to ask for, as a gateway client would send `model`: `auto` (the default:
    /// classify and route), a route alias from the config, or a catalog model id, called first
    /// with the policy's fallback ladder behind it.
    #[arg(long, value_name = "MODEL", default_value = triage_engine::AUTO_MODEL)]
    model: String,

    /// How to classify: model, keyword or length (default: [routing] strategy, else model).
    #[arg(long, value_name = "NAME")]
    strategy: Option<StrategyKind>,

    /// A system prompt sent before the prompt.
    #[arg(long, value_name = "TEXT")]
    system: Option<String>,

    /// The most tokens the answer may have.
    #[arg(long, value_name = "N")]
    max_tokens: Option<u32>,

    #[command(flatten)]
    ledger: LedgerArgs,

    #[command(flatten)]
    routing: RoutingArgs,
}

/// Routes, answers, records and prints.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let context = match RoutingContext::load(&args.routing) {
        Ok(context) => context,
        Err(error) => return Ok(usage_error(&error)),
    };
    let strategy = match context.strategy(context.strategy_kind(args.strategy)) {
        Ok(strategy) => strategy,
        Err(error) => return Ok(usage_error(&error)),
    };
    let ledger = match context.open_ledger(&args.ledger) {
        Ok(ledger) => ledger,
        Err(error) => {
            eprintln!("warning: not recording this answer: {error:#}");
            None
        }
    };
    let engine = context.engine(strategy, ledger, None)?;
    let request = build_request(&args);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let output = Output {
        args: &args,
        engine: &engine,
    };
    let caller = Caller::new("cli", args.stream);
    let result = runtime.block_on(async {
        if args.stream {
            output.stream(caller, request).await
        } else {
            output.complete(caller, &request).await
        }
    });
    if let Some(ledger) = engine.ledger() {
        ledger.close();
    }
    // A reader that stops early (`| head`) is not a failure of the command.
    match result {
        Err(error) if is_broken_pipe(&error) => Ok(ExitCode::SUCCESS),
        other => other,
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Prints a JSON value on stdout, pretty, with a final newline.
fn print_json(value: &Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

fn build_request(args: &Args) -> ChatRequest {
    let mut request = ChatRequest::from_prompt(args.prompt.clone());
    if let Some(system) = &args.system {
        request
            .messages
            .insert(0, Message::text(Role::System, system));
    }
    request.max_output_tokens = args.max_tokens;
    request
}

/// What the output functions share.
struct Output<'a> {
    args: &'a Args,
    engine: &'a Engine,
}

impl Output<'_> {
    async fn complete(&self, caller: Caller, request: &ChatRequest) -> anyhow::Result<ExitCode> {
        match self
            .engine
            .complete(caller, &self.args.model, request)
            .await
        {
            Ok(completed) => {
                let Completed {
                    planned,
                    answer,
                    accounted,
                } = &completed;
                self.print_warnings(planned);
                if self.args.json {
                    self.print_json_answer(
                        planned,
                        &accounted.request_id,
                        (&answer.model, &answer.provider),
                        &answer.response,
                        answer.cost_usd(),
                        &answer.attempts,
                    )?;
                } else {
                    let mut out = std::io::stdout().lock();
                    out.write_all(answer.response.text.as_bytes())?;
                    if !answer.response.text.ends_with('\n') {
                        out.write_all(b"\n")?;
                    }
                    out.flush()?;
                    self.print_summary(planned, &answer.model, &answer.provider, &answer.attempts);
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(failed) => self.print_failure(&failed),
        }
    }

    async fn stream(&self, caller: Caller, request: ChatRequest) -> anyhow::Result<ExitCode> {
        let mut stream = match self.engine.stream(caller, &self.args.model, request).await {
            Ok(stream) => stream,
            Err(failed) => return self.print_failure(&failed),
        };
        self.print_warnings(&stream.planned);
        tracing::info!(
            model = stream.model,
            provider = stream.provider,
            "streaming"
        );
        let mut printed_any = false;
        let mut ends_with_newline = false;
        let mut out = std::io::stdout();
        while let Some(item) = stream.next().await {
            match item {
                StreamItem::Delta(_) if self.args.json => {}
                StreamItem::Delta(StreamEvent::TextDelta { text }) => {
                    out.write_all(text.as_bytes())?;
                    out.flush()?;
                    printed_any |= !text.is_empty();
                    if !text.is_empty() {
                        ends_with_newline = text.ends_with('\n');
                    }
                }
                StreamItem::Delta(_) => {}
                StreamItem::Done { summary, accounted } => {
                    if self.args.json {
                        self.print_json_answer(
                            &stream.planned,
                            &accounted.request_id,
                            (&summary.model, &summary.provider),
                            &summary.response,
                            summary.cost_usd,
                            &summary.attempts,
                        )?;
                    } else {
                        if printed_any && !ends_with_newline {
                            out.write_all(b"\n")?;
                            out.flush()?;
                        }
                        if let Some(late) = &summary.late_failure {
                            eprintln!("warning: the streamed answer {late}");
                        }
                        self.print_summary(
                            &stream.planned,
                            &summary.model,
                            &summary.provider,
                            &summary.attempts,
                        );
                    }
                    return Ok(ExitCode::SUCCESS);
                }
                StreamItem::Failed {
                    error, attempts, ..
                } => {
                    if printed_any && !ends_with_newline && !self.args.json {
                        out.write_all(b"\n")?;
                        out.flush()?;
                    }
                    return self.print_failure(&Failed {
                        error,
                        planned: Some(stream.planned.clone()),
                        attempts,
                        accounted: None,
                    });
                }
            }
        }
        // The engine's stream always ends with Done or Failed; this is belt and braces.
        eprintln!("error: the answer stream ended without a result");
        Ok(ExitCode::from(EXIT_FAILURE))
    }

    fn print_warnings(&self, planned: &Planned) {
        for warning in planned.warnings() {
            eprintln!("warning: {warning}");
        }
    }

    /// One line on stderr: class, model, attempts and cost, so stdout stays the bare answer;
    /// then the models skipped for want of a key, with the variable that would enable them.
    fn print_summary(&self, planned: &Planned, model: &str, provider: &str, attempts: &[Attempt]) {
        let cost = match total_cost(attempts) {
            Ok(cost) => format!("${}", cost.normalize()),
            Err(error) => format!("cost unknown ({error})"),
        };
        let calls = attempts
            .iter()
            .filter(|attempt| !attempt.outcome.is_skipped())
            .count();
        let class = planned
            .class()
            .map_or_else(|| "unclassified".to_owned(), |class| class.to_string());
        eprintln!(
            "[{class} → {model} via {provider}; {calls} call{}; {cost}]",
            if calls == 1 { "" } else { "s" }
        );
        for attempt in attempts {
            if let Outcome::SkippedNoClient { message } = &attempt.outcome {
                eprintln!(
                    "  skipped {} ({}): {message}",
                    attempt.model, attempt.provider
                );
            }
        }
    }

    fn print_json_answer(
        &self,
        planned: &Planned,
        request_id: &str,
        (model, provider): (&str, &str),
        response: &ChatResponse,
        cost: Option<Decimal>,
        attempts: &[Attempt],
    ) -> anyhow::Result<()> {
        let total = total_cost(attempts).ok();
        let mut value = self.routing_json(Some(planned));
        if let Some(object) = value.as_object_mut() {
            for (key, field) in [
                ("request_id", json!(request_id)),
                ("model", json!(model)),
                ("provider", json!(provider)),
                ("text", json!(response.text)),
                ("finish_reason", json!(response.finish_reason)),
                ("usage", serde_json::to_value(response.usage)?),
                ("cost_usd", cost.map_or(Value::Null, json_number)),
                ("total_cost_usd", total.map_or(Value::Null, json_number)),
                ("warnings", json!(planned.warnings())),
                ("attempts", attempts_json(attempts)?),
                ("breakers", self.breakers_json()?),
            ] {
                object.insert(key.to_owned(), field);
            }
        }
        print_json(&value)
    }

    /// The routing part of the JSON output: class, confidence and strategy.
    fn routing_json(&self, planned: Option<&Planned>) -> Value {
        let decision = planned.and_then(|planned| planned.decision.as_ref());
        json!({
            "class": decision.map(|decision| decision.class),
            "confidence": decision.map(|decision| decision.confidence),
            "strategy": decision.map(|decision| decision.strategy.clone()),
        })
    }

    fn breakers_json(&self) -> anyhow::Result<Value> {
        Ok(serde_json::to_value(
            self.engine.executor().breaker().snapshot(),
        )?)
    }

    /// The failure on stderr (or as one JSON object with `--json`); exit status 2 when the
    /// model name cannot be used or the request is invalid, 1 otherwise.
    fn print_failure(&self, failed: &Failed) -> anyhow::Result<ExitCode> {
        let status = match failed.error {
            EngineError::UnknownModel { .. }
            | EngineError::UnusableModel { .. }
            | EngineError::PromptTooLarge { .. }
            | EngineError::InvalidRequest { .. } => EXIT_USAGE,
            _ => EXIT_FAILURE,
        };
        let message = self.failure_message(failed);
        if self.args.json {
            let mut value = self.routing_json(failed.planned.as_ref());
            if let Some(object) = value.as_object_mut() {
                object.insert(
                    "error".to_owned(),
                    json!({"kind": failed.error.kind(), "message": message}),
                );
                object.insert("attempts".to_owned(), attempts_json(&failed.attempts)?);
                object.insert("breakers".to_owned(), self.breakers_json()?);
            }
            // The failure's exit status stands even when the reader stopped early.
            match print_json(&value) {
                Err(error) if !is_broken_pipe(&error) => return Err(error),
                _ => return Ok(ExitCode::from(status)),
            }
        }
        eprintln!("error: {message}");
        for attempt in &failed.attempts {
            eprintln!(
                "  {} ({}): {}",
                attempt.model,
                attempt.provider,
                attempt.outcome.describe()
            );
        }
        Ok(ExitCode::from(status))
    }

    /// The error in words; for a plan whose every model lacks a key, also which models of
    /// providers whose keys are set could serve instead.
    fn failure_message(&self, failed: &Failed) -> String {
        let mut message = failed.error.to_string();
        let EngineError::NoProviderKey { .. } = failed.error else {
            return message;
        };
        let Some(planned) = &failed.planned else {
            return message;
        };
        let catalog = self.engine.catalog();
        let today = self.engine.today();
        let ready = |provider: &str| {
            matches!(
                self.engine.providers().get(provider),
                Some(triage_engine::ProviderStatus::Ready)
            )
        };
        let primary = &planned.plan.primary;
        let mut alternatives: Vec<_> = catalog
            .models()
            .filter(|model| model.tier >= primary.tier)
            .filter(|model| model.status(today) != triage_catalog::ModelStatus::Retired)
            .filter(|model| ready(&model.provider))
            .collect();
        alternatives.sort_by(|a, b| {
            let price = triage_strategies::blended_price;
            (a.tier, price(a), &a.id).cmp(&(b.tier, price(b), &b.id))
        });
        if alternatives.is_empty() {
            return message;
        }
        message.push_str("\nmodels whose provider has a key set could serve instead:");
        for model in alternatives.iter().take(5) {
            message.push_str(&format!(
                "\n  {} ({}, tier {}): triage ask --model {} \"…\"",
                model.id, model.provider, model.tier, model.id
            ));
        }
        message
    }
}

/// Attempts as JSON, with costs as numbers like every other dollar amount the CLI prints.
fn attempts_json(attempts: &[Attempt]) -> anyhow::Result<Value> {
    let mut values = Vec::with_capacity(attempts.len());
    for attempt in attempts {
        let mut value = serde_json::to_value(attempt)?;
        if let (Some(object), Some(cost)) = (value.as_object_mut(), attempt.cost_usd) {
            object.insert("cost_usd".to_owned(), json_number(cost));
        }
        values.push(value);
    }
    Ok(Value::Array(values))
}
