//! Reading the labelled prompts and deciding how much each one counts in the loss.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;
use triage_types::RouteClass;

/// One line of `train.jsonl` / `dev.jsonl` (fields training does not use are ignored).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Example {
    pub(crate) text: String,
    pub(crate) label: RouteClass,
    pub(crate) label_method: String,
    #[serde(default)]
    pub(crate) confidence: Option<String>,
}

/// Reads a JSON-lines file of examples.
pub(crate) fn read_examples(path: &Path) -> Result<Vec<Example>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(number, line)| {
            serde_json::from_str(line)
                .with_context(|| format!("{}:{}: invalid example", path.display(), number + 1))
        })
        .collect()
}

/// One line of `unlabelled.jsonl`.
#[derive(Debug, Deserialize)]
struct Unlabelled {
    text: String,
    source: String,
}

/// Up to `per_source` prompts of each source of an unlabelled JSON-lines file, in file order
/// (the file is shuffled with a fixed seed, so this is a seeded sample weighed by source),
/// leaving out any whose text is in `known` (the labelled prompts).
pub(crate) fn read_unlabelled(
    path: &Path,
    per_source: usize,
    known: &std::collections::HashSet<&str>,
) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut taken = std::collections::HashMap::<String, usize>::new();
    let mut texts = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: Unlabelled = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: invalid line", path.display(), number + 1))?;
        let count = taken.entry(row.source).or_default();
        if *count < per_source && !known.contains(row.text.as_str()) {
            *count += 1;
            texts.push(row.text);
        }
    }
    Ok(texts)
}

/// How much each kind of label counts in the loss.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LabelWeights {
    /// Hand-annotated, marked `unsure`.
    pub(crate) unsure: f32,
    /// Labelled from the source's own category, or T0 templates: one style per class, so a
    /// model can learn the style instead of the task.
    pub(crate) weak: f32,
}

impl LabelWeights {
    pub(crate) fn weight(&self, example: &Example) -> f32 {
        match (example.label_method.as_str(), example.confidence.as_deref()) {
            ("annotated", Some("unsure")) => self.unsure,
            ("annotated", _) => 1.0,
            _ => self.weak,
        }
    }
}

/// Per-class loss weights: inverse square root of each class's weighted share, mean one.
pub(crate) fn class_weights(labels: &[RouteClass], weights: &[f32]) -> [f32; 6] {
    let mut totals = [0f32; 6];
    for (label, weight) in labels.iter().zip(weights) {
        totals[label.index()] += weight;
    }
    let mut class_weights = totals.map(|total| if total > 0.0 { total.powf(-0.5) } else { 0.0 });
    let mean = class_weights.iter().sum::<f32>() / 6.0;
    for weight in &mut class_weights {
        *weight /= mean;
    }
    class_weights
}
