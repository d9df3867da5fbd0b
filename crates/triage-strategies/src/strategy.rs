//! The `Strategy` trait every classifier of requests implements, and what it returns.

use serde::Serialize;
use triage_types::{ChatRequest, ClassScores, RouteClass};

use crate::StrategyError;

/// Something that reads a whole chat request and names its routing class.
///
/// Implementations are pure and cheap to call from many threads: the keyword and length
/// strategies here, and the model strategy wrapping the on-device classifier.
pub trait Strategy: Send + Sync {
    /// The strategy's name as used on the command line and in reports (`keyword`, `length`,
    /// `model`).
    fn name(&self) -> &str;

    /// Classifies one request. It sees every message, the system prompt included.
    fn classify(&self, request: &ChatRequest) -> Result<Classification, StrategyError>;
}

/// A strategy's verdict on one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    /// The chosen class.
    pub class: RouteClass,
    /// How sure the strategy is, in 0..=1 (the chosen class's score).
    pub confidence: f32,
    /// Every class's score; they sum to 1.
    pub scores: ClassScores,
    /// Why, in words: which keywords fired, which length bucket, which rule.
    pub reasons: Vec<String>,
}

impl Classification {
    /// A verdict from scores: the best class, its score as the confidence.
    pub fn from_scores(scores: ClassScores, reasons: Vec<String>) -> Self {
        let (class, confidence) = scores.best();
        Classification {
            class,
            confidence,
            scores,
            reasons,
        }
    }

    /// A certain verdict for one class, as a rule or a fixed bucket gives.
    pub fn certain(class: RouteClass, reasons: Vec<String>) -> Self {
        let mut scores = [0.0; 6];
        scores[class.index()] = 1.0;
        Classification {
            class,
            confidence: 1.0,
            scores: ClassScores(scores),
            reasons,
        }
    }

    /// The class with the second-highest score and that score.
    pub fn runner_up(&self) -> (RouteClass, f32) {
        let mut best = (self.class, f32::NEG_INFINITY);
        for class in RouteClass::ALL {
            let score = self.scores.get(class);
            if class != self.class && score > best.1 {
                best = (class, score);
            }
        }
        best
    }
}

/// The strategies this crate can build by name, for command lines and configuration.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum StrategyKind {
    /// The on-device classifier (`triage-classifier`), through [`crate::ModelStrategy`].
    Model,
    /// Weighted keywords, phrases and patterns: [`crate::KeywordStrategy`].
    Keyword,
    /// Prompt length in tokens: [`crate::LengthStrategy`].
    Length,
}

impl StrategyKind {
    /// Every kind, in the order reports list them.
    pub const ALL: [StrategyKind; 3] = [
        StrategyKind::Model,
        StrategyKind::Keyword,
        StrategyKind::Length,
    ];

    /// The name used on the command line and in reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            StrategyKind::Model => "model",
            StrategyKind::Keyword => "keyword",
            StrategyKind::Length => "length",
        }
    }
}

impl std::fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for StrategyKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StrategyKind::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("unknown strategy `{s}` (expected one of: model, keyword, length)")
            })
    }
}

/// Turns raw per-class scores into probabilities that sum to 1 (a softmax).
pub(crate) fn softmax(raw: [f32; 6]) -> ClassScores {
    let max = raw.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut out = [0.0_f32; 6];
    let mut sum = 0.0;
    for (slot, value) in out.iter_mut().zip(raw) {
        *slot = (value - max).exp();
        sum += *slot;
    }
    for slot in &mut out {
        *slot /= sum;
    }
    ClassScores(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_keeps_the_order() {
        let scores = softmax([0.0, 2.0, 1.0, 0.0, 0.0, -1.0]);
        let sum: f32 = scores.0.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5);
        assert_eq!(scores.best().0, RouteClass::Faq);
    }

    #[test]
    fn runner_up_skips_the_winner() {
        let verdict =
            Classification::from_scores(ClassScores([0.1, 0.5, 0.3, 0.1, 0.0, 0.0]), vec![]);
        assert_eq!(verdict.runner_up().0, RouteClass::Transform);
    }

    #[test]
    fn strategy_kinds_parse() {
        assert_eq!("Keyword".parse::<StrategyKind>(), Ok(StrategyKind::Keyword));
        assert!("dice".parse::<StrategyKind>().is_err());
    }
}
