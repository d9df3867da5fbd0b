//! Expected quality as data: a table of expected quality per (class, difficulty bucket,
//! model), tier priors for what the table does not name, the per-prompt difficulty signal (a
//! logistic regression over cheap text features) and the cost-quality knob's choice.
//!
//! The shipped table is `src/quality.toml` (embedded); `triage calibrate` writes a file in the
//! same format from a user's outcome data, and `triage.toml` can point at it and override
//! single entries.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use triage_types::RouteClass;

use crate::StrategyError;

/// The shipped quality table, as text.
pub const EMBEDDED_QUALITY: &str = include_str!("quality.toml");

/// Where the shipped table comes from, for error messages.
pub const EMBEDDED_QUALITY_ORIGIN: &str = "embedded quality.toml";

/// Where the hand-written tier priors come from; every quality file carries it above them.
pub const PRIORS_PROVENANCE: &str = "\
# Tier priors [easy, medium, hard] for (class, model) pairs not listed under [classes.*].
# Hand-written priors follow published figures for a tier-2 and a tier-4 model of one vendor
# (OpenAI, \"GPT-4o mini: advancing cost-efficient intelligence\", 2024-07-18, GPT-4o mini vs
# GPT-4o): DROP 79.7 vs 83.4 (reading, extraction: extract, transform), MMLU 82.0 vs 88.7
# (knowledge questions: faq), GPQA 40.2 vs 53.6 (expert questions: critical), MATH 70.2 vs
# 76.6 and HumanEval 87.2 vs 90.2 (default). The gap widens with difficulty. A class fitted by
# `triage calibrate` gets its priors from the fitted models' means per tier instead.
";

/// The default cost-quality knob, chosen on held-out folds of the outcome data (README,
/// "Cost-quality routing").
pub const DEFAULT_QUALITY_KNOB: f64 = 0.5;

/// The price weight at knob 0 (expected quality given up per baseline-price of cost saved):
/// a dearer model is worth it only when it buys this much quality per baseline-price.
pub const PRICE_WEIGHT_AT_ZERO: f64 = 4.0;

/// The price weight just below knob 1; the knob moves it geometrically from
/// [`PRICE_WEIGHT_AT_ZERO`], and at 1 it is 0.
pub const PRICE_WEIGHT_NEAR_ONE: f64 = 0.01;

/// How many steps a fitted price-weight schedule has: knob 0, 0.1, …, 1.
pub const PRICE_WEIGHT_STEPS: usize = 11;

/// The names of the difficulty features, in weight order.
pub const FEATURE_NAMES: [&str; FEATURES] = [
    "length",
    "digits",
    "numbers",
    "math",
    "latex",
    "code",
    "steps",
    "sentences",
];

/// How many difficulty features there are.
pub const FEATURES: usize = 8;

/// A difficulty bucket: how likely the cheap reference model is to get the prompt right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// The cheap model very likely gets it right.
    Easy,
    /// In between.
    Medium,
    /// The cheap model likely gets it wrong.
    Hard,
}

impl Bucket {
    /// The three buckets, in table order.
    pub const ALL: [Bucket; 3] = [Bucket::Easy, Bucket::Medium, Bucket::Hard];

    /// The bucket's position in a `[easy, medium, hard]` triple.
    pub fn index(self) -> usize {
        match self {
            Bucket::Easy => 0,
            Bucket::Medium => 1,
            Bucket::Hard => 2,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Easy => "easy",
            Bucket::Medium => "medium",
            Bucket::Hard => "hard",
        }
    }
}

/// Words that mark code in a prompt.
const CODE_WORDS: [&str; 14] = [
    "def ", "return", "assert", "==", "()", "lambda", "for ", "while ", "print", "```", "[", "];",
    "import ", "len(",
];

/// Words that mark a multi-step word problem.
const STEP_WORDS: [&str; 16] = [
    " then",
    " each",
    "total",
    " after",
    "remaining",
    "percent",
    " times",
    "twice",
    " half",
    " per ",
    " every",
    " more than",
    " less than",
    " left",
    " how many",
    " how much",
];

/// One automaton over both word lists (code words first), matched case-insensitively in a
/// single pass: the features cost one scan of the text, not one per word.
static WORDS: std::sync::LazyLock<Option<aho_corasick::AhoCorasick>> =
    std::sync::LazyLock::new(|| {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(CODE_WORDS.iter().chain(STEP_WORDS.iter()))
            .ok()
    });

/// The cheap text features of a prompt, each `ln(1 + count)`: characters, digits, numbers,
/// math symbols, LaTeX characters, code words, step words, sentence ends.
pub fn features(text: &str) -> [f64; FEATURES] {
    let (mut chars, mut digits, mut numbers, mut math, mut latex, mut sentences) =
        (0usize, 0usize, 0usize, 0usize, 0usize, 0usize);
    let mut in_number = false;
    for c in text.chars() {
        chars += 1;
        if c.is_ascii_digit() {
            digits += 1;
            if !in_number {
                numbers += 1;
                in_number = true;
            }
        } else if c != '.' {
            in_number = false;
        }
        if "=+*/^<>%√π∑∫≤≥×÷".contains(c) {
            math += 1;
        }
        if "\\$_{}".contains(c) {
            latex += 1;
        }
        if ".?!".contains(c) {
            sentences += 1;
        }
    }
    let (mut code, mut steps) = (0usize, 0usize);
    if let Some(words) = WORDS.as_ref() {
        for found in words.find_overlapping_iter(text) {
            if found.pattern().as_usize() < CODE_WORDS.len() {
                code += 1;
            } else {
                steps += 1;
            }
        }
    }
    [chars, digits, numbers, math, latex, code, steps, sentences].map(|n| (1.0 + n as f64).ln())
}

/// The logistic regression behind the difficulty signal: the probability that the cheap
/// reference model answers a prompt correctly, from [`features`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DifficultyModel {
    /// The outcome model whose right/wrong answers it was fitted on.
    pub reference: String,
    /// The intercept.
    pub intercept: f64,
    /// One weight per feature, in [`FEATURE_NAMES`] order.
    pub weights: [f64; FEATURES],
    /// At or above this probability a prompt is easy.
    pub easy_above: f64,
    /// Below this probability a prompt is hard.
    pub hard_below: f64,
}

impl DifficultyModel {
    /// The probability that the cheap reference model gets `text` right.
    pub fn p_cheap_right(&self, text: &str) -> f64 {
        let x = features(text);
        let z = self.intercept + x.iter().zip(self.weights).map(|(x, w)| x * w).sum::<f64>();
        sigmoid(z)
    }

    /// The bucket of a probability.
    pub fn bucket(&self, p_cheap_right: f64) -> Bucket {
        if p_cheap_right >= self.easy_above {
            Bucket::Easy
        } else if p_cheap_right < self.hard_below {
            Bucket::Hard
        } else {
            Bucket::Medium
        }
    }
}

/// The logistic function.
pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Expected quality `[easy, medium, hard]` of a model of tier 1..=5 (index 0..=4).
pub type TierPriors = [[f64; 3]; 5];

/// Expected quality per (class, bucket, model), tier priors and the difficulty model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityTable {
    /// The knob value calibration recommends for this table (the default of `[routing]
    /// quality`): the largest saving without a measurable quality loss on held-out folds.
    pub recommended_knob: Option<f64>,
    /// The price weight at knob 0, 0.1, …, 1 ([`PRICE_WEIGHT_STEPS`] values, non-increasing),
    /// fitted so that each step takes an equal share of the trade-offs the table sees on its
    /// calibration data ([`crate::outcomes::fit_price_weights`]); `None`: the fixed
    /// [`default_price_weight`]. At knob 1 the weight is 0 whatever this says.
    pub price_weights: Option<Vec<f64>>,
    /// The difficulty signal.
    pub difficulty: DifficultyModel,
    /// Expected quality `[easy, medium, hard]` of a model of tier 1..=5 (index 0..=4) that the
    /// table does not name for a class: `[priors.default]`.
    pub priors: TierPriors,
    /// Per-class tier priors (`[priors.<class>]`), where a class's tiers differ from the
    /// default (cheap models are nearly as good at FAQ as frontier ones, far worse at proofs).
    pub class_priors: BTreeMap<RouteClass, TierPriors>,
    /// Measured (or configured) expected quality, per class and catalog id.
    pub classes: BTreeMap<RouteClass, BTreeMap<String, [f64; 3]>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    #[serde(default)]
    recommended_knob: Option<f64>,
    #[serde(default)]
    price_weights: Option<Vec<f64>>,
    difficulty: RawDifficulty,
    /// `default` and optionally one entry per class.
    priors: BTreeMap<String, RawPriors>,
    #[serde(default)]
    classes: BTreeMap<String, BTreeMap<String, Vec<f64>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDifficulty {
    reference: String,
    intercept: f64,
    easy_above: f64,
    hard_below: f64,
    weights: BTreeMap<String, f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPriors {
    tier1: Vec<f64>,
    tier2: Vec<f64>,
    tier3: Vec<f64>,
    tier4: Vec<f64>,
    tier5: Vec<f64>,
}

/// A `[easy, medium, hard]` triple of qualities in 0..=1, or why not.
pub fn quality_triple(values: &[f64]) -> Result<[f64; 3], String> {
    let triple: [f64; 3] = values
        .try_into()
        .map_err(|_| format!("expected [easy, medium, hard], got {} values", values.len()))?;
    if let Some(bad) = triple.iter().find(|q| !(0.0..=1.0).contains(*q)) {
        return Err(format!("{bad} is not between 0 and 1"));
    }
    Ok(triple)
}

impl QualityTable {
    /// The shipped table.
    pub fn embedded() -> Result<QualityTable, StrategyError> {
        QualityTable::parse(EMBEDDED_QUALITY, EMBEDDED_QUALITY_ORIGIN)
    }

    /// The price weight at `knob`: 0 at 1 (quality whatever it costs); below, the fitted
    /// schedule interpolated geometrically between its steps, else [`default_price_weight`].
    pub fn price_weight(&self, knob: f64) -> f64 {
        if knob >= 1.0 {
            return 0.0;
        }
        let Some(weights) = &self.price_weights else {
            return default_price_weight(knob);
        };
        let position = knob.max(0.0) * (PRICE_WEIGHT_STEPS - 1) as f64;
        let low = (position.floor() as usize).min(PRICE_WEIGHT_STEPS - 2);
        let t = position - low as f64;
        weights[low].powf(1.0 - t) * weights[low + 1].powf(t)
    }

    /// The knob to use when `[routing] quality` is unset: the table's recommendation, else
    /// [`DEFAULT_QUALITY_KNOB`].
    pub fn default_knob(&self) -> f64 {
        self.recommended_knob.unwrap_or(DEFAULT_QUALITY_KNOB)
    }

    /// Parses a quality file (the format `triage calibrate` writes).
    pub fn parse(text: &str, origin: &str) -> Result<QualityTable, StrategyError> {
        let bad = |message: String| StrategyError::QualityTable {
            origin: origin.to_owned(),
            message,
        };
        let raw: RawTable = toml::from_str(text).map_err(|error| bad(error.to_string()))?;
        let mut weights = [0.0; FEATURES];
        for (name, weight) in &raw.difficulty.weights {
            let Some(index) = FEATURE_NAMES.iter().position(|known| known == name) else {
                return Err(bad(format!(
                    "difficulty.weights.{name}: unknown feature (known: {})",
                    FEATURE_NAMES.join(", ")
                )));
            };
            weights[index] = *weight;
        }
        let d = &raw.difficulty;
        if !(0.0..=1.0).contains(&d.hard_below)
            || !(0.0..=1.0).contains(&d.easy_above)
            || d.hard_below > d.easy_above
        {
            return Err(bad(format!(
                "difficulty: need 0 <= hard_below ({}) <= easy_above ({}) <= 1",
                d.hard_below, d.easy_above
            )));
        }
        let tiers = |name: &str, raw: &RawPriors| -> Result<TierPriors, StrategyError> {
            let prior = |key: &str, values: &[f64]| {
                quality_triple(values)
                    .map_err(|message| bad(format!("priors.{name}.{key}: {message}")))
            };
            Ok([
                prior("tier1", &raw.tier1)?,
                prior("tier2", &raw.tier2)?,
                prior("tier3", &raw.tier3)?,
                prior("tier4", &raw.tier4)?,
                prior("tier5", &raw.tier5)?,
            ])
        };
        let mut priors = None;
        let mut class_priors = BTreeMap::new();
        for (name, raw) in &raw.priors {
            if name == "default" {
                priors = Some(tiers(name, raw)?);
                continue;
            }
            let class: RouteClass =
                name.parse()
                    .map_err(|error: triage_types::ParseClassError| {
                        bad(format!("priors.{name}: {error}"))
                    })?;
            class_priors.insert(class, tiers(name, raw)?);
        }
        let Some(priors) = priors else {
            return Err(bad("[priors.default] is missing".to_owned()));
        };
        let mut classes = BTreeMap::new();
        for (class, models) in raw.classes {
            let parsed: RouteClass =
                class
                    .parse()
                    .map_err(|error: triage_types::ParseClassError| {
                        bad(format!("classes.{class}: {error}"))
                    })?;
            let mut table = BTreeMap::new();
            for (model, values) in models {
                let triple = quality_triple(&values)
                    .map_err(|message| bad(format!("classes.{class}.{model}: {message}")))?;
                table.insert(model, triple);
            }
            classes.insert(parsed, table);
        }
        if let Some(knob) = raw.recommended_knob
            && !(0.0..=1.0).contains(&knob)
        {
            return Err(bad(format!(
                "recommended_knob: {knob} is not between 0 and 1"
            )));
        }
        if let Some(weights) = &raw.price_weights {
            if weights.len() != PRICE_WEIGHT_STEPS {
                return Err(bad(format!(
                    "price_weights: expected {PRICE_WEIGHT_STEPS} values (knob 0, 0.1, …, 1), got {}",
                    weights.len()
                )));
            }
            if weights.iter().any(|w| !w.is_finite() || *w <= 0.0)
                || weights.windows(2).any(|pair| pair[1] > pair[0])
            {
                return Err(bad(format!(
                    "price_weights: need positive values that do not grow with the knob, got {weights:?}"
                )));
            }
        }
        Ok(QualityTable {
            recommended_knob: raw.recommended_knob,
            price_weights: raw.price_weights,
            difficulty: DifficultyModel {
                reference: raw.difficulty.reference,
                intercept: raw.difficulty.intercept,
                weights,
                easy_above: raw.difficulty.easy_above,
                hard_below: raw.difficulty.hard_below,
            },
            priors,
            class_priors,
            classes,
        })
    }

    /// Sets one entry (a `triage.toml` override).
    pub fn set(&mut self, class: RouteClass, model: &str, quality: [f64; 3]) {
        self.classes
            .entry(class)
            .or_default()
            .insert(model.to_owned(), quality);
    }

    /// Expected quality of `model` (of capability `tier`) on a prompt of `class` in `bucket`:
    /// the table's entry, else the tier prior.
    pub fn quality(&self, class: RouteClass, bucket: Bucket, model: &str, tier: u8) -> f64 {
        if let Some(triple) = self
            .classes
            .get(&class)
            .and_then(|models| models.get(model))
        {
            return triple[bucket.index()];
        }
        let tier = usize::from(tier.clamp(1, 5)) - 1;
        let priors = self.class_priors.get(&class).unwrap_or(&self.priors);
        priors[tier][bucket.index()]
    }

    /// Expected quality under the classifier's full class probabilities: Σ P(class) × quality.
    pub fn expected_quality(
        &self,
        scores: &BTreeMap<RouteClass, f32>,
        bucket: Bucket,
        model: &str,
        tier: u8,
    ) -> f64 {
        let total: f64 = scores.values().map(|p| f64::from(p.max(0.0))).sum();
        if total <= 0.0 {
            return self.quality(RouteClass::Analyze, bucket, model, tier);
        }
        scores
            .iter()
            .map(|(class, p)| {
                f64::from(p.max(0.0)) / total * self.quality(*class, bucket, model, tier)
            })
            .sum()
    }

    /// The table as a quality file; `header` (already `#`-commented lines) goes on top and
    /// `notes` adds a comment above each class's table. Numbers are written so that parsing
    /// gives back exactly this table.
    pub fn to_toml(&self, header: &str, notes: &BTreeMap<RouteClass, String>) -> String {
        let mut out = String::new();
        out.push_str(header);
        if let Some(knob) = self.recommended_knob {
            let _ = writeln!(out, "\nrecommended_knob = {knob:?}");
        }
        if let Some(weights) = &self.price_weights {
            let values: Vec<String> = weights.iter().map(|w| format!("{w:?}")).collect();
            let _ = writeln!(
                out,
                "# The price weight at knob 0, 0.1, …, 1: knob k passes 5% + 95%·k of the points where\n# the choice for a calibration prompt changes (fitted by `triage calibrate`)."
            );
            let _ = writeln!(out, "price_weights = [{}]", values.join(", "));
        }
        let d = &self.difficulty;
        let _ = writeln!(out, "\n[difficulty]");
        let _ = writeln!(out, "reference = {:?}", d.reference);
        let _ = writeln!(out, "intercept = {:?}", d.intercept);
        let _ = writeln!(out, "easy_above = {:?}", d.easy_above);
        let _ = writeln!(out, "hard_below = {:?}", d.hard_below);
        let _ = writeln!(out, "\n[difficulty.weights]");
        for (name, weight) in FEATURE_NAMES.iter().zip(d.weights) {
            let _ = writeln!(out, "{name} = {weight:?}");
        }
        out.push('\n');
        out.push_str(PRIORS_PROVENANCE);
        let named = std::iter::once(("default".to_owned(), &self.priors)).chain(
            self.class_priors
                .iter()
                .map(|(class, priors)| (class.to_string(), priors)),
        );
        for (index, (name, priors)) in named.enumerate() {
            let gap = if index == 0 { "" } else { "\n" };
            let _ = writeln!(out, "{gap}[priors.{name}]");
            for (tier, triple) in priors.iter().enumerate() {
                let _ = writeln!(out, "tier{} = {}", tier + 1, triple_text(triple));
            }
        }
        for (class, models) in &self.classes {
            let _ = writeln!(out);
            if let Some(note) = notes.get(class) {
                for line in note.lines() {
                    let _ = writeln!(out, "# {line}");
                }
            }
            let _ = writeln!(out, "[classes.{class}]");
            for (model, triple) in models {
                let _ = writeln!(out, "{model:?} = {}", triple_text(triple));
            }
        }
        out
    }
}

fn triple_text(triple: &[f64; 3]) -> String {
    format!("[{:?}, {:?}, {:?}]", triple[0], triple[1], triple[2])
}

/// The price weight for a knob value in a table without a fitted schedule:
/// [`PRICE_WEIGHT_AT_ZERO`] at 0 (the cheapest adequate model: a dearer one only where it buys
/// a lot), falling geometrically towards [`PRICE_WEIGHT_NEAR_ONE`], and 0 at 1 (quality
/// whatever it costs).
pub fn default_price_weight(knob: f64) -> f64 {
    if knob >= 1.0 {
        return 0.0;
    }
    let knob = knob.max(0.0);
    PRICE_WEIGHT_AT_ZERO.powf(1.0 - knob) * PRICE_WEIGHT_NEAR_ONE.powf(knob)
}

/// The floor under high-stakes requests (medical, legal, financial advice: the `critical`
/// class): under the knob such a request goes to no model below `min_tier` when a candidate
/// of that tier or higher fits, else to the highest tier that does, whatever the knob says.
/// It needs no user rule: the classifier's `critical` probability triggers it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HighStakes {
    /// The `critical` probability at or above which a request counts as high stakes (it
    /// always does when `critical` is its class).
    pub threshold: f32,
    /// The lowest tier a high-stakes request may start on; 1 turns the floor off.
    pub min_tier: u8,
}

/// The shipped floor: a 30% chance of `critical` is enough, and tier 4 ("strong general and
/// reasoning models") the least such a request gets. A wrong cheap answer to "can I take
/// ibuprofen with warfarin?" costs more than the price difference.
pub const DEFAULT_HIGH_STAKES: HighStakes = HighStakes {
    threshold: 0.3,
    min_tier: 4,
};

impl Default for HighStakes {
    fn default() -> Self {
        DEFAULT_HIGH_STAKES
    }
}

impl HighStakes {
    /// The `critical` probability when a request of `class` with these `scores` is high
    /// stakes and the floor is on; `None` otherwise.
    pub fn applies(&self, class: RouteClass, scores: &BTreeMap<RouteClass, f32>) -> Option<f32> {
        let critical = scores.get(&RouteClass::Critical).copied().unwrap_or(0.0);
        (self.min_tier > 1 && (class == RouteClass::Critical || critical >= self.threshold))
            .then_some(critical)
    }

    /// The tier the floor holds `tiers` (the fitting candidates' tiers) to: `min_tier`, or the
    /// highest of `tiers` when none reaches it.
    pub fn floor(&self, tiers: impl IntoIterator<Item = u8>) -> u8 {
        tiers
            .into_iter()
            .max()
            .map_or(self.min_tier, |top| top.min(self.min_tier))
    }
}

/// One model the knob weighed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Weighed {
    /// Its catalog id.
    pub model: String,
    /// Its expected quality on this prompt.
    pub expected_quality: f64,
    /// Its estimated cost for this request relative to the baseline's.
    pub relative_price: f64,
}

/// What the knob decided for one request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityChoice {
    /// The knob value.
    pub knob: f64,
    /// The probability that the cheap reference model answers correctly.
    pub p_cheap_right: f64,
    /// Its bucket.
    pub difficulty: Bucket,
    /// The model chosen.
    pub model: String,
    /// The chosen model's expected quality.
    pub expected_quality: f64,
    /// The chosen model's price relative to the baseline's.
    pub relative_price: f64,
    /// Every candidate weighed, best score first.
    pub weighed: Vec<Weighed>,
    /// The tier a high-stakes request was held to ([`HighStakes`]), when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high_stakes_floor: Option<u8>,
}

/// The knob's score of a candidate: expected quality − price weight × relative price.
pub fn score(price_weight: f64, weighed: &Weighed) -> f64 {
    weighed.expected_quality - price_weight * weighed.relative_price
}

/// Picks the candidate with the best [`score`] at `price_weight` (ties, within 1e-12: the
/// cheaper); `None` when there is no candidate.
pub fn choose(price_weight: f64, weighed: &[Weighed]) -> Option<usize> {
    let better = |a: &Weighed, b: &Weighed| -> bool {
        let (sa, sb) = (score(price_weight, a), score(price_weight, b));
        if (sa - sb).abs() > 1e-12 {
            return sa > sb;
        }
        a.relative_price < b.relative_price
    };
    let mut best: Option<usize> = None;
    for (index, candidate) in weighed.iter().enumerate() {
        match best {
            Some(current) if !better(candidate, &weighed[current]) => {}
            _ => best = Some(index),
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_parses_and_round_trips() {
        let table = QualityTable::embedded().unwrap();
        let text = table.to_toml("# test\n", &BTreeMap::new());
        assert_eq!(QualityTable::parse(&text, "written").unwrap(), table);
    }

    #[test]
    fn bad_values_name_their_key() {
        let text = EMBEDDED_QUALITY.replacen("tier1 = [", "tier1 = [1.5, ", 1);
        let error = QualityTable::parse(&text, "q.toml")
            .unwrap_err()
            .to_string();
        assert!(error.contains("priors.default.tier1"), "{error}");
    }

    #[test]
    fn fitted_schedule_interpolates_geometrically_and_is_validated() {
        let mut table = QualityTable::embedded().unwrap();
        table.price_weights = Some(vec![
            10.0, 5.0, 2.0, 1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.001,
        ]);
        let cases = [
            (0.0, 10.0),
            (0.1, 5.0),
            (0.05, 50f64.sqrt()),
            (0.95, 1e-5f64.sqrt()),
            (1.0, 0.0),
            (-1.0, 10.0),
        ];
        for (knob, want) in cases {
            let got = table.price_weight(knob);
            assert!((got - want).abs() < 1e-12, "knob {knob}: {got} != {want}");
        }
        let text = table.to_toml("", &BTreeMap::new());
        assert_eq!(QualityTable::parse(&text, "written").unwrap(), table);
        for (bad, key) in [
            ("price_weights = [1.0, 0.5]", "expected 11 values"),
            (
                "price_weights = [1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]",
                "do not grow",
            ),
        ] {
            let text: String = EMBEDDED_QUALITY
                .lines()
                .map(|line| {
                    if line.starts_with("price_weights") {
                        bad
                    } else {
                        line
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            let error = QualityTable::parse(&text, "q.toml")
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("price_weights") && error.contains(key),
                "{error}"
            );
        }
    }

    #[test]
    fn knob_ends() {
        let weighed = vec![
            Weighed {
                model: "cheap".into(),
                expected_quality: 0.7,
                relative_price: 0.05,
            },
            Weighed {
                model: "mid".into(),
                expected_quality: 0.85,
                relative_price: 0.3,
            },
            Weighed {
                model: "best".into(),
                expected_quality: 0.9,
                relative_price: 1.0,
            },
        ];
        let pick = |knob| {
            weighed[choose(default_price_weight(knob), &weighed).unwrap()]
                .model
                .clone()
        };
        insta::assert_snapshot!(
            [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0]
                .map(|knob| format!("{knob} → {}", pick(knob)))
                .join("\n"),
            @r"
        0 → cheap
        0.1 → cheap
        0.3 → cheap
        0.5 → mid
        0.7 → best
        0.9 → best
        1 → best
        "
        );
    }
}
