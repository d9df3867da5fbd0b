//! `triage ask`: classifies a prompt, routes it, and answers it through the fallback executor
//! against the providers (real ones, or the mock upstream), printing the answer or, with
//! `--json`, the answer with every attempt.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use futures::StreamExt;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use triage_catalog::Catalog;
use triage_fallback::{
    Attempt, ExecutionPlan, Executor, FallbackConfig, FallbackEvent, FallbackSettings,
    QualityChecks, total_cost,
};
use triage_providers::{HttpClientOptions, ProviderError, build_http_client, build_provider};
use triage_strategies::{Decision, RoutePlan, StrategyKind, blended_price};
use triage_types::{ChatRequest, ChatResponse, Message, Role, StreamEvent};

use crate::commands::EXIT_FAILURE;
use crate::commands::context::{
    Context as RoutingContext, ProviderOverridesById, RoutingArgs, provider_settings,
};
use crate::commands::output::{json_number, usage_error};

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

JSON output: class, confidence, strategy, model, provider, text, finish_reason, usage,
cost_usd (the answering call), total_cost_usd (every attempt), attempts (model, provider,
tier, outcome, latency_ms, usage, cost_usd, next) and breakers (circuit-breaker states).
On failure: class, error {kind, message}, attempts and breakers, with exit status 1.")]
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

    /// Call this catalog model first instead of the routed one; the class's fallback ladder
    /// still follows it.
    #[arg(long, value_name = "MODEL")]
    model: Option<String>,

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
    routing: RoutingArgs,
}

/// Routes, answers and prints.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let context = match RoutingContext::load(&args.routing) {
        Ok(context) => context,
        Err(error) => return Ok(usage_error(&error)),
    };
    let settings = match fallback_settings(&context) {
        Ok(settings) => settings,
        Err(error) => return Ok(usage_error(&error)),
    };
    let strategy = match context.strategy(context.strategy_kind(args.strategy)) {
        Ok(strategy) => strategy,
        Err(error) => return Ok(usage_error(&error)),
    };
    let router = context.router(strategy);
    let catalog = &context.catalog;
    let today = context.today;
    let request = build_request(&args);
    let decision = router.decide(catalog, &request, today)?;
    let checks = settings
        .checks_for_class(Some(decision.class))
        .context("invalid [fallback] checks")?;
    let forced = args.model.as_ref().or(decision.forced_model.as_ref());
    let planned = match forced {
        Some(model) => router
            .policy()
            .plan_forced(catalog, model, decision.class, &request, today),
        None => router
            .policy()
            .plan(catalog, decision.class, &request, today),
    };
    let route_plan = match planned {
        Ok(plan) => plan,
        Err(error) => return Ok(usage_error(&anyhow::Error::new(error))),
    };
    let plan = execution_plan(catalog, &decision, &route_plan)?;

    let providers = &context.config.providers.overrides;
    let clients = Clients::build(catalog, providers, &plan)?;
    if let Some(message) = clients.missing_primary_key(catalog, providers, &route_plan, today) {
        eprintln!("error: {message}");
        return Ok(ExitCode::from(EXIT_FAILURE));
    }
    let mut builder = Executor::builder(Arc::new(catalog.clone()), settings);
    for provider in clients.ready {
        builder = builder.provider(provider);
    }
    for (provider, reason) in clients.unavailable {
        builder = builder.unavailable(provider, reason);
    }
    let executor = builder.build();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let output = Output {
        args: &args,
        decision: &decision,
        executor: &executor,
    };
    let result = runtime.block_on(async {
        if args.stream {
            output.stream(plan, request, checks).await
        } else {
            output.complete(&plan, &request, &checks).await
        }
    });
    // A reader that stops early (`| head`) is not a failure of the command.
    match result {
        Err(error)
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(ExitCode::SUCCESS)
        }
        other => other,
    }
}

/// Prints a JSON value on stdout, pretty, with a final newline.
fn print_json(value: &Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// The `[fallback]` section of the config (kept raw by `triage-config`), validated.
fn fallback_settings(context: &RoutingContext) -> anyhow::Result<FallbackSettings> {
    let Some(section) = &context.config.fallback else {
        return Ok(FallbackSettings::default());
    };
    let config: FallbackConfig = section
        .table
        .clone()
        .try_into()
        .with_context(|| format!("invalid [fallback] section at {}", section.location))?;
    FallbackSettings::from_config(&config)
        .with_context(|| format!("invalid [fallback] section at {}", section.location))
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

/// The policy's plan as the executor's: the primary, then the fallback ladder. The
/// classifier's confidence is passed on only when the router kept the strategy's own class
/// (a low-confidence call the router already moved up a class is not moved up again).
fn execution_plan(
    catalog: &Catalog,
    decision: &Decision,
    route_plan: &RoutePlan,
) -> anyhow::Result<ExecutionPlan> {
    let ids: Vec<&str> = std::iter::once(&route_plan.primary)
        .chain(&route_plan.fallbacks)
        .map(|planned| planned.id.as_str())
        .collect();
    let plan = ExecutionPlan::from_models(catalog, &ids)
        .map_err(|id| anyhow::anyhow!("the plan names `{id}`, which the catalog lacks"))?;
    let best = decision
        .scores
        .iter()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(class, _)| *class);
    let kept_class = decision.rule.is_none() && best == Some(decision.class);
    Ok(plan.with_class(decision.class, kept_class.then_some(decision.confidence)))
}

/// Provider clients for a plan: those with keys, and why the others have none.
struct Clients {
    ready: Vec<Arc<dyn triage_providers::Provider>>,
    unavailable: Vec<(String, String)>,
    missing_env: Vec<(String, String)>,
}

impl Clients {
    fn build(
        catalog: &Catalog,
        providers: &ProviderOverridesById,
        plan: &ExecutionPlan,
    ) -> anyhow::Result<Clients> {
        let http = build_http_client(&HttpClientOptions::default())?;
        let mut clients = Clients {
            ready: Vec::new(),
            unavailable: Vec::new(),
            missing_env: Vec::new(),
        };
        let planned: BTreeSet<&str> = plan
            .steps
            .iter()
            .map(|step| step.provider.as_str())
            .collect();
        for provider in planned {
            let settings = provider_settings(catalog, providers, provider)?;
            match build_provider(settings, http.clone()) {
                Ok(client) => clients.ready.push(client),
                Err(error) => {
                    if let ProviderError::MissingApiKey { env_var, .. } = &error {
                        clients
                            .missing_env
                            .push((provider.to_owned(), env_var.clone()));
                    }
                    clients
                        .unavailable
                        .push((provider.to_owned(), error.to_string()));
                }
            }
        }
        Ok(clients)
    }

    /// The error to show when the routed model's provider has no key: which variable to set,
    /// and which models of providers whose keys are set could serve instead.
    fn missing_primary_key(
        &self,
        catalog: &Catalog,
        providers: &ProviderOverridesById,
        route_plan: &RoutePlan,
        today: time::Date,
    ) -> Option<String> {
        let primary = &route_plan.primary;
        let (_, env_var) = self
            .missing_env
            .iter()
            .find(|(provider, _)| *provider == primary.provider)?;
        let mut message = format!(
            "no API key for provider `{}`: set {env_var} to use {} (routed for this {} request)",
            primary.provider, primary.id, route_plan.class
        );
        let mut alternatives: Vec<_> = catalog
            .models()
            .filter(|model| model.tier >= primary.tier)
            .filter(|model| model.status(today) != triage_catalog::ModelStatus::Retired)
            .filter(|model| has_key(catalog, providers, &model.provider))
            .collect();
        alternatives.sort_by(|a, b| {
            (a.tier, blended_price(a), &a.id).cmp(&(b.tier, blended_price(b), &b.id))
        });
        if alternatives.is_empty() {
            let mut wanted: Vec<String> = catalog
                .providers()
                .filter_map(|provider| provider.api_key_env.clone())
                .collect();
            wanted.sort();
            wanted.dedup();
            message.push_str(&format!(
                "\nno provider of the catalog has a key set; set one of: {}",
                wanted.join(", ")
            ));
            return Some(message);
        }
        message.push_str("\nmodels whose provider has a key set could serve instead:");
        for model in alternatives.iter().take(5) {
            message.push_str(&format!(
                "\n  {} ({}, tier {}): triage ask --model {} \"…\"",
                model.id, model.provider, model.tier, model.id
            ));
        }
        Some(message)
    }
}

/// Whether a provider's key (if it needs one) is set.
fn has_key(catalog: &Catalog, providers: &ProviderOverridesById, provider: &str) -> bool {
    provider_settings(catalog, providers, provider)
        .is_ok_and(|settings| settings.api_key.is_some() || settings.api_key_env.is_none())
}

/// What the output functions share.
struct Output<'a> {
    args: &'a Args,
    decision: &'a Decision,
    executor: &'a Executor,
}

impl Output<'_> {
    async fn complete(
        &self,
        plan: &ExecutionPlan,
        request: &ChatRequest,
        checks: &QualityChecks,
    ) -> anyhow::Result<ExitCode> {
        match self.executor.execute(plan, request, checks).await {
            Ok(answer) => {
                let cost = answer.cost_usd();
                if self.args.json {
                    self.print_json_answer(
                        &answer.model,
                        &answer.provider,
                        &answer.response,
                        cost,
                        &answer.attempts,
                    )?;
                } else {
                    let mut out = std::io::stdout().lock();
                    out.write_all(answer.response.text.as_bytes())?;
                    if !answer.response.text.ends_with('\n') {
                        out.write_all(b"\n")?;
                    }
                    out.flush()?;
                    self.print_summary(&answer.model, &answer.provider, &answer.attempts);
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(failure) => {
                self.print_failure(
                    &failure.error.to_string(),
                    failure.error.kind(),
                    &failure.attempts,
                )?;
                Ok(ExitCode::from(EXIT_FAILURE))
            }
        }
    }

    async fn stream(
        &self,
        plan: ExecutionPlan,
        request: ChatRequest,
        checks: QualityChecks,
    ) -> anyhow::Result<ExitCode> {
        let mut events = self.executor.stream(plan, request, checks);
        let mut printed_any = false;
        let mut ends_with_newline = false;
        let mut out = std::io::stdout();
        while let Some(event) = events.next().await {
            match event {
                FallbackEvent::Start { .. } | FallbackEvent::Delta(_) if self.args.json => {}
                FallbackEvent::Start {
                    model, provider, ..
                } => {
                    tracing::info!(model, provider, "streaming");
                }
                FallbackEvent::Delta(StreamEvent::TextDelta { text }) => {
                    out.write_all(text.as_bytes())?;
                    out.flush()?;
                    printed_any |= !text.is_empty();
                    if !text.is_empty() {
                        ends_with_newline = text.ends_with('\n');
                    }
                }
                FallbackEvent::Delta(_) => {}
                FallbackEvent::Done(summary) => {
                    if self.args.json {
                        self.print_json_answer(
                            &summary.model,
                            &summary.provider,
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
                        self.print_summary(&summary.model, &summary.provider, &summary.attempts);
                    }
                    return Ok(ExitCode::SUCCESS);
                }
                FallbackEvent::Error(failure) => {
                    if printed_any && !ends_with_newline && !self.args.json {
                        out.write_all(b"\n")?;
                        out.flush()?;
                    }
                    self.print_failure(
                        &failure.error.to_string(),
                        failure.error.kind(),
                        &failure.attempts,
                    )?;
                    return Ok(ExitCode::from(EXIT_FAILURE));
                }
            }
        }
        // The executor's stream always ends with Done or Error; this is belt and braces.
        eprintln!("error: the answer stream ended without a result");
        Ok(ExitCode::from(EXIT_FAILURE))
    }

    /// One line on stderr: class, model, attempts and cost, so stdout stays the bare answer.
    fn print_summary(&self, model: &str, provider: &str, attempts: &[Attempt]) {
        let cost = match total_cost(attempts) {
            Ok(cost) => format!("${}", cost.normalize()),
            Err(error) => format!("cost unknown ({error})"),
        };
        let calls = attempts
            .iter()
            .filter(|attempt| !attempt.outcome.is_skipped())
            .count();
        eprintln!(
            "[{} → {model} via {provider}; {calls} call{}; {cost}]",
            self.decision.class,
            if calls == 1 { "" } else { "s" }
        );
    }

    fn print_json_answer(
        &self,
        model: &str,
        provider: &str,
        response: &ChatResponse,
        cost: Option<Decimal>,
        attempts: &[Attempt],
    ) -> anyhow::Result<()> {
        let total = total_cost(attempts).ok();
        let value = json!({
            "class": self.decision.class,
            "confidence": self.decision.confidence,
            "strategy": self.decision.strategy,
            "model": model,
            "provider": provider,
            "text": response.text,
            "finish_reason": response.finish_reason,
            "usage": response.usage,
            "cost_usd": cost.map_or(Value::Null, json_number),
            "total_cost_usd": total.map_or(Value::Null, json_number),
            "attempts": attempts_json(attempts)?,
            "breakers": serde_json::to_value(self.executor.breaker().snapshot())?,
        });
        print_json(&value)
    }

    fn print_failure(&self, message: &str, kind: &str, attempts: &[Attempt]) -> anyhow::Result<()> {
        if self.args.json {
            let value = json!({
                "class": self.decision.class,
                "confidence": self.decision.confidence,
                "strategy": self.decision.strategy,
                "error": {"kind": kind, "message": message},
                "attempts": attempts_json(attempts)?,
                "breakers": serde_json::to_value(self.executor.breaker().snapshot())?,
            });
            // The failure's exit status stands even when the reader stopped early.
            return print_json(&value).or_else(|error| {
                let broken_pipe = error
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe);
                if broken_pipe { Ok(()) } else { Err(error) }
            });
        }
        eprintln!("error: {message}");
        for attempt in attempts {
            eprintln!(
                "  {} ({}): {}",
                attempt.model,
                attempt.provider,
                attempt.outcome.describe()
            );
        }
        Ok(())
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
