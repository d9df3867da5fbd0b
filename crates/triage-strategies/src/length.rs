//! The length strategy: the class follows from the prompt's length in tokens, through
//! configurable buckets.

use triage_types::{ChatRequest, ClassScores, RouteClass};

use crate::tokens::count_tokens;
use crate::{Classification, Strategy, StrategyError};

/// The confidence the length strategy reports for its bucket's class: length says little, so
/// it claims little.
pub const LENGTH_CONFIDENCE: f32 = 0.5;

/// One bucket: prompts shorter than `below` tokens (and not caught by an earlier bucket) get
/// `class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthBucket {
    /// The exclusive upper bound, in tokens.
    pub below: u64,
    /// The class for this bucket.
    pub class: RouteClass,
}

/// Buckets in increasing order of bounds, and the class for anything longer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LengthThresholds {
    buckets: Vec<LengthBucket>,
    otherwise: RouteClass,
}

impl Default for LengthThresholds {
    /// Under 16 tokens `faq`, under 1,024 `analyze`, else `transform` (long pasted text is most
    /// often to be summarised or rewritten). Chosen from the token-length distribution of the
    /// annotated training prompts: median `faq` prompts have 13 tokens, `analyze` 33, and most
    /// prompts over a thousand tokens carry a document.
    fn default() -> Self {
        LengthThresholds {
            buckets: vec![
                LengthBucket {
                    below: 16,
                    class: RouteClass::Faq,
                },
                LengthBucket {
                    below: 1024,
                    class: RouteClass::Analyze,
                },
            ],
            otherwise: RouteClass::Transform,
        }
    }
}

impl LengthThresholds {
    /// Validated thresholds: bounds must strictly increase.
    pub fn new(buckets: Vec<LengthBucket>, otherwise: RouteClass) -> Result<Self, StrategyError> {
        for pair in buckets.windows(2) {
            if pair[1].below <= pair[0].below {
                return Err(StrategyError::LengthBuckets {
                    previous: pair[0].below,
                    next: pair[1].below,
                });
            }
        }
        Ok(LengthThresholds { buckets, otherwise })
    }

    /// The buckets, in order.
    pub fn buckets(&self) -> &[LengthBucket] {
        &self.buckets
    }

    /// The class for prompts longer than every bucket.
    pub fn otherwise(&self) -> RouteClass {
        self.otherwise
    }

    /// The class for a length, and a description of its bucket.
    pub fn bucket(&self, tokens: u64) -> (RouteClass, String) {
        let mut lower = 0;
        for bucket in &self.buckets {
            if tokens < bucket.below {
                return (bucket.class, format!("{lower}..{} tokens", bucket.below));
            }
            lower = bucket.below;
        }
        (self.otherwise, format!("{lower}+ tokens"))
    }
}

/// Classifies by prompt length.
#[derive(Debug, Clone, Default)]
pub struct LengthStrategy {
    thresholds: LengthThresholds,
}

impl LengthStrategy {
    /// A strategy over thresholds.
    pub fn new(thresholds: LengthThresholds) -> Self {
        LengthStrategy { thresholds }
    }

    /// The thresholds it uses.
    pub fn thresholds(&self) -> &LengthThresholds {
        &self.thresholds
    }

    /// Classifies a text by its `o200k_base` token count.
    pub fn classify_text(&self, text: &str) -> Classification {
        let tokens = count_tokens(text);
        let (class, bucket) = self.thresholds.bucket(tokens);
        let rest = (1.0 - LENGTH_CONFIDENCE) / 5.0;
        let mut scores = [rest; 6];
        scores[class.index()] = LENGTH_CONFIDENCE;
        Classification {
            class,
            confidence: LENGTH_CONFIDENCE,
            scores: ClassScores(scores),
            reasons: vec![format!(
                "length: {tokens} tokens, bucket {bucket} → {class}"
            )],
        }
    }
}

impl Strategy for LengthStrategy {
    fn name(&self) -> &str {
        "length"
    }

    fn classify(&self, request: &ChatRequest) -> Result<Classification, StrategyError> {
        Ok(self.classify_text(&request.all_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_by_token_count() {
        let strategy = LengthStrategy::default();
        let table = [
            ("What is 2+2?", RouteClass::Faq),
            (
                "Explain in detail how a hash map handles collisions and compare open addressing with chaining for a cache.",
                RouteClass::Analyze,
            ),
        ];
        for (prompt, expect) in table {
            let verdict = strategy.classify_text(prompt);
            assert_eq!(verdict.class, expect, "{:?}", verdict.reasons);
            assert_eq!(verdict.confidence, LENGTH_CONFIDENCE);
        }
        let long = "word ".repeat(2000);
        let verdict = strategy.classify_text(&long);
        assert_eq!(verdict.class, RouteClass::Transform);
        assert!(
            verdict.reasons[0].contains("1024+ tokens"),
            "{:?}",
            verdict.reasons
        );
    }

    #[test]
    fn bounds_must_increase() {
        let error = LengthThresholds::new(
            vec![
                LengthBucket {
                    below: 50,
                    class: RouteClass::Faq,
                },
                LengthBucket {
                    below: 50,
                    class: RouteClass::Analyze,
                },
            ],
            RouteClass::Critical,
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "length bucket bounds must increase: 50 is followed by 50"
        );
    }
}
