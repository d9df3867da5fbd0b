//! The model strategy: an adapter from any [`TextClassifier`] (the on-device candle model in
//! `triage-classifier`) to the [`Strategy`] trait.

use std::sync::Arc;

use triage_types::{ChatRequest, TextClassifier};

use crate::{Classification, Strategy, StrategyError};

/// Classifies with a text classifier's probabilities.
#[derive(Clone)]
pub struct ModelStrategy {
    classifier: Arc<dyn TextClassifier>,
}

impl std::fmt::Debug for ModelStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelStrategy")
            .field("classifier", &self.classifier.name())
            .finish()
    }
}

impl ModelStrategy {
    /// A strategy over a classifier.
    pub fn new(classifier: Arc<dyn TextClassifier>) -> Self {
        ModelStrategy { classifier }
    }

    /// The classifier's name.
    pub fn classifier_name(&self) -> &str {
        self.classifier.name()
    }

    /// Classifies a text.
    pub fn classify_text(&self, text: &str) -> Result<Classification, StrategyError> {
        let scores =
            self.classifier
                .classify_text(text)
                .map_err(|source| StrategyError::Classifier {
                    classifier: self.classifier.name().to_owned(),
                    source,
                })?;
        let verdict = Classification::from_scores(scores, Vec::new());
        let (runner_up, runner_up_score) = verdict.runner_up();
        let reason = format!(
            "model {}: {} p={:.2}; runner-up {runner_up} p={runner_up_score:.2}",
            self.classifier.name(),
            verdict.class,
            verdict.confidence
        );
        Ok(Classification {
            reasons: vec![reason],
            ..verdict
        })
    }
}

impl Strategy for ModelStrategy {
    fn name(&self) -> &str {
        "model"
    }

    fn classify(&self, request: &ChatRequest) -> Result<Classification, StrategyError> {
        self.classify_text(&request.all_text())
    }
}

#[cfg(test)]
mod tests {
    use triage_types::{ClassScores, RouteClass};

    use super::*;

    struct Fixed(Option<ClassScores>);

    impl TextClassifier for Fixed {
        fn name(&self) -> &str {
            "fixed"
        }

        fn classify_text(
            &self,
            _text: &str,
        ) -> Result<ClassScores, Box<dyn std::error::Error + Send + Sync>> {
            self.0.ok_or_else(|| "broken weights".into())
        }
    }

    #[test]
    fn adapts_scores_and_errors() {
        let strategy = ModelStrategy::new(Arc::new(Fixed(Some(ClassScores([
            0.0, 0.1, 0.0, 0.2, 0.6, 0.1,
        ])))));
        let verdict = strategy.classify(&ChatRequest::from_prompt("x")).unwrap();
        assert_eq!(verdict.class, RouteClass::Reason);
        assert_eq!(
            verdict.reasons,
            ["model fixed: reason p=0.60; runner-up analyze p=0.20"]
        );
        let broken = ModelStrategy::new(Arc::new(Fixed(None)));
        let error = broken.classify(&ChatRequest::from_prompt("x")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "classifier `fixed` failed: broken weights"
        );
    }
}
