//! A tiny model built from a `VarMap`: loading, inference, and the agreement of the training and
//! inference forward passes.

use candle_core::{D, Device, Tensor};
use triage_classifier::{Classifier, Precision};

use crate::{TINY_LABELS, tiny_config, write_tiny_model};

/// The training forward pass on one prompt, as logits in output order.
fn training_logits(
    encoder: &triage_classifier::training::TrainableEncoder,
    ids: &[u32],
) -> Vec<f32> {
    let ids = Tensor::new(ids, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let mask = ids
        .ones_like()
        .unwrap()
        .to_dtype(candle_core::DType::F32)
        .unwrap();
    encoder
        .forward(&ids, &mask, None)
        .unwrap()
        .squeeze(0)
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// The softmax of `logits`.
fn softmax(logits: &[f32]) -> Vec<f32> {
    candle_nn::ops::softmax(&Tensor::new(logits, &Device::Cpu).unwrap(), D::Minus1)
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// The training forward pass on one prompt, as class probabilities in output order.
fn training_probabilities(
    encoder: &triage_classifier::training::TrainableEncoder,
    ids: &[u32],
) -> Vec<f32> {
    softmax(&training_logits(encoder, ids))
}

#[test]
fn loads_from_a_directory_and_matches_the_training_forward_pass() {
    let dir = tempfile::tempdir().unwrap();
    let (_varmap, encoder) = write_tiny_model(dir.path());
    // f32 is the training pass's arithmetic; int8 (where the CPU runs it) is checked below.
    let classifier = Classifier::load(dir.path())
        .unwrap()
        .with_precision(Precision::F32)
        .unwrap();
    let int8 = classifier.clone().with_precision(Precision::Int8).unwrap();
    assert_eq!(classifier.config(), &tiny_config());
    assert_eq!(classifier.labels(), TINY_LABELS);

    for text in [
        "summarize this text!",
        "what is the capital of france?",
        "",
        "write a poem about cats, plan a trip, code",
    ] {
        let ids = classifier.encode(text).unwrap();
        let fast = classifier.probabilities(&ids).unwrap();
        let slow = training_probabilities(&encoder, &ids);
        for (fast, slow) in fast.iter().zip(&slow) {
            assert!((fast - slow).abs() < 1e-5, "{text:?}: {fast:?} vs {slow:?}");
        }
        for (int8, slow) in int8.probabilities(&ids).unwrap().iter().zip(&slow) {
            assert!(
                (int8 - slow).abs() < 0.02,
                "{text:?}, int8: {int8:?} vs {slow:?}"
            );
        }
        // Scores are indexed by class, not by output.
        let scores = classifier.classify(text).unwrap();
        for (output, class) in TINY_LABELS.iter().enumerate() {
            assert!((scores.get(*class) - fast[output]).abs() < 1e-6);
        }
        assert!((scores.0.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
}

#[test]
fn padding_does_not_change_the_training_forward_pass() {
    let dir = tempfile::tempdir().unwrap();
    let (_varmap, encoder) = write_tiny_model(dir.path());
    let classifier = Classifier::load(dir.path()).unwrap();
    let short = classifier.encode("what is the capital").unwrap();
    let long = classifier
        .encode("write a poem about cats and plan a trip")
        .unwrap();
    let tokens = long.len();
    let mut padded = short.clone();
    padded.resize(tokens, 0);
    let ids = Tensor::from_vec([padded, long.clone()].concat(), (2, tokens), &Device::Cpu).unwrap();
    let mask: Vec<Vec<f32>> = [short.len(), long.len()]
        .iter()
        .map(|len| {
            (0..tokens)
                .map(|i| if i < *len { 1.0 } else { 0.0 })
                .collect()
        })
        .collect();
    let mask = Tensor::from_vec(mask.concat(), (2, tokens), &Device::Cpu).unwrap();
    let logits = encoder.forward(&ids, &mask, None).unwrap();
    let batch: Vec<Vec<f32>> = candle_nn::ops::softmax(&logits, D::Minus1)
        .unwrap()
        .to_vec2()
        .unwrap();
    for (row, ids) in [short, long].iter().enumerate() {
        let single = training_probabilities(&encoder, ids);
        for (batched, single) in batch[row].iter().zip(&single) {
            assert!((batched - single).abs() < 1e-5);
        }
    }
}

#[test]
fn long_prompts_keep_their_first_and_last_tokens() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path());
    let classifier = Classifier::load(dir.path()).unwrap();
    let tokenizer = classifier.tokenizer().tokenizer();
    let id = |token: &str| tokenizer.token_to_id(token).unwrap();
    // 12 tokens at most: [CLS], 3 head tokens, 7 tail tokens, [SEP].
    let text =
        "what is the capital of france this text this text this text write a poem about cats";
    let ids = classifier.encode(text).unwrap();
    let expected_head: Vec<u32> = ["[CLS]", "what", "is", "the"]
        .iter()
        .map(|t| id(t))
        .collect();
    let expected_tail: Vec<u32> = ["text", "write", "a", "poem", "about", "cats", "[SEP]"]
        .iter()
        .map(|t| id(t))
        .collect();
    assert_eq!(ids.len(), 12);
    assert_eq!(ids[..4], expected_head[..]);
    assert_eq!(ids[5..], expected_tail[..]);
}

#[test]
fn dropout_is_deterministic_for_a_seed() {
    let x = Tensor::ones((4, 64), candle_core::DType::F32, &Device::Cpu).unwrap();
    let first = triage_classifier::training::Dropout::new(0.5, 7)
        .apply(&x)
        .unwrap();
    let second = triage_classifier::training::Dropout::new(0.5, 7)
        .apply(&x)
        .unwrap();
    let other = triage_classifier::training::Dropout::new(0.5, 8)
        .apply(&x)
        .unwrap();
    let first: Vec<f32> = first.flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(
        first,
        second.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
    assert_ne!(
        first,
        other.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
    let kept = first.iter().filter(|value| **value > 0.0).count();
    assert!((64..192).contains(&kept), "kept {kept} of 256");
    assert!(first.iter().all(|value| *value == 0.0 || *value == 2.0));
}

#[test]
fn the_tiny_model_config_round_trips() {
    let config = tiny_config();
    let json = serde_json::to_string(&config).unwrap();
    assert_eq!(
        serde_json::from_str::<triage_classifier::ModelConfig>(&json).unwrap(),
        config
    );
    assert!(
        serde_json::from_str::<triage_classifier::ModelConfig>(&json.replace('}', ",\"extra\":1}"))
            .is_err()
    );
}

#[test]
fn an_ngram_head_adds_its_logits_to_the_encoders() {
    let dir = tempfile::tempdir().unwrap();
    let (varmap, encoder) = write_tiny_model(dir.path());
    let buckets = 8;
    let config = triage_classifier::ModelConfig {
        ngram_buckets: buckets,
        ..tiny_config()
    };
    let table = Tensor::randn(0f32, 2.0, (buckets, 6), &Device::Cpu).unwrap();
    let mut tensors: std::collections::HashMap<String, Tensor> = varmap
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(name, var)| (name.clone(), var.as_tensor().clone()))
        .collect();
    tensors.insert(
        triage_classifier::params::NGRAM_WEIGHTS.to_owned(),
        table.clone(),
    );
    let classifier = Classifier::from_parts(
        "tiny-ngrams",
        config,
        tensors,
        crate::tiny_tokenizer(),
        TINY_LABELS.to_vec(),
    )
    .and_then(|classifier| classifier.with_precision(Precision::F32))
    .unwrap();
    let table: Vec<Vec<f32>> = table.to_vec2().unwrap();
    for text in ["summarize this text!", "what is the capital of france?", ""] {
        let ids = classifier.encode(text).unwrap();
        let mut logits = training_logits(&encoder, &ids);
        let rows = triage_classifier::ngrams::features(&ids, buckets);
        let value = triage_classifier::ngrams::feature_value(rows.len());
        for row in &rows {
            for (logit, weight) in logits.iter_mut().zip(&table[*row as usize]) {
                *logit += value * weight;
            }
        }
        let expected = softmax(&logits);
        let actual = classifier.probabilities(&ids).unwrap();
        for (actual, expected) in actual.iter().zip(&expected) {
            assert!(
                (actual - expected).abs() < 1e-5,
                "{text:?}: {actual:?} vs {expected:?}"
            );
        }
    }
}

#[test]
fn a_config_with_an_ngram_head_needs_its_table() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path());
    let config = triage_classifier::ModelConfig {
        ngram_buckets: 8,
        ..tiny_config()
    };
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::to_string(&config).unwrap(),
    )
    .unwrap();
    let error = Classifier::load(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("model.safetensors") && error.contains("ngrams.weight"),
        "{error}"
    );
}

/// Pruning the feed-forward layers keeps the units that fire: a unit that never fires (its bias
/// pushed far below zero) has no importance, and dropping every such unit leaves the
/// probabilities as they were; keeping fewer changes them, and the new width is in the config.
#[test]
fn pruning_drops_the_units_that_never_fire() {
    use std::collections::HashMap;

    use candle_core::{Device, Tensor};
    use triage_classifier::params::layer_prefix;
    use triage_classifier::prune::prune_ffn;

    let dir = tempfile::tempdir().unwrap();
    let (varmap, _) = write_tiny_model(dir.path());
    let config = tiny_config();
    let width = config.intermediate_size;
    // Silence every odd unit of each layer.
    let mut tensors: HashMap<String, Tensor> = varmap
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(name, var)| (name.clone(), var.as_tensor().copy().unwrap()))
        .collect();
    let silenced: Vec<f32> = (0..width)
        .map(|unit| if unit % 2 == 1 { -1e6 } else { 0.0 })
        .collect();
    let silenced = Tensor::from_vec(silenced, width, &Device::Cpu).unwrap();
    for layer in 0..config.num_layers {
        let name = layer_prefix(layer, "ffn.up.bias");
        let bias = (&tensors[&name] + &silenced).unwrap();
        tensors.insert(name, bias);
    }
    let build = |config: &triage_classifier::ModelConfig, tensors: HashMap<String, Tensor>| {
        Classifier::from_parts(
            "tiny",
            config.clone(),
            tensors,
            crate::tiny_tokenizer(),
            TINY_LABELS.to_vec(),
        )
        .and_then(|classifier| classifier.with_precision(Precision::F32))
        .unwrap()
    };
    let full = build(&config, tensors.clone());
    let prompts = [
        "summarize this text!",
        "what is the capital of france?",
        "write a poem about cats, plan a trip, code",
    ];
    let importance = full.ffn_importance(prompts).unwrap();
    for row in &importance {
        assert_eq!(row.len(), width);
        assert!(
            row.iter().skip(1).step_by(2).all(|value| *value == 0.0),
            "{row:?}"
        );
    }

    let (half, pruned) = prune_ffn(&config, tensors.clone(), &importance, width / 2).unwrap();
    assert_eq!(half.intermediate_size, width / 2);
    let half = build(&half, pruned);
    let (quarter, pruned) = prune_ffn(&config, tensors.clone(), &importance, width / 4).unwrap();
    let quarter = build(&quarter, pruned);
    let mut changed = false;
    for text in prompts {
        let before = full.classify(text).unwrap();
        let after = half.classify(text).unwrap();
        for (before, after) in before.0.iter().zip(after.0) {
            assert!(
                (before - after).abs() < 1e-5,
                "{text:?}: {before} vs {after}"
            );
        }
        changed |= quarter.classify(text).unwrap() != before;
    }
    assert!(changed, "dropping units that fire changes the answers");

    for keep in [0, width + 1] {
        let error = prune_ffn(&config, tensors.clone(), &importance, keep).unwrap_err();
        assert!(error.contains("cannot keep"), "{error}");
    }
}
