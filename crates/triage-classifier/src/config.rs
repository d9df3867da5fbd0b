//! `config.json`: the shape of the encoder and how prompts are truncated.

use serde::{Deserialize, Serialize};

/// The encoder's hyper-parameters, as stored in a model directory's `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Number of entries in the token embedding table (the tokenizer's vocabulary size).
    pub vocab_size: usize,
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Number of transformer layers.
    pub num_layers: usize,
    /// Number of attention heads; divides `hidden_size`.
    pub num_heads: usize,
    /// Width of the feed-forward (ReLU) layer.
    pub intermediate_size: usize,
    /// Most tokens the model reads, `[CLS]` and `[SEP]` included; also the number of position
    /// embeddings.
    pub max_tokens: usize,
    /// When a prompt is longer than `max_tokens`, how many of its first tokens are kept; the rest
    /// of the budget goes to its last tokens, where the request often is.
    pub head_tokens: usize,
    /// Epsilon of every layer norm.
    pub layer_norm_eps: f64,
    /// Number of output classes (entries in `labels.json`).
    pub num_labels: usize,
    /// Rows of the n-gram head's hashed table (`ngrams.weight`); 0, the default, means the model
    /// has no n-gram head.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ngram_buckets: usize,
}

fn is_zero(value: &usize) -> bool {
    *value == 0
}

impl ModelConfig {
    /// Checks that the numbers fit together, returning what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.hidden_size == 0
            || self.num_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_heads)
        {
            return Err(format!(
                "hidden_size {} is not a positive multiple of num_heads {}",
                self.hidden_size, self.num_heads
            ));
        }
        if self.max_tokens < 3 {
            return Err(format!("max_tokens {} is below 3", self.max_tokens));
        }
        if self.head_tokens > self.max_tokens - 2 {
            return Err(format!(
                "head_tokens {} leaves no room in max_tokens {}",
                self.head_tokens, self.max_tokens
            ));
        }
        if self.vocab_size == 0 || self.intermediate_size == 0 || self.num_labels == 0 {
            return Err("vocab_size, intermediate_size and num_labels must be positive".into());
        }
        Ok(())
    }

    /// Size of one attention head.
    pub fn head_size(&self) -> usize {
        self.hidden_size / self.num_heads
    }
}
