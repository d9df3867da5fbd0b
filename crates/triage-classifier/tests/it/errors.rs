//! Missing and corrupt model files give errors that name the file.

use triage_classifier::{Classifier, ClassifierError};

use crate::write_tiny_model;

const FILES: [&str; 4] = [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "labels.json",
];

#[test]
fn a_missing_file_is_named() {
    for file in FILES {
        let dir = tempfile::tempdir().unwrap();
        write_tiny_model(dir.path());
        std::fs::remove_file(dir.path().join(file)).unwrap();
        let error = Classifier::load(dir.path()).unwrap_err();
        assert!(
            matches!(&error, ClassifierError::Read { path, .. } if path.ends_with(file)),
            "{error:?}"
        );
        assert!(error.to_string().contains(file), "{error}");
    }
}

#[test]
fn a_corrupt_file_is_named() {
    for file in FILES {
        let dir = tempfile::tempdir().unwrap();
        write_tiny_model(dir.path());
        std::fs::write(dir.path().join(file), b"\x00\x01not what you expect{").unwrap();
        let error = Classifier::load(dir.path()).unwrap_err();
        assert!(error.to_string().contains(file), "{file}: {error}");
        let named = match &error {
            ClassifierError::Config { path, .. }
            | ClassifierError::Weights { path, .. }
            | ClassifierError::Tokenizer { path, .. }
            | ClassifierError::Labels { path, .. } => path.ends_with(file),
            _ => false,
        };
        assert!(named, "{file}: {error:?}");
    }
}

#[test]
fn wrong_contents_are_explained() {
    let cases: [(&str, &str, &str); 5] = [
        (
            "labels.json",
            r#"["extract","faq"]"#,
            "2 labels for 6 outputs",
        ),
        (
            "labels.json",
            r#"["extract","faq","faq","analyze","reason","critical"]"#,
            "appears twice",
        ),
        (
            "labels.json",
            r#"["extract","faq","expert","analyze","reason","critical"]"#,
            "unknown routing class",
        ),
        ("config.json", r#"{"vocab_size": 28}"#, "missing field"),
        (
            "config.json",
            r#"{"vocab_size":28,"hidden_size":15,"num_layers":2,"num_heads":4,"intermediate_size":32,"max_tokens":12,"head_tokens":3,"layer_norm_eps":1e-12,"num_labels":6}"#,
            "multiple of num_heads",
        ),
    ];
    for (file, contents, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        write_tiny_model(dir.path());
        std::fs::write(dir.path().join(file), contents).unwrap();
        let error = Classifier::load(dir.path()).unwrap_err().to_string();
        assert!(error.contains(file) && error.contains(message), "{error}");
    }
}

#[test]
fn weights_of_the_wrong_shape_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path());
    let config = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        config.replace("\"intermediate_size\": 32", "\"intermediate_size\": 64"),
    )
    .unwrap();
    let error = Classifier::load(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("model.safetensors") && error.contains("ffn.up.weight"),
        "{error}"
    );
}
