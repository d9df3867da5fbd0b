//! `triage route`: classifies one prompt and prints the route plan (class, confidence, model,
//! fallback ladder, estimated cost), with `--explain` the reasons, as text or JSON. Calls no
//! provider.

use std::process::ExitCode;

use serde_json::{Value, json};
use triage_engine::Planned;
use triage_strategies::{ReasoningPlan, ReasoningSource, RoutePlan, StrategyKind};
use triage_types::{ChatRequest, Message, Role};

use crate::commands::context::{Context, RoutingArgs};
use crate::commands::jsonl;
use crate::commands::output::{format_dollars, json_number, merge_warnings, round4, usage_error};

/// Show which model a prompt would be routed to, and why. No API key needed.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  triage route \"What is the capital of France?\"
  triage route --explain \"Summarise this article: ...\"
  triage route --strategy length --json \"Write a sonnet about rain\"
  triage route --config triage.toml --explain \"Review this contract\"
  triage route --jsonl prompts.jsonl --quality 0.3 > decisions.jsonl

The plan's fallbacks are the class's other usable models, then the models of more demanding
classes of at least the primary's tier. The cost estimate counts the prompt's tokens (tiktoken
for OpenAI models, an o200k-based estimate elsewhere) and assumes a typical answer length for
the class.")]
pub(crate) struct Args {
    /// The prompt to route.
    #[arg(required_unless_present = "jsonl", conflicts_with = "jsonl")]
    prompt: Option<String>,

    /// Route every line of a JSON Lines file (`{"id", "text"}` in) and print one JSON line per
    /// input line: `{"id", "class", "confidence", "model", "difficulty", "p_cheap_right",
    /// "expected_quality", "relative_price", "estimated_cost_usd"}`; `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    jsonl: Option<std::path::PathBuf>,

    /// With --jsonl: warn about and skip lines that are not a JSON object with a string
    /// `text`, instead of stopping at the first.
    #[arg(long, requires = "jsonl")]
    skip_invalid: bool,

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
    if let Some(path) = &args.jsonl {
        return jsonl::map_lines(path, args.skip_invalid, |item| {
            let id = item.id.unwrap_or_else(|| Value::from(item.index));
            let request = ChatRequest::from_prompt(item.text);
            Ok(match engine.plan(&args.model, &request) {
                Ok(planned) => route_line(id, &planned),
                Err(error) => json!({"id": id, "error": error.to_string()}),
            })
        });
    }
    let mut request = ChatRequest::from_prompt(args.prompt.clone().unwrap_or_default());
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

/// One `route --jsonl` output line: the decision in brief, for scoring with other tools.
fn route_line(id: Value, planned: &Planned) -> Value {
    let Planned { decision, plan, .. } = planned;
    let quality = plan.quality.as_ref();
    json!({
        "id": id,
        "class": decision.as_ref().map(|decision| decision.class),
        "confidence": decision.as_ref().map(|decision| round4(decision.confidence)),
        "model": plan.primary.id,
        "difficulty": quality.map(|q| q.difficulty),
        "p_cheap_right": quality.map(|q| (q.p_cheap_right * 10_000.0).round() / 10_000.0),
        "expected_quality": quality.map(|q| (q.expected_quality * 10_000.0).round() / 10_000.0),
        "relative_price": quality.map(|q| (q.relative_price * 10_000.0).round() / 10_000.0),
        "estimated_cost_usd": plan.estimated_cost.map(json_number),
        "reasoning_effort": ReasoningPlan::effort_for(plan.reasoning.as_ref(), &plan.primary)
            .map(|effort| effort.as_str()),
    })
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
        "estimated_reasoning_tokens": plan.estimated_reasoning_tokens,
        "estimated_cost_usd": plan.estimated_cost.map(json_number),
        "reasoning": plan.reasoning.map(|reasoning| json!({
            "effort": reasoning.effort.as_str(),
            "source": reasoning.source,
            "difficulty": reasoning.difficulty,
            "sends": plan.primary.reasoning.map(|spec| spec.sends(Some(reasoning.effort))),
        })),
        "scores": scores,
        "reasons": decision.iter().flat_map(|decision| &decision.reasons).chain(&plan.reasons).collect::<Vec<_>>(),
        "warnings": merge_warnings(&context.warnings, &plan.warnings),
        "rejected": plan.rejected,
    })
}

/// The plan's reasoning effort in words: the effort, why, and what the primary is sent.
fn reasoning_text(plan: &RoutePlan) -> Option<String> {
    let reasoning = plan.reasoning?;
    let why = match (reasoning.source, reasoning.difficulty) {
        (ReasoningSource::Client, _) => "set by the client".to_owned(),
        (ReasoningSource::Config, _) => "[routing] reasoning_effort".to_owned(),
        (ReasoningSource::Planned, Some(difficulty)) => {
            format!("for {}, {}", plan.class, difficulty.as_str())
        }
        (ReasoningSource::Planned, None) => format!("for {}", plan.class),
    };
    let sends = match plan.primary.reasoning {
        Some(spec) => format!(
            "{} sends {}",
            plan.primary.id,
            spec.sends(Some(reasoning.effort))
        ),
        None => format!(
            "{} takes none; sent to the reasoning models behind it",
            plan.primary.id
        ),
    };
    Some(format!("{} ({why}): {sends}", reasoning.effort.as_str()))
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
    let reasoning_tokens = match plan.estimated_reasoning_tokens {
        0 => String::new(),
        tokens => format!(" + {tokens} reasoning"),
    };
    out.push_str(&format!(
        "est. cost   {cost} ({} input + {} output{reasoning_tokens} tokens)\n",
        plan.estimated_input_tokens, plan.estimated_output_tokens
    ));
    if let Some(line) = reasoning_text(plan) {
        out.push_str(&format!("reasoning   {line}\n"));
    }
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
