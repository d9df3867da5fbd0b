//! `triage route`: classifies one prompt and prints the route plan (class, confidence, model,
//! fallback ladder, estimated cost), with `--explain` the reasons, as text or JSON. Calls no
//! provider.

use std::process::ExitCode;

use serde_json::{Value, json};
use triage_strategies::{Route, StrategyKind};
use triage_types::{ChatRequest, Message, Role};

use crate::commands::context::{Context, RoutingArgs};
use crate::commands::output::{format_dollars, json_number, round4, usage_error};

/// Show which model a prompt would be routed to, and why. No API key needed.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  triage route \"What is the capital of France?\"
  triage route --explain \"Summarise this article: ...\"
  triage route --strategy length --json \"Write a sonnet about rain\"
  triage route --config triage.toml --explain \"Review this contract\"

The plan's fallbacks are the class's other usable models, then the models of more demanding
classes of at least the primary's tier. The cost estimate counts the prompt's tokens (tiktoken
for OpenAI models, an o200k-based estimate elsewhere) and assumes a typical answer length for
the class.")]
pub(crate) struct Args {
    /// The prompt to route.
    prompt: String,

    /// A system prompt, classified together with the prompt.
    #[arg(long, value_name = "TEXT")]
    system: Option<String>,

    /// How to classify: model, keyword or length (default: [routing] strategy, else model).
    #[arg(long, value_name = "NAME")]
    strategy: Option<StrategyKind>,

    /// Also print why: rules and keywords that fired, the length bucket, lifecycle warnings,
    /// and the models left out with the reason.
    #[arg(long)]
    explain: bool,

    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    routing: RoutingArgs,
}

/// Routes and prints.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let context = match Context::load(&args.routing) {
        Ok(context) => context,
        Err(error) => return Ok(usage_error(&error)),
    };
    let kind = context.strategy_kind(args.strategy);
    let strategy = match context.strategy(kind) {
        Ok(strategy) => strategy,
        Err(error) => return Ok(usage_error(&error)),
    };
    let router = context.router(strategy);
    let mut request = ChatRequest::from_prompt(args.prompt.clone());
    if let Some(system) = &args.system {
        request
            .messages
            .insert(0, Message::text(Role::System, system.clone()));
    }
    let route = match router.route(&context.catalog, &request, context.today) {
        Ok(route) => route,
        Err(error) => return Ok(usage_error(&anyhow::Error::new(error))),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&route_json(&route, &context))?
        );
    } else {
        print!("{}", route_text(&route, &context, args.explain));
    }
    Ok(ExitCode::SUCCESS)
}

/// The route as one JSON object.
pub(crate) fn route_json(route: &Route, context: &Context) -> Value {
    let Route { decision, plan } = route;
    let model = |id: &str| context.catalog.find(id);
    json!({
        "class": decision.class,
        "confidence": round4(decision.confidence),
        "strategy": decision.strategy,
        "rule": decision.rule,
        "model": plan.primary.id,
        "provider": plan.primary.provider,
        "tier": plan.primary.tier,
        "api_name": model(&plan.primary.id).map(|model| model.api_name.clone()),
        "fallbacks": plan.fallbacks.iter().map(|fallback| fallback.id.clone()).collect::<Vec<_>>(),
        "estimated_input_tokens": plan.estimated_input_tokens,
        "estimated_output_tokens": plan.estimated_output_tokens,
        "estimated_cost_usd": plan.estimated_cost.map(json_number),
        "scores": decision.scores.iter().map(|(class, score)| (class.as_str().to_owned(), Value::from(round4(*score)))).collect::<serde_json::Map<String, Value>>(),
        "reasons": decision.reasons.iter().chain(&plan.reasons).collect::<Vec<_>>(),
        "warnings": context.warnings.iter().chain(&plan.warnings).collect::<Vec<_>>(),
        "rejected": plan.rejected,
    })
}

/// The route as text.
pub(crate) fn route_text(route: &Route, context: &Context, explain: bool) -> String {
    let Route { decision, plan } = route;
    let mut out = String::new();
    let how = match &decision.rule {
        Some(rule) if decision.strategy == "rule" => format!("rule {rule}"),
        _ => decision.strategy.clone(),
    };
    out.push_str(&format!(
        "class       {} (confidence {:.2}, {how})\n",
        decision.class, decision.confidence
    ));
    let primary = &plan.primary;
    let api_name = context
        .catalog
        .find(&primary.id)
        .map(|model| model.api_name.clone())
        .unwrap_or_default();
    out.push_str(&format!(
        "model       {} ({}, {api_name}, tier {})\n",
        primary.id, primary.provider, primary.tier
    ));
    let ladder: Vec<&str> = plan
        .fallbacks
        .iter()
        .map(|fallback| fallback.id.as_str())
        .collect();
    let ladder = if ladder.is_empty() {
        "none".to_owned()
    } else {
        ladder.join(" → ")
    };
    out.push_str(&format!("fallbacks   {ladder}\n"));
    let cost = plan.estimated_cost.map_or_else(
        || "unknown".to_owned(),
        |cost| format!("${}", format_dollars(cost)),
    );
    out.push_str(&format!(
        "est. cost   {cost} ({} input + {} output tokens)\n",
        plan.estimated_input_tokens, plan.estimated_output_tokens
    ));
    let warnings: Vec<&String> = context.warnings.iter().chain(&plan.warnings).collect();
    if explain {
        out.push_str("why:\n");
        for reason in decision.reasons.iter().chain(&plan.reasons) {
            out.push_str(&format!("  - {reason}\n"));
        }
        if !plan.rejected.is_empty() {
            out.push_str("left out:\n");
            for rejection in &plan.rejected {
                out.push_str(&format!("  - {}: {}\n", rejection.model, rejection.reason));
            }
        }
        if !warnings.is_empty() {
            out.push_str("warnings:\n");
            for warning in &warnings {
                out.push_str(&format!("  - {warning}\n"));
            }
        }
    }
    out
}
