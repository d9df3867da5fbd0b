//! The classifier's one error type.

use std::path::PathBuf;

/// Everything that can go wrong loading or running a classifier model.
#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    /// A model file could not be read.
    #[error("cannot read model file {path}")]
    Read {
        /// The file that could not be read.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `config.json` is not a valid model configuration.
    #[error("invalid model config {path}: {message}")]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// `labels.json` is not a list of the six routing classes.
    #[error("invalid labels file {path}: {message}")]
    Labels {
        /// The labels file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// `tokenizer.json` cannot be parsed, or lacks a special token the model needs.
    #[error("invalid tokenizer {path}: {message}")]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// `model.safetensors` cannot be parsed, or a tensor is missing or has the wrong shape.
    #[error("invalid model weights {path}: {message}")]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Tokenizing a prompt failed.
    #[error("cannot tokenize the prompt: {message}")]
    Tokenize {
        /// The tokenizer's message.
        message: String,
    },
    /// A tensor operation failed while running the model.
    #[error("model inference failed")]
    Inference(#[from] candle_core::Error),
}
