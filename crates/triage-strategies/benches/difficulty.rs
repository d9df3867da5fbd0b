//! Criterion benchmarks of what the cost-quality knob adds to a request's plan: the difficulty
//! signal (text features and the logistic regression) on prompts of about 16, 64, 256 and 1,024
//! tokens, and the knob's whole scored plan against the plain class plan over the shipped
//! catalog and quality table. `cargo bench -p triage-strategies`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion};
use time::macros::date;
use triage_catalog::Catalog;
use triage_strategies::{Policy, QualityPolicy, QualityTable};
use triage_types::{ChatRequest, RouteClass};

const WORDS: &str = "Natalia sold clips to 48 of her friends in April, and then she sold half as \
    many clips in May. How many clips did Natalia sell altogether in April and May? Explain \
    each step, then check the answer with $x + x/2 = 72$ before you write it down.";

/// About `tokens` tokens of text (four characters a token).
fn prompt(tokens: usize) -> String {
    let mut text = String::new();
    while text.len() < tokens * 4 {
        text.push_str(WORDS);
        text.push(' ');
    }
    text.truncate(tokens * 4);
    text
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let table = Arc::new(QualityTable::embedded().expect("the shipped table parses"));
    let mut group = criterion.benchmark_group("difficulty");
    for tokens in [16, 64, 256, 1024] {
        let text = prompt(tokens);
        group.bench_with_input(
            BenchmarkId::new("p_cheap_right", tokens),
            &text,
            |b, text| {
                b.iter(|| table.difficulty.p_cheap_right(black_box(text)));
            },
        );
    }
    group.finish();

    let catalog = Catalog::embedded();
    let today = date!(2026 - 12 - 01);
    let plain = Policy::from_catalog(catalog);
    let mut scored = plain.clone();
    scored.set_quality(Some(QualityPolicy {
        knob: table.default_knob(),
        candidates: None,
        baseline: Some("gpt-4o".to_owned()),
        table: Arc::clone(&table),
        high_stakes: triage_strategies::HighStakes::default(),
    }));
    let mut scores = BTreeMap::new();
    scores.insert(RouteClass::Reason, 0.7_f32);
    scores.insert(RouteClass::Analyze, 0.2);
    scores.insert(RouteClass::Faq, 0.1);
    let request = ChatRequest::from_prompt(prompt(64));
    let mut group = criterion.benchmark_group("plan");
    group.bench_function("class plan", |b| {
        b.iter(|| plain.plan(catalog, RouteClass::Reason, black_box(&request), today));
    });
    group.bench_function("knob plan", |b| {
        b.iter(|| {
            scored.plan_scored(
                catalog,
                RouteClass::Reason,
                &scores,
                black_box(&request),
                today,
            )
        });
    });
    group.finish();
    criterion.final_summary();
}
