//! Integration tests of triage-classifier: tiny models built from a `VarMap`, the shipped model's
//! golden outputs, robustness and file errors.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on unexpected errors"
)]

mod errors;
mod robustness;
#[cfg(feature = "embedded-model")]
mod shipped;
mod tiny;

use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use tokenizers::Tokenizer;
use triage_classifier::ModelConfig;
use triage_classifier::training::TrainableEncoder;
use triage_types::RouteClass;

/// Words of the tiny vocabulary, after the special tokens.
const WORDS: &[&str] = &[
    "summarize",
    "this",
    "text",
    "what",
    "is",
    "the",
    "capital",
    "of",
    "france",
    "write",
    "a",
    "poem",
    "about",
    "cats",
    "code",
    "plan",
    "trip",
    "##s",
    "##ing",
    "!",
    "?",
    ".",
    ",",
];

/// A tiny WordPiece tokenizer like the shipped one (lowercasing BERT normalizer).
pub(crate) fn tiny_tokenizer() -> Tokenizer {
    let vocab: serde_json::Map<String, serde_json::Value> =
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
            .iter()
            .chain(WORDS)
            .enumerate()
            .map(|(id, token)| ((*token).to_owned(), serde_json::json!(id)))
            .collect();
    let json = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": null,
        "decoder": null,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": vocab},
    });
    Tokenizer::from_bytes(json.to_string().as_bytes()).unwrap()
}

/// The tiny model's shape: every dimension small but more than one head and layer.
pub(crate) fn tiny_config() -> ModelConfig {
    ModelConfig {
        vocab_size: 5 + WORDS.len(),
        hidden_size: 16,
        num_layers: 2,
        num_heads: 4,
        intermediate_size: 32,
        max_tokens: 12,
        head_tokens: 3,
        layer_norm_eps: 1e-12,
        num_labels: 6,
        ngram_buckets: 0,
    }
}

/// A randomly initialised tiny model: its variables and the training view of them.
pub(crate) fn tiny_model() -> (VarMap, TrainableEncoder) {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let encoder = TrainableEncoder::new(&tiny_config(), &vb).unwrap();
    // Norm scales start at one and biases at zero; perturb them so the test covers them too.
    for var in varmap.all_vars() {
        let noise = var.as_tensor().randn_like(0.0, 0.1).unwrap();
        var.set(&(var.as_tensor() + noise).unwrap()).unwrap();
    }
    (varmap, encoder)
}

/// Labels in an order other than `RouteClass::ALL`, to check the mapping to class indices.
pub(crate) const TINY_LABELS: [RouteClass; 6] = [
    RouteClass::Critical,
    RouteClass::Extract,
    RouteClass::Reason,
    RouteClass::Faq,
    RouteClass::Analyze,
    RouteClass::Transform,
];

/// Writes a tiny model directory and returns the variables it was made from.
pub(crate) fn write_tiny_model(dir: &Path) -> (VarMap, TrainableEncoder) {
    let (varmap, encoder) = tiny_model();
    varmap.save(dir.join("model.safetensors")).unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&tiny_config()).unwrap(),
    )
    .unwrap();
    tiny_tokenizer()
        .save(dir.join("tokenizer.json"), false)
        .unwrap();
    let labels: Vec<&str> = TINY_LABELS.iter().map(|class| class.as_str()).collect();
    std::fs::write(
        dir.join("labels.json"),
        serde_json::to_string(&labels).unwrap(),
    )
    .unwrap();
    (varmap, encoder)
}

/// Prompts that must classify without panicking, whatever the model.
pub(crate) fn odd_prompts() -> Vec<(&'static str, String)> {
    vec![
        ("empty", String::new()),
        ("whitespace", " \t\n\r  \u{3000}\u{a0}".to_owned()),
        ("one megabyte", "summarize this text. ".repeat(50_000)),
        ("one megabyte without spaces", "x".repeat(1 << 20)),
        ("emoji", "🚀🔥 write a poem about 🐱🐱 cats 👩‍👩‍👧‍👦".to_owned()),
        (
            "cjk",
            "法国的首都是什么？東京は日本の首都です。서울은 한국의 수도입니다".to_owned(),
        ),
        (
            "control characters",
            "\u{0}\u{1}\u{7}\u{1b}[31mred\u{1b}[0m\u{7f}\u{200b}\u{feff}".to_owned(),
        ),
        (
            "invalid-looking specials",
            "[CLS] [SEP] [PAD] [UNK] [MASK] ##s ##".to_owned(),
        ),
    ]
}
