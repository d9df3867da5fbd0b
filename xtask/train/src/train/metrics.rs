//! Accuracy, macro-F1 and per-class precision / recall / F1.

use std::fmt;

use triage_types::RouteClass;

/// Scores of predictions against gold labels.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    pub(crate) accuracy: f64,
    pub(crate) macro_f1: f64,
    /// Precision, recall, F1 and support per class, in [`RouteClass::ALL`] order.
    pub(crate) per_class: [(f64, f64, f64, usize); 6],
}

impl Metrics {
    pub(crate) fn new(gold: &[RouteClass], predicted: &[RouteClass]) -> Self {
        let mut confusion = [[0usize; 6]; 6];
        for (gold, predicted) in gold.iter().zip(predicted) {
            confusion[gold.index()][predicted.index()] += 1;
        }
        let total = gold.len().max(1) as f64;
        let correct: usize = (0..6).map(|class| confusion[class][class]).sum();
        let mut per_class = [(0.0, 0.0, 0.0, 0); 6];
        for class in 0..6 {
            let true_positive = confusion[class][class] as f64;
            let predicted_count: usize = (0..6).map(|gold| confusion[gold][class]).sum();
            let support: usize = confusion[class].iter().sum();
            let precision = ratio(true_positive, predicted_count as f64);
            let recall = ratio(true_positive, support as f64);
            let f1 = ratio(2.0 * precision * recall, precision + recall);
            per_class[class] = (precision, recall, f1, support);
        }
        Self {
            accuracy: correct as f64 / total,
            macro_f1: per_class.iter().map(|class| class.2).sum::<f64>() / 6.0,
            per_class,
        }
    }
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        0.0
    }
}

impl fmt::Display for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "accuracy {:.4}  macro-F1 {:.4}",
            self.accuracy, self.macro_f1
        )?;
        writeln!(
            f,
            "{:<10} {:>9} {:>7} {:>7} {:>8}",
            "class", "precision", "recall", "f1", "support"
        )?;
        for (class, (precision, recall, f1, support)) in RouteClass::ALL.iter().zip(self.per_class)
        {
            writeln!(
                f,
                "{:<10} {precision:>9.3} {recall:>7.3} {f1:>7.3} {support:>8}",
                class.as_str()
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_a_small_confusion() {
        use RouteClass::*;
        let gold = [Extract, Extract, Faq, Faq, Analyze, Critical];
        let predicted = [Extract, Faq, Faq, Faq, Analyze, Analyze];
        let metrics = Metrics::new(&gold, &predicted);
        assert!((metrics.accuracy - 4.0 / 6.0).abs() < 1e-9);
        // extract: p 1, r 0.5; faq: p 2/3, r 1; analyze: p 0.5, r 1; the rest 0.
        let f1 = |p: f64, r: f64| 2.0 * p * r / (p + r);
        let expected = (f1(1.0, 0.5) + f1(2.0 / 3.0, 1.0) + f1(0.5, 1.0)) / 6.0;
        assert!((metrics.macro_f1 - expected).abs() < 1e-9);
        assert_eq!(metrics.per_class[RouteClass::Critical.index()].3, 1);
    }
}
