//! The inference forward pass, written for one prompt at a time: fused QKV projection,
//! weights transposed once at load time, no attention mask, fused layer norms.

use std::collections::HashMap;

use candle_core::{Device, Tensor};

use crate::attention::Attention;
use crate::linear::{Dense, Kernel, PackedLinear};
use crate::ngrams::NgramHead;
use crate::params::{
    CLASSIFIER, EMBEDDINGS_NORM, LAYER_NORMS, NGRAM_WEIGHTS, POSITION_EMBEDDINGS, WORD_EMBEDDINGS,
    layer_prefix,
};
use crate::quantized::QuantizedLinear;
use crate::stack::{RowNorm, Stack, StackLayer, StackLinear};
use crate::{ModelConfig, Precision};

/// A layer norm's scale and shift.
#[derive(Debug, Clone)]
struct Norm {
    scale: Tensor,
    shift: Tensor,
    eps: f32,
}

impl Norm {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm(xs, &self.scale, &self.shift, self.eps)
    }

    fn row_norm(&self) -> candle_core::Result<RowNorm> {
        Ok(RowNorm {
            scale: self.scale.to_vec1()?,
            shift: self.shift.to_vec1()?,
            eps: self.eps,
        })
    }
}

/// A linear layer (optionally followed by a ReLU) with its weight stored `(in, out)`, so
/// `xs.matmul` needs no transpose.
#[derive(Debug, Clone)]
struct Linear {
    weight_t: Tensor,
    bias: Tensor,
    relu: bool,
}

impl Linear {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let ys = xs.matmul(&self.weight_t)?.broadcast_add(&self.bias)?;
        if self.relu { ys.relu() } else { Ok(ys) }
    }

    /// The same layer packed for `kernel` in `precision` (int8 only where the CPU runs it).
    fn packed(&self, kernel: Kernel, precision: Precision) -> candle_core::Result<StackLinear> {
        let (input, output) = self.weight_t.dims2()?;
        let weight_t = self.weight_t.flatten_all()?.to_vec1::<f32>()?;
        let bias = self.bias.to_vec1::<f32>()?;
        let dense = Dense {
            weight_t: &weight_t,
            bias: &bias,
            input,
            output,
            relu: self.relu,
        };
        Ok(match precision {
            Precision::Int8 => StackLinear::Int8(QuantizedLinear::new(dense)),
            Precision::F32 => StackLinear::F32(PackedLinear::with_kernel(kernel, dense)),
        })
    }
}

#[derive(Debug, Clone)]
struct Layer {
    /// Query, key and value projections in one matrix; the query part is pre-scaled by
    /// `1/sqrt(head_size)`.
    qkv: Linear,
    output: Linear,
    attention_norm: Norm,
    up: Linear,
    down: Linear,
    ffn_norm: Norm,
}

/// The encoder and its classification head, ready for batch-of-one inference.
#[derive(Debug, Clone)]
pub(crate) struct Encoder {
    config: ModelConfig,
    word: Tensor,
    position: Tensor,
    embeddings_norm: Norm,
    layers: Vec<Layer>,
    /// The layers packed for this CPU's SIMD kernels, where it has them; else candle's
    /// operations run every pass.
    stack: Option<Stack>,
    /// The head's weight, `(num_labels, hidden)` row-major, applied in plain Rust.
    head_weight: Vec<f32>,
    head_bias: Vec<f32>,
    /// The n-gram head, when the model has one.
    ngrams: Option<NgramHead>,
}

/// Takes a tensor out of the loaded map, checking its shape.
struct Tensors {
    tensors: HashMap<String, Tensor>,
}

impl Tensors {
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Tensor, String> {
        let tensor = self
            .tensors
            .remove(name)
            .ok_or_else(|| format!("missing tensor `{name}`"))?;
        if tensor.dims() != shape {
            return Err(format!(
                "tensor `{name}` has shape {:?}, expected {shape:?}",
                tensor.dims()
            ));
        }
        tensor
            .to_dtype(candle_core::DType::F32)
            .map_err(|error| format!("tensor `{name}`: {error}"))
    }

    /// The weight `(out, input)` transposed, and the bias; `scale` multiplies both per output.
    fn linear(
        &mut self,
        prefix: &str,
        out: usize,
        input: usize,
        scale: Option<&Tensor>,
        relu: bool,
    ) -> Result<Linear, String> {
        let weight = self.take(&format!("{prefix}.weight"), &[out, input])?;
        let bias = self.take(&format!("{prefix}.bias"), &[out])?;
        let scaled = || -> candle_core::Result<Linear> {
            let mut weight_t = weight.t()?.contiguous()?;
            let mut bias = bias;
            if let Some(scale) = scale {
                weight_t = weight_t.broadcast_mul(scale)?;
                bias = (&bias * scale)?;
            }
            Ok(Linear {
                weight_t,
                bias,
                relu,
            })
        };
        scaled().map_err(|error| format!("tensor `{prefix}`: {error}"))
    }

    fn norm(&mut self, prefix: &str, hidden: usize, eps: f64) -> Result<Norm, String> {
        Ok(Norm {
            scale: self.take(&format!("{prefix}.weight"), &[hidden])?,
            shift: self.take(&format!("{prefix}.bias"), &[hidden])?,
            eps: eps as f32,
        })
    }
}

impl Encoder {
    /// Builds the encoder from the tensors of `model.safetensors`; the error says what is wrong.
    pub(crate) fn new(
        config: &ModelConfig,
        tensors: HashMap<String, Tensor>,
    ) -> Result<Self, String> {
        let hidden = config.hidden_size;
        let eps = config.layer_norm_eps;
        let mut tensors = Tensors { tensors };
        let word = tensors.take(WORD_EMBEDDINGS, &[config.vocab_size, hidden])?;
        let position = tensors.take(POSITION_EMBEDDINGS, &[config.max_tokens, hidden])?;
        let embeddings_norm = tensors.norm(EMBEDDINGS_NORM, hidden, eps)?;
        let query_scale = 1.0 / (config.head_size() as f64).sqrt();
        let mut scale = vec![query_scale as f32; hidden];
        scale.extend(std::iter::repeat_n(1.0f32, 2 * hidden));
        let scale = Tensor::from_vec(scale, 3 * hidden, &Device::Cpu).map_err(|e| e.to_string())?;
        let mut layers = Vec::with_capacity(config.num_layers);
        for layer in 0..config.num_layers {
            let prefix = |part: &str| layer_prefix(layer, part);
            let [qkv, output, up, down] = crate::params::layer_linears(config);
            layers.push(Layer {
                qkv: tensors.linear(&prefix(qkv.0), qkv.1, qkv.2, Some(&scale), false)?,
                output: tensors.linear(&prefix(output.0), output.1, output.2, None, false)?,
                attention_norm: tensors.norm(&prefix(LAYER_NORMS[0]), hidden, eps)?,
                up: tensors.linear(&prefix(up.0), up.1, up.2, None, true)?,
                down: tensors.linear(&prefix(down.0), down.1, down.2, None, false)?,
                ffn_norm: tensors.norm(&prefix(LAYER_NORMS[1]), hidden, eps)?,
            });
        }
        let head_weight = tensors
            .take(
                &format!("{CLASSIFIER}.weight"),
                &[config.num_labels, hidden],
            )?
            .flatten_all()
            .and_then(|weight| weight.to_vec1::<f32>())
            .map_err(|e| e.to_string())?;
        let head_bias = tensors
            .take(&format!("{CLASSIFIER}.bias"), &[config.num_labels])?
            .to_vec1::<f32>()
            .map_err(|e| e.to_string())?;
        let ngrams = match config.ngram_buckets {
            0 => None,
            buckets => {
                let table = tensors.take(NGRAM_WEIGHTS, &[buckets, config.num_labels])?;
                let weights = table
                    .flatten_all()
                    .and_then(|table| table.to_vec1::<f32>())
                    .map_err(|e| e.to_string())?;
                Some(NgramHead::new(weights, buckets, config.num_labels))
            }
        };
        if let Some(name) = tensors.tensors.keys().next() {
            return Err(format!("unexpected tensor `{name}`"));
        }
        let stack = match Kernel::detect() {
            Some(kernel) => Some(
                pack(kernel, config, &layers, Precision::detect()).map_err(|e| e.to_string())?,
            ),
            None => None,
        };
        Ok(Self {
            config: config.clone(),
            word,
            position,
            embeddings_norm,
            layers,
            stack,
            head_weight,
            head_bias,
            ngrams,
        })
    }

    /// The arithmetic of the linear layers each pass runs.
    pub(crate) fn precision(&self) -> Precision {
        self.stack
            .as_ref()
            .map_or(Precision::F32, |stack| stack.precision)
    }

    /// Repacks the layers in `precision` (int8 only where the CPU runs it; see
    /// [`Precision::or_f32`]) unless they are packed so already; a CPU without the packed
    /// kernels keeps candle's f32 path.
    pub(crate) fn set_precision(&mut self, precision: Precision) -> candle_core::Result<()> {
        let precision = precision.or_f32();
        if let Some(stack) = &self.stack
            && stack.precision != precision
        {
            self.stack = Some(pack(stack.kernel, &self.config, &self.layers, precision)?);
        }
        Ok(())
    }

    /// Class probabilities, in the model's output order, for one sequence of token ids (at most
    /// `max_tokens`, every id below `vocab_size`).
    pub(crate) fn forward(&self, ids: &[u32]) -> candle_core::Result<Vec<f32>> {
        let pooled = self.pooled(ids)?;
        let mut logits = self.head(&pooled);
        if let Some(ngrams) = &self.ngrams {
            ngrams.add_logits(ids, &mut logits);
        }
        softmax_in_place(&mut logits);
        Ok(logits)
    }

    /// Adds to `sums` (one row per layer, one value per feed-forward unit) each unit's ReLU
    /// output summed over the tokens of `ids`; returns the number of tokens.
    pub(crate) fn add_ffn_activations(
        &self,
        ids: &[u32],
        sums: &mut [Vec<f32>],
    ) -> candle_core::Result<usize> {
        self.encode(ids, &mut |layer, activations| {
            let totals = activations.sum(0)?.to_vec1::<f32>()?;
            for (sum, total) in sums[layer].iter_mut().zip(totals) {
                *sum += total;
            }
            Ok(())
        })?;
        Ok(ids.len())
    }

    /// The length of each feed-forward unit's output weights (one row per layer): how much a
    /// unit's activation moves the hidden state.
    pub(crate) fn ffn_output_norms(&self) -> candle_core::Result<Vec<Vec<f32>>> {
        self.layers
            .iter()
            .map(|layer| layer.down.weight_t.sqr()?.sum(1)?.sqrt()?.to_vec1::<f32>())
            .collect()
    }

    /// The mean of the last layer's hidden states: by the packed stack where the CPU has its
    /// kernels, else by candle's operations.
    fn pooled(&self, ids: &[u32]) -> candle_core::Result<Vec<f32>> {
        match &self.stack {
            Some(stack) => self.embeddings(ids)?.apply_op1_no_bwd(stack)?.to_vec1(),
            None => self.pooled_reference(ids),
        }
    }

    /// [`Encoder::pooled`] by candle's operations alone.
    pub(crate) fn pooled_reference(&self, ids: &[u32]) -> candle_core::Result<Vec<f32>> {
        self.encode(ids, &mut |_, _| Ok(()))?
            .mean(0)?
            .to_vec1::<f32>()
    }

    /// The normalised sum of the token and position embeddings, `(tokens, hidden)`.
    fn embeddings(&self, ids: &[u32]) -> candle_core::Result<Tensor> {
        let ids = Tensor::from_slice(ids, ids.len(), &Device::Cpu)?;
        let xs = self.word.index_select(&ids, 0)?;
        let xs = (xs + self.position.narrow(0, 0, ids.dims1()?)?)?;
        self.embeddings_norm.forward(&xs)
    }

    /// The last layer's hidden states, `(tokens, hidden)`; `observe` sees each layer's
    /// feed-forward activations (after the ReLU).
    fn encode(
        &self,
        ids: &[u32],
        observe: &mut dyn FnMut(usize, &Tensor) -> candle_core::Result<()>,
    ) -> candle_core::Result<Tensor> {
        let tokens = ids.len();
        let hidden = self.config.hidden_size;
        let heads = self.config.num_heads;
        let head_size = self.config.head_size();
        let mut xs = self.embeddings(ids)?;
        for (index, layer) in self.layers.iter().enumerate() {
            // (tokens, 3 * hidden) -> (3 * heads, tokens, head_size): one copy for q, k and v.
            let qkv = layer
                .qkv
                .forward(&xs)?
                .reshape((tokens, 3 * heads, head_size))?
                .transpose(0, 1)?
                .contiguous()?;
            let query = qkv.narrow(0, 0, heads)?;
            let key = qkv.narrow(0, heads, heads)?;
            let value = qkv.narrow(0, 2 * heads, heads)?;
            let scores = query.matmul(&key.t()?)?;
            let probabilities = candle_nn::ops::softmax_last_dim(&scores)?;
            let context = probabilities
                .matmul(&value)?
                .transpose(0, 1)?
                .reshape((tokens, hidden))?;
            let attention = layer.output.forward(&context)?;
            xs = layer.attention_norm.forward(&(attention + xs)?)?;
            let activations = layer.up.forward(&xs)?;
            observe(index, &activations)?;
            let ffn = layer.down.forward(&activations)?;
            xs = layer.ffn_norm.forward(&(ffn + xs)?)?;
        }
        Ok(xs)
    }

    /// The linear head's logits for the pooled state.
    fn head(&self, pooled: &[f32]) -> Vec<f32> {
        let hidden = pooled.len();
        self.head_bias
            .iter()
            .enumerate()
            .map(|(class, bias)| {
                let row = &self.head_weight[class * hidden..(class + 1) * hidden];
                bias + row.iter().zip(pooled).map(|(w, x)| w * x).sum::<f32>()
            })
            .collect()
    }
}

/// `layers` packed for `kernel`, their linear maps in `precision`.
fn pack(
    kernel: Kernel,
    config: &ModelConfig,
    layers: &[Layer],
    precision: Precision,
) -> candle_core::Result<Stack> {
    let layers = layers
        .iter()
        .map(|layer| {
            Ok(StackLayer {
                qkv: layer.qkv.packed(kernel, precision)?,
                output: layer.output.packed(kernel, precision)?,
                attention_norm: layer.attention_norm.row_norm()?,
                up: layer.up.packed(kernel, precision)?,
                down: layer.down.packed(kernel, precision)?,
                ffn_norm: layer.ffn_norm.row_norm()?,
            })
        })
        .collect::<candle_core::Result<_>>()?;
    Ok(Stack {
        kernel,
        precision,
        hidden: config.hidden_size,
        intermediate: config.intermediate_size,
        layers,
        attention: Attention::with_kernel(kernel, config.num_heads, config.head_size()),
    })
}

/// Numerically stable softmax of a short slice.
pub(crate) fn softmax_in_place(values: &mut [f32]) {
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for value in values.iter_mut() {
        *value = (*value - max).exp();
        sum += *value;
    }
    for value in values.iter_mut() {
        *value /= sum;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use candle_core::{Device, Tensor};

    use super::{Encoder, pack};
    use crate::linear::Kernel;
    use crate::params::param_specs;
    use crate::stack::Stack;
    use crate::{ModelConfig, Precision};

    /// The packed stack and candle's operations agree on a random model with more than one
    /// layer and head, widths off the kernels' panel size, and a prompt of every length.
    #[test]
    fn the_packed_stack_matches_candle() {
        let config = ModelConfig {
            vocab_size: 50,
            hidden_size: 48,
            num_layers: 2,
            num_heads: 3,
            intermediate_size: 40,
            max_tokens: 20,
            head_tokens: 4,
            layer_norm_eps: 1e-12,
            num_labels: 6,
            ngram_buckets: 0,
        };
        let tensors: HashMap<String, Tensor> = param_specs(&config)
            .into_iter()
            .enumerate()
            .map(|(seed, spec)| {
                let len: usize = spec.shape.iter().product();
                let values: Vec<f32> = (0..len)
                    .map(|i| (((i * 7919 + seed * 104_729) % 2001) as f32 / 1000.0 - 1.0) * 0.5)
                    .collect();
                let tensor = Tensor::from_vec(values, spec.shape, &Device::Cpu).unwrap();
                (spec.name, tensor)
            })
            .collect();
        let encoder = Encoder::new(&config, tensors).unwrap();
        if encoder.stack.is_none() {
            eprintln!("no SIMD kernel on this CPU: candle's path is the only one");
            return;
        }
        // The stack the encoder chose, then one packed for every kernel (in f32) this CPU
        // runs, and the int8 one where it runs that. Int8 answers are within its quantization
        // error (each layer's inputs and weights rounded to 1/127 of their largest value).
        let mut stacks: Vec<(String, Stack, f32)> = Kernel::available()
            .into_iter()
            .map(|kernel| {
                let stack = pack(kernel, &config, &encoder.layers, Precision::F32).unwrap();
                (format!("{kernel:?}"), stack, 1e-5)
            })
            .collect();
        if let Some(kernel) = Kernel::detect().filter(|_| Precision::Int8.available()) {
            let stack = pack(kernel, &config, &encoder.layers, Precision::Int8).unwrap();
            stacks.push(("int8".to_owned(), stack, 0.05));
        }
        let chosen_tolerance = match encoder.precision() {
            Precision::F32 => 1e-5,
            Precision::Int8 => 0.05,
        };
        for (name, stack, tolerance) in &stacks {
            for tokens in 1..=config.max_tokens {
                let ids: Vec<u32> = (0..tokens as u32).map(|i| (i * 13) % 50).collect();
                let reference = encoder.pooled_reference(&ids).unwrap();
                let chosen = encoder.pooled(&ids).unwrap();
                let embeddings = encoder.embeddings(&ids).unwrap();
                let embeddings = embeddings.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let packed = stack.pooled(&embeddings, tokens);
                for ((chosen, packed), reference) in chosen.iter().zip(&packed).zip(&reference) {
                    assert!(
                        (chosen - reference).abs() < chosen_tolerance
                            && (packed - reference).abs() < *tolerance,
                        "{name}, {tokens} tokens: {chosen} / {packed} vs {reference}"
                    );
                }
            }
        }
    }
}
