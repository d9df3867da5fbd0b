//! The training forward pass: the same encoder as [`crate::Classifier`] runs, written for padded
//! batches with differentiable operations only (candle-nn's fused layer norm and softmax have no
//! backward pass), plus seeded dropout so training is reproducible.

use candle_core::{D, DType, Result, Tensor};
use candle_nn::{Init, VarBuilder};

use crate::ModelConfig;
use crate::params::{ParamKind, param_specs};

/// Initial standard deviation of linear weights and embeddings (as in BERT).
const INIT_STDDEV: f64 = 0.02;

/// The encoder's tensors as trainable variables, with a batch forward pass.
#[derive(Debug, Clone)]
pub struct TrainableEncoder {
    config: ModelConfig,
    /// The tensors, in [`param_specs`] order.
    tensors: Vec<Tensor>,
    activation: Activation,
}

/// The feed-forward layers' activation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    /// `max(0, x)`: what the shipped inference path runs.
    #[default]
    Relu,
    /// GELU (tanh approximation), as in BERT-style models.
    Gelu,
}

/// Tensors per transformer layer in [`param_specs`] order: four linears and two norms, each a
/// weight and a bias.
const TENSORS_PER_LAYER: usize = 12;

/// Inverted dropout driven by a seeded generator, so two runs with one seed drop the same units.
#[derive(Debug, Clone)]
pub struct Dropout {
    rate: f32,
    state: u64,
}

impl Dropout {
    /// Dropout with probability `rate`, seeded by `seed`.
    pub fn new(rate: f32, seed: u64) -> Self {
        Self {
            rate,
            state: seed ^ 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// The next value of a SplitMix64 generator.
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Zeroes each element with probability `rate` and scales the others by `1 / (1 - rate)`.
    pub fn apply(&mut self, xs: &Tensor) -> Result<Tensor> {
        if self.rate <= 0.0 {
            return Ok(xs.clone());
        }
        let keep = 1.0 / (1.0 - self.rate);
        let threshold = (f64::from(self.rate) * (1u64 << 53) as f64) as u64;
        let mask: Vec<f32> = (0..xs.elem_count())
            .map(|_| {
                if (self.next_u64() >> 11) < threshold {
                    0.0
                } else {
                    keep
                }
            })
            .collect();
        let mask = Tensor::from_vec(mask, xs.shape(), xs.device())?;
        xs * mask
    }
}

impl TrainableEncoder {
    /// Gets (or creates, with BERT's initialisation) every tensor of a model with `config` from
    /// `vb`. With a `VarMap` behind `vb`, pre-filled variables are used as they are.
    pub fn new(config: &ModelConfig, vb: &VarBuilder) -> Result<Self> {
        let tensors = param_specs(config)
            .into_iter()
            .map(|spec| {
                let init = match spec.kind {
                    ParamKind::Embedding | ParamKind::Linear => Init::Randn {
                        mean: 0.0,
                        stdev: INIT_STDDEV,
                    },
                    ParamKind::NormScale => Init::Const(1.0),
                    ParamKind::Bias => Init::Const(0.0),
                };
                vb.get_with_hints(spec.shape.as_slice(), &spec.name, init)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            config: config.clone(),
            tensors,
            activation: Activation::Relu,
        })
    }

    /// Logits `(batch, num_labels)` for token ids `(batch, tokens)` (u32) whose real tokens are
    /// marked by ones in `mask` `(batch, tokens)` (f32, zeros on padding). With `dropout`, applies
    /// it after the embeddings, inside each layer and before the head.
    pub fn forward(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        dropout: Option<&mut Dropout>,
    ) -> Result<Tensor> {
        self.forward_embedded(&self.token_embeddings(ids)?, mask, dropout)
    }

    /// The model's own token embeddings `(batch, tokens, hidden)` of token ids `(batch, tokens)`.
    pub fn token_embeddings(&self, ids: &Tensor) -> Result<Tensor> {
        let (batch, tokens) = ids.dims2()?;
        self.tensors[0]
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((batch, tokens, self.config.hidden_size))
    }

    /// Like [`TrainableEncoder::forward`], from token embeddings `(batch, tokens, hidden)`
    /// already looked up (or computed some other way, such as a trained projection of frozen
    /// embeddings); the model's own token embedding table is not used.
    pub fn forward_embedded(
        &self,
        embedded: &Tensor,
        mask: &Tensor,
        mut dropout: Option<&mut Dropout>,
    ) -> Result<Tensor> {
        let xs = self.embed(embedded, dropout.as_deref_mut())?;
        let xs = self.layers(&xs, mask, 0..self.config.num_layers, dropout.as_deref_mut())?;
        self.head(&xs, mask, dropout)
    }

    /// The hidden states entering the first layer: token embeddings `(batch, tokens, hidden)`
    /// plus position embeddings, layer-normed.
    pub fn embed(&self, embedded: &Tensor, dropout: Option<&mut Dropout>) -> Result<Tensor> {
        let tokens = embedded.dim(1)?;
        let [_word, position, norm_scale, norm_shift] = &self.tensors[..4] else {
            return Err(candle_core::Error::Msg(
                "missing embedding parameters".into(),
            ));
        };
        let xs = embedded.broadcast_add(&position.narrow(0, 0, tokens)?)?;
        maybe_drop(
            layer_norm(&xs, norm_scale, norm_shift, self.config.layer_norm_eps)?,
            dropout,
        )
    }

    /// Runs the hidden states `(batch, tokens, hidden)` through the transformer layers in
    /// `layers` (a range of layer indices), with padding marked by zeros in `mask`.
    pub fn layers(
        &self,
        xs: &Tensor,
        mask: &Tensor,
        layers: std::ops::Range<usize>,
        mut dropout: Option<&mut Dropout>,
    ) -> Result<Tensor> {
        let (batch, tokens, _) = xs.dims3()?;
        let config = &self.config;
        let hidden = config.hidden_size;
        let heads = config.num_heads;
        let head_size = config.head_size();
        let eps = config.layer_norm_eps;
        // Padding gets a large negative score before the softmax.
        let attention_bias = ((mask.reshape((batch, 1, 1, tokens))? - 1.0)? * 1e4)?;
        let scale = 1.0 / (head_size as f64).sqrt();
        let mut xs = xs.clone();
        for layer in layers {
            let start = 4 + layer * TENSORS_PER_LAYER;
            let Some(
                [
                    qkv_weight,
                    qkv_bias,
                    output_weight,
                    output_bias,
                    attention_scale,
                    attention_shift,
                    up_weight,
                    up_bias,
                    down_weight,
                    down_bias,
                    ffn_scale,
                    ffn_shift,
                ],
            ) = self.tensors.get(start..start + TENSORS_PER_LAYER)
            else {
                return Err(candle_core::Error::Msg(format!("no layer {layer}")));
            };
            let qkv = linear(&xs, qkv_weight, qkv_bias)?
                .reshape((batch, tokens, 3 * heads, head_size))?
                .transpose(1, 2)?
                .contiguous()?;
            let query = qkv.narrow(1, 0, heads)?;
            let key = qkv.narrow(1, heads, heads)?;
            let value = qkv.narrow(1, 2 * heads, heads)?.contiguous()?;
            let scores = (query.contiguous()?.matmul(&key.t()?.contiguous()?)? * scale)?
                .broadcast_add(&attention_bias)?;
            let probabilities = maybe_drop(
                candle_nn::ops::softmax(&scores, D::Minus1)?,
                dropout.as_deref_mut(),
            )?;
            let context = probabilities
                .matmul(&value)?
                .transpose(1, 2)?
                .reshape((batch, tokens, hidden))?;
            let attention = maybe_drop(
                linear(&context, output_weight, output_bias)?,
                dropout.as_deref_mut(),
            )?;
            xs = layer_norm(&(attention + xs)?, attention_scale, attention_shift, eps)?;
            let up = linear(&xs, up_weight, up_bias)?;
            let up = match self.activation {
                Activation::Relu => up.relu()?,
                Activation::Gelu => up.gelu()?,
            };
            let ffn = linear(&up, down_weight, down_bias)?;
            xs = layer_norm(
                &(maybe_drop(ffn, dropout.as_deref_mut())? + xs)?,
                ffn_scale,
                ffn_shift,
                eps,
            )?;
        }
        Ok(xs)
    }

    /// Logits `(batch, num_labels)` from the last layer's hidden states: the mean over the real
    /// tokens (ones in `mask`), then the linear head.
    pub fn head(
        &self,
        xs: &Tensor,
        mask: &Tensor,
        dropout: Option<&mut Dropout>,
    ) -> Result<Tensor> {
        let mask = mask.to_dtype(DType::F32)?;
        let summed = xs.broadcast_mul(&mask.unsqueeze(2)?)?.sum(1)?;
        let counts = mask.sum_keepdim(1)?;
        let pooled = maybe_drop(summed.broadcast_div(&counts)?, dropout)?;
        let [head_weight, head_bias] = &self.tensors[self.tensors.len() - 2..] else {
            return Err(candle_core::Error::Msg("missing head parameters".into()));
        };
        linear(&pooled, head_weight, head_bias)
    }

    /// Uses `activation` in the feed-forward layers instead of ReLU (the shipped inference path
    /// only runs ReLU; GELU is for fine-tuning BERT-style teachers such as all-MiniLM-L6-v2).
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// The configuration this encoder was built for.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }
}

fn maybe_drop(xs: Tensor, dropout: Option<&mut Dropout>) -> Result<Tensor> {
    match dropout {
        Some(dropout) => dropout.apply(&xs),
        None => Ok(xs),
    }
}

/// `xs @ weight^T + bias` for `xs` of any rank, `weight` stored `(out, in)`.
fn linear(xs: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    let dims = xs.dims();
    let input = dims[dims.len() - 1];
    let rows = xs.elem_count() / input;
    let out = weight.dim(0)?;
    let mut out_dims = dims.to_vec();
    let last = out_dims.len() - 1;
    out_dims[last] = out;
    xs.reshape((rows, input))?
        .matmul(&weight.t()?)?
        .broadcast_add(bias)?
        .reshape(out_dims)
}

/// A differentiable layer norm over the last dimension.
fn layer_norm(xs: &Tensor, scale: &Tensor, shift: &Tensor, eps: f64) -> Result<Tensor> {
    candle_nn::ops::layer_norm_slow(xs, scale, shift, eps as f32)
}
