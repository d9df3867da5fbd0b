//! Odd prompts classify without panicking and give proper probabilities.

use triage_classifier::Classifier;

use crate::{odd_prompts, write_tiny_model};

/// Checks that every odd prompt gets finite scores summing to one.
pub(crate) fn check_odd_prompts(classifier: &Classifier) {
    let max_tokens = classifier.config().max_tokens;
    for (name, text) in odd_prompts() {
        let ids = classifier.encode(&text).unwrap();
        assert!(
            ids.len() >= 2 && ids.len() <= max_tokens,
            "{name}: {} tokens",
            ids.len()
        );
        let scores = classifier.classify(&text).unwrap();
        assert!(
            scores
                .0
                .iter()
                .all(|score| score.is_finite() && *score >= 0.0),
            "{name}: {scores:?}"
        );
        assert!(
            (scores.0.iter().sum::<f32>() - 1.0).abs() < 1e-4,
            "{name}: {scores:?}"
        );
    }
}

#[test]
fn the_tiny_model_survives_odd_prompts() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path());
    check_odd_prompts(&Classifier::load(dir.path()).unwrap());
}
