//! `triage eval`: measures strategies on labelled JSON Lines: accuracy, macro-F1, per-class
//! precision and recall, the confusion matrix, under- and over-routing, routed cost against a
//! baseline model, classification latency, and accuracy and high-stakes routing by source and
//! by script.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use triage_strategies::eval::{
    EvalReport, GroupMetrics, Prediction, PriceTable, PricedModel, evaluate, majority_accuracy,
    script_of,
};
use triage_strategies::tokens::TokenCounter;
use triage_strategies::{Strategy, StrategyKind, estimate_input_tokens};
use triage_types::{ChatRequest, RouteClass};

use crate::commands::context::{Context, RoutingArgs};
use crate::commands::outcome_data::ClassifyOnce;
use crate::commands::output::{format_dollars, json_number, render_table, usage_error};
use crate::commands::{eval_outcomes, jsonl};

/// Measure routing strategies on labelled prompts.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Input: JSON Lines with a string `text` and a `label` (extract, faq, transform, analyze, reason,
critical), and optionally a `source`; other fields are ignored, blank lines skipped.

By source and by script (han, latin, other: the writing system of most letters, a proxy for
language): each strategy's accuracy, and of the prompts labelled critical, the share the plan
sent to a model cheaper than the critical class's and the share sent to the cheapest tier the
class routes offer (high stakes on the cheapest tier); --json adds each slice's under-routing.

Under-routing: the share of prompts sent to a class whose primary model (under the policy) has
a lower blended price, (3 × input + output) / 4, than the labelled class's; over-routing the
reverse. Costs: each prompt's input tokens (tiktoken o200k_base) and an output length assumed
from its labelled class (extract 150, faq 150, transform 400, analyze 700, reason 1000,
critical 800 tokens), priced on the predicted class's primary model, on the baseline model,
and on the labelled class's model (perfect routing).

With --outcomes instead of --data: per-prompt outcome data (JSON Lines with `id`, `prompt`,
`scores` {model: 0..1} and `out_tokens` {model: n}; --map names the catalog id of each model).
For each strategy and a sweep of the cost-quality knob it prints mean quality and total cost
(input tokens from the prompt, output tokens from the data, catalog prices), the mix of models
chosen, always-each-model, the oracle (the cheapest model right on each prompt), random routing
at equal cost, RouteLLM's PGR (performance gap recovered between the cheapest and the best
single model) and CPT (the cost share needed to recover 50% and 80% of that gap). The knob
chooses among the data's models only; nothing dearer than the baseline below knob 1.

Examples:
  triage eval --data dev.jsonl
  triage eval --data dev.jsonl --strategy keyword --strategy length --json
  triage eval --outcomes zeroeval-calib.jsonl --map model-map.json --baseline gpt-4o --plot curve.svg")]
pub(crate) struct Args {
    /// The labelled JSON Lines file; `-` reads standard input.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "outcomes",
        conflicts_with = "outcomes"
    )]
    data: Option<PathBuf>,

    /// Per-prompt outcome data to measure cost and quality on (instead of --data).
    #[arg(long, value_name = "FILE")]
    outcomes: Option<PathBuf>,

    /// With --outcomes: the map from the data's model names to catalog ids
    /// (`{"map": {name: id}}`).
    #[arg(long, value_name = "FILE", requires = "outcomes")]
    map: Option<PathBuf>,

    /// With --outcomes: write the cost-quality chart here, as SVG or PNG (by the extension).
    #[arg(long, value_name = "FILE.svg|FILE.png", requires = "outcomes")]
    plot: Option<PathBuf>,

    /// A strategy to measure (repeatable); default: every strategy that can run here.
    #[arg(long, value_name = "NAME")]
    strategy: Vec<StrategyKind>,

    /// Print one JSON object keyed by strategy name.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    routing: RoutingArgs,
}

struct Labelled {
    text: String,
    label: RouteClass,
    input_tokens: u64,
    /// The `source` field, when the line has one.
    source: Option<String>,
}

/// Measures and prints.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let context = match Context::load(&args.routing) {
        Ok(context) => context,
        Err(error) => return Ok(usage_error(&error)),
    };
    let kinds = if args.strategy.is_empty() {
        context.available_strategies()
    } else {
        let mut kinds = args.strategy.clone();
        kinds.dedup();
        kinds
    };
    let Some(data) = &args.data else {
        let Some(outcomes) = &args.outcomes else {
            return Ok(usage_error(&anyhow::anyhow!("give --data or --outcomes")));
        };
        let request = eval_outcomes::Request {
            outcomes,
            map: args.map.as_deref(),
            kinds,
            baseline: args.routing.baseline.as_deref(),
            json: args.json,
            plot: args.plot.as_ref(),
        };
        return match eval_outcomes::run(&context, &request) {
            Ok(text) => {
                print!("{text}");
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => Ok(usage_error(&error)),
        };
    };
    let rows = match read_labelled(data) {
        Ok(rows) => rows,
        Err(error) => return Ok(usage_error(&error)),
    };
    let Some(baseline) = context.baseline() else {
        return Ok(usage_error(&anyhow::anyhow!(
            "no baseline: set --baseline or [routing] baseline"
        )));
    };
    let prices = match price_table(&context, &baseline) {
        Ok(prices) => prices,
        Err(error) => return Ok(usage_error(&error)),
    };
    let mut reports: BTreeMap<StrategyKind, EvalReport> = BTreeMap::new();
    for kind in &kinds {
        let strategy: Arc<dyn Strategy> = match context.strategy(*kind) {
            Ok(strategy) => Arc::new(ClassifyOnce::new(strategy)),
            Err(error) => return Ok(usage_error(&error)),
        };
        // The engine's plan for `model: "auto"`: the model `ask` and `serve` would call.
        let engine = context.engine(Arc::clone(&strategy), None, None)?;
        let progress = ProgressBar::new(rows.len() as u64);
        progress.set_style(
            ProgressStyle::with_template("{prefix:>8} [{bar:40}] {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        progress.set_prefix(kind.as_str());
        let mut predictions = Vec::with_capacity(rows.len());
        for row in &rows {
            let request = ChatRequest::from_prompt(row.text.clone());
            let started = Instant::now();
            let verdict = strategy.classify(&request)?;
            let latency = started.elapsed();
            let planned = engine.plan(triage_engine::AUTO_MODEL, &request)?;
            let routed = context.catalog.get(&planned.plan.primary.id)?;
            predictions.push(Prediction {
                label: row.label,
                predicted: verdict.class,
                latency_ns: u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX),
                input_tokens: row.input_tokens,
                routed: Some(PricedModel {
                    id: routed.id.clone(),
                    input: routed.pricing.input,
                    output: routed.pricing.output,
                    tier: routed.tier,
                }),
                reasoning_tokens: planned.plan.estimated_reasoning_tokens,
                source: row.source.clone(),
                script: script_of(&row.text),
            });
            progress.inc(1);
        }
        progress.finish_and_clear();
        reports.insert(*kind, evaluate(&predictions, &prices));
    }
    let labels: Vec<RouteClass> = rows.iter().map(|row| row.label).collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports_json(&reports))?);
    } else {
        print!("{}", reports_text(data, &labels, &prices, &reports));
    }
    Ok(ExitCode::SUCCESS)
}

fn read_labelled(path: &std::path::Path) -> anyhow::Result<Vec<Labelled>> {
    let reader = jsonl::open(path)?;
    let mut rows = Vec::new();
    let mut problem = None;
    jsonl::for_each_line(reader, |index, line| {
        let parsed = jsonl::parse_line(index, line).and_then(|item| {
            let label = match item.object.get("label") {
                Some(Value::String(label)) => label
                    .parse::<RouteClass>()
                    .map_err(|error| error.to_string())?,
                Some(_) => return Err("`label` is not a string".to_owned()),
                None => return Err("no `label` field".to_owned()),
            };
            let source = match item.object.get("source") {
                Some(Value::String(source)) => Some(source.clone()),
                _ => None,
            };
            Ok((item.text, label, source))
        });
        match parsed {
            Ok((text, label, source)) => {
                let input_tokens = estimate_input_tokens(
                    &ChatRequest::from_prompt(text.clone()),
                    TokenCounter::O200k,
                );
                rows.push(Labelled {
                    text,
                    label,
                    input_tokens,
                    source,
                });
                Ok(ControlFlow::Continue(()))
            }
            Err(message) => {
                problem = Some(format!(
                    "{}: line {} (1-based): {message}",
                    path.display(),
                    index + 1
                ));
                Ok(ControlFlow::Break(()))
            }
        }
    })?;
    if let Some(problem) = problem {
        anyhow::bail!(
            "{problem}; every line must be a JSON object with a string `text` and a `label`"
        );
    }
    if rows.is_empty() {
        anyhow::bail!("{} holds no labelled prompts", path.display());
    }
    Ok(rows)
}

/// Each class's primary model for a plain prompt under the engine's policy (the one `ask` and
/// `serve` route by), and the baseline model.
fn price_table(context: &Context, baseline: &str) -> anyhow::Result<PriceTable> {
    let engine = context.engine(Arc::new(context.config.length_strategy()), None, None)?;
    let policy = engine.router().policy();
    let probe = ChatRequest::from_prompt("probe");
    let priced = |id: &str| -> anyhow::Result<PricedModel> {
        let model = context.catalog.resolve(id, context.today)?.model;
        Ok(PricedModel {
            id: model.id.clone(),
            input: model.pricing.input,
            output: model.pricing.output,
            tier: model.tier,
        })
    };
    let mut classes = Vec::with_capacity(6);
    for class in RouteClass::ALL {
        let plan = policy.plan(&context.catalog, class, &probe, context.today)?;
        classes.push(priced(&plan.primary.id)?);
    }
    let classes: [PricedModel; 6] = classes
        .try_into()
        .map_err(|_| anyhow::anyhow!("expected six classes"))?;
    Ok(PriceTable {
        classes,
        baseline: priced(baseline)?,
    })
}

fn reports_json(reports: &BTreeMap<StrategyKind, EvalReport>) -> Value {
    let mut out = serde_json::Map::new();
    for (kind, report) in reports {
        let mut value = serde_json::to_value(report).unwrap_or(Value::Null);
        if let Value::Object(object) = &mut value {
            object.insert("cost_usd".into(), json_number(report.cost_usd));
            object.insert(
                "reasoning_cost_usd".into(),
                json_number(report.reasoning_cost_usd),
            );
            object.insert(
                "baseline_cost_usd".into(),
                json_number(report.baseline_cost_usd),
            );
            object.insert(
                "oracle_cost_usd".into(),
                json_number(report.oracle_cost_usd),
            );
        }
        out.insert(kind.as_str().to_owned(), value);
    }
    Value::Object(out)
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

fn reports_text(
    data: &std::path::Path,
    labels: &[RouteClass],
    prices: &PriceTable,
    reports: &BTreeMap<StrategyKind, EvalReport>,
) -> String {
    let mut out = String::new();
    let (majority, majority_share) = majority_accuracy(labels);
    out.push_str(&format!(
        "{}: {} prompts; majority class {} = {} accuracy\n",
        data.display(),
        labels.len(),
        majority.map_or("-", RouteClass::as_str),
        percent(majority_share)
    ));
    let models: Vec<String> = RouteClass::ALL
        .into_iter()
        .map(|class| format!("{class} {}", prices.classes[class.index()].id))
        .collect();
    out.push_str(&format!("class models: {}\n", models.join(", ")));
    for (kind, report) in reports {
        out.push_str(&format!("\n== {kind}\n"));
        out.push_str(&format!(
            "accuracy {}  macro-F1 {:.3}  under-routing {}  over-routing {}\n",
            percent(report.accuracy),
            report.macro_f1,
            percent(report.under_routing_rate),
            percent(report.over_routing_rate)
        ));
        let share_of_baseline = |cost: rust_decimal::Decimal| {
            if report.baseline_cost_usd.is_zero() {
                return String::new();
            }
            let share = (cost / report.baseline_cost_usd)
                .to_string()
                .parse::<f64>()
                .unwrap_or(0.0);
            format!(" ({} of the baseline)", percent(share))
        };
        out.push_str(&format!(
            "cost ${} routed vs ${} all on {}{}; perfect routing ${}\n",
            format_dollars(report.cost_usd.round_dp(4)),
            format_dollars(report.baseline_cost_usd.round_dp(4)),
            report.baseline_model,
            share_of_baseline(report.cost_usd),
            format_dollars(report.oracle_cost_usd.round_dp(4)),
        ));
        if !report.reasoning_cost_usd.is_zero() {
            let with_reasoning = report.cost_usd + report.reasoning_cost_usd;
            out.push_str(&format!(
                "  answers only, as the knob prices them; the reasoning the plans ask of the routed models adds ${} by the estimate's prior: ${}{}\n",
                format_dollars(report.reasoning_cost_usd.round_dp(4)),
                format_dollars(with_reasoning.round_dp(4)),
                share_of_baseline(with_reasoning),
            ));
        }
        out.push_str(&format!(
            "latency p50 {:.1} µs  p99 {:.1} µs  mean {:.1} µs\n\n",
            report.latency_p50_us, report.latency_p99_us, report.latency_mean_us
        ));
        let rows: Vec<Vec<String>> = report
            .per_class
            .iter()
            .map(|(class, metrics)| {
                vec![
                    class.to_string(),
                    format!("{:.3}", metrics.precision),
                    format!("{:.3}", metrics.recall),
                    format!("{:.3}", metrics.f1),
                    metrics.support.to_string(),
                ]
            })
            .collect();
        out.push_str(&render_table(
            &["class", "precision", "recall", "f1", "support"],
            &rows,
            &[1, 2, 3, 4],
        ));
        out.push_str("\nconfusion (rows: label, columns: predicted)\n");
        let mut header = vec![""];
        header.extend(RouteClass::ALL.iter().map(|class| class.as_str()));
        let rows: Vec<Vec<String>> = RouteClass::ALL
            .into_iter()
            .map(|class| {
                let mut row = vec![class.to_string()];
                row.extend(
                    report.confusion.matrix[class.index()]
                        .iter()
                        .map(u64::to_string),
                );
                row
            })
            .collect();
        out.push_str(&render_table(&header, &rows, &[1, 2, 3, 4, 5, 6]));
    }
    let by_source: Slices = |report| &report.by_source;
    let by_script: Slices = |report| &report.by_script;
    for (title, slices_of) in [("by source", by_source), ("by script", by_script)] {
        let slices = slice_names(reports, slices_of);
        if slices.len() < 2 {
            continue;
        }
        out.push_str(&format!(
            "\n{title}: accuracy; prompts labelled critical sent to a model cheaper than the critical class's / to the cheapest tier\n"
        ));
        let mut header = vec![
            title.trim_start_matches("by ").to_owned(),
            "prompts".to_owned(),
        ];
        for kind in reports.keys() {
            header.push(kind.as_str().to_owned());
        }
        for kind in reports.keys() {
            header.push(format!("{kind} critical: cheaper / cheapest"));
        }
        let rows: Vec<Vec<String>> = slices
            .iter()
            .map(|name| {
                let group = |report: &EvalReport| -> GroupMetrics {
                    slices_of(report).get(name).copied().unwrap_or_default()
                };
                let first = reports.values().next().map(group).unwrap_or_default();
                let mut row = vec![name.clone(), first.count.to_string()];
                row.extend(
                    reports
                        .values()
                        .map(|report| percent(group(report).accuracy)),
                );
                row.extend(reports.values().map(|report| {
                    let group = group(report);
                    if group.critical == 0 {
                        "-".to_owned()
                    } else {
                        format!(
                            "{} / {} of {}",
                            percent(group.critical_under_routing_rate),
                            percent(group.critical_to_cheapest_rate),
                            group.critical
                        )
                    }
                }));
                row
            })
            .collect();
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let numeric: Vec<usize> = (1..header.len()).collect();
        out.push_str(&render_table(&header, &rows, &numeric));
    }
    out
}

/// One way of slicing a report (by source, by script).
type Slices = fn(&EvalReport) -> &BTreeMap<String, GroupMetrics>;

/// The slice names any report has, in order.
fn slice_names(reports: &BTreeMap<StrategyKind, EvalReport>, slices: Slices) -> Vec<String> {
    let mut names: Vec<String> = reports
        .values()
        .flat_map(|report| slices(report).keys().cloned())
        .collect();
    names.sort();
    names.dedup();
    names
}
