//! Evaluation metrics over a labelled set: accuracy, macro-F1, per-class precision and recall,
//! the confusion matrix, under- and over-routing by price, routed cost against a baseline
//! model, latency percentiles, and accuracy by data source and by script (so a regression on
//! one kind of traffic shows). Pure functions of predictions and a price table.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;
use triage_types::RouteClass;

use crate::policy::ASSUMED_OUTPUT_TOKENS;

/// One classified, labelled prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prediction {
    /// The labelled class.
    pub label: RouteClass,
    /// The strategy's class.
    pub predicted: RouteClass,
    /// How long classification took, in nanoseconds.
    pub latency_ns: u64,
    /// The prompt's estimated input tokens.
    pub input_tokens: u64,
    /// The model the plan sent it to (under the cost-quality knob it need not be the
    /// predicted class's primary); `None`: the predicted class's primary.
    pub routed: Option<PricedModel>,
    /// The hidden reasoning tokens the plan asks of the routed model (its estimate's prior,
    /// billed as output), priced apart in [`EvalReport::reasoning_cost_usd`].
    pub reasoning_tokens: u64,
    /// Where the prompt came from (the data's `source` field), when known.
    pub source: Option<String>,
    /// The prompt's writing system ([`script_of`]).
    pub script: &'static str,
}

/// One slice of the data (a source, a script): how the strategy did on it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct GroupMetrics {
    /// Prompts in the slice.
    pub count: u64,
    /// Share predicted correctly.
    pub accuracy: f64,
    /// Share sent to a model cheaper than the labelled class's.
    pub under_routing_rate: f64,
    /// Prompts labelled `critical` (high stakes: medical, legal, financial, safety).
    pub critical: u64,
    /// Of those, the share sent to a model of the cheapest tier the class routes offer:
    /// high-stakes questions on the cheapest tier.
    pub critical_to_cheapest_rate: f64,
    /// Of those, the share sent to a model cheaper than the critical class's.
    pub critical_under_routing_rate: f64,
}

#[derive(Debug, Default)]
struct GroupCounts {
    count: u64,
    correct: u64,
    under: u64,
    critical: u64,
    critical_cheapest: u64,
    critical_under: u64,
}

impl GroupCounts {
    fn metrics(&self) -> GroupMetrics {
        GroupMetrics {
            count: self.count,
            accuracy: ratio(self.correct, self.count),
            under_routing_rate: ratio(self.under, self.count),
            critical: self.critical,
            critical_to_cheapest_rate: ratio(self.critical_cheapest, self.critical),
            critical_under_routing_rate: ratio(self.critical_under, self.critical),
        }
    }
}

/// The writing system most of a text's letters are in: `han` (Chinese characters), `latin`,
/// `other` (Cyrillic, Arabic, Devanagari, kana, Hangul, …), or `none` without letters. A proxy
/// for language that needs no model.
pub fn script_of(text: &str) -> &'static str {
    let (mut han, mut latin, mut other) = (0_usize, 0_usize, 0_usize);
    for c in text.chars().filter(|c| c.is_alphabetic()) {
        match c {
            '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}' => han += 1,
            _ if (c as u32) < 0x0250 || ('\u{1E00}'..='\u{1EFF}').contains(&c) => latin += 1,
            _ => other += 1,
        }
    }
    if han + latin + other == 0 {
        "none"
    } else if han >= latin && han >= other {
        "han"
    } else if latin >= other {
        "latin"
    } else {
        "other"
    }
}

/// A model's prices, per million tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PricedModel {
    /// The model's id.
    pub id: String,
    /// Input price.
    pub input: Decimal,
    /// Output price.
    pub output: Decimal,
    /// Its capability tier (1 cheapest … 5).
    pub tier: u8,
}

impl PricedModel {
    /// (3 × input + output) / 4.
    pub fn blended(&self) -> Decimal {
        (Decimal::from(3) * self.input + self.output) / Decimal::from(4)
    }

    /// The cost of one call, in dollars.
    pub fn cost(&self, input_tokens: u64, output_tokens: u64) -> Decimal {
        (Decimal::from(input_tokens) * self.input + Decimal::from(output_tokens) * self.output)
            / Decimal::from(1_000_000)
    }
}

/// What each class's default-policy primary model and the baseline model cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceTable {
    /// Per class, indexed by [`RouteClass::index`].
    pub classes: [PricedModel; 6],
    /// The single model everything would go to without routing.
    pub baseline: PricedModel,
}

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClassMetrics {
    /// Correct among those predicted as this class (0 when none were).
    pub precision: f64,
    /// Correct among those labelled this class (0 when none were).
    pub recall: f64,
    /// Harmonic mean of the two.
    pub f1: f64,
    /// How many were labelled this class.
    pub support: u64,
    /// How many were predicted as this class.
    pub predicted: u64,
}

/// Rows are labels, columns predictions, both in [`RouteClass::ALL`] order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Confusion {
    /// The class order of rows and columns.
    pub classes: [RouteClass; 6],
    /// `matrix[label][predicted]`.
    pub matrix: [[u64; 6]; 6],
}

/// Everything measured for one strategy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// How many prompts.
    pub count: u64,
    /// Share predicted correctly.
    pub accuracy: f64,
    /// Unweighted mean of per-class F1 over all six classes.
    pub macro_f1: f64,
    /// Per class.
    pub per_class: BTreeMap<RouteClass, ClassMetrics>,
    /// The confusion matrix.
    pub confusion: Confusion,
    /// Share sent to a model with a lower blended price than the labelled class's primary.
    pub under_routing_rate: f64,
    /// Share sent to a model with a higher blended price than the labelled class's primary.
    pub over_routing_rate: f64,
    /// Cost of sending each prompt to the model its plan chose, in dollars.
    pub cost_usd: Decimal,
    /// What the reasoning the plans ask of the routed models adds to `cost_usd` by the
    /// estimate's prior, in dollars. Apart because `cost_usd` prices answers only, as the
    /// cost-quality knob does.
    pub reasoning_cost_usd: Decimal,
    /// Cost of sending everything to the baseline model, in dollars.
    pub baseline_cost_usd: Decimal,
    /// The baseline model's id.
    pub baseline_model: String,
    /// Cost of sending each prompt to its labelled class's model (perfect routing), in dollars.
    pub oracle_cost_usd: Decimal,
    /// Median classification latency, in microseconds.
    pub latency_p50_us: f64,
    /// 99th-percentile classification latency, in microseconds.
    pub latency_p99_us: f64,
    /// Mean classification latency, in microseconds.
    pub latency_mean_us: f64,
    /// By data source (prompts without one are under `unknown`).
    pub by_source: BTreeMap<String, GroupMetrics>,
    /// By script ([`script_of`]).
    pub by_script: BTreeMap<String, GroupMetrics>,
}

/// Measures a strategy's predictions. Output tokens per prompt are assumed from its labelled
/// class ([`ASSUMED_OUTPUT_TOKENS`]): the answer's length depends on the request, not on the
/// model it is routed to, so routed, oracle and baseline costs use the same figures.
pub fn evaluate(predictions: &[Prediction], prices: &PriceTable) -> EvalReport {
    let mut matrix = [[0_u64; 6]; 6];
    let mut under = 0_u64;
    let mut over = 0_u64;
    let mut cost = Decimal::ZERO;
    let mut reasoning_cost = Decimal::ZERO;
    let mut baseline_cost = Decimal::ZERO;
    let mut oracle_cost = Decimal::ZERO;
    let mut by_source: BTreeMap<String, GroupCounts> = BTreeMap::new();
    let mut by_script: BTreeMap<String, GroupCounts> = BTreeMap::new();
    // The cheapest tier the routes offer: that of the cheapest class's model.
    let cheapest_tier = prices
        .classes
        .iter()
        .map(|class| class.tier)
        .min()
        .unwrap_or_default();
    for prediction in predictions {
        let label = prediction.label.index();
        let predicted = prediction.predicted.index();
        matrix[label][predicted] += 1;
        let routed = prediction
            .routed
            .as_ref()
            .unwrap_or(&prices.classes[predicted]);
        let label_price = prices.classes[label].blended();
        let routed_price = routed.blended();
        if routed_price < label_price {
            under += 1;
        } else if routed_price > label_price {
            over += 1;
        }
        let source = prediction.source.as_deref().unwrap_or("unknown");
        for group in [
            by_source.entry(source.to_owned()).or_default(),
            by_script.entry(prediction.script.to_owned()).or_default(),
        ] {
            group.count += 1;
            group.correct += u64::from(label == predicted);
            group.under += u64::from(routed_price < label_price);
            if prediction.label == RouteClass::Critical {
                group.critical += 1;
                group.critical_cheapest += u64::from(routed.tier <= cheapest_tier);
                group.critical_under += u64::from(routed_price < label_price);
            }
        }
        let output = ASSUMED_OUTPUT_TOKENS[label];
        cost += routed.cost(prediction.input_tokens, output);
        reasoning_cost += routed.cost(0, prediction.reasoning_tokens);
        oracle_cost += prices.classes[label].cost(prediction.input_tokens, output);
        baseline_cost += prices.baseline.cost(prediction.input_tokens, output);
    }
    let count = predictions.len() as u64;
    let correct: u64 = (0..6).map(|i| matrix[i][i]).sum();
    let mut per_class = BTreeMap::new();
    for class in RouteClass::ALL {
        let i = class.index();
        let support: u64 = matrix[i].iter().sum();
        let predicted: u64 = (0..6).map(|row| matrix[row][i]).sum();
        let hits = matrix[i][i];
        let precision = ratio(hits, predicted);
        let recall = ratio(hits, support);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        per_class.insert(
            class,
            ClassMetrics {
                precision,
                recall,
                f1,
                support,
                predicted,
            },
        );
    }
    let macro_f1 = per_class.values().map(|metrics| metrics.f1).sum::<f64>() / 6.0;
    let mut latencies: Vec<u64> = predictions.iter().map(|p| p.latency_ns).collect();
    latencies.sort_unstable();
    let mean = if latencies.is_empty() {
        0.0
    } else {
        latencies.iter().map(|&ns| ns as f64).sum::<f64>() / latencies.len() as f64 / 1000.0
    };
    EvalReport {
        count,
        accuracy: ratio(correct, count),
        macro_f1,
        per_class,
        confusion: Confusion {
            classes: RouteClass::ALL,
            matrix,
        },
        under_routing_rate: ratio(under, count),
        over_routing_rate: ratio(over, count),
        cost_usd: cost.normalize(),
        reasoning_cost_usd: reasoning_cost.normalize(),
        baseline_cost_usd: baseline_cost.normalize(),
        baseline_model: prices.baseline.id.clone(),
        oracle_cost_usd: oracle_cost.normalize(),
        latency_p50_us: percentile_us(&latencies, 50),
        latency_p99_us: percentile_us(&latencies, 99),
        latency_mean_us: mean,
        by_source: groups(by_source),
        by_script: groups(by_script),
    }
}

fn groups(counts: BTreeMap<String, GroupCounts>) -> BTreeMap<String, GroupMetrics> {
    counts
        .into_iter()
        .map(|(name, counts)| (name, counts.metrics()))
        .collect()
}

/// The majority-class baseline's accuracy: the share of the most common label.
pub fn majority_accuracy(labels: &[RouteClass]) -> (Option<RouteClass>, f64) {
    let mut counts = [0_u64; 6];
    for label in labels {
        counts[label.index()] += 1;
    }
    let best = RouteClass::ALL
        .into_iter()
        .max_by_key(|class| (counts[class.index()], std::cmp::Reverse(class.index())));
    match best {
        Some(class) if !labels.is_empty() => (
            Some(class),
            ratio(counts[class.index()], labels.len() as u64),
        ),
        _ => (None, 0.0),
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The nearest-rank percentile of sorted nanoseconds, in microseconds.
pub fn percentile_us(sorted_ns: &[u64], percent: u64) -> f64 {
    if sorted_ns.is_empty() {
        return 0.0;
    }
    let rank = (percent * sorted_ns.len() as u64).div_ceil(100).max(1);
    let index = usize::try_from(rank - 1)
        .unwrap_or(usize::MAX)
        .min(sorted_ns.len() - 1);
    sorted_ns[index] as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn priced(id: &str, input: Decimal, output: Decimal, tier: u8) -> PricedModel {
        PricedModel {
            id: id.into(),
            input,
            output,
            tier,
        }
    }

    fn prices() -> PriceTable {
        let cheap = priced("cheap", dec!(0.1), dec!(0.4), 1);
        let strong = priced("strong", dec!(2.5), dec!(10), 4);
        PriceTable {
            classes: [
                cheap.clone(),
                cheap.clone(),
                cheap,
                strong.clone(),
                strong.clone(),
                strong.clone(),
            ],
            baseline: strong,
        }
    }

    fn p(label: RouteClass, predicted: RouteClass, latency_us: u64) -> Prediction {
        Prediction {
            label,
            predicted,
            latency_ns: latency_us * 1000,
            input_tokens: 1000,
            routed: None,
            reasoning_tokens: 0,
            source: None,
            script: "latin",
        }
    }

    /// The reasoning a plan asks of its routed model is priced apart, at that model's output
    /// price, and left out of the answer-only cost.
    #[test]
    fn reasoning_is_priced_apart() {
        let prices = prices();
        let routed = prices.classes[RouteClass::Reason.index()].clone();
        let prediction = |reasoning_tokens| Prediction {
            routed: Some(routed.clone()),
            reasoning_tokens,
            ..p(RouteClass::Reason, RouteClass::Reason, 1)
        };
        let without = evaluate(&[prediction(0)], &prices);
        let with = evaluate(&[prediction(2_000)], &prices);
        assert_eq!(without.reasoning_cost_usd, Decimal::ZERO);
        assert_eq!(with.cost_usd, without.cost_usd);
        assert_eq!(with.reasoning_cost_usd, routed.cost(0, 2_000));
        assert!(with.reasoning_cost_usd > Decimal::ZERO);
    }

    /// Per source and per script: accuracy, under-routing, and the high-stakes share on the
    /// cheapest tier, by hand.
    #[test]
    fn slices_by_source_and_script() {
        use RouteClass::*;
        let from = |source: &str, script: &'static str, prediction: Prediction| Prediction {
            source: Some(source.to_owned()),
            script,
            ..prediction
        };
        let predictions = [
            from("medical", "latin", p(Critical, Faq, 1)),
            from("medical", "han", p(Critical, Critical, 1)),
            from("medical", "han", p(Faq, Faq, 1)),
            from("chat", "latin", p(Analyze, Analyze, 1)),
            p(Faq, Faq, 1),
        ];
        let report = evaluate(&predictions, &prices());
        let medical = report.by_source["medical"];
        assert_eq!(medical.count, 3);
        assert!((medical.accuracy - 2.0 / 3.0).abs() < 1e-9);
        assert!((medical.under_routing_rate - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(medical.critical, 2);
        assert!((medical.critical_to_cheapest_rate - 0.5).abs() < 1e-9);
        assert!((medical.critical_under_routing_rate - 0.5).abs() < 1e-9);
        assert_eq!(report.by_source["unknown"].count, 1);
        assert_eq!(report.by_source["chat"].critical_to_cheapest_rate, 0.0);
        let han = report.by_script["han"];
        assert_eq!((han.count, han.accuracy), (2, 1.0));
        assert_eq!(report.by_script["latin"].count, 3);
    }

    #[test]
    fn scripts_by_their_letters() {
        for (text, script) in [
            ("What is the capital of France?", "latin"),
            ("Ça coûte combien ? Größe, naïve", "latin"),
            ("布洛芬和华法林可以一起吃吗？", "han"),
            ("请把这段话翻译成 English", "han"),
            ("Как дела?", "other"),
            ("こんにちは", "other"),
            ("1234 + 5678 = ?", "none"),
        ] {
            assert_eq!(script_of(text), script, "{text}");
        }
    }

    #[test]
    fn metrics_on_a_small_set() {
        use RouteClass::*;
        let predictions = [
            p(Faq, Faq, 10),
            p(Faq, Analyze, 20),
            p(Analyze, Analyze, 30),
            p(Analyze, Faq, 40),
            p(Critical, Critical, 1000),
        ];
        let report = evaluate(&predictions, &prices());
        assert_eq!(report.count, 5);
        assert!((report.accuracy - 0.6).abs() < 1e-9);
        assert!((report.under_routing_rate - 0.2).abs() < 1e-9);
        assert!((report.over_routing_rate - 0.2).abs() < 1e-9);
        assert_eq!(report.confusion.matrix[Faq.index()][Analyze.index()], 1);
        let faq = report.per_class[&Faq];
        assert!((faq.precision - 0.5).abs() < 1e-9 && (faq.recall - 0.5).abs() < 1e-9);
        // F1: faq 0.5, analyze 0.5, critical 1, three classes 0.
        assert!((report.macro_f1 - 2.0 / 6.0).abs() < 1e-9);
        assert_eq!(report.latency_p50_us, 30.0);
        assert_eq!(report.latency_p99_us, 1000.0);
        // Baseline: 5 × (1000 × 2.5 + output × 10) / 1e6; outputs 150, 150, 700, 700, 800.
        assert_eq!(report.baseline_cost_usd, dec!(0.0375));
        assert!(report.cost_usd < report.baseline_cost_usd);
        assert!(report.oracle_cost_usd <= report.baseline_cost_usd);
    }

    #[test]
    fn empty_sets_do_not_divide_by_zero() {
        let report = evaluate(&[], &prices());
        assert_eq!(report.accuracy, 0.0);
        assert_eq!(report.latency_p99_us, 0.0);
        assert_eq!(majority_accuracy(&[]), (None, 0.0));
    }

    #[test]
    fn majority_picks_the_most_common_label() {
        use RouteClass::*;
        assert_eq!(
            majority_accuracy(&[Faq, Analyze, Analyze, Reason]),
            (Some(Analyze), 0.5)
        );
    }
}
