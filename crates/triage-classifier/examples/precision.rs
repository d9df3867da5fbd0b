//! How far the int8 forward pass moves the shipped model's answers from f32's, on real prompts:
//! the share of prompts whose top class differs, the largest and mean change of a probability,
//! and each precision's time over the same passes.
//!
//! ```sh
//! RAYON_NUM_THREADS=1 cargo run --release -p triage-classifier --example precision -- \
//!     ../shared/data/unlabelled.jsonl 15     # every 15th prompt of a JSONL file
//! ```
//!
//! Each line needs a `text` (or `prompt`) string. Needs a CPU with AVX-512 VNNI.

use std::io::BufRead;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use triage_classifier::{Classifier, Precision};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(path), every) = (args.next(), args.next()) else {
        bail!("usage: precision FILE.jsonl [EVERY]");
    };
    let every: usize = every.as_deref().unwrap_or("1").parse().context("EVERY")?;
    let int8 = Classifier::embedded()?.with_precision(Precision::Int8)?;
    if int8.precision() != Precision::Int8 {
        bail!("this CPU does not run the int8 pass (it needs AVX-512 VNNI)");
    }
    let float = int8.clone().with_precision(Precision::F32)?;
    let file = std::fs::File::open(&path).with_context(|| format!("cannot open {path}"))?;
    let (mut prompts, mut flips, mut largest, mut total) = (0usize, 0usize, 0f32, 0f64);
    let mut times = [Duration::ZERO; 2];
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if index % every.max(1) != 0 {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("{path}:{}", index + 1))?;
        let Some(text) = value["text"].as_str().or(value["prompt"].as_str()) else {
            bail!("{path}:{}: no `text` or `prompt`", index + 1);
        };
        let ids = float.encode(text)?;
        let mut answers = Vec::with_capacity(2);
        for (classifier, time) in [&float, &int8].into_iter().zip(&mut times) {
            let start = Instant::now();
            answers.push(classifier.probabilities(&ids)?);
            *time += start.elapsed();
        }
        let top = |probabilities: &[f32]| {
            (0..probabilities.len()).max_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b]))
        };
        prompts += 1;
        flips += usize::from(top(&answers[0]) != top(&answers[1]));
        for (a, b) in answers[0].iter().zip(&answers[1]) {
            largest = largest.max((a - b).abs());
            total += f64::from((a - b).abs());
        }
    }
    let outputs = prompts * float.config().num_labels;
    println!(
        "{prompts} prompts: top class differs on {flips} ({:.2}%); probability change max {largest:.4}, mean {:.5}",
        100.0 * flips as f64 / prompts.max(1) as f64,
        total / outputs.max(1) as f64,
    );
    println!(
        "forward passes: f32 {:.1} ms, int8 {:.1} ms ({:.2}× faster)",
        times[0].as_secs_f64() * 1e3,
        times[1].as_secs_f64() * 1e3,
        times[0].as_secs_f64() / times[1].as_secs_f64().max(1e-12)
    );
    Ok(())
}
