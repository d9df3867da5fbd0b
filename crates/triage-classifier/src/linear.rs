//! The x86-64 matrix kernel of the packed encoder stack: weights packed once at load time into
//! 32-column panels and multiplied by an AVX-512 (or AVX2 and FMA) kernel written for the few
//! rows of one prompt. candle's general matrix product repacks the whole weight matrix on every
//! call and uses at most AVX2; with a prompt's 16-128 rows that repacking and the narrower
//! vectors cost as much as the arithmetic. [`Kernel::detect`] says whether the CPU has either.

/// Columns in one packed panel: two AVX-512 vectors, four AVX2 ones.
const PANEL: usize = 32;

/// Which kernel a [`PackedLinear`] runs; the widest the CPU has, found once at load time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    Avx512,
    Avx2,
}

impl Kernel {
    /// The best kernel this CPU runs, if any.
    pub(crate) fn detect() -> Option<Self> {
        Self::available().into_iter().next()
    }

    /// Every kernel this CPU runs, widest first (the tests check each against the others).
    pub(crate) fn available() -> Vec<Self> {
        let mut kernels = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                kernels.push(Self::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                kernels.push(Self::Avx2);
            }
        }
        kernels
    }
}

/// A linear layer's f32 parameters, as the packed kernels (f32 and int8) take them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dense<'a> {
    /// `W`, `(input, output)` row-major.
    pub(crate) weight_t: &'a [f32],
    /// `output` values.
    pub(crate) bias: &'a [f32],
    pub(crate) input: usize,
    pub(crate) output: usize,
    /// Whether a ReLU follows.
    pub(crate) relu: bool,
}

impl Dense<'_> {
    /// Asserts that the weight and the bias have the stated shape.
    pub(crate) fn check(&self) {
        assert_eq!(
            self.weight_t.len(),
            self.input * self.output,
            "weight shape"
        );
        assert_eq!(self.bias.len(), self.output, "bias length");
    }

    /// Row `k` of `W`: the weights of input `k` (`output` values).
    pub(crate) fn row(&self, k: usize) -> &[f32] {
        &self.weight_t[k * self.output..(k + 1) * self.output]
    }
}

/// `y = x · W + b` (optionally followed by a ReLU) for a weight `W` of `(input, output)`, packed
/// for [`Kernel`].
#[derive(Debug, Clone)]
pub(crate) struct PackedLinear {
    kernel: Kernel,
    input: usize,
    output: usize,
    /// `W` in panels of [`PANEL`] columns: panel `p` holds rows `0..input` of columns
    /// `p * PANEL..(p + 1) * PANEL`, each row's `PANEL` values contiguous, zero past `output`.
    panels: Vec<f32>,
    /// The bias, zero-padded to a whole number of panels.
    bias: Vec<f32>,
    relu: bool,
}

impl PackedLinear {
    /// Packs `dense` for `kernel`, which this CPU must run (see [`Kernel::available`]).
    pub(crate) fn with_kernel(kernel: Kernel, dense: Dense<'_>) -> Self {
        dense.check();
        let mut linear = Self::from_rows(kernel, dense.input, dense.output, |k| dense.row(k));
        linear.bias[..dense.output].copy_from_slice(dense.bias);
        linear.relu = dense.relu;
        linear
    }

    /// A linear map with no bias and no ReLU of `(input, output)` whose row `k` is `row(k)`
    /// (`output` values): how attention packs its values.
    pub(crate) fn from_rows<'a>(
        kernel: Kernel,
        input: usize,
        output: usize,
        row: impl Fn(usize) -> &'a [f32],
    ) -> Self {
        let mut linear = Self::zeroed(kernel, input, output);
        for k in 0..input {
            let values = row(k);
            assert_eq!(values.len(), output, "row length");
            for (panel, values) in values.chunks(PANEL).enumerate() {
                let at = (panel * input + k) * PANEL;
                linear.panels[at..at + values.len()].copy_from_slice(values);
            }
        }
        linear
    }

    /// A linear map with no bias and no ReLU of `(input, output)` whose column `c` is
    /// `column(c)` (`input` values): how attention packs its keys, the transpose of their rows.
    pub(crate) fn from_columns<'a>(
        kernel: Kernel,
        input: usize,
        output: usize,
        column: impl Fn(usize) -> &'a [f32],
    ) -> Self {
        let mut linear = Self::zeroed(kernel, input, output);
        for c in 0..output {
            let values = column(c);
            assert_eq!(values.len(), input, "column length");
            let panel = &mut linear.panels[(c / PANEL) * input * PANEL..][..input * PANEL];
            for (row, value) in panel.chunks_exact_mut(PANEL).zip(values) {
                row[c % PANEL] = *value;
            }
        }
        linear
    }

    /// All-zero panels and bias for `(input, output)`.
    fn zeroed(kernel: Kernel, input: usize, output: usize) -> Self {
        let panel_count = output.div_ceil(PANEL);
        Self {
            kernel,
            input,
            output,
            panels: vec![0.0; panel_count * input * PANEL],
            bias: vec![0.0; panel_count * PANEL],
            relu: false,
        }
    }

    /// `y` for the `rows` rows of `x` (`rows * input` values, row-major) into `out`
    /// (`rows * output` values).
    pub(crate) fn forward_into(&self, x: &[f32], rows: usize, out: &mut [f32]) {
        self.forward_strided(x, self.input, rows, out, self.output);
    }

    /// [`PackedLinear::forward_into`] with rows `x_stride` values apart in `x` and
    /// `out_stride` apart in `out` (the first `input` and `output` of each are read and written).
    // Elsewhere than on x86-64 no kernel exists, so nothing calls this.
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
    pub(crate) fn forward_strided(
        &self,
        x: &[f32],
        x_stride: usize,
        rows: usize,
        out: &mut [f32],
        out_stride: usize,
    ) {
        if rows == 0 {
            return;
        }
        assert!(
            x_stride >= self.input && out_stride >= self.output,
            "strides"
        );
        assert!(x.len() >= (rows - 1) * x_stride + self.input, "input shape");
        assert!(
            out.len() >= (rows - 1) * out_stride + self.output,
            "output shape"
        );
        let strides = Strides {
            x: x_stride,
            out: out_stride,
        };
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `kernel` was detected on (or, in tests, listed as available by) this CPU, and
        // the shapes of `x`, `out`, the panels and the bias were checked above and at packing.
        #[allow(unsafe_code)]
        unsafe {
            match self.kernel {
                Kernel::Avx512 => x86::forward_avx512(self, x, rows, out, strides),
                Kernel::Avx2 => x86::forward_avx2(self, x, rows, out, strides),
            }
        }
    }

    fn panel(&self, index: usize) -> &[f32] {
        let len = self.input * PANEL;
        &self.panels[index * len..(index + 1) * len]
    }
}

/// How far apart the rows of a product's input and output are, in values.
#[derive(Debug, Clone, Copy)]
struct Strides {
    x: usize,
    out: usize,
}

/// The kernels. Each computes a block of up to `ROWS` rows by one panel with the accumulators in
/// registers (AVX-512: 8 rows by 2 vectors of 16; AVX2: 6 rows by 2 vectors of 8, twice per
/// panel), starting from the bias; the weight panel (`input * 32` values, 16 KB for 128 inputs)
/// stays in the L1 cache while every row block passes over it.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use std::arch::x86_64::{
        __m256, __m512, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_max_ps, _mm256_set1_ps,
        _mm256_setzero_ps, _mm256_storeu_ps, _mm512_fmadd_ps, _mm512_loadu_ps,
        _mm512_mask_storeu_ps, _mm512_max_ps, _mm512_set1_ps, _mm512_setzero_ps,
    };

    use super::{PANEL, PackedLinear, Strides};
    use crate::lanes::{dispatch_rows, mask16};

    /// # Safety
    /// The CPU has AVX-512F; the shapes are as [`PackedLinear::forward_strided`] checks.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn forward_avx512(
        linear: &PackedLinear,
        x: &[f32],
        rows: usize,
        out: &mut [f32],
        strides: Strides,
    ) {
        for_each_tile(
            linear,
            x,
            rows,
            out,
            strides,
            8,
            PANEL,
            |tile, block, out| {
                // SAFETY: as this function's; `out` holds `block` rows from the tile's column.
                unsafe { dispatch_rows!(tile_avx512, block, (tile, out); 1 2 3 4 5 6 7 8) }
            },
        );
    }

    /// # Safety
    /// The CPU has AVX2 and FMA; the shapes are as [`PackedLinear::forward_strided`] checks.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn forward_avx2(
        linear: &PackedLinear,
        x: &[f32],
        rows: usize,
        out: &mut [f32],
        strides: Strides,
    ) {
        for_each_tile(
            linear,
            x,
            rows,
            out,
            strides,
            6,
            PANEL / 2,
            |tile, block, out| {
                // SAFETY: as this function's; `out` holds `block` rows from the tile's column.
                unsafe { dispatch_rows!(tile_avx2, block, (tile, out); 1 2 3 4 5 6) }
            },
        );
    }

    /// Calls `tile` on every block of up to `block_rows` rows of every `columns`-wide slice of
    /// the panels (a whole panel or half of one), with that slice of `out`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn for_each_tile(
        linear: &PackedLinear,
        x: &[f32],
        rows: usize,
        out: &mut [f32],
        strides: Strides,
        block_rows: usize,
        columns: usize,
        mut tile: impl FnMut(&Tile<'_>, usize, &mut [f32]),
    ) {
        for column in (0..linear.output).step_by(columns) {
            let (panel, lane) = (column / PANEL, column % PANEL);
            let mut row = 0;
            while row < rows {
                let block = (rows - row).min(block_rows);
                let operands = Tile {
                    x: &x[row * strides.x..],
                    input: linear.input,
                    panel: &linear.panel(panel)[lane..],
                    bias: &linear.bias[column..column + columns],
                    strides,
                    width: (linear.output - column).min(columns),
                    relu: linear.relu,
                };
                tile(&operands, block, &mut out[row * strides.out + column..]);
                row += block;
            }
        }
    }

    /// One block's operands: `x` from the block's first row, the panel from its first row and
    /// the tile's first column (for AVX2, the half being computed), the bias from that column.
    struct Tile<'a> {
        x: &'a [f32],
        input: usize,
        panel: &'a [f32],
        bias: &'a [f32],
        strides: Strides,
        /// Columns of the panel to write (fewer than the panel's in the last one).
        width: usize,
        relu: bool,
    }

    /// # Safety
    /// AVX-512F; `tile.x` holds `N` rows and `out` `N` rows of `tile.width` from the column.
    #[target_feature(enable = "avx512f")]
    unsafe fn tile_avx512<const N: usize>(tile: &Tile<'_>, out: &mut [f32]) {
        let Strides {
            x: x_stride,
            out: out_stride,
        } = tile.strides;
        debug_assert!(tile.x.len() >= (N - 1) * x_stride + tile.input);
        debug_assert!(tile.panel.len() >= tile.input * PANEL);
        debug_assert!(out.len() >= (N - 1) * out_stride + tile.width);
        let (x, panel) = (tile.x.as_ptr(), tile.panel.as_ptr());
        // SAFETY: every pointer below stays inside the slices, as the assertions above say.
        unsafe {
            let bias = [
                _mm512_loadu_ps(tile.bias.as_ptr()),
                _mm512_loadu_ps(tile.bias.as_ptr().add(16)),
            ];
            let mut acc = [bias; N];
            for k in 0..tile.input {
                let w0 = _mm512_loadu_ps(panel.add(k * PANEL));
                let w1 = _mm512_loadu_ps(panel.add(k * PANEL + 16));
                for (row, acc) in acc.iter_mut().enumerate() {
                    let value = _mm512_set1_ps(*x.add(row * x_stride + k));
                    acc[0] = _mm512_fmadd_ps(value, w0, acc[0]);
                    acc[1] = _mm512_fmadd_ps(value, w1, acc[1]);
                }
            }
            let masks = [mask16(tile.width), mask16(tile.width.saturating_sub(16))];
            for (row, acc) in acc.iter().enumerate() {
                for (half, &value) in acc.iter().enumerate() {
                    let value: __m512 = if tile.relu {
                        _mm512_max_ps(value, _mm512_setzero_ps())
                    } else {
                        value
                    };
                    if masks[half] != 0 {
                        let at = out.as_mut_ptr().add(row * out_stride + half * 16);
                        _mm512_mask_storeu_ps(at, masks[half], value);
                    }
                }
            }
        }
    }

    /// # Safety
    /// AVX2 and FMA; `tile.x` holds `N` rows and `out` `N` rows of `tile.width` from the column.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile_avx2<const N: usize>(tile: &Tile<'_>, out: &mut [f32]) {
        let Strides {
            x: x_stride,
            out: out_stride,
        } = tile.strides;
        debug_assert!(tile.x.len() >= (N - 1) * x_stride + tile.input);
        debug_assert!(tile.panel.len() >= (tile.input - 1) * PANEL + 16);
        debug_assert!(out.len() >= (N - 1) * out_stride + tile.width);
        let (x, panel) = (tile.x.as_ptr(), tile.panel.as_ptr());
        // SAFETY: every pointer below stays inside the slices, as the assertions above say.
        unsafe {
            let bias = [
                _mm256_loadu_ps(tile.bias.as_ptr()),
                _mm256_loadu_ps(tile.bias.as_ptr().add(8)),
            ];
            let mut acc = [bias; N];
            for k in 0..tile.input {
                let w0 = _mm256_loadu_ps(panel.add(k * PANEL));
                let w1 = _mm256_loadu_ps(panel.add(k * PANEL + 8));
                for (row, acc) in acc.iter_mut().enumerate() {
                    let value = _mm256_set1_ps(*x.add(row * x_stride + k));
                    acc[0] = _mm256_fmadd_ps(value, w0, acc[0]);
                    acc[1] = _mm256_fmadd_ps(value, w1, acc[1]);
                }
            }
            let mut lanes = [0.0f32; 16];
            for (row, acc) in acc.iter().enumerate() {
                for (half, &value) in acc.iter().enumerate() {
                    let value: __m256 = if tile.relu {
                        _mm256_max_ps(value, _mm256_setzero_ps())
                    } else {
                        value
                    };
                    _mm256_storeu_ps(lanes.as_mut_ptr().add(half * 8), value);
                }
                let row_out = &mut out[row * out_stride..row * out_stride + tile.width];
                row_out.copy_from_slice(&lanes[..tile.width]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Dense, Kernel, PackedLinear};
    use crate::lanes::{TEST_SHAPES, test_values as values};

    fn reference(
        x: &[f32],
        w: &[f32],
        b: &[f32],
        rows: usize,
        input: usize,
        relu: bool,
    ) -> Vec<f32> {
        let output = b.len();
        let mut out = vec![0.0; rows * output];
        for row in 0..rows {
            for column in 0..output {
                let mut sum = f64::from(b[column]);
                for k in 0..input {
                    sum += f64::from(x[row * input + k]) * f64::from(w[k * output + column]);
                }
                let sum = sum as f32;
                out[row * output + column] = if relu { sum.max(0.0) } else { sum };
            }
        }
        out
    }

    #[test]
    fn every_kernel_matches_the_reference_on_every_shape() {
        let kernels = Kernel::available();
        if kernels.is_empty() {
            eprintln!("no SIMD kernel on this CPU: candle's matrix product is used instead");
            return;
        }
        for kernel in kernels {
            for (rows, input, output) in TEST_SHAPES {
                for relu in [false, true] {
                    let x = values(rows * input, 1);
                    let w = values(input * output, 2);
                    let b = values(output, 3);
                    let dense = Dense {
                        weight_t: &w,
                        bias: &b,
                        input,
                        output,
                        relu,
                    };
                    let linear = PackedLinear::with_kernel(kernel, dense);
                    let mut got = vec![f32::NAN; rows * output];
                    linear.forward_into(&x, rows, &mut got);
                    let want = reference(&x, &w, &b, rows, input, relu);
                    for (index, (got, want)) in got.iter().zip(&want).enumerate() {
                        assert!(
                            (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                            "{kernel:?} {rows}x{input}x{output} relu={relu} at {index}: \
                             {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
