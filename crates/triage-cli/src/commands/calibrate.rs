//! `triage calibrate`: fits the expected-quality table (difficulty signal, per-class quality
//! per model, tier priors) to per-prompt outcome data, picks the knob on held-out folds, and
//! writes a quality file that `[quality] file` (or the shipped table) uses.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use rust_decimal::prelude::ToPrimitive as _;
use serde_json::json;
use triage_strategies::outcomes::{
    CalibrationItem, FitOptions, KNOB_SWEEP, KnobPoint, OutcomeItem, Point, always, common_models,
    fit_table, knob_point, no_measurable_loss, random_at_cost, recommended_knob,
};
use triage_strategies::{QualityTable, Strategy, StrategyKind};
use triage_types::{ChatRequest, RouteClass};

use crate::commands::context::{Context, RoutingArgs};
use crate::commands::outcome_data::{
    ClassifyOnce, outcome_router, read_map, read_outcomes, route_items, tiers,
};
use crate::commands::output::{format_dollars, render_table, usage_error};

/// Fit the expected-quality table to your own per-prompt outcomes.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Input: JSON Lines, one prompt per line, graded for several models:
  {\"id\": \"q1\", \"prompt\": \"...\", \"scores\": {\"model-a\": 1, \"model-b\": 0},
   \"out_tokens\": {\"model-a\": 120, \"model-b\": 95}}
scores are 0..1 (right/wrong or a grade), out_tokens the answer's length in tokens; an optional
`in_tokens` replaces the estimate from the prompt. --map names the catalog id each model stands
for: {\"map\": {\"model-a\": \"gpt-4o-mini\", ...}} (without it, the names must be catalog ids).

What it fits: the difficulty signal (a logistic regression on cheap text features predicting
whether the --reference model answers correctly; its L2 strength chosen by held-out log loss),
then per routing class with enough items, each model's mean score in each difficulty bucket
(shrunk towards the prior), and that class's tier priors from the fitted models. Classes the
data does not reach keep the base table's entries. The knob's schedule (`price_weights`, the
price weight at knob 0, 0.1, ..., 1) comes from the prompts' own trade-offs: knob k passes
5% + 95%·k of the price weights at which a prompt's choice moves to a dearer model. The knob is
chosen on held-out folds: the cheapest value whose quality is not measurably below the
baseline's (paired loss within one standard error and at least 98% of its quality), found on
the sweep and then refined by halving the interval below it three times. The held-out table
shows random routing between single models at the same cost beside each value.

Examples:
  triage calibrate --outcomes graded.jsonl --map model-map.json --out quality.toml
  triage calibrate --outcomes graded.jsonl --map model-map.json --out quality.toml --baseline gpt-4o --folds 10
Then in triage.toml:
  [quality]
  file = \"quality.toml\"")]
pub(crate) struct Args {
    /// The outcome file (JSON Lines); `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    outcomes: PathBuf,

    /// The map from the file's model names to catalog ids.
    #[arg(long, value_name = "FILE")]
    map: Option<PathBuf>,

    /// Where to write the quality file.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,

    /// The strategy whose classes the table is fitted per (default: `[routing] strategy`,
    /// else model).
    #[arg(long, value_name = "NAME")]
    strategy: Option<StrategyKind>,

    /// Held-out folds for choosing the knob and the regression's strength.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u16).range(2..=50))]
    folds: u16,

    /// The cheap model whose right or wrong answers define difficulty (default: gpt-4o-mini
    /// when the data scores it, else the data's cheapest model).
    #[arg(long, value_name = "MODEL")]
    reference: Option<String>,

    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    routing: RoutingArgs,
}

/// Fits, writes and prints.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let context = match Context::load(&args.routing) {
        Ok(context) => context,
        Err(error) => return Ok(usage_error(&error)),
    };
    match calibrate(&context, &args) {
        Ok(summary) => {
            print!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => Ok(usage_error(&error)),
    }
}

fn calibrate(context: &Context, args: &Args) -> anyhow::Result<String> {
    let map = args.map.as_deref().map(read_map).transpose()?;
    let items = read_outcomes(
        &args.outcomes,
        map.as_ref(),
        &context.catalog,
        context.today,
    )?;
    let models = common_models(&items);
    if models.len() < 2 {
        anyhow::bail!(
            "{}: calibration needs at least two models scored on every item (found {})",
            args.outcomes.display(),
            models.len()
        );
    }
    let resolve = |id: &str| -> anyhow::Result<String> {
        Ok(context.catalog.resolve(id, context.today)?.model.id.clone())
    };
    let reference = match &args.reference {
        Some(id) => resolve(id)?,
        None if models.iter().any(|m| m == "gpt-4o-mini") => "gpt-4o-mini".to_owned(),
        None => cheapest(&items, &models),
    };
    let baseline = pick_baseline(context, args.routing.baseline.as_deref(), &items, &models)?;
    for (role, id) in [("--reference", &reference), ("--baseline", &baseline)] {
        if !models.contains(id) {
            anyhow::bail!(
                "{role} {id} is not scored on every item; the data scores {}",
                models.join(", ")
            );
        }
    }
    let kind = args
        .strategy
        .unwrap_or_else(|| context.strategy_kind(Some(StrategyKind::Model)));
    let strategy: Arc<dyn Strategy> = Arc::new(ClassifyOnce::new(context.strategy(kind)?));
    let calibration = classify(&strategy, &items, &models, &baseline)?;
    let base = context.config.quality_table()?;
    let tiers = tiers(&context.catalog, &items);
    let options = FitOptions {
        reference: reference.clone(),
        folds: usize::from(args.folds),
        ..FitOptions::default()
    };
    let router_for = |table: Arc<QualityTable>, knob: f64| {
        outcome_router(context, &strategy, knob, &models, &baseline, table)
    };

    // Held-out: fit on all folds but one, route the one left out, at every knob value.
    let folds = usize::from(args.folds);
    let progress = bar(folds as u64, "folds");
    let mut fold_tables = Vec::with_capacity(folds);
    for fold in 0..folds {
        let (train, test): (Vec<usize>, Vec<usize>) =
            (0..items.len()).partition(|i| i % folds != fold);
        let train_items: Vec<CalibrationItem> =
            train.iter().map(|i| calibration[*i].clone()).collect();
        let fit = fit_table(&base, &train_items, &tiers, &options)
            .context("no item scores the reference model")?;
        fold_tables.push((test, Arc::new(fit.table)));
        progress.inc(1);
    }
    progress.finish_and_clear();
    let held_out_at = |knob: f64| -> anyhow::Result<KnobPoint> {
        let mut choice = vec![String::new(); items.len()];
        for (test, table) in &fold_tables {
            let router = router_for(Arc::clone(table), knob);
            let chosen = route_items(
                &router,
                &context.catalog,
                test.iter().map(|i| &items[*i]),
                context.today,
            )?;
            for (i, model) in test.iter().zip(chosen) {
                choice[*i] = model;
            }
        }
        let choice: Vec<&str> = choice.iter().map(String::as_str).collect();
        Ok(knob_point(knob, &items, &choice, &baseline))
    };
    let points = KNOB_SWEEP
        .iter()
        .map(|knob| held_out_at(*knob))
        .collect::<anyhow::Result<Vec<KnobPoint>>>()?;
    // The sweep's steps are coarse where the price weight falls fast: between the recommended
    // value and the sweep value below it, when that one loses quality, bisect for the cheapest
    // knob that does not.
    let mut recommended = recommended_knob(&points);
    let mut refined = Vec::new();
    if let Some(high) = recommended {
        let below = points
            .iter()
            .filter(|p| p.knob < high)
            .max_by(|a, b| a.knob.total_cmp(&b.knob));
        if let Some(low) = below.filter(|p| !no_measurable_loss(p)) {
            let (mut low, mut high) = (low.knob, high);
            for _ in 0..REFINE_STEPS {
                let middle = ((low + high) / 2.0 * 1e4).round() / 1e4;
                let point = held_out_at(middle)?;
                if no_measurable_loss(&point) {
                    high = middle;
                } else {
                    low = middle;
                }
                refined.push(point);
            }
            recommended = Some(high);
        }
    }
    let singles: Vec<Point> = models.iter().map(|model| always(&items, model)).collect();

    let fit = fit_table(&base, &calibration, &tiers, &options)
        .context("no item scores the reference model")?;
    let mut table = fit.table;
    table.recommended_knob = recommended;
    let header = header(
        args, &items, &models, &reference, &baseline, kind, fit.l2, context,
    );
    let text = table.to_toml(&header, &fit.notes);
    QualityTable::parse(&text, &args.out.display().to_string())
        .context("the fitted table does not read back (a bug)")?;
    std::fs::write(&args.out, &text)
        .with_context(|| format!("cannot write {}", args.out.display()))?;

    if args.json {
        let value = json!({
            "out": args.out.display().to_string(),
            "items": items.len(),
            "models": models,
            "reference": reference,
            "baseline_model": baseline,
            "strategy": kind.as_str(),
            "folds": folds,
            "l2": fit.l2,
            "recommended_knob": recommended,
            "held_out": points,
            "refined": refined,
            "held_out_random_at_equal_cost": points
                .iter()
                .map(|p| random_at_cost(&singles, p.cost))
                .collect::<Vec<_>>(),
            "classes": fit.notes.keys().map(|class| class.as_str()).collect::<Vec<_>>(),
        });
        return Ok(format!("{}\n", serde_json::to_string_pretty(&value)?));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} items, models {}",
        args.outcomes.display(),
        items.len(),
        models.join(", ")
    );
    let _ = writeln!(
        out,
        "difficulty: p({reference} right), L2 {} chosen by held-out log loss; classes fitted: {}",
        fit.l2,
        fit.notes
            .keys()
            .map(|class| class.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "\nheld-out ({folds} folds, strategy {kind}), against always {baseline}:"
    );
    out.push_str(&knob_table(&points, &singles));
    let _ = writeln!(out, "{}", versus_random(&points, &singles));
    if !refined.is_empty() {
        let _ = writeln!(out, "\nrefined between the sweep's values (held out):");
        out.push_str(&knob_table(&refined, &singles));
    }
    match recommended {
        Some(knob) => {
            let _ = writeln!(
                out,
                "\nrecommended knob: {knob} (written as recommended_knob)"
            );
        }
        None => {
            let _ = writeln!(out, "\nno knob value recommended");
        }
    }
    let _ = writeln!(out, "wrote {}", args.out.display());
    Ok(out)
}

/// How many times `calibrate` halves the interval in which the recommended knob lies.
const REFINE_STEPS: usize = 3;

/// The table every outcome command prints: one row per knob value, with random routing
/// between the `singles` (always one model) at the same cost beside it.
pub(crate) fn knob_table(points: &[KnobPoint], singles: &[Point]) -> String {
    let rows: Vec<Vec<String>> = points
        .iter()
        .map(|p| {
            let mut mix: Vec<(&String, &usize)> = p.mix.iter().collect();
            mix.sort_by(|a, b| b.1.cmp(a.1));
            let total: usize = p.mix.values().sum();
            let mix = mix
                .iter()
                .take(3)
                .map(|(model, n)| {
                    format!("{model} {:.0}%", **n as f64 * 100.0 / total.max(1) as f64)
                })
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                knob_text(p.knob),
                format!("{:.3}", p.quality),
                format!("{:.1}%", p.quality_share * 100.0),
                format!("${}", format_dollars(p.cost.round_dp(4))),
                format!("{:.1}%", p.cost_share * 100.0),
                random_at_cost(singles, p.cost).map_or("-".to_owned(), |q| format!("{q:.3}")),
                mix,
            ]
        })
        .collect();
    render_table(
        &[
            "knob", "quality", "vs base", "cost", "vs base", "random", "mix",
        ],
        &rows,
        &[1, 2, 3, 4, 5],
    )
}

/// A knob value with two decimals, or four where it needs them (a refined value).
fn knob_text(knob: f64) -> String {
    let two = format!("{knob:.2}");
    if (two.parse::<f64>().unwrap_or(knob) - knob).abs() < 1e-9 {
        two
    } else {
        format!("{knob:.4}")
    }
}

/// The quality margin over random routing at equal cost that counts as beating it: less is a
/// tie (a knob value that sends every prompt to one model can only tie).
const BEATS_MARGIN: f64 = 0.001;

/// How a sweep compares with random routing at equal cost, in words: at how many knob values
/// it beats it, ties it and falls behind, naming the values that do not beat it.
pub(crate) fn versus_random(points: &[KnobPoint], singles: &[Point]) -> String {
    let margins: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| random_at_cost(singles, p.cost).map(|q| (p.knob, p.quality - q)))
        .collect();
    let knobs = |keep: &dyn Fn(f64) -> bool| -> Vec<String> {
        margins
            .iter()
            .filter(|(_, margin)| keep(*margin))
            .map(|(knob, _)| knob.to_string())
            .collect()
    };
    let ties = knobs(&|m| m.abs() < BEATS_MARGIN);
    let behind = knobs(&|m| m <= -BEATS_MARGIN);
    let listed = |knobs: &[String]| {
        if knobs.is_empty() {
            String::new()
        } else {
            format!(" ({})", knobs.join(", "))
        }
    };
    format!(
        "beats random at equal cost (by {BEATS_MARGIN} or more) at {} of {} knob values, ties it (within {BEATS_MARGIN}) at {}{}, behind at {}{}",
        knobs(&|m| m >= BEATS_MARGIN).len(),
        points.len(),
        ties.len(),
        listed(&ties),
        behind.len(),
        listed(&behind),
    )
}

/// Classifies every item, and prices each of `models` on it relative to `baseline` (models
/// dearer than the baseline left out, as the knob leaves them out below 1).
fn classify(
    strategy: &Arc<dyn Strategy>,
    items: &[OutcomeItem],
    models: &[String],
    baseline: &str,
) -> anyhow::Result<Vec<CalibrationItem>> {
    let progress = bar(items.len() as u64, "classify");
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let verdict = strategy.classify(&ChatRequest::from_prompt(item.prompt.clone()))?;
        let dollars = |model: &str| item.costs.get(model).and_then(|cost| cost.to_f64());
        let relative_prices = match dollars(baseline).filter(|cost| *cost > 0.0) {
            Some(base) => models
                .iter()
                .filter_map(|model| Some((model.clone(), dollars(model)? / base)))
                .filter(|(_, price)| *price <= 1.0 + 1e-9)
                .collect(),
            None => BTreeMap::new(),
        };
        out.push(CalibrationItem {
            prompt: item.prompt.clone(),
            class: verdict.class,
            scores: item.scores.clone(),
            class_scores: RouteClass::ALL
                .into_iter()
                .map(|class| (class, verdict.scores.get(class)))
                .collect(),
            relative_prices,
        });
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(out)
}

pub(crate) fn bar(len: u64, prefix: &'static str) -> ProgressBar {
    let progress = ProgressBar::new(len);
    progress.set_style(
        ProgressStyle::with_template("{prefix:>9} [{bar:40}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    progress.set_prefix(prefix);
    progress
}

/// The data's cheapest model in total.
fn cheapest(items: &[OutcomeItem], models: &[String]) -> String {
    let total = |model: &String| -> rust_decimal::Decimal {
        items
            .iter()
            .filter_map(|item| item.costs.get(model))
            .copied()
            .sum()
    };
    models
        .iter()
        .min_by_key(|model| total(model))
        .cloned()
        .unwrap_or_default()
}

/// `--baseline`, else the configured baseline when the data scores it, else the data's best
/// model.
pub(crate) fn pick_baseline(
    context: &Context,
    flag: Option<&str>,
    items: &[OutcomeItem],
    models: &[String],
) -> anyhow::Result<String> {
    if let Some(id) = flag {
        return Ok(context.catalog.resolve(id, context.today)?.model.id.clone());
    }
    if let Some(configured) = context.baseline()
        && models.contains(&configured)
    {
        return Ok(configured);
    }
    let quality = |model: &String| -> f64 {
        items
            .iter()
            .filter_map(|item| item.scores.get(model))
            .sum::<f64>()
    };
    models
        .iter()
        .max_by(|a, b| quality(a).total_cmp(&quality(b)))
        .cloned()
        .context("the data scores no model")
}

#[allow(clippy::too_many_arguments)]
fn header(
    args: &Args,
    items: &[OutcomeItem],
    models: &[String],
    reference: &str,
    baseline: &str,
    kind: StrategyKind,
    l2: f64,
    context: &Context,
) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for item in items {
        let source = item.id.split('/').next().unwrap_or("");
        *counts.entry(source).or_insert(0) += 1;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Expected quality per (class, difficulty bucket, model) for the cost-quality knob."
    );
    let _ = writeln!(
        out,
        "# Written by `triage calibrate --outcomes {}{} --folds {}` on {}:",
        args.outcomes.file_name().map_or_else(
            || args.outcomes.display().to_string(),
            |n| n.to_string_lossy().into_owned()
        ),
        args.map
            .as_ref()
            .and_then(|m| m.file_name())
            .map_or(String::new(), |n| format!(" --map {}", n.to_string_lossy())),
        args.folds,
        context.today
    );
    let _ = writeln!(
        out,
        "# {} graded prompts ({}), models {} (catalog ids, priced as of {});",
        items.len(),
        counts
            .iter()
            .map(|(source, n)| format!("{source} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        models.join(", "),
        context.today
    );
    let _ = writeln!(
        out,
        "# classes from the {kind} strategy; difficulty = p({reference} right), L2 {l2}; the knob"
    );
    let _ = writeln!(
        out,
        "# recommended on held-out folds against always {baseline}. Classes the data does not reach"
    );
    let _ = writeln!(
        out,
        "# keep the base table's entries and priors (cited above the priors)."
    );
    out
}
