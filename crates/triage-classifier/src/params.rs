//! The names and shapes of the encoder's tensors, shared by the inference and training paths so
//! that trained weights load into the fast forward pass.

use crate::ModelConfig;

/// What a tensor is, which decides how training initialises it and whether weight decay applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// An embedding table (rows are tokens or positions).
    Embedding,
    /// A linear layer's weight, stored `(out, in)` as in PyTorch.
    Linear,
    /// A layer norm's scale (starts at one).
    NormScale,
    /// A bias or a layer norm's shift (starts at zero).
    Bias,
}

/// One tensor of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSpec {
    /// The tensor's name in `model.safetensors`.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// What it is.
    pub kind: ParamKind,
}

/// Name of the token embedding table.
pub const WORD_EMBEDDINGS: &str = "embeddings.word.weight";
/// Name of the position embedding table.
pub const POSITION_EMBEDDINGS: &str = "embeddings.position.weight";
/// Name prefix of the layer norm applied to the embeddings.
pub const EMBEDDINGS_NORM: &str = "embeddings.norm";
/// Name prefix of the classification head.
pub const CLASSIFIER: &str = "classifier";
/// Name of the n-gram head's table, `(ngram_buckets, num_labels)`, present when
/// `ngram_buckets` is not 0; it is not part of [`param_specs`] (training builds it separately).
pub const NGRAM_WEIGHTS: &str = "ngrams.weight";

/// The name prefix of `layer`'s sub-module `part`, e.g. `layers.0.attention.qkv`.
pub fn layer_prefix(layer: usize, part: &str) -> String {
    format!("layers.{layer}.{part}")
}

/// The sub-modules of a layer: (part, output width, input width) for linear parts.
pub(crate) fn layer_linears(config: &ModelConfig) -> [(&'static str, usize, usize); 4] {
    let hidden = config.hidden_size;
    let ffn = config.intermediate_size;
    [
        ("attention.qkv", 3 * hidden, hidden),
        ("attention.output", hidden, hidden),
        ("ffn.up", ffn, hidden),
        ("ffn.down", hidden, ffn),
    ]
}

/// The layer norms of a layer.
pub(crate) const LAYER_NORMS: [&str; 2] = ["attention.norm", "ffn.norm"];

/// Every tensor of a model with `config`, in a fixed order.
pub fn param_specs(config: &ModelConfig) -> Vec<ParamSpec> {
    let hidden = config.hidden_size;
    let mut specs = vec![
        ParamSpec {
            name: WORD_EMBEDDINGS.to_owned(),
            shape: vec![config.vocab_size, hidden],
            kind: ParamKind::Embedding,
        },
        ParamSpec {
            name: POSITION_EMBEDDINGS.to_owned(),
            shape: vec![config.max_tokens, hidden],
            kind: ParamKind::Embedding,
        },
    ];
    push_norm(&mut specs, EMBEDDINGS_NORM.to_owned(), hidden);
    for layer in 0..config.num_layers {
        let [qkv, output, up, down] = layer_linears(config);
        for (part, out, input) in [qkv, output] {
            push_linear(&mut specs, layer_prefix(layer, part), out, input);
        }
        push_norm(&mut specs, layer_prefix(layer, LAYER_NORMS[0]), hidden);
        for (part, out, input) in [up, down] {
            push_linear(&mut specs, layer_prefix(layer, part), out, input);
        }
        push_norm(&mut specs, layer_prefix(layer, LAYER_NORMS[1]), hidden);
    }
    push_linear(&mut specs, CLASSIFIER.to_owned(), config.num_labels, hidden);
    specs
}

fn push_linear(specs: &mut Vec<ParamSpec>, prefix: String, out: usize, input: usize) {
    specs.push(ParamSpec {
        name: format!("{prefix}.weight"),
        shape: vec![out, input],
        kind: ParamKind::Linear,
    });
    specs.push(ParamSpec {
        name: format!("{prefix}.bias"),
        shape: vec![out],
        kind: ParamKind::Bias,
    });
}

fn push_norm(specs: &mut Vec<ParamSpec>, prefix: String, hidden: usize) {
    specs.push(ParamSpec {
        name: format!("{prefix}.weight"),
        shape: vec![hidden],
        kind: ParamKind::NormScale,
    });
    specs.push(ParamSpec {
        name: format!("{prefix}.bias"),
        shape: vec![hidden],
        kind: ParamKind::Bias,
    });
}
