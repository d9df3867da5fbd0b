//! Int8 linear layers for the packed encoder stack on CPUs with AVX-512 VNNI: weights quantized
//! once at load time (one scale per output column), each call's input rows quantized on the fly
//! (one scale per row), products summed exactly in 32-bit integers by `vpdpbusd`, which does
//! four multiply-adds per lane where an f32 FMA does one, from a quarter of the weight bytes.
//! Under a busy gateway the f32 weights are evicted between requests; the int8 ones are a
//! quarter of the cache traffic. [`QuantizedLinear::available`] says whether the CPU has VNNI;
//! without it the stack keeps [`crate::linear::PackedLinear`]'s f32 kernels.
//!
//! The scheme: `W ≈ q_w · s_w` per column (`q_w` in −127..=127) and, per row, either
//! `x ≈ q_x · s_x` with `q_x` in 0..=255 when the row has no negative value (a ReLU's output),
//! or `x ≈ (q_x − 128) · s_x` with `q_x` in 1..=255 otherwise; then
//! `y = s_x · s_w · (Σ q_x q_w − offset · Σ q_w) + b`.

// Elsewhere than on x86-64 no int8 kernel exists (`QuantizedLinear::available` is false), so
// nothing packed here is ever read.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

use crate::linear::Dense;

/// Output columns in one packed panel: two vectors of 16 accumulators.
const PANEL: usize = 32;
/// Inputs one accumulator lane sums per `vpdpbusd`: four byte products.
const GROUP: usize = 4;
/// Rows of input a tile keeps accumulators for (16 of the 32 vector registers).
const BLOCK_ROWS: usize = 8;
/// What a signed row's bytes carry above the signed value (`q_x = round(x / s_x) + 128`).
const SIGNED_OFFSET: i32 = 128;

/// `y = x · W + b` (optionally followed by a ReLU) for a weight `W` of `(input, output)`, in
/// int8 with 32-bit sums.
#[derive(Debug, Clone)]
pub(crate) struct QuantizedLinear {
    input: usize,
    /// `input` rounded up to a whole number of [`GROUP`]s; the extra rows of `W` are zero.
    padded: usize,
    output: usize,
    /// `q_w` in panels of [`PANEL`] columns: panel `p` holds `padded / GROUP` groups of
    /// `PANEL * GROUP` bytes, each two halves of 16 lanes, lane `j` of half `h` the `GROUP`
    /// weights of rows `GROUP * g..` in column `p * PANEL + h * 16 + j` (zero past `output`).
    panels: Vec<i8>,
    /// `s_w` per column, zero-padded to whole panels.
    scales: Vec<f32>,
    /// `SIGNED_OFFSET · Σ_k q_w[k, column]` per column: what a signed row's offset adds to its
    /// sums.
    offset_sums: Vec<i32>,
    /// The bias, zero-padded to whole panels.
    bias: Vec<f32>,
    relu: bool,
}

/// Rows of input quantized for a [`QuantizedLinear`]; kept between calls so a pass allocates
/// once.
#[derive(Debug, Default)]
pub(crate) struct QuantizedRows {
    /// `rows * padded` bytes.
    bytes: Vec<u8>,
    /// `s_x` per row.
    scales: Vec<f32>,
    /// Whether each row was quantized with [`SIGNED_OFFSET`].
    signed: Vec<bool>,
    padded: usize,
}

impl QuantizedRows {
    /// Quantizes `rows` rows of `input` values of `x`, each `stride` values apart, padded to
    /// `padded` bytes a row with the row's zero, in the kernel's instructions.
    fn quantize(&mut self, x: &[f32], stride: usize, rows: usize, input: usize, padded: usize) {
        assert!(
            QuantizedLinear::available(),
            "the int8 kernel needs AVX-512 VNNI"
        );
        self.prepare(x, stride, rows, input, padded);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX-512F (asserted above); `prepare` sized the buffers.
        #[allow(unsafe_code)]
        unsafe {
            x86::quantize_rows(self, x, stride, rows, input);
        }
    }

    /// [`QuantizedRows::quantize`] in plain Rust, on any CPU: the tests' reference.
    #[cfg(test)]
    fn quantize_reference(
        &mut self,
        x: &[f32],
        stride: usize,
        rows: usize,
        input: usize,
        padded: usize,
    ) {
        self.prepare(x, stride, rows, input, padded);
        for row in 0..rows {
            let bytes = &mut self.bytes[row * padded..(row + 1) * padded];
            let (scale, signed) = quantize_row(&x[row * stride..row * stride + input], bytes);
            self.scales.push(scale);
            self.signed.push(signed);
        }
    }

    /// Checks the shapes and sizes the buffers for `rows` rows.
    fn prepare(&mut self, x: &[f32], stride: usize, rows: usize, input: usize, padded: usize) {
        assert!(stride >= input && padded >= input, "strides");
        assert!(
            rows == 0 || x.len() >= (rows - 1) * stride + input,
            "input shape"
        );
        self.padded = padded;
        self.bytes.resize(rows * padded, 0);
        self.scales.clear();
        self.signed.clear();
    }

    fn row(&self, row: usize) -> &[u8] {
        &self.bytes[row * self.padded..(row + 1) * self.padded]
    }
}

/// Quantizes one row into `bytes` (its padding included); returns `s_x` and whether the row is
/// signed. The tests' reference for the kernel's own quantization.
#[cfg(test)]
fn quantize_row(values: &[f32], bytes: &mut [u8]) -> (f32, bool) {
    let high = values.iter().copied().fold(0.0, f32::max);
    let low = values.iter().copied().fold(0.0, f32::min);
    let (scale, signed, offset) = row_scale(high, low);
    let inverse = 1.0 / scale;
    let (bytes, padding) = bytes.split_at_mut(values.len());
    for (byte, &value) in bytes.iter_mut().zip(values) {
        // Round to nearest, ties to even; the float-to-int cast saturates.
        *byte = ((value * inverse).round_ties_even() + offset).clamp(0.0, 255.0) as u8;
    }
    padding.fill(offset as u8);
    (scale, signed)
}

/// A row's scale, whether it is signed, and the offset its levels carry, from its largest and
/// smallest values (both counted from zero).
fn row_scale(high: f32, low: f32) -> (f32, bool, f32) {
    let signed = low < 0.0;
    let (levels, offset) = if signed {
        (127.0, SIGNED_OFFSET as f32)
    } else {
        (255.0, 0.0)
    };
    let magnitude = high.max(-low);
    let scale = if magnitude > 0.0 && magnitude.is_finite() {
        magnitude / levels
    } else {
        1.0
    };
    (scale, signed, offset)
}

impl QuantizedLinear {
    /// Whether this CPU runs the int8 kernel (AVX-512F with VNNI).
    pub(crate) fn available() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vnni")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// Quantizes `dense`.
    pub(crate) fn new(dense: Dense<'_>) -> Self {
        dense.check();
        let Dense {
            input,
            output,
            bias,
            relu,
            ..
        } = dense;
        // A sum of `input` products of at most 255 · 127 stays within 32 bits.
        assert!(
            input <= 1 << 16,
            "the int8 kernel sums at most 65,536 inputs"
        );
        let padded = input.div_ceil(GROUP) * GROUP;
        let panel_count = output.div_ceil(PANEL);
        let columns = panel_count * PANEL;
        let mut scales = vec![0.0; columns];
        let mut offset_sums = vec![0; columns];
        let mut levels = vec![0i8; padded * columns];
        for column in 0..output {
            let weight = |row: usize| dense.row(row)[column];
            let magnitude = (0..input).map(|row| weight(row).abs()).fold(0.0, f32::max);
            let scale = if magnitude > 0.0 {
                magnitude / 127.0
            } else {
                1.0
            };
            scales[column] = scale;
            let mut sum = 0;
            for row in 0..input {
                let level = (weight(row) / scale).round_ties_even().clamp(-127.0, 127.0) as i8;
                levels[row * columns + column] = level;
                sum += i32::from(level);
            }
            offset_sums[column] = SIGNED_OFFSET * sum;
        }
        let mut panels = Vec::with_capacity(levels.len());
        for panel in 0..panel_count {
            for group in 0..padded / GROUP {
                for half in 0..2 {
                    for lane in 0..16 {
                        let column = panel * PANEL + half * 16 + lane;
                        for row in group * GROUP..(group + 1) * GROUP {
                            panels.push(levels[row * columns + column]);
                        }
                    }
                }
            }
        }
        let mut padded_bias = vec![0.0; columns];
        padded_bias[..output].copy_from_slice(bias);
        Self {
            input,
            padded,
            output,
            panels,
            scales,
            offset_sums,
            bias: padded_bias,
            relu,
        }
    }

    /// `y` for the `rows` rows of `x` (`rows * input` values, row-major) into `out`
    /// (`rows * output` values), quantizing `x` into `scratch`. The CPU must run the kernel
    /// ([`QuantizedLinear::available`]).
    pub(crate) fn forward_into(
        &self,
        x: &[f32],
        rows: usize,
        out: &mut [f32],
        scratch: &mut QuantizedRows,
    ) {
        assert!(Self::available(), "the int8 kernel needs AVX-512 VNNI");
        assert_eq!(x.len(), rows * self.input, "input shape");
        assert_eq!(out.len(), rows * self.output, "output shape");
        scratch.quantize(x, self.input, rows, self.input, self.padded);
        debug_assert_eq!(scratch.bytes.len(), rows * self.padded);
        debug_assert_eq!(scratch.scales.len(), rows);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX-512F and VNNI (asserted above); `quantize` filled `scratch`
        // with `rows` rows of `padded` bytes, `out` holds `rows * output` values (asserted
        // above), and the panels, scales, sums and bias are whole panels (built so in `new`).
        #[allow(unsafe_code)]
        unsafe {
            x86::forward(self, scratch, rows, out);
        }
    }

    /// What the kernel computes, in plain Rust: the tests' reference, exact in its sums.
    #[cfg(test)]
    fn forward_reference(&self, rows: &QuantizedRows, count: usize) -> Vec<f32> {
        let mut out = vec![0.0; count * self.output];
        for row in 0..count {
            let bytes = rows.row(row);
            for column in 0..self.output {
                let (panel, within) = (column / PANEL, column % PANEL);
                let (half, lane) = (within / 16, within % 16);
                let mut sum: i32 = 0;
                for (k, &byte) in bytes.iter().enumerate() {
                    let (group, position) = (k / GROUP, k % GROUP);
                    let at = ((panel * (self.padded / GROUP) + group) * 2 + half) * 16 * GROUP
                        + lane * GROUP
                        + position;
                    sum += i32::from(byte) * i32::from(self.panels[at]);
                }
                if rows.signed[row] {
                    sum -= self.offset_sums[column];
                }
                let scale = self.scales[column] * rows.scales[row];
                let value = (sum as f32).mul_add(scale, self.bias[column]);
                out[row * self.output + column] = if self.relu { value.max(0.0) } else { value };
            }
        }
        out
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use std::arch::x86_64::{
        __m512i, _MM_FROUND_NO_EXC, _MM_FROUND_TO_NEAREST_INT, _mm_storeu_si128, _mm512_add_ps,
        _mm512_cvtepi32_epi8, _mm512_cvtepi32_ps, _mm512_cvtps_epi32, _mm512_dpbusd_epi32,
        _mm512_fmadd_ps, _mm512_loadu_epi32, _mm512_loadu_ps, _mm512_mask_storeu_ps,
        _mm512_maskz_loadu_ps, _mm512_max_ps, _mm512_min_ps, _mm512_mul_ps, _mm512_reduce_max_ps,
        _mm512_reduce_min_ps, _mm512_roundscale_ps, _mm512_set1_epi32, _mm512_set1_ps,
        _mm512_setzero_ps, _mm512_setzero_si512, _mm512_sub_epi32,
    };

    use super::{BLOCK_ROWS, GROUP, PANEL, QuantizedLinear, QuantizedRows};
    use crate::lanes::{dispatch_rows, mask16};

    /// Quantizes `rows` rows of `x` into `quantized` (its buffers sized for them), as the
    /// scalar reference `quantize_row` does (a test checks the bytes and scales agree).
    ///
    /// # Safety
    /// The CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn quantize_rows(
        quantized: &mut QuantizedRows,
        x: &[f32],
        stride: usize,
        rows: usize,
        input: usize,
    ) {
        let padded = quantized.padded;
        for row in 0..rows {
            let values = &x[row * stride..row * stride + input];
            let bytes = &mut quantized.bytes[row * padded..(row + 1) * padded];
            // SAFETY: the loads are masked to `values`, the stores to `bytes`.
            let (scale, signed) = unsafe { quantize_row(values, bytes) };
            quantized.scales.push(scale);
            quantized.signed.push(signed);
        }
    }

    /// # Safety
    /// AVX-512F; `bytes` is at least as long as `values`.
    #[target_feature(enable = "avx512f")]
    unsafe fn quantize_row(values: &[f32], bytes: &mut [u8]) -> (f32, bool) {
        let chunks = values.len().div_ceil(16);
        let mask = |chunk: usize| mask16(values.len() - chunk * 16);
        // SAFETY: every access is masked to the first `values.len()` values and bytes.
        unsafe {
            let (mut high, mut low) = (_mm512_setzero_ps(), _mm512_setzero_ps());
            for chunk in 0..chunks {
                let value = _mm512_maskz_loadu_ps(mask(chunk), values.as_ptr().add(chunk * 16));
                high = _mm512_max_ps(high, value);
                low = _mm512_min_ps(low, value);
            }
            // (The masked-off lanes are zero, which changes neither the magnitude nor the sign.)
            let (scale, signed, offset) =
                super::row_scale(_mm512_reduce_max_ps(high), _mm512_reduce_min_ps(low));
            let (inverse, offset) = (_mm512_set1_ps(1.0 / scale), _mm512_set1_ps(offset));
            let (floor, ceiling) = (_mm512_setzero_ps(), _mm512_set1_ps(255.0));
            for chunk in 0..chunks {
                let at = chunk * 16;
                let value = _mm512_maskz_loadu_ps(mask(chunk), values.as_ptr().add(at));
                let level = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
                    _mm512_mul_ps(value, inverse),
                );
                let level =
                    _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(level, offset), floor), ceiling);
                // Narrowed in a register, then stored whole (a masked narrowing store is
                // several times slower).
                let narrow = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(level));
                let left = values.len() - at;
                if left >= 16 {
                    _mm_storeu_si128(bytes.as_mut_ptr().add(at).cast(), narrow);
                } else {
                    let mut last = [0u8; 16];
                    _mm_storeu_si128(last.as_mut_ptr().cast(), narrow);
                    bytes[at..at + left].copy_from_slice(&last[..left]);
                }
            }
            bytes[values.len()..].fill(if signed {
                super::SIGNED_OFFSET as u8
            } else {
                0
            });
            (scale, signed)
        }
    }

    /// # Safety
    /// The CPU has AVX-512F and VNNI; `rows` holds `count` rows of `linear.padded` bytes and
    /// `out` `count * linear.output` values.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub(super) unsafe fn forward(
        linear: &QuantizedLinear,
        rows: &QuantizedRows,
        count: usize,
        out: &mut [f32],
    ) {
        for panel in 0..linear.output.div_ceil(PANEL) {
            let mut row = 0;
            while row < count {
                let block = (count - row).min(BLOCK_ROWS);
                // SAFETY: as this function's; the block's rows and outputs are in range.
                unsafe {
                    dispatch_rows!(tile, block, (linear, rows, row, panel, out); 1 2 3 4 5 6 7 8);
                }
                row += block;
            }
        }
    }

    /// Rows `first..first + N` by panel `panel`: the sums in registers, then scaled, offset,
    /// biased and stored.
    ///
    /// # Safety
    /// As [`forward`]'s, with `first + N` rows in `rows` and `panel` a panel of `linear`.
    #[target_feature(enable = "avx512f,avx512vnni")]
    unsafe fn tile<const N: usize>(
        linear: &QuantizedLinear,
        rows: &QuantizedRows,
        first: usize,
        panel: usize,
        out: &mut [f32],
    ) {
        let groups = linear.padded / GROUP;
        let weights = &linear.panels[panel * groups * PANEL * GROUP..][..groups * PANEL * GROUP];
        let inputs: [&[u8]; N] = std::array::from_fn(|index| rows.row(first + index));
        let column = panel * PANEL;
        // SAFETY: every pointer below stays inside `weights` (`groups` groups of 128 bytes), a
        // row (`groups` groups of 4 bytes), the panel's 32 columns of the scales, sums and
        // bias, and the block's rows of `out` (the stores are masked to `output`).
        unsafe {
            let mut acc = [[_mm512_setzero_si512(); 2]; N];
            for group in 0..groups {
                let at = weights.as_ptr().add(group * PANEL * GROUP).cast::<i32>();
                let w0: __m512i = _mm512_loadu_epi32(at);
                let w1: __m512i = _mm512_loadu_epi32(at.add(16));
                for (acc, input) in acc.iter_mut().zip(&inputs) {
                    let group_bytes = input
                        .as_ptr()
                        .add(group * GROUP)
                        .cast::<i32>()
                        .read_unaligned();
                    let x = _mm512_set1_epi32(group_bytes);
                    acc[0] = _mm512_dpbusd_epi32(acc[0], x, w0);
                    acc[1] = _mm512_dpbusd_epi32(acc[1], x, w1);
                }
            }
            let width = (linear.output - column).min(PANEL);
            let masks = [mask16(width), mask16(width.saturating_sub(16))];
            for (index, acc) in acc.iter().enumerate() {
                let row = first + index;
                let row_scale = _mm512_set1_ps(rows.scales[row]);
                for (half, &sums) in acc.iter().enumerate() {
                    if masks[half] == 0 {
                        continue;
                    }
                    let at = column + half * 16;
                    let sums = if rows.signed[row] {
                        _mm512_sub_epi32(
                            sums,
                            _mm512_loadu_epi32(linear.offset_sums.as_ptr().add(at)),
                        )
                    } else {
                        sums
                    };
                    let scale =
                        _mm512_mul_ps(_mm512_loadu_ps(linear.scales.as_ptr().add(at)), row_scale);
                    let mut value = _mm512_fmadd_ps(
                        _mm512_cvtepi32_ps(sums),
                        scale,
                        _mm512_loadu_ps(linear.bias.as_ptr().add(at)),
                    );
                    if linear.relu {
                        value = _mm512_max_ps(value, _mm512_setzero_ps());
                    }
                    let target = out
                        .as_mut_ptr()
                        .add(row * linear.output + half * 16 + column);
                    _mm512_mask_storeu_ps(target, masks[half], value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{QuantizedLinear, QuantizedRows};
    use crate::lanes::{TEST_SHAPES, test_values as values};
    use crate::linear::Dense;

    fn no_vnni() -> bool {
        let missing = !QuantizedLinear::available();
        if missing {
            eprintln!("no AVX-512 VNNI on this CPU: only the scalar reference is tested");
        }
        missing
    }

    fn layer<'a>(w: &'a [f32], b: &'a [f32], input: usize, relu: bool) -> QuantizedLinear {
        QuantizedLinear::new(Dense {
            weight_t: w,
            bias: b,
            input,
            output: b.len(),
            relu,
        })
    }

    /// Rows of `input` values: random, every other one non-negative (as after a ReLU).
    fn mixed_rows(rows: usize, input: usize) -> Vec<f32> {
        let mut x = values(rows * input, 1);
        for values in x.chunks_exact_mut(input).skip(1).step_by(2) {
            values.iter_mut().for_each(|value| *value = value.abs());
        }
        x
    }

    #[test]
    fn rows_quantize_to_their_range_and_padding() {
        // A signed row, a non-negative one, an all-zero one, one of exact ties (scale 1); 5
        // inputs padded to 8.
        let x = [
            -1.0, 0.3, 0.0, 0.25, 1.0, //
            0.0, 2.0, 0.8, 0.4, 2.0, //
            0.0, 0.0, 0.0, 0.0, 0.0, //
            255.0, 0.5, 1.5, 2.5, 3.5,
        ];
        let mut want = QuantizedRows::default();
        want.quantize_reference(&x, 5, 4, 5, 8);
        assert_eq!(want.row(0), [1, 166, 128, 160, 255, 128, 128, 128]);
        assert_eq!(want.row(1), [0, 255, 102, 51, 255, 0, 0, 0]);
        assert_eq!(want.row(2), [0; 8]);
        assert_eq!(want.row(3), [255, 0, 2, 2, 4, 0, 0, 0]);
        assert_eq!(want.signed, [true, false, false, false]);
        assert_eq!(want.scales, [1.0 / 127.0, 2.0 / 255.0, 1.0, 1.0]);
        if no_vnni() {
            return;
        }
        let mut got = QuantizedRows::default();
        got.quantize(&x, 5, 4, 5, 8);
        assert_eq!(
            (got.bytes, got.scales, got.signed),
            (want.bytes, want.scales, want.signed)
        );
    }

    #[test]
    fn the_kernels_quantization_is_the_reference() {
        if no_vnni() {
            return;
        }
        for (rows, input, padded) in [(3, 5, 8), (4, 16, 16), (9, 37, 40), (20, 128, 128)] {
            let mut x = mixed_rows(rows, input);
            x[2 * input..3 * input].fill(0.0);
            let mut got = QuantizedRows::default();
            got.quantize(&x, input, rows, input, padded);
            let mut want = QuantizedRows::default();
            want.quantize_reference(&x, input, rows, input, padded);
            let shape = format!("{rows}x{input} padded to {padded}");
            assert_eq!(got.bytes, want.bytes, "{shape}");
            assert_eq!(
                (got.scales, got.signed),
                (want.scales, want.signed),
                "{shape}"
            );
        }
    }

    /// One-hot rows read the packed weights back, independently of the packing's layout:
    /// `+e_k` is unsigned (level 255, scale 1/255) and gives `q_w[k] · s_w + b`; `−e_k` is signed
    /// (level 1 = −127 + 128, scale 1/127) and gives `−q_w[k] · s_w + b` only if the offset is
    /// taken back out right.
    #[test]
    fn one_hot_rows_give_back_the_quantized_weights() {
        for (_, input, output) in TEST_SHAPES {
            let w = values(input * output, 2);
            let b = values(output, 3);
            let linear = layer(&w, &b, input, false);
            let mut x = vec![0.0; 2 * input * input];
            for k in 0..input {
                x[2 * k * input + k] = 1.0;
                x[(2 * k + 1) * input + k] = -1.0;
            }
            let mut rows = QuantizedRows::default();
            rows.quantize_reference(&x, input, 2 * input, input, linear.padded);
            let reference = linear.forward_reference(&rows, 2 * input);
            let mut kernel = vec![f32::NAN; reference.len()];
            if QuantizedLinear::available() {
                linear.forward_into(&x, 2 * input, &mut kernel, &mut QuantizedRows::default());
            }
            for column in 0..output {
                let magnitude = (0..input).map(|k| w[k * output + column].abs());
                let scale = magnitude.fold(0.0, f32::max) / 127.0;
                for k in 0..input {
                    let level = (w[k * output + column] / scale).round_ties_even();
                    for (row, sign) in [(2 * k, 1.0), (2 * k + 1, -1.0)] {
                        let want = sign * level * scale + b[column];
                        let at = row * output + column;
                        let shape =
                            format!("{input}x{output}, input {k}, sign {sign}, column {column}");
                        assert!(
                            (reference[at] - want).abs() <= 1e-5,
                            "{shape}: {} vs {want}",
                            reference[at]
                        );
                        if QuantizedLinear::available() {
                            assert_eq!(kernel[at].to_bits(), reference[at].to_bits(), "{shape}");
                        }
                    }
                }
            }
        }
    }

    /// The scheme's error is within its worst case: each product off by at most half a level of
    /// each factor, `|x_k| s_w / 2 + |w_k| s_x / 2 + s_x s_w / 4`.
    #[test]
    fn the_reference_is_within_the_quantization_error_of_the_float_product() {
        for (rows, input, output) in TEST_SHAPES {
            let x = mixed_rows(rows, input);
            let w = values(input * output, 2);
            let b = values(output, 3);
            let linear = layer(&w, &b, input, false);
            let mut quantized = QuantizedRows::default();
            quantized.quantize_reference(&x, input, rows, input, linear.padded);
            let got = linear.forward_reference(&quantized, rows);
            for row in 0..rows {
                let s_x = quantized.scales[row];
                for column in 0..output {
                    let s_w = linear.scales[column];
                    let (mut exact, mut bound) = (f64::from(b[column]), 1e-5);
                    for k in 0..input {
                        let (x, w) = (
                            f64::from(x[row * input + k]),
                            f64::from(w[k * output + column]),
                        );
                        exact += x * w;
                        bound += (x.abs() * f64::from(s_w) + w.abs() * f64::from(s_x)) / 2.0
                            + f64::from(s_x * s_w) / 4.0;
                    }
                    let got = f64::from(got[row * output + column]);
                    assert!(
                        (got - exact).abs() <= bound,
                        "{rows}x{input}x{output} at ({row}, {column}): {got} vs {exact} (bound {bound})"
                    );
                }
            }
        }
    }

    #[test]
    fn the_kernel_computes_the_reference_bit_for_bit() {
        if no_vnni() {
            return;
        }
        for (rows, input, output) in TEST_SHAPES {
            for relu in [false, true] {
                let x = mixed_rows(rows, input);
                let (w, b) = (values(input * output, 2), values(output, 3));
                let linear = layer(&w, &b, input, relu);
                let mut scratch = QuantizedRows::default();
                let mut got = vec![f32::NAN; rows * output];
                linear.forward_into(&x, rows, &mut got, &mut scratch);
                let want = linear.forward_reference(&scratch, rows);
                for (index, (got, want)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "{rows}x{input}x{output} relu={relu} at {index}: {got} vs {want}"
                    );
                }
            }
        }
    }
}
