//! `cargo xtask learn-keywords`: learns the keyword strategy's default weights from the
//! labelled training prompts and writes `crates/triage-strategies/src/keywords.toml`.
//!
//! The recipe (also written into the generated file's header):
//! 1. Features are those the strategy sees at run time (`triage_strategies::text::features`):
//!    distinct lowercased words and adjacent word pairs from the first and last 40 words.
//! 2. `annotated` rows weigh 1; `source_category` rows (NQ and WebQuestions queries, GSM8K,
//!    HumanEval, Arena-Hard categories) 0.25: one style of prompt each, but they teach the plain
//!    question and word-problem vocabulary real prompts share. `templated` rows are left out:
//!    with them, template vocabulary (DBpedia category names, T0 wording) became `extract`
//!    keywords that fired on unrelated real prompts.
//! 3. Annotated prompts that share their first six words (templated real prompts, such as
//!    AlpacaEval's repeated recipe requests) share one unit of weight, so no template dominates.
//! 4. A feature is kept if its weighted document frequency is at least 5.
//! 5. Its weight for a class is the smoothed log-odds of appearing in that class's prompts
//!    against all other prompts (add-one smoothing), kept when positive.
//! 6. Per class, features are ranked by log-odds × ln(1 + weighted count in the class), so a
//!    feature needs both strength and support; the top 150 are kept, capped at 4 and rounded
//!    to 2 decimals.
//! 7. Each class's bias is twice the log of its (weighted) share of the prompts, so that rare
//!    classes need stronger evidence.
//! 8. The default class (when nothing matches) is the most common label among training
//!    prompts on which no kept feature fires.
//! 9. A few hand-written patterns cover strong signals the data under-represents
//!    (translation is nearly absent from it).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::Deserialize;
use triage_strategies::text::{FeatureWindow, features, words};
use triage_strategies::{KeywordStrategy, KeywordTable};
use triage_types::RouteClass;

use crate::project_root;

/// Weighted document frequency a feature needs to be kept.
const MIN_DOCUMENT_FREQUENCY: f64 = 5.0;
/// Features kept per class.
const TOP_PER_CLASS: usize = 150;
/// Add-one smoothing.
const SMOOTHING: f64 = 1.0;
/// Weight of a `source_category` row (an annotated row weighs 1, a templated row 0).
const SOURCE_CATEGORY_WEIGHT: f64 = 0.25;
/// Leading words that make prompts count as one template.
const TEMPLATE_PREFIX_WORDS: usize = 6;
/// The bias is this times the log of a class's share.
const BIAS_SCALE: f64 = 2.0;
/// The largest weight one feature may carry, so that no single word decides alone.
const MAX_WEIGHT: f64 = 4.0;

/// Strong patterns written by hand: (class, regex, weight, why).
const HAND_PATTERNS: [(&str, &str, f32, &str); 10] = [
    ("analyze", r"```", 2.0, "a code block"),
    (
        "analyze",
        r"\b(regex(es)?|regular expressions?|sql|bash|shell (script|command)s?|dockerfile|yaml config|stack trace)\b",
        2.5,
        "code, a query, a regex or a shell command",
    ),
    (
        "analyze",
        r"\b(explain|compare|difference between|pros and cons|analy[sz]e)\b",
        1.5,
        "an explanation or comparison",
    ),
    (
        "transform",
        r"\btranslat(e|ion|ing)\b|\binto (english|french|german|spanish|italian|chinese|japanese|korean|russian|portuguese|arabic|hindi)\b",
        2.5,
        "a translation request",
    ),
    (
        "transform",
        r"\b(summari[sz]e|summary|tl;?dr)\b",
        2.0,
        "a summary request",
    ),
    (
        "critical",
        r"\b(poem|haiku|sonnet|limerick|lyrics)\b",
        2.0,
        "a poem or lyrics",
    ),
    (
        "critical",
        r"\b(lawyer|lawsuit|sue|legal advice|diagnos[a-z]*|symptoms?|medications?|dosage|chest pain|mortgage|invest(ing|ment)?)\b",
        3.0,
        "high-stakes medical, legal or financial advice",
    ),
    (
        "reason",
        r"\b(solve|equation|probability|prove|proof)\b|\d\s*[x×*/+^=-]\s*\d",
        3.0,
        "math to work out",
    ),
    (
        "extract",
        r"\b(extract|classify|categori[sz]e)\b",
        3.0,
        "an extraction or labelling request",
    ),
    (
        "extract",
        r"\b(as|to|into) (a |an )?(json|csv|yaml|markdown table|table|bulleted list)\b",
        2.0,
        "a conversion to a data format",
    ),
];

/// Arguments of `cargo xtask learn-keywords`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Labelled training prompts (JSON Lines with `text`, `label`, `label_method`).
    #[arg(long, default_value = "../shared/data/train.jsonl")]
    data: PathBuf,
    /// Labelled prompts to report accuracy on (never learned from); skipped if missing.
    #[arg(long, default_value = "../shared/data/dev.jsonl")]
    report: PathBuf,
    /// Fail if the committed file differs from what the data gives, instead of writing it.
    #[arg(long)]
    check: bool,
}

#[derive(Deserialize)]
struct Row {
    text: String,
    label: RouteClass,
    #[serde(default)]
    label_method: Option<String>,
}

/// Runs the command.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let root = project_root();
    let data = root.join(&args.data);
    let rows = read_rows(&data)?;
    let generated = learn(&rows);
    let target = root.join("crates/triage-strategies/src/keywords.toml");
    if args.check {
        let current =
            fs::read_to_string(&target).with_context(|| format!("reading {}", target.display()))?;
        if current != generated {
            bail!(
                "{} is stale: run `cargo xtask learn-keywords` and commit the result",
                target.display()
            );
        }
        eprintln!("{} is up to date", target.display());
        return Ok(());
    }
    fs::write(&target, &generated).with_context(|| format!("writing {}", target.display()))?;
    eprintln!("wrote {}", target.display());
    let table = KeywordTable::from_toml(&generated, "generated keywords.toml")?;
    let strategy = KeywordStrategy::new(table);
    report(
        "train (annotated)",
        &strategy,
        rows.iter().filter(|row| is_annotated(row)),
    );
    let dev = root.join(&args.report);
    if dev.exists() {
        let dev_rows = read_rows(&dev)?;
        report("dev", &strategy, dev_rows.iter());
    }
    Ok(())
}

fn is_annotated(row: &Row) -> bool {
    row.label_method
        .as_deref()
        .is_none_or(|method| method == "annotated")
}

fn read_rows(path: &std::path::Path) -> anyhow::Result<Vec<Row>> {
    let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut rows = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let row: Row = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not a labelled prompt", path.display(), index + 1))?;
        rows.push(row);
    }
    Ok(rows)
}

fn report<'a>(name: &str, strategy: &KeywordStrategy, rows: impl Iterator<Item = &'a Row>) {
    let mut total = 0_u32;
    let mut correct = 0_u32;
    for row in rows {
        total += 1;
        if strategy.classify_text(&row.text).class == row.label {
            correct += 1;
        }
    }
    eprintln!(
        "{name}: accuracy {:.1}% on {total} prompts",
        100.0 * f64::from(correct) / f64::from(total.max(1))
    );
}

/// Learns the table and renders the file.
fn learn(rows: &[Row]) -> String {
    let window = FeatureWindow::default();
    let annotated: Vec<&Row> = rows.iter().filter(|row| is_annotated(row)).collect();
    let learned: Vec<&Row> = rows
        .iter()
        .filter(|row| is_annotated(row) || row.label_method.as_deref() == Some("source_category"))
        .collect();
    let prefix = |row: &Row| {
        let mut words = words(&row.text);
        words.truncate(TEMPLATE_PREFIX_WORDS);
        words.join(" ")
    };
    let mut group_sizes: HashMap<String, f64> = HashMap::new();
    for row in &annotated {
        *group_sizes.entry(prefix(row)).or_insert(0.0) += 1.0;
    }
    let mut counts: HashMap<String, [f64; 6]> = HashMap::new();
    let mut totals = [0.0_f64; 6];
    let mut row_features = Vec::with_capacity(annotated.len());
    for row in &learned {
        let weight = if is_annotated(row) {
            1.0 / group_sizes.get(&prefix(row)).copied().unwrap_or(1.0)
        } else {
            SOURCE_CATEGORY_WEIGHT
        };
        totals[row.label.index()] += weight;
        let found = features(&row.text, window);
        for feature in &found {
            counts.entry(feature.clone()).or_insert([0.0; 6])[row.label.index()] += weight;
        }
        if is_annotated(row) {
            row_features.push(found);
        }
    }
    let all: f64 = totals.iter().sum();
    let mut weights: BTreeMap<RouteClass, Vec<(String, f64)>> = BTreeMap::new();
    for class in RouteClass::ALL {
        let i = class.index();
        let mut ranked: Vec<(f64, &str, f64)> = Vec::new();
        for (feature, per_class) in &counts {
            let frequency: f64 = per_class.iter().sum();
            if frequency < MIN_DOCUMENT_FREQUENCY {
                continue;
            }
            let inside = per_class[i];
            let outside = frequency - inside;
            let p_inside = (inside + SMOOTHING) / (totals[i] + 2.0 * SMOOTHING);
            let p_outside = (outside + SMOOTHING) / (all - totals[i] + 2.0 * SMOOTHING);
            let log_odds = (p_inside / p_outside).ln();
            if log_odds <= 0.0 {
                continue;
            }
            ranked.push((log_odds * inside.ln_1p(), feature, log_odds));
        }
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        let kept = ranked
            .into_iter()
            .take(TOP_PER_CLASS)
            .map(|(_, feature, log_odds)| (feature.to_owned(), round2(log_odds.min(MAX_WEIGHT))))
            .collect();
        weights.insert(class, kept);
    }
    let bias = RouteClass::ALL.map(|class| {
        let share = totals[class.index()].max(SMOOTHING) / all.max(SMOOTHING);
        round2(BIAS_SCALE * share.ln())
    });
    let default_class = default_class(&annotated, &row_features, &weights);
    render(&weights, bias, default_class, window)
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// The most common label among annotated rows on which no kept feature fires.
fn default_class(
    rows: &[&Row],
    row_features: &[std::collections::BTreeSet<String>],
    weights: &BTreeMap<RouteClass, Vec<(String, f64)>>,
) -> RouteClass {
    let kept: std::collections::HashSet<&str> = weights
        .values()
        .flat_map(|list| list.iter().map(|(feature, _)| feature.as_str()))
        .collect();
    let mut unmatched = [0_u32; 6];
    for (row, found) in rows.iter().zip(row_features) {
        if !found.iter().any(|feature| kept.contains(feature.as_str())) {
            unmatched[row.label.index()] += 1;
        }
    }
    RouteClass::ALL
        .into_iter()
        .max_by_key(|class| (unmatched[class.index()], std::cmp::Reverse(class.index())))
        .unwrap_or(RouteClass::Faq)
}

fn render(
    weights: &BTreeMap<RouteClass, Vec<(String, f64)>>,
    bias: [f64; 6],
    default_class: RouteClass,
    window: FeatureWindow,
) -> String {
    let mut out = String::new();
    let header = format!(
        "# Keyword strategy defaults. GENERATED by `cargo xtask learn-keywords` from\n\
         # ../shared/data/train.jsonl; do not edit by hand (override in triage.toml's [keywords]\n\
         # instead). `cargo xtask learn-keywords --check` fails when this file is stale.\n\
         #\n\
         # How the weights were learned:\n\
         # - Features: distinct lowercased words and adjacent word pairs from the first {head} and\n\
         #   the last {tail} words of a prompt (long prompts put the request at the end).\n\
         # - Rows: `annotated` 1, `source_category` {source} (one style of prompt each), `templated`\n\
         #   left out (its template vocabulary fired on unrelated prompts).\n\
         # - Annotated prompts sharing their first {prefix} words share one unit of weight.\n\
         # - Features with a weighted document frequency under {min_df} are dropped.\n\
         # - Weight = ln(P(feature | class) / P(feature | other classes)), add-one smoothed,\n\
         #   kept when positive; per class the top {top} by weight × ln(1 + count in class),\n\
         #   capped at {cap} so that no single feature decides alone.\n\
         # - bias = {scale} × ln(share of the class): rare classes need stronger evidence.\n\
         # - default_class: the commonest label among prompts that match nothing.\n\
         # - [[patterns]] are hand-written for strong signals the data under-represents.\n\
         # A prompt's score per class is its bias plus the weights that fire; the top class wins.\n",
        head = window.head,
        tail = window.tail,
        prefix = TEMPLATE_PREFIX_WORDS,
        source = SOURCE_CATEGORY_WEIGHT,
        min_df = MIN_DOCUMENT_FREQUENCY,
        top = TOP_PER_CLASS,
        cap = MAX_WEIGHT,
        scale = BIAS_SCALE,
    );
    out.push_str(&header);
    let _ = write!(
        out,
        "\ndefault_class = \"{default_class}\"\n\n[window]\nhead = {}\ntail = {}\n\n[bias]\n",
        window.head, window.tail
    );
    for class in RouteClass::ALL {
        let _ = writeln!(out, "{class} = {:.2}", bias[class.index()]);
    }
    for (class, list) in weights {
        let _ = write!(out, "\n[weights.{class}]\n");
        for (feature, weight) in list {
            let _ = writeln!(out, "{} = {weight:.2}", quote(feature));
        }
    }
    for (class, regex, weight, why) in HAND_PATTERNS {
        let _ = write!(
            out,
            "\n[[patterns]]\nclass = \"{class}\"\nregex = {}\nweight = {weight:.1}\nwhy = \"{why}\"\n",
            literal(regex)
        );
    }
    out
}

/// A TOML basic string.
fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML literal string (no escapes), for regexes.
fn literal(text: &str) -> String {
    format!("'{text}'")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(text: &str, label: RouteClass) -> Row {
        Row {
            text: text.into(),
            label,
            label_method: Some("annotated".into()),
        }
    }

    #[test]
    fn learns_a_parseable_table_from_a_tiny_set() {
        let mut rows = Vec::new();
        for index in 0..6 {
            rows.push(row(
                &format!("write a poem about love {index}"),
                RouteClass::Critical,
            ));
            rows.push(row(
                &format!("what is the capital of peru {index}"),
                RouteClass::Faq,
            ));
            rows.push(row(
                &format!("debug this python code {index}"),
                RouteClass::Analyze,
            ));
        }
        let text = learn(&rows);
        let strategy = KeywordStrategy::new(KeywordTable::from_toml(&text, "test").unwrap());
        assert_eq!(
            strategy.classify_text("a poem please").class,
            RouteClass::Critical
        );
        assert_eq!(
            strategy.classify_text("my python code").class,
            RouteClass::Analyze
        );
        assert!(text.starts_with("# Keyword strategy defaults. GENERATED"));
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
    }
}
