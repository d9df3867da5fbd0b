//! `triage eval --outcomes`: cost and quality of routing on per-prompt outcome data, for each
//! strategy across the knob, beside always-each-model, random routing at equal cost, the best
//! single model and the oracle, with RouteLLM's PGR and CPT and the Pareto frontier.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};
use triage_strategies::outcomes::{
    KNOB_SWEEP, KnobPoint, OutcomeItem, Point, always, common_models, cpt, knob_point, oracle,
    pareto, pgr, random_at_cost, weak_and_strong,
};
use triage_strategies::{Strategy, StrategyKind};

use crate::commands::calibrate::{bar, knob_table, pick_baseline, versus_random};
use crate::commands::context::Context;
use crate::commands::outcome_data::{
    ClassifyOnce, outcome_router, read_map, read_outcomes, route_items,
};
use crate::commands::output::{format_dollars, json_number};
use crate::commands::plot::{Series, cost_quality_svg};

/// What `eval --outcomes` was asked.
pub(crate) struct Request<'a> {
    pub(crate) outcomes: &'a Path,
    pub(crate) map: Option<&'a Path>,
    pub(crate) kinds: Vec<StrategyKind>,
    pub(crate) baseline: Option<&'a str>,
    pub(crate) json: bool,
    pub(crate) plot: Option<&'a PathBuf>,
}

/// One strategy's sweep.
struct Sweep {
    kind: StrategyKind,
    points: Vec<KnobPoint>,
    default_knob: f64,
    default_point: KnobPoint,
}

/// Runs the evaluation and renders it (text or JSON).
pub(crate) fn run(context: &Context, request: &Request<'_>) -> anyhow::Result<String> {
    let map = request.map.map(read_map).transpose()?;
    let items = read_outcomes(
        request.outcomes,
        map.as_ref(),
        &context.catalog,
        context.today,
    )?;
    let models = common_models(&items);
    if models.is_empty() {
        anyhow::bail!(
            "{}: no model is scored on every item",
            request.outcomes.display()
        );
    }
    let baseline = pick_baseline(context, request.baseline, &items, &models)?;
    if !models.contains(&baseline) {
        anyhow::bail!(
            "baseline {baseline} is not scored on every item of {}; it scores {}",
            request.outcomes.display(),
            models.join(", ")
        );
    }
    let table = Arc::new(context.config.quality_table()?);
    let configured_knob = context
        .config
        .routing
        .quality
        .unwrap_or_else(|| table.default_knob());
    let singles: Vec<Point> = models.iter().map(|model| always(&items, model)).collect();
    let best_oracle = oracle(&items, &models);
    let mut sweeps = Vec::new();
    for kind in &request.kinds {
        let strategy: Arc<dyn Strategy> = Arc::new(ClassifyOnce::new(context.strategy(*kind)?));
        let route = |knob: f64| -> anyhow::Result<KnobPoint> {
            let router = outcome_router(
                context,
                &strategy,
                knob,
                &models,
                &baseline,
                Arc::clone(&table),
            );
            let chosen = route_items(&router, &context.catalog, &items, context.today)?;
            let choice: Vec<&str> = chosen.iter().map(String::as_str).collect();
            Ok(knob_point(knob, &items, &choice, &baseline))
        };
        let progress = bar(KNOB_SWEEP.len() as u64 + 1, kind.as_str());
        let mut points = Vec::with_capacity(KNOB_SWEEP.len());
        for knob in KNOB_SWEEP {
            points.push(route(knob)?);
            progress.inc(1);
        }
        let default_point = route(configured_knob)?;
        progress.finish_and_clear();
        sweeps.push(Sweep {
            kind: *kind,
            points,
            default_knob: configured_knob,
            default_point,
        });
    }
    if let Some(path) = request.plot {
        let mut series = vec![Series {
            name: "single models".to_owned(),
            points: singles.clone(),
            line: false,
        }];
        for sweep in &sweeps {
            series.push(Series {
                name: format!("{} strategy, knob 0 to 1", sweep.kind),
                points: sweep.points.iter().map(as_point).collect(),
                line: true,
            });
        }
        series.push(Series {
            name: "oracle".to_owned(),
            points: vec![best_oracle.clone()],
            line: false,
        });
        let mut everything: Vec<Point> = series.iter().flat_map(|s| s.points.clone()).collect();
        everything.sort_by_key(|point| point.cost);
        let svg = cost_quality_svg(
            &format!(
                "{}: cost and quality, against always {baseline}",
                request.outcomes.file_name().map_or_else(
                    || request.outcomes.display().to_string(),
                    |name| { name.to_string_lossy().into_owned() }
                )
            ),
            &series,
            &pareto(&everything),
        );
        crate::commands::plot::write(path, &svg)?;
    }
    let (weak, strong) = weak_and_strong(&singles).ok_or_else(|| anyhow::anyhow!("no models"))?;
    let base = singles
        .iter()
        .find(|p| p.name == format!("always {baseline}"))
        .cloned()
        .unwrap_or_else(|| always(&items, &baseline));
    if request.json {
        return Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&to_json(
                request,
                &items,
                &models,
                &baseline,
                &singles,
                &best_oracle,
                weak,
                strong,
                &sweeps,
            ))?
        ));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} items; models {}; baseline {} (quality {:.3}, ${})",
        request.outcomes.display(),
        items.len(),
        models.join(", "),
        baseline,
        base.quality,
        format_dollars(base.cost.round_dp(4))
    );
    let _ = writeln!(out, "\nsingle models");
    for point in &singles {
        let _ = writeln!(
            out,
            "  {:<32} quality {:.3}  ${}",
            point.name,
            point.quality,
            format_dollars(point.cost.round_dp(4))
        );
    }
    let _ = writeln!(
        out,
        "  {:<32} quality {:.3}  ${}",
        "oracle (cheapest right model)",
        best_oracle.quality,
        format_dollars(best_oracle.cost.round_dp(4))
    );
    for sweep in &sweeps {
        let _ = writeln!(out, "\n== {} strategy", sweep.kind);
        out.push_str(&knob_table(&sweep.points, &singles));
        let p = &sweep.default_point;
        let random = random_at_cost(&singles, p.cost);
        let _ = writeln!(
            out,
            "default knob {}: quality {:.3} ({:.1}% of the baseline's) for {:.1}% of its cost; random routing at equal cost {}",
            sweep.default_knob,
            p.quality,
            p.quality_share * 100.0,
            p.cost_share * 100.0,
            random.map_or("-".to_owned(), |q| format!("{q:.3}"))
        );
        let curve: Vec<Point> = sweep.points.iter().map(as_point).collect();
        let _ = writeln!(
            out,
            "PGR at the default {:.1}% (weak {}, strong {}); CPT(50%) {}, CPT(80%) {}; {}",
            pgr(p.quality, weak, strong) * 100.0,
            weak.name.trim_start_matches("always "),
            strong.name.trim_start_matches("always "),
            share_text(cpt(&curve, weak, strong, 0.5)),
            share_text(cpt(&curve, weak, strong, 0.8)),
            versus_random(&sweep.points, &singles),
        );
    }
    if let Some(path) = request.plot {
        let _ = writeln!(out, "\nwrote {}", path.display());
    }
    Ok(out)
}

fn as_point(point: &KnobPoint) -> Point {
    Point {
        name: format!("knob {}", point.knob),
        quality: point.quality,
        cost: point.cost,
    }
}

fn share_text(share: Option<f64>) -> String {
    share.map_or("never".to_owned(), |s| {
        format!("{:.1}% of the strong model's cost", s * 100.0)
    })
}

fn dollars(value: Decimal) -> f64 {
    value.to_f64().unwrap_or(0.0)
}

#[allow(clippy::too_many_arguments)]
fn to_json(
    request: &Request<'_>,
    items: &[OutcomeItem],
    models: &[String],
    baseline: &str,
    singles: &[Point],
    best_oracle: &Point,
    weak: &Point,
    strong: &Point,
    sweeps: &[Sweep],
) -> Value {
    let point = |p: &Point| {
        json!({
            "name": p.name,
            "quality": p.quality,
            "cost_usd": json_number(p.cost),
        })
    };
    let knob = |p: &KnobPoint| {
        json!({
            "knob": p.knob,
            "quality": p.quality,
            "cost_usd": json_number(p.cost),
            "quality_share": p.quality_share,
            "cost_share": p.cost_share,
            "loss_vs_baseline": p.loss_vs_baseline,
            "loss_se": p.loss_se,
            "random_at_equal_cost": random_at_cost(singles, p.cost),
            "pgr": pgr(p.quality, weak, strong),
            "mix": p.mix,
        })
    };
    let mut strategies = serde_json::Map::new();
    for sweep in sweeps {
        let curve: Vec<Point> = sweep.points.iter().map(as_point).collect();
        strategies.insert(
            sweep.kind.as_str().to_owned(),
            json!({
                "default_knob": sweep.default_knob,
                "default": knob(&sweep.default_point),
                "sweep": sweep.points.iter().map(knob).collect::<Vec<_>>(),
                "cpt50": cpt(&curve, weak, strong, 0.5),
                "cpt80": cpt(&curve, weak, strong, 0.8),
            }),
        );
    }
    let mut everything: Vec<Point> = singles.to_vec();
    everything.push(best_oracle.clone());
    for sweep in sweeps {
        everything.extend(sweep.points.iter().map(|p| Point {
            name: format!("{} knob {}", sweep.kind, p.knob),
            quality: p.quality,
            cost: p.cost,
        }));
    }
    let frontier: Vec<Value> = pareto(&everything).iter().map(point).collect();
    let base_cost = singles
        .iter()
        .find(|p| p.name == format!("always {baseline}"))
        .map_or(0.0, |p| dollars(p.cost));
    json!({
        "outcomes": request.outcomes.display().to_string(),
        "items": items.len(),
        "models": models,
        "baseline_model": baseline,
        "baseline_cost_usd": base_cost,
        "singles": singles.iter().map(point).collect::<Vec<_>>(),
        "oracle": point(best_oracle),
        "weak": weak.name.trim_start_matches("always "),
        "strong": strong.name.trim_start_matches("always "),
        "strategies": strategies,
        "pareto": frontier,
    })
}
