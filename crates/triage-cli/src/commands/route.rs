//! `triage route`: classifies one prompt and prints the route plan (class, confidence, model,
//! fallback ladder, estimated cost), with `--explain` the reasons, as text or JSON. Calls no
//! provider.

use std::process::ExitCode;

use serde_json::{Value, json};
use triage_engine::Planned;
use triage_strategies::StrategyKind;
use triage_types::{ChatRequest, Message, Role};

use crate::commands::context::{Context, RoutingArgs};
use crate::commands::output::{format_dollars, json_number, merge_warnings, round4, usage_error};

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

    /// What to route, as a gateway client would send `model`: `auto` (the default), a route
    /// alias from the config, or a catalog model id.
    #[arg(long, value_name = "MODEL", default_value = triage_engine::AUTO_MODEL)]
    model: String,

    #[command(flatten)]
    routing: RoutingArgs,
}

/// Routes and prints: the plan is the engine's, exactly what `triage ask` and the gateway run
/// for the same prompt and config.
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
    let engine = context.engine(strategy, None, None)?;
    let mut request = ChatRequest::from_prompt(args.prompt.clone());
    if let Some(system) = &args.system {
        request
            .messages
            .insert(0, Message::text(Role::System, system.clone()));
    }
    let planned = match engine.plan(&args.model, &request) {
        Ok(planned) => planned,
        Err(error) => return Ok(usage_error(&anyhow::Error::new(error))),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&route_json(&planned, &context))?
        );
    } else {
        print!("{}", route_text(&planned, &context, args.explain));
    }
    Ok(ExitCode::SUCCESS)
}

/// The plan as one JSON object.
pub(crate) fn route_json(planned: &Planned, context: &Context) -> Value {
    let Planned { decision, plan, .. } = planned;
    let scores: serde_json::Map<String, Value> = decision
        .iter()
        .flat_map(|decision| &decision.scores)
        .map(|(class, score)| (class.as_str().to_owned(), Value::from(round4(*score))))
        .collect();
    json!({
        "class": decision.as_ref().map(|decision| decision.class),
        "confidence": decision.as_ref().map(|decision| round4(decision.confidence)),
        "strategy": decision.as_ref().map(|decision| decision.strategy.clone()),
        "rule": decision.as_ref().and_then(|decision| decision.rule.clone()),
        "model": plan.primary.id,
        "provider": plan.primary.provider,
        "tier": plan.primary.tier,
        "api_name": plan.primary.api_name,
        "fallbacks": plan.fallbacks.iter().map(|fallback| fallback.id.clone()).collect::<Vec<_>>(),
        "estimated_input_tokens": plan.estimated_input_tokens,
        "estimated_output_tokens": plan.estimated_output_tokens,
        "estimated_cost_usd": plan.estimated_cost.map(json_number),
        "scores": scores,
        "reasons": decision.iter().flat_map(|decision| &decision.reasons).chain(&plan.reasons).collect::<Vec<_>>(),
        "warnings": merge_warnings(&context.warnings, &plan.warnings),
        "rejected": plan.rejected,
    })
}

/// The plan as text.
pub(crate) fn route_text(planned: &Planned, context: &Context, explain: bool) -> String {
    let Planned { decision, plan, .. } = planned;
    let mut out = String::new();
    match decision {
        Some(decision) => {
            let how = match &decision.rule {
                Some(rule) if decision.strategy == "rule" => format!("rule {rule}"),
                _ => decision.strategy.clone(),
            };
            out.push_str(&format!(
                "class       {} (confidence {:.2}, {how})\n",
                decision.class, decision.confidence
            ));
        }
        None => out.push_str("class       none (the model was named; not classified)\n"),
    }
    let primary = &plan.primary;
    out.push_str(&format!(
        "model       {} ({}, {}, tier {})\n",
        primary.id, primary.provider, primary.api_name, primary.tier
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
    let warnings = merge_warnings(&context.warnings, &plan.warnings);
    if explain {
        out.push_str("why:\n");
        for reason in decision
            .iter()
            .flat_map(|decision| &decision.reasons)
            .chain(&plan.reasons)
        {
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
