//! The encoder's layers and mean pooling as one candle custom op on x86-64: packed linear
//! layers ([`PackedLinear`]), single-sequence [`Attention`], and residual layer norms in plain
//! Rust over a handful of buffers. candle's path costs some forty tensor operations, each with
//! its own allocation and dispatch, which at a short prompt's 16 tokens cost as much as the
//! arithmetic. candle's path stays the reference (training, pruning, CPUs without the kernels);
//! a test checks the two agree.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape};

use crate::Precision;
use crate::attention::Attention;
use crate::lanes;
use crate::linear::{Kernel, PackedLinear};
use crate::quantized::{QuantizedLinear, QuantizedRows};

/// A layer norm's parameters as plain values.
#[derive(Debug, Clone)]
pub(crate) struct RowNorm {
    pub(crate) scale: Vec<f32>,
    pub(crate) shift: Vec<f32>,
    pub(crate) eps: f32,
}

/// One of a layer's linear maps, in the arithmetic the stack was packed for.
#[derive(Debug, Clone)]
pub(crate) enum StackLinear {
    F32(PackedLinear),
    Int8(QuantizedLinear),
}

impl StackLinear {
    /// `y` for the `rows` rows of `x` into `out`; int8 maps quantize `x` into `scratch`.
    fn forward_into(&self, x: &[f32], rows: usize, out: &mut [f32], scratch: &mut QuantizedRows) {
        match self {
            Self::F32(linear) => linear.forward_into(x, rows, out),
            Self::Int8(linear) => linear.forward_into(x, rows, out, scratch),
        }
    }
}

/// One post-norm transformer layer, packed.
#[derive(Debug, Clone)]
pub(crate) struct StackLayer {
    /// Query, key and value projections, the query part pre-scaled by `1/sqrt(head_size)`.
    pub(crate) qkv: StackLinear,
    pub(crate) output: StackLinear,
    pub(crate) attention_norm: RowNorm,
    /// The feed-forward up-projection with its ReLU.
    pub(crate) up: StackLinear,
    pub(crate) down: StackLinear,
    pub(crate) ffn_norm: RowNorm,
}

/// Every layer, then the mean over tokens: `(tokens, hidden)` embeddings (after their norm) in,
/// `(hidden,)` pooled state out.
#[derive(Debug, Clone)]
pub(crate) struct Stack {
    pub(crate) kernel: Kernel,
    /// The arithmetic of every layer's linear maps.
    pub(crate) precision: Precision,
    pub(crate) hidden: usize,
    pub(crate) intermediate: usize,
    pub(crate) layers: Vec<StackLayer>,
    pub(crate) attention: Attention,
}

impl Stack {
    /// The pooled state of `tokens` rows of embeddings `xs`.
    pub(crate) fn pooled(&self, xs: &[f32], tokens: usize) -> Vec<f32> {
        let hidden = self.hidden;
        assert_eq!(xs.len(), tokens * hidden, "embeddings shape");
        let mut xs = xs.to_vec();
        let mut qkv = vec![0.0; tokens * 3 * hidden];
        let mut context = vec![0.0; tokens * hidden];
        let mut delta = vec![0.0; tokens * hidden];
        let mut activations = vec![0.0; tokens * self.intermediate];
        let mut scratch = QuantizedRows::default();
        for layer in &self.layers {
            layer.qkv.forward_into(&xs, tokens, &mut qkv, &mut scratch);
            self.attention.forward_into(&qkv, tokens, &mut context);
            layer
                .output
                .forward_into(&context, tokens, &mut delta, &mut scratch);
            add_and_norm(self.kernel, &mut xs, &delta, &layer.attention_norm);
            layer
                .up
                .forward_into(&xs, tokens, &mut activations, &mut scratch);
            layer
                .down
                .forward_into(&activations, tokens, &mut delta, &mut scratch);
            add_and_norm(self.kernel, &mut xs, &delta, &layer.ffn_norm);
        }
        let mut pooled = vec![0.0; hidden];
        for row in xs.chunks_exact(hidden) {
            for (sum, value) in pooled.iter_mut().zip(row) {
                *sum += value;
            }
        }
        let scale = 1.0 / tokens.max(1) as f32;
        pooled.iter_mut().for_each(|value| *value *= scale);
        pooled
    }
}

impl CustomOp1 for Stack {
    fn name(&self) -> &'static str {
        "encoder-stack"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(values) = storage else {
            candle_core::bail!("the encoder stack takes f32 input");
        };
        let (tokens, hidden) = layout.shape().dims2()?;
        if hidden != self.hidden {
            candle_core::bail!(
                "the encoder stack expects {} columns, got {hidden}",
                self.hidden
            );
        }
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("the encoder stack takes a contiguous input");
        };
        let pooled = self.pooled(&values[start..end], tokens);
        Ok((CpuStorage::F32(pooled), Shape::from(hidden)))
    }
}

/// `xs = norm(xs + delta)`, row by row, compiled for `kernel`'s instruction set.
fn add_and_norm(kernel: Kernel, xs: &mut [f32], delta: &[f32], norm: &RowNorm) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `kernel` runs on this CPU (see `Kernel::available`).
    #[allow(unsafe_code)]
    unsafe {
        match kernel {
            Kernel::Avx512 => x86::add_and_norm_avx512(xs, delta, norm),
            Kernel::Avx2 => x86::add_and_norm_avx2(xs, delta, norm),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = kernel;
        add_and_norm_portable(xs, delta, norm);
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use super::RowNorm;

    /// # Safety
    /// The CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn add_and_norm_avx512(xs: &mut [f32], delta: &[f32], norm: &RowNorm) {
        super::add_and_norm_portable(xs, delta, norm);
    }

    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn add_and_norm_avx2(xs: &mut [f32], delta: &[f32], norm: &RowNorm) {
        super::add_and_norm_portable(xs, delta, norm);
    }
}

/// The residual layer norm in plain Rust, in 16 lanes so the compiler vectorises it; the
/// variance is the mean squared deviation (two passes, as candle's fused layer norm).
#[inline(always)]
fn add_and_norm_portable(xs: &mut [f32], delta: &[f32], norm: &RowNorm) {
    let hidden = norm.scale.len();
    let inverse = 1.0 / hidden as f32;
    for (row, delta) in xs.chunks_exact_mut(hidden).zip(delta.chunks_exact(hidden)) {
        for (value, delta) in row.iter_mut().zip(delta) {
            *value += delta;
        }
        let mean = lanes::sum(row, |value| value) * inverse;
        for value in row.iter_mut() {
            *value -= mean;
        }
        let variance = lanes::sum(row, |value| value * value) * inverse;
        let scale = 1.0 / (variance + norm.eps).sqrt();
        for ((value, gain), shift) in row.iter_mut().zip(&norm.scale).zip(&norm.shift) {
            *value = *value * scale * gain + shift;
        }
    }
}
