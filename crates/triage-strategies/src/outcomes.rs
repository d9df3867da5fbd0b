//! Evaluation and calibration on per-prompt outcomes (which model got each prompt right):
//! cost and quality of a choice of models, the reference points (always one model, random
//! mixing at equal cost, best single model, oracle), RouteLLM's PGR and CPT, the Pareto
//! frontier, and the fit of a [`QualityTable`] (difficulty regression and per-bucket quality).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;
use triage_catalog::{CostError, CostOptions, Model};
use triage_types::{ChatRequest, RouteClass, Usage};

use crate::estimate_input_tokens;
use crate::quality::{Bucket, DifficultyModel, FEATURES, QualityTable, features, sigmoid};
use crate::tokens::TokenCounter;

/// One outcome item with its models' scores and costs, keyed by catalog id.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeItem {
    /// The item's id.
    pub id: String,
    /// The prompt.
    pub prompt: String,
    /// Each model's score, 0..=1.
    pub scores: BTreeMap<String, f64>,
    /// What sending the prompt to each model cost.
    pub costs: BTreeMap<String, Decimal>,
}

/// What sending `prompt` to `model` costs: `input_tokens` (else the policy's estimate for the
/// model's tokenizer) at the input price plus `output_tokens` at the output price.
pub fn item_cost(
    model: &Model,
    prompt: &str,
    input_tokens: Option<u64>,
    output_tokens: u64,
) -> Result<Decimal, CostError> {
    let input_tokens = input_tokens.unwrap_or_else(|| {
        let counter = TokenCounter::for_model(&model.provider, &model.api_name);
        estimate_input_tokens(&ChatRequest::from_prompt(prompt), counter)
    });
    let usage = Usage {
        input_tokens,
        output_tokens,
        ..Usage::default()
    };
    model.cost(&usage, CostOptions::default())
}

/// A strategy's or model's mean quality and total cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// What it is (`always gpt-4o`, `quality 0.5`, `oracle`, ...).
    pub name: String,
    /// Mean quality over the items.
    pub quality: f64,
    /// Total cost in US dollars.
    pub cost: Decimal,
}

/// The point of a choice of one model per item (`choice[i]` for `items[i]`); a model without
/// an outcome for an item scores 0 and costs nothing there.
pub fn score_choice(name: &str, items: &[OutcomeItem], choice: &[&str]) -> Point {
    let mut quality = 0.0;
    let mut cost = Decimal::ZERO;
    for (item, model) in items.iter().zip(choice) {
        quality += item.scores.get(*model).copied().unwrap_or(0.0);
        cost += item.costs.get(*model).copied().unwrap_or_default();
    }
    Point {
        name: name.to_owned(),
        quality: quality / items.len().max(1) as f64,
        cost,
    }
}

/// The models every item has an outcome and a cost for, in id order.
pub fn common_models(items: &[OutcomeItem]) -> Vec<String> {
    let Some(first) = items.first() else {
        return Vec::new();
    };
    first
        .costs
        .keys()
        .filter(|model| {
            items
                .iter()
                .all(|item| item.costs.contains_key(*model) && item.scores.contains_key(*model))
        })
        .cloned()
        .collect()
}

/// Always `model`.
pub fn always(items: &[OutcomeItem], model: &str) -> Point {
    let choice = vec![model; items.len()];
    score_choice(&format!("always {model}"), items, &choice)
}

/// The oracle: per item the cheapest of the models with the item's best score.
pub fn oracle(items: &[OutcomeItem], models: &[String]) -> Point {
    let choice: Vec<&str> = items
        .iter()
        .map(|item| {
            let best = models
                .iter()
                .map(|m| item.scores.get(m).copied().unwrap_or(0.0))
                .fold(0.0, f64::max);
            models
                .iter()
                .filter(|m| item.scores.get(*m).copied().unwrap_or(0.0) >= best)
                .min_by_key(|m| item.costs.get(*m).copied().unwrap_or_default())
                .map_or("", String::as_str)
        })
        .collect();
    score_choice("oracle", items, &choice)
}

/// The reference points: the cheapest single model (weak), the best (strong: highest quality,
/// ties to the cheaper).
pub fn weak_and_strong(singles: &[Point]) -> Option<(&Point, &Point)> {
    let weak = singles.iter().min_by_key(|p| p.cost)?;
    let strong = singles.iter().max_by(|a, b| {
        a.quality
            .total_cmp(&b.quality)
            .then_with(|| b.cost.cmp(&a.cost))
    })?;
    Some((weak, strong))
}

fn dollars(value: Decimal) -> f64 {
    value.to_f64().unwrap_or(0.0)
}

/// The best expected quality of random routing that spends `cost` in expectation: sending
/// each item to one of two single models at random (the mix whose expected cost is `cost`),
/// or to one model cheaper than `cost`; `None` when every model costs more.
pub fn random_at_cost(singles: &[Point], cost: Decimal) -> Option<f64> {
    let c = dollars(cost);
    let mut best: Option<f64> = None;
    let mut offer = |q: f64| best = Some(best.map_or(q, |b: f64| b.max(q)));
    for a in singles {
        let ca = dollars(a.cost);
        if ca <= c {
            offer(a.quality);
        }
        for b in singles {
            let cb = dollars(b.cost);
            if ca < c && c < cb {
                let share = (c - ca) / (cb - ca);
                offer(a.quality + share * (b.quality - a.quality));
            }
        }
    }
    best
}

/// Performance gap recovered: (q − q_weak) / (q_strong − q_weak).
pub fn pgr(quality: f64, weak: &Point, strong: &Point) -> f64 {
    let gap = strong.quality - weak.quality;
    if gap.abs() < 1e-12 {
        return 1.0;
    }
    (quality - weak.quality) / gap
}

/// Call-performance threshold: the least cost, as a share of the strong model's, at which the
/// curve (its points joined in cost order, starting from the weak model) recovers `target` of
/// the performance gap; `None` when it never does.
pub fn cpt(curve: &[Point], weak: &Point, strong: &Point, target: f64) -> Option<f64> {
    let mut points: Vec<(f64, f64)> = curve
        .iter()
        .map(|p| (dollars(p.cost), pgr(p.quality, weak, strong)))
        .collect();
    points.push((dollars(weak.cost), 0.0));
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let strong_cost = dollars(strong.cost);
    if strong_cost <= 0.0 {
        return None;
    }
    let mut previous: Option<(f64, f64)> = None;
    for (cost, gain) in points {
        if gain >= target {
            let at = match previous {
                Some((pc, pg)) if pg < target && gain > pg => {
                    pc + (target - pg) / (gain - pg) * (cost - pc)
                }
                _ => cost,
            };
            return Some(at / strong_cost);
        }
        if previous.is_none_or(|(_, pg)| gain > pg) {
            previous = Some((cost, gain));
        }
    }
    None
}

/// The points no other point beats on both cost (lower or equal) and quality (higher or
/// equal, one strictly), in cost order.
pub fn pareto(points: &[Point]) -> Vec<Point> {
    let mut sorted: Vec<&Point> = points.iter().collect();
    sorted.sort_by(|a, b| a.cost.cmp(&b.cost).then(b.quality.total_cmp(&a.quality)));
    let mut frontier: Vec<Point> = Vec::new();
    for point in sorted {
        if frontier
            .last()
            .is_none_or(|last| point.quality > last.quality + 1e-12)
        {
            frontier.push(point.clone());
        }
    }
    frontier
}

/// One item for calibration: its prompt, the class it was routed as and its models' scores.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationItem {
    /// The prompt.
    pub prompt: String,
    /// The class the strategy gives it.
    pub class: RouteClass,
    /// Each model's score, keyed by catalog id.
    pub scores: BTreeMap<String, f64>,
    /// The strategy's probability of every class, as the policy weighs them.
    pub class_scores: BTreeMap<RouteClass, f32>,
    /// What each model the knob may choose costs on this item relative to the baseline (models
    /// dearer than the baseline left out, as the knob below 1 leaves them out); empty: the
    /// fit keeps the base table's price weights.
    pub relative_prices: BTreeMap<String, f64>,
}

/// Options for [`fit_table`].
#[derive(Debug, Clone, PartialEq)]
pub struct FitOptions {
    /// The cheap model whose right/wrong answers the difficulty regression learns.
    pub reference: String,
    /// Folds for choosing the regression's L2 strength (k-fold by item).
    pub folds: usize,
    /// Classes with fewer items keep the base table's entries.
    pub min_class_items: usize,
    /// Pseudo-counts of the base table's value added to each (class, bucket, model) mean.
    pub prior_weight: f64,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            reference: "gpt-4o-mini".to_owned(),
            folds: 5,
            min_class_items: 30,
            prior_weight: 2.0,
        }
    }
}

/// The L2 strengths tried for the difficulty regression.
pub const L2_GRID: [f64; 6] = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0];

/// A fitted table and how it was fitted.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// The table.
    pub table: QualityTable,
    /// Per fitted class, where its numbers come from.
    pub notes: BTreeMap<RouteClass, String>,
    /// The L2 strength chosen on held-out folds.
    pub l2: f64,
    /// The held-out log loss of each L2 strength tried.
    pub held_out_log_loss: Vec<(f64, f64)>,
    /// Items used.
    pub items: usize,
}

/// Fits a quality table from outcome items: the difficulty regression on the reference
/// model's right/wrong (L2 strength chosen by k-fold log loss on held-out items), bucket
/// thresholds at the tertiles of the fitted probability, and per (class, bucket, model) the
/// mean score shrunk towards `base` (classes with too few items keep `base`'s entries).
/// `tiers` gives each model's catalog tier for the priors. `None` when no item has the
/// reference model's score.
pub fn fit_table(
    base: &QualityTable,
    items: &[CalibrationItem],
    tiers: &BTreeMap<String, u8>,
    options: &FitOptions,
) -> Option<Fit> {
    let usable: Vec<&CalibrationItem> = items
        .iter()
        .filter(|item| item.scores.contains_key(&options.reference))
        .collect();
    if usable.is_empty() {
        return None;
    }
    let x: Vec<[f64; FEATURES]> = usable.iter().map(|item| features(&item.prompt)).collect();
    let y: Vec<f64> = usable
        .iter()
        .map(|item| item.scores.get(&options.reference).copied().unwrap_or(0.0))
        .collect();
    let folds = options.folds.max(2);
    let mut held_out_log_loss = Vec::new();
    for l2 in L2_GRID {
        let mut loss = 0.0;
        for fold in 0..folds {
            let train: Vec<usize> = (0..x.len()).filter(|i| i % folds != fold).collect();
            let test: Vec<usize> = (0..x.len()).filter(|i| i % folds == fold).collect();
            let (b, w) = fit_logistic(&x, &y, &train, l2);
            for i in test {
                let p = predict(b, &w, &x[i]).clamp(1e-6, 1.0 - 1e-6);
                loss -= y[i] * p.ln() + (1.0 - y[i]) * (1.0 - p).ln();
            }
        }
        held_out_log_loss.push((l2, loss / x.len() as f64));
    }
    let l2 = held_out_log_loss
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(1.0, |(l2, _)| *l2);
    let all: Vec<usize> = (0..x.len()).collect();
    let (intercept, weights) = fit_logistic(&x, &y, &all, l2);
    let mut p: Vec<f64> = x.iter().map(|x| predict(intercept, &weights, x)).collect();
    let mut sorted = p.clone();
    sorted.sort_by(f64::total_cmp);
    let quantile = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    let difficulty = DifficultyModel {
        reference: options.reference.clone(),
        intercept,
        weights,
        easy_above: quantile(2.0 / 3.0),
        hard_below: quantile(1.0 / 3.0),
    };
    let mut table = base.clone();
    table.difficulty = difficulty;
    // Bucket every item (not only those with the reference's score) with the fitted model.
    p.clear();
    let buckets: Vec<Bucket> = items
        .iter()
        .map(|item| {
            let p = table.difficulty.p_cheap_right(&item.prompt);
            table.difficulty.bucket(p)
        })
        .collect();
    let mut notes = BTreeMap::new();
    for class in RouteClass::ALL {
        let members: Vec<usize> = (0..items.len())
            .filter(|i| items[*i].class == class)
            .collect();
        if members.len() < options.min_class_items {
            continue;
        }
        let mut models: Vec<&String> = members
            .iter()
            .flat_map(|i| items[*i].scores.keys())
            .collect();
        models.sort();
        models.dedup();
        let mut counts = [0usize; 3];
        for i in &members {
            counts[buckets[*i].index()] += 1;
        }
        for model in models {
            let tier = tiers.get(model).copied().unwrap_or(3);
            let mut triple = [0.0; 3];
            for bucket in Bucket::ALL {
                let scored: Vec<f64> = members
                    .iter()
                    .filter(|i| buckets[**i] == bucket)
                    .filter_map(|i| items[*i].scores.get(model).copied())
                    .collect();
                let prior = base.quality(class, bucket, model, tier);
                let k = options.prior_weight;
                triple[bucket.index()] =
                    round3((scored.iter().sum::<f64>() + k * prior) / (scored.len() as f64 + k));
            }
            table.set(class, model, triple);
        }
        // A class the base table already measures has fitted priors; starting from those
        // would make every refit drift from the last one, so it starts from the default.
        let base_priors = match base.classes.get(&class) {
            Some(measured) if !measured.is_empty() => base.priors,
            _ => *base.class_priors.get(&class).unwrap_or(&base.priors),
        };
        if let Some(fitted) = table.classes.get(&class) {
            let priors = fit_tier_priors(&base_priors, fitted, tiers);
            table.class_priors.insert(class, priors);
        }
        notes.insert(
            class,
            format!(
                "{class}: fitted on {} outcome items (easy {}, medium {}, hard {}), each mean shrunk towards the prior by {} pseudo-counts; its tier priors are the fitted models' means per tier",
                members.len(),
                counts[0],
                counts[1],
                counts[2],
                options.prior_weight
            ),
        );
    }
    let mut breaks = Vec::new();
    for (item, bucket) in items.iter().zip(&buckets) {
        let candidates: Vec<(f64, f64)> = item
            .relative_prices
            .iter()
            .map(|(model, price)| {
                let tier = tiers.get(model).copied().unwrap_or(3);
                let quality = table.expected_quality(&item.class_scores, *bucket, model, tier);
                (quality, *price)
            })
            .collect();
        breaks.extend(breakpoints(&candidates));
    }
    if let Some(weights) = fit_price_weights(&breaks) {
        table.price_weights = Some(weights);
    }
    Some(Fit {
        table,
        notes,
        l2,
        held_out_log_loss,
        items: usable.len(),
    })
}

/// Where the knob's choice for one item changes as the price weight falls: `candidates` are
/// (expected quality, relative price) pairs; at a very high weight the cheapest (ties: the
/// better) wins, and each breakpoint is the weight below which the next dearer candidate on
/// the upper convex hull takes over, with the expected quality that switch adds. Highest
/// weight first.
pub fn breakpoints(candidates: &[(f64, f64)]) -> Vec<Breakpoint> {
    let Some(mut current) = candidates
        .iter()
        .copied()
        .min_by(|a, b| a.1.total_cmp(&b.1).then(b.0.total_cmp(&a.0)))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    loop {
        // The steepest gain per unit of price among the dearer, better candidates.
        let next = candidates
            .iter()
            .filter(|(q, r)| *r > current.1 && *q > current.0)
            .map(|&(q, r)| ((q - current.0) / (r - current.1), (q, r)))
            .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.1.total_cmp(&a.1.1)));
        let Some((weight, candidate)) = next else {
            return out;
        };
        out.push(Breakpoint {
            weight,
            gain: candidate.0 - current.0,
        });
        current = candidate;
    }
}

/// One change of the knob's choice for one item ([`breakpoints`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Breakpoint {
    /// The price weight below which the dearer candidate wins.
    pub weight: f64,
    /// The expected quality it adds.
    pub gain: f64,
}

/// The share of the breakpoints knob 0 already passes: "the cheapest adequate model" still
/// makes the steepest trade-offs, where a dearer model buys far more quality than it costs.
pub const KNOB_ZERO_SHARE: f64 = 0.05;

/// A price-weight schedule (knob 0, 0.1, …, 1) from the breakpoints of calibration items: the
/// weight at knob k passes a share 0.05 + 0.95·k of them (a quantile of the weights on a log
/// scale), so each step of the knob moves about as many choices to a dearer model, wherever
/// the table's trade-offs lie. `None` when there are no breakpoints.
pub fn fit_price_weights(breakpoints: &[Breakpoint]) -> Option<Vec<f64>> {
    let mut logs: Vec<f64> = breakpoints
        .iter()
        .filter(|b| b.weight.is_finite() && b.weight > 0.0)
        .map(|b| b.weight.max(1e-6).ln())
        .collect();
    if logs.is_empty() {
        return None;
    }
    logs.sort_by(f64::total_cmp);
    let quantile = |q: f64| {
        let position = q.clamp(0.0, 1.0) * (logs.len() - 1) as f64;
        let low = position.floor() as usize;
        let high = (low + 1).min(logs.len() - 1);
        let t = position - low as f64;
        (logs[low] * (1.0 - t) + logs[high] * t).exp()
    };
    let steps = crate::quality::PRICE_WEIGHT_STEPS;
    Some(
        (0..steps)
            .map(|step| {
                let knob = step as f64 / (steps - 1) as f64;
                let weight = quantile(1.0 - KNOB_ZERO_SHARE - (1.0 - KNOB_ZERO_SHARE) * knob);
                // Six significant digits, so the written file reads back as it was fitted.
                let scale = 10f64.powi(5 - weight.log10().floor() as i32);
                (weight * scale).round() / scale
            })
            .collect(),
    )
}

fn predict(intercept: f64, weights: &[f64; FEATURES], x: &[f64; FEATURES]) -> f64 {
    sigmoid(intercept + x.iter().zip(weights).map(|(x, w)| x * w).sum::<f64>())
}

/// L2-regularised logistic regression by Newton's method over the rows `rows` (the
/// intercept is not penalised).
pub fn fit_logistic(
    x: &[[f64; FEATURES]],
    y: &[f64],
    rows: &[usize],
    l2: f64,
) -> (f64, [f64; FEATURES]) {
    const N: usize = FEATURES + 1;
    let mut beta = [0.0; N];
    for _ in 0..50 {
        let mut gradient = [0.0; N];
        let mut hessian = [[0.0; N]; N];
        for &i in rows {
            let mut row = [1.0; N];
            row[1..].copy_from_slice(&x[i]);
            let z: f64 = row.iter().zip(beta).map(|(a, b)| a * b).sum();
            let p = sigmoid(z);
            let w = (p * (1.0 - p)).max(1e-9);
            for a in 0..N {
                gradient[a] += (p - y[i]) * row[a];
                for b in 0..N {
                    hessian[a][b] += w * row[a] * row[b];
                }
            }
        }
        for a in 1..N {
            gradient[a] += l2 * beta[a];
            hessian[a][a] += l2;
        }
        hessian[0][0] += 1e-9;
        let Some(step) = solve(hessian, gradient) else {
            break;
        };
        let mut largest: f64 = 0.0;
        for a in 0..N {
            beta[a] -= step[a];
            largest = largest.max(step[a].abs());
        }
        if largest < 1e-10 {
            break;
        }
    }
    let mut weights = [0.0; FEATURES];
    weights.copy_from_slice(&beta[1..]);
    (beta[0], weights)
}

/// Solves `a · x = b` by Gaussian elimination with partial pivoting.
fn solve<const N: usize>(mut a: [[f64; N]; N], mut b: [f64; N]) -> Option<[f64; N]> {
    for col in 0..N {
        let pivot = (col..N).max_by(|i, j| a[*i][col].abs().total_cmp(&a[*j][col].abs()))?;
        if a[pivot][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let pivot_row = a[col];
        for row in col + 1..N {
            let factor = a[row][col] / pivot_row[col];
            for (cell, above) in a[row].iter_mut().zip(pivot_row).skip(col) {
                *cell -= factor * above;
            }
            b[row] -= factor * b[col];
        }
    }
    let mut x = [0.0; N];
    for row in (0..N).rev() {
        let sum: f64 = (row + 1..N).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - sum) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn point(name: &str, quality: f64, cost: Decimal) -> Point {
        Point {
            name: name.to_owned(),
            quality,
            cost,
        }
    }

    #[test]
    fn random_mix_pgr_and_cpt() {
        let singles = [
            point("weak", 0.5, dec!(1)),
            point("mid", 0.6, dec!(2)),
            point("strong", 0.9, dec!(5)),
        ];
        let (weak, strong) = weak_and_strong(&singles).unwrap();
        assert_eq!(
            (weak.name.as_str(), strong.name.as_str()),
            ("weak", "strong")
        );
        // Halfway between mid (2) and strong (5): 0.6 + 0.5 × 0.3; weak→strong gives 0.7.
        assert!((random_at_cost(&singles, dec!(3.5)).unwrap() - 0.75).abs() < 1e-9);
        assert_eq!(random_at_cost(&singles, dec!(0.5)), None);
        assert!((pgr(0.7, weak, strong) - 0.5).abs() < 1e-9);
        let curve = [point("a", 0.8, dec!(2)), point("b", 0.9, dec!(3))];
        // PGR(a) = 0.75 at cost 2: 50% is crossed between weak (1, 0) and a: cost 1 + 2/3.
        assert!((cpt(&curve, weak, strong, 0.5).unwrap() - (5.0 / 3.0) / 5.0).abs() < 1e-9);
        // 80%: between a (0.75) and b (1.0) at 2.2, i.e. 0.44 of strong's cost.
        assert!((cpt(&curve, weak, strong, 0.8).unwrap() - 0.44).abs() < 1e-9);
        let frontier: Vec<String> = pareto(&[singles.to_vec(), curve.to_vec()].concat())
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(frontier, ["weak", "a", "b"]);
    }

    #[test]
    fn breakpoints_follow_the_upper_hull() {
        // (quality, relative price): mid is the steepest step from cheap (0.2 for 0.2), the
        // dominated model never wins, best follows mid (0.1 for 0.7).
        let candidates = [(0.6, 0.1), (0.8, 0.3), (0.7, 0.5), (0.9, 1.0)];
        let found = breakpoints(&candidates);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!((found[0].weight - 1.0).abs() < 1e-12 && (found[0].gain - 0.2).abs() < 1e-12);
        assert!((found[1].weight - 1.0 / 7.0).abs() < 1e-12);
        assert!(breakpoints(&[(0.9, 0.1), (0.8, 0.5)]).is_empty());
    }

    #[test]
    fn price_weights_are_log_quantiles_of_the_breakpoints() {
        let at = |weight| Breakpoint { weight, gain: 0.1 };
        let schedule = fit_price_weights(&[at(100.0), at(1.0), at(10.0)]).unwrap();
        assert_eq!(schedule.len(), crate::quality::PRICE_WEIGHT_STEPS);
        // Knob 0 passes 5%: the 95% quantile of log10 weights {0, 1, 2} is 1.9.
        assert_eq!(schedule[0], 79.4328);
        // Knob 0.5 passes 52.5%: quantile 0.475, log10 0.95.
        assert_eq!(schedule[5], 8.91251);
        assert_eq!(schedule[10], 1.0);
        assert!(schedule.windows(2).all(|pair| pair[1] <= pair[0]));
        assert_eq!(fit_price_weights(&[]), None);
    }

    #[test]
    fn logistic_regression_recovers_a_separating_direction() {
        let x: Vec<[f64; FEATURES]> = (0..200)
            .map(|i| {
                let mut row = [0.0; FEATURES];
                row[0] = f64::from(i % 20) / 4.0;
                row
            })
            .collect();
        let y: Vec<f64> = x
            .iter()
            .map(|r| if r[0] < 2.5 { 1.0 } else { 0.0 })
            .collect();
        let rows: Vec<usize> = (0..x.len()).collect();
        let (b, w) = fit_logistic(&x, &y, &rows, 0.1);
        assert!(w[0] < -1.0 && b > 2.0, "{b} {w:?}");
    }
}

/// The knob values an outcome evaluation and a calibration sweep.
pub const KNOB_SWEEP: [f64; 16] = [
    0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9, 0.95, 1.0,
];

/// One knob value's outcome over a set of items, against the baseline model on the same
/// items.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KnobPoint {
    /// The knob value.
    pub knob: f64,
    /// Mean quality.
    pub quality: f64,
    /// Total cost in US dollars.
    pub cost: Decimal,
    /// Quality as a share of the baseline's.
    pub quality_share: f64,
    /// Cost as a share of the baseline's.
    pub cost_share: f64,
    /// The paired per-item quality difference from the baseline, mean and standard error.
    pub loss_vs_baseline: f64,
    /// Its standard error.
    pub loss_se: f64,
    /// How many items went to each model.
    pub mix: BTreeMap<String, usize>,
}

/// Scores a choice of one model per item as a [`KnobPoint`] against `baseline`.
pub fn knob_point(knob: f64, items: &[OutcomeItem], choice: &[&str], baseline: &str) -> KnobPoint {
    let routed = score_choice("", items, choice);
    let base = always(items, baseline);
    let differences: Vec<f64> = items
        .iter()
        .zip(choice)
        .map(|(item, model)| {
            item.scores.get(*model).copied().unwrap_or(0.0)
                - item.scores.get(baseline).copied().unwrap_or(0.0)
        })
        .collect();
    let n = differences.len().max(1) as f64;
    let mean = differences.iter().sum::<f64>() / n;
    let variance = differences
        .iter()
        .map(|d| (d - mean) * (d - mean))
        .sum::<f64>()
        / (n - 1.0).max(1.0);
    let mut mix = BTreeMap::new();
    for model in choice {
        *mix.entry((*model).to_owned()).or_insert(0) += 1;
    }
    let share = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    KnobPoint {
        knob,
        quality: routed.quality,
        cost: routed.cost,
        quality_share: share(routed.quality, base.quality),
        cost_share: share(dollars(routed.cost), dollars(base.cost)),
        loss_vs_baseline: -mean,
        loss_se: (variance / n).sqrt(),
        mix,
    }
}

/// Whether a point's quality is not measurably below the baseline's: its paired loss within
/// one standard error, and at least 98% of the baseline's quality.
pub fn no_measurable_loss(point: &KnobPoint) -> bool {
    point.loss_vs_baseline <= point.loss_se && point.quality_share >= 0.98
}

/// The knob to ship: the cheapest point whose quality is not measurably below the
/// baseline's (its paired loss within one standard error, and at least 98% of the
/// baseline's quality); the highest knob when none is.
pub fn recommended_knob(points: &[KnobPoint]) -> Option<f64> {
    points
        .iter()
        .filter(|p| no_measurable_loss(p))
        .min_by(|a, b| a.cost.cmp(&b.cost).then(b.quality.total_cmp(&a.quality)))
        .or_else(|| points.iter().max_by(|a, b| a.knob.total_cmp(&b.knob)))
        .map(|p| p.knob)
}

/// Tier priors for one class from the fitted entries of the models the data scored: per
/// tier the mean of its models' triples; a tier without data keeps `base` shifted by the
/// mean offset of the tiers with data; then made non-decreasing in tier (a stronger tier is
/// expected to be at least as good: the data's stand-ins for the newest models are older
/// than the models they stand for).
pub fn fit_tier_priors(
    base: &[[f64; 3]; 5],
    fitted: &BTreeMap<String, [f64; 3]>,
    tiers: &BTreeMap<String, u8>,
) -> [[f64; 3]; 5] {
    let mut sums = [[0.0; 3]; 5];
    let mut counts = [0usize; 5];
    for (model, triple) in fitted {
        let Some(tier) = tiers.get(model) else {
            continue;
        };
        let t = usize::from((*tier).clamp(1, 5)) - 1;
        for b in 0..3 {
            sums[t][b] += triple[b];
        }
        counts[t] += 1;
    }
    let mut offset = [0.0; 3];
    let with_data = counts.iter().filter(|c| **c > 0).count();
    if with_data > 0 {
        for b in 0..3 {
            offset[b] = (0..5)
                .filter(|t| counts[*t] > 0)
                .map(|t| sums[t][b] / counts[t] as f64 - base[t][b])
                .sum::<f64>()
                / with_data as f64;
        }
    }
    let mut out = [[0.0; 3]; 5];
    for t in 0..5 {
        for b in 0..3 {
            let value = if counts[t] > 0 {
                sums[t][b] / counts[t] as f64
            } else {
                base[t][b] + offset[b]
            };
            out[t][b] = round3(value.clamp(0.0, 1.0));
            if t > 0 {
                out[t][b] = out[t][b].max(out[t - 1][b]);
            }
        }
    }
    out
}

/// Rounds to three decimals (quality files stay readable).
pub fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}
