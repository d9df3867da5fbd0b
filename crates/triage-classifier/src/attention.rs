//! Single-sequence self-attention for the packed encoder stack: each head's scores and context
//! are two products of [`PackedLinear`]'s kernel (the keys and values packed per call, a few
//! kilobytes), the softmax between them vectorised with a polynomial `exp`. candle's path (a
//! transposed copy of the projections, batched matrix products, a softmax calling libm's `expf`
//! one value at a time, a second copy back) cost more than the encoder's linear layers at 64
//! tokens and above.

use crate::lanes;
use crate::linear::{Kernel, PackedLinear};

/// Scaled dot-product attention over one sequence, from the fused query, key and value
/// projections `(tokens, 3 * hidden)` (queries pre-scaled by `1/sqrt(head_size)`) to the heads'
/// context `(tokens, hidden)`.
#[derive(Debug, Clone)]
pub(crate) struct Attention {
    kernel: Kernel,
    heads: usize,
    head_size: usize,
}

impl Attention {
    /// Attention with `kernel`, which this CPU must run (see [`Kernel::available`]).
    pub(crate) fn with_kernel(kernel: Kernel, heads: usize, head_size: usize) -> Self {
        Self {
            kernel,
            heads,
            head_size,
        }
    }

    /// The context of `tokens` rows of `qkv` into `out` (`tokens * hidden` values).
    pub(crate) fn forward_into(&self, qkv: &[f32], tokens: usize, out: &mut [f32]) {
        let hidden = self.heads * self.head_size;
        let stride = 3 * hidden;
        assert_eq!(qkv.len(), tokens * stride, "qkv shape");
        assert_eq!(out.len(), tokens * hidden, "output shape");
        let mut scores = vec![0.0; tokens * tokens];
        for head in 0..self.heads {
            let query = head * self.head_size;
            let key = hidden + query;
            let value = 2 * hidden + query;
            // Scores: queries (tokens, head_size) times the keys transposed.
            let head = |token: usize, at: usize| {
                &qkv[token * stride + at..token * stride + at + self.head_size]
            };
            let keys = PackedLinear::from_columns(self.kernel, self.head_size, tokens, |token| {
                head(token, key)
            });
            keys.forward_strided(&qkv[query..], stride, tokens, &mut scores, tokens);
            softmax_rows(self.kernel, &mut scores, tokens);
            // Context: probabilities (tokens, tokens) times the values (tokens, head_size).
            let values = PackedLinear::from_rows(self.kernel, tokens, self.head_size, |token| {
                head(token, value)
            });
            values.forward_strided(&scores, tokens, tokens, &mut out[query..], hidden);
        }
    }
}

/// A softmax over each row of `width` values, compiled for `kernel`'s instruction set.
fn softmax_rows(kernel: Kernel, values: &mut [f32], width: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `kernel` runs on this CPU (see `Kernel::available`).
    #[allow(unsafe_code)]
    unsafe {
        match kernel {
            Kernel::Avx512 => x86::softmax_rows_avx512(values, width),
            Kernel::Avx2 => x86::softmax_rows_avx2(values, width),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = kernel;
        softmax_rows_portable(values, width);
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    /// # Safety
    /// The CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn softmax_rows_avx512(values: &mut [f32], width: usize) {
        super::softmax_rows_portable(values, width);
    }

    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn softmax_rows_avx2(values: &mut [f32], width: usize) {
        super::softmax_rows_portable(values, width);
    }
}

/// The softmax in plain Rust written so the compiler vectorises it: lane-wise maximum and sum
/// ([`crate::lanes`]) per row, and a branch-free `exp` over the whole matrix at once (a
/// short prompt's rows are too short to fill the vectors one by one).
#[inline(always)]
fn softmax_rows_portable(values: &mut [f32], width: usize) {
    for row in values.chunks_exact_mut(width) {
        let max = lanes::max(row);
        for value in row.iter_mut() {
            *value -= max;
        }
    }
    for value in values.iter_mut() {
        *value = exp(*value);
    }
    for row in values.chunks_exact_mut(width) {
        let inverse = 1.0 / lanes::sum(row, |value| value);
        for value in row.iter_mut() {
            *value *= inverse;
        }
    }
}

/// `e^x` within a few ulp over the range a softmax meets (inputs at most 0; below −87 it gives
/// about 1e-38, not 0): Cephes' `expf` polynomial with the exponent built from the bits.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so `n * LN2_HIGH` is exact.
    const LN2_HIGH: f32 = 0.693_359_4;
    const LN2_LOW: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2_E + 0.5).floor();
    let r = x - n * LN2_HIGH - n * LN2_LOW;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // 2^n from the bits: `n + 127` (0..=254 here) lands in the low mantissa bits of a float
    // near 2^23, and shifting them up makes them the exponent. Unlike `n as i32`, whose
    // saturating conversion the compiler does one value at a time, this vectorises.
    let biased = (n + (127.0 + 8_388_608.0)).to_bits();
    y * f32::from_bits(biased << 23)
}

#[cfg(test)]
mod tests {
    use super::{Attention, Kernel, exp};

    #[test]
    fn exp_is_within_a_few_ulp_of_the_standard_library() {
        let mut x = -87.0f32;
        while x <= 10.0 {
            let (got, want) = (exp(x), x.exp());
            assert!(
                (got - want).abs() <= 4.0 * f32::EPSILON * want,
                "exp({x}) = {got}, want {want}"
            );
            x += 0.013;
        }
    }

    /// Attention computed the plain way, in f64.
    fn reference(qkv: &[f32], tokens: usize, heads: usize, head_size: usize) -> Vec<f32> {
        let hidden = heads * head_size;
        let at = |token: usize, column: usize| f64::from(qkv[token * 3 * hidden + column]);
        let mut out = vec![0.0; tokens * hidden];
        for head in 0..heads {
            let base = head * head_size;
            for i in 0..tokens {
                let scores: Vec<f64> = (0..tokens)
                    .map(|j| {
                        (0..head_size)
                            .map(|d| at(i, base + d) * at(j, hidden + base + d))
                            .sum()
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = weights.iter().sum();
                for d in 0..head_size {
                    let context: f64 = (0..tokens)
                        .map(|j| weights[j] / total * at(j, 2 * hidden + base + d))
                        .sum();
                    out[i * hidden + base + d] = context as f32;
                }
            }
        }
        out
    }

    #[test]
    fn every_kernel_matches_plain_attention() {
        for kernel in Kernel::available() {
            for (tokens, heads, head_size) in [(1, 4, 32), (7, 2, 16), (40, 4, 32), (128, 4, 32)] {
                let hidden = heads * head_size;
                let qkv: Vec<f32> = (0..tokens * 3 * hidden)
                    .map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * 1.5)
                    .collect();
                let attention = Attention::with_kernel(kernel, heads, head_size);
                let mut got = vec![f32::NAN; tokens * hidden];
                attention.forward_into(&qkv, tokens, &mut got);
                let want = reference(&qkv, tokens, heads, head_size);
                for (index, (got, want)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                        "{kernel:?} {tokens} tokens, {heads}x{head_size} at {index}: {got} vs {want}"
                    );
                }
            }
        }
    }
}
