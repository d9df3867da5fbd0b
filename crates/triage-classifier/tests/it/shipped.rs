//! Golden outputs of the shipped model (embedded from `models/default`): retraining the model
//! changes these snapshots, which is the point.

use triage_classifier::{
    Classifier, EMBEDDED_MODEL_ID, Precision, WEIGHTS_FILE, default_model_dir,
};
use triage_types::{RouteClass, TextClassifier};

use crate::robustness::check_odd_prompts;

/// Prompts of every class, a long one with its request at the end, high-stakes ones (medical,
/// legal) and a Chinese one.
const PROMPTS: &[&str] = &[
    "Extract all the dates and person names from this paragraph and return them as JSON: On 3 May 2021 Alice met Bob in Paris.",
    "What is the capital of Australia?",
    "Translate the following paragraph into French: The meeting has been moved to Thursday afternoon.",
    "Why does my Rust code fail to compile with 'borrowed value does not live long enough'? fn main() { let r; { let x = 5; r = &x; } println!(\"{}\", r); }",
    "A train leaves at 3pm going 60 mph and another at 4pm going 80 mph on the same track. When does the second catch up? Show each step.",
    "Write a short poem about autumn rain in the style of Emily Dickinson.",
    "I have chest pain spreading to my left arm and I feel dizzy. Should I wait until tomorrow to see a doctor?",
    "I take warfarin every day. Can I take ibuprofen for my back pain?",
    "Review this merger agreement and tell me whether we should sign it.",
    "我最近总是头痛，吃了布洛芬也不管用，需要去医院检查吗？",
    "Summarize the text below in two sentences. The quarterly report shows revenue up 12 percent, driven by strong sales in Europe, while costs rose only 3 percent thanks to the new logistics contract.",
];

fn rounded(scores: &triage_types::ClassScores) -> Vec<(RouteClass, f64)> {
    RouteClass::ALL
        .iter()
        .map(|class| {
            (
                *class,
                (f64::from(scores.get(*class)) * 1000.0).round() / 1000.0,
            )
        })
        .collect()
}

/// The shipped model in f32, as trained, whatever this CPU would run.
fn as_trained() -> Classifier {
    Classifier::embedded()
        .and_then(|classifier| classifier.with_precision(Precision::F32))
        .unwrap()
}

/// The model as trained (f32: within 1e-5 on every CPU, well below the snapshot's three
/// decimals); the next test holds the int8 pass to it.
#[test]
fn golden_predictions() {
    let classifier = as_trained();
    let report: Vec<String> = PROMPTS
        .iter()
        .map(|prompt| {
            let scores = classifier.classify(prompt).unwrap();
            let (best, probability) = scores.best();
            let all = rounded(&scores)
                .iter()
                .map(|(class, p)| format!("{class} {p:.3}"))
                .collect::<Vec<_>>()
                .join(", ");
            let preview: String = prompt.chars().take(60).collect();
            format!("{best} ({probability:.3}) <- {preview}\n    {all}")
        })
        .collect();
    insta::assert_snapshot!(report.join("\n"));
}

/// Where the CPU runs int8 (what `triage` then runs), it gives the golden prompts the same top
/// class as f32 and probabilities within 0.01 of its.
#[test]
fn the_int8_pass_keeps_the_golden_answers() {
    let float = as_trained();
    let int8 = float.clone().with_precision(Precision::Int8).unwrap();
    if int8.precision() != Precision::Int8 {
        eprintln!("no AVX-512 VNNI on this CPU: the classifier runs f32");
        return;
    }
    for prompt in PROMPTS {
        let (want, got) = (
            float.classify(prompt).unwrap(),
            int8.classify(prompt).unwrap(),
        );
        assert_eq!(got.best().0, want.best().0, "{prompt}");
        for class in RouteClass::ALL {
            let (want, got) = (want.get(class), got.get(class));
            assert!(
                (want - got).abs() < 0.01,
                "{prompt}: {class} {got} vs {want}"
            );
        }
    }
}

#[test]
fn the_embedded_model_is_the_one_in_models_default() {
    let embedded = Classifier::embedded().unwrap();
    let loaded = Classifier::load(&default_model_dir()).unwrap();
    assert_eq!(embedded.config(), loaded.config());
    assert_eq!(embedded.name(), "default");
    for prompt in PROMPTS {
        assert_eq!(
            embedded.classify(prompt).unwrap(),
            loaded.classify(prompt).unwrap()
        );
    }
}

#[test]
fn the_shipped_model_survives_odd_prompts() {
    check_odd_prompts(&Classifier::embedded().unwrap());
}

#[test]
fn the_shipped_model_is_small() {
    let total: u64 = [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "labels.json",
        "MODEL_CARD.md",
    ]
    .iter()
    .filter_map(|file| std::fs::metadata(default_model_dir().join(file)).ok())
    .map(|metadata| metadata.len())
    .sum();
    assert!(
        total <= 25 * 1024 * 1024,
        "models/default holds {total} bytes"
    );
}

#[test]
fn the_text_classifier_trait_reports_the_same_scores() {
    let classifier = Classifier::embedded().unwrap();
    let via_trait: &dyn TextClassifier = &classifier;
    let text = PROMPTS[1];
    assert_eq!(
        via_trait.classify_text(text).unwrap(),
        classifier.classify(text).unwrap()
    );
}

/// `EMBEDDED_MODEL_ID` (what `triage --version` prints) names the weights that are embedded.
#[test]
fn embedded_model_id_names_the_shipped_weights() {
    use sha2::Digest as _;
    let weights = std::fs::read(default_model_dir().join(WEIGHTS_FILE)).unwrap();
    let digest = sha2::Sha256::digest(&weights);
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    let expect = format!("default-{}", &hex[..12]);
    assert_eq!(
        EMBEDDED_MODEL_ID, expect,
        "models/default changed: set triage_classifier::EMBEDDED_MODEL_ID to {expect:?}"
    );
}
