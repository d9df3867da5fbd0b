//! The seam between a text classifier (such as the candle model) and the routing strategies,
//! so that neither crate depends on the other.

use crate::RouteClass;

/// Per-class probabilities, indexed by [`RouteClass::index`]; they sum to 1.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ClassScores(pub [f32; 6]);

impl ClassScores {
    /// The class with the highest score (the first one on ties) and that score.
    pub fn best(&self) -> (RouteClass, f32) {
        let mut best = (RouteClass::Extract, f32::NEG_INFINITY);
        for class in RouteClass::ALL {
            let score = self.0[class.index()];
            if score > best.1 {
                best = (class, score);
            }
        }
        best
    }

    /// The score of one class.
    pub fn get(&self, class: RouteClass) -> f32 {
        self.0[class.index()]
    }
}

/// A model that turns a prompt's text into class probabilities.
///
/// Implemented by `triage-classifier`; consumed by the model strategy in `triage-strategies`.
pub trait TextClassifier: Send + Sync {
    /// A short name for logs and reasons, such as the model directory's name.
    fn name(&self) -> &str;

    /// Scores one prompt. Empty or odd text still gets scores; an error means the model itself
    /// failed.
    fn classify_text(
        &self,
        text: &str,
    ) -> Result<ClassScores, Box<dyn std::error::Error + Send + Sync>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_picks_the_highest_score_and_the_first_on_ties() {
        let scores = ClassScores([0.1, 0.3, 0.3, 0.1, 0.1, 0.1]);
        assert_eq!(scores.best(), (RouteClass::Faq, 0.3));
        assert_eq!(scores.get(RouteClass::Transform), 0.3);
    }
}
