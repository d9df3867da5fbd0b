//! Criterion benchmarks of the shipped classifier: `classify` (tokenizing included) on prompts of
//! 16, 64, 128 and 256 tokens, the forward pass alone (and, where it runs int8, in f32 too), and
//! model load time; then p50 / p99 over many single calls, which criterion does not report.
//!
//! Candle reads the thread count from `RAYON_NUM_THREADS` on every matrix product, so run once
//! per setting: `RAYON_NUM_THREADS=1 cargo bench -p triage-classifier` (single-threaded) and
//! `RAYON_NUM_THREADS=2 cargo bench -p triage-classifier` (this machine's cores). The group names
//! carry the setting.

use std::hint::black_box;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion};
use triage_classifier::{Classifier, Precision, default_model_dir};

/// Token counts to benchmark; the model reads at most `max_tokens` of them.
const LENGTHS: [usize; 4] = [16, 64, 128, 256];

/// Words that make up the benchmark prompts: an ordinary request.
const WORDS: &str = "please read the following customer email carefully and explain in detail \
    why the delivery was late what the company should change in its process and how to reply \
    politely to keep the customer happy while staying honest about the delay";

/// A prompt that tokenizes to exactly `tokens` ids before truncation ([CLS] and [SEP] included).
fn prompt_of(classifier: &Classifier, tokens: usize) -> String {
    let words: Vec<&str> = WORDS.split_whitespace().collect();
    let mut text = String::new();
    let mut index = 0;
    loop {
        let candidate = if text.is_empty() {
            words[index % words.len()].to_owned()
        } else {
            format!("{text} {}", words[index % words.len()])
        };
        let count = raw_token_count(classifier, &candidate);
        if count > tokens {
            return text;
        }
        text = candidate;
        index += 1;
        if count == tokens {
            return text;
        }
    }
}

/// Token count of `text` without truncation, [CLS] and [SEP] included.
fn raw_token_count(classifier: &Classifier, text: &str) -> usize {
    let tokenizer = classifier.tokenizer().tokenizer();
    tokenizer.encode_fast(text, false).map_or(0, |e| e.len()) + 2
}

fn threads_label() -> String {
    match std::env::var("RAYON_NUM_THREADS") {
        Ok(threads) => format!("threads={threads}"),
        Err(_) => "threads=unset".to_owned(),
    }
}

fn benches(c: &mut Criterion, classifier: &Classifier) {
    let threads = threads_label();
    let mut group = c.benchmark_group(format!("classify/{threads}"));
    for tokens in LENGTHS {
        let text = prompt_of(classifier, tokens);
        group.bench_with_input(BenchmarkId::from_parameter(tokens), &text, |b, text| {
            b.iter(|| classifier.classify(black_box(text)));
        });
    }
    group.finish();

    // The forward pass as the classifier runs it (int8 where the CPU has AVX-512 VNNI), then,
    // on such a CPU, the same weights in f32 for comparison.
    let mut passes = vec![(format!("forward/{threads}"), classifier.clone())];
    if classifier.precision() == Precision::Int8 {
        let float = classifier.clone().with_precision(Precision::F32);
        passes.extend(
            float
                .ok()
                .map(|float| (format!("forward-f32/{threads}"), float)),
        );
    }
    for (name, classifier) in &passes {
        let mut group = c.benchmark_group(name);
        for tokens in LENGTHS {
            let ids = classifier
                .encode(&prompt_of(classifier, tokens))
                .unwrap_or_default();
            group.bench_with_input(BenchmarkId::from_parameter(tokens), &ids, |b, ids| {
                b.iter(|| classifier.probabilities(black_box(ids)));
            });
        }
        group.finish();
    }

    let mut group = c.benchmark_group("load");
    group.sample_size(20);
    group.bench_function("embedded", |b| b.iter(Classifier::embedded));
    let dir = default_model_dir();
    group.bench_function("directory", |b| {
        b.iter(|| Classifier::load(black_box(&dir)))
    });
    group.finish();
}

/// p50 and p99 of single `classify` calls, printed as one line per length.
fn percentiles(classifier: &Classifier) {
    let threads = threads_label();
    for tokens in LENGTHS {
        let text = prompt_of(classifier, tokens);
        for _ in 0..200 {
            let _ = classifier.classify(&text);
        }
        let mut micros: Vec<f64> = (0..3000)
            .map(|_| {
                let start = Instant::now();
                let _ = black_box(classifier.classify(black_box(&text)));
                start.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        micros.sort_by(f64::total_cmp);
        let at = |q: f64| micros[((micros.len() - 1) as f64 * q) as usize];
        println!(
            "percentiles {threads} tokens={tokens}: p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs",
            at(0.5),
            at(0.9),
            at(0.99)
        );
    }
}

fn main() {
    let classifier = match Classifier::embedded() {
        Ok(classifier) => classifier,
        Err(error) => {
            eprintln!("cannot load the embedded model: {error}");
            std::process::exit(1);
        }
    };
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion, &classifier);
    criterion.final_summary();
    percentiles(&classifier);
}
