//! Reductions over a slice in 16 independent lanes, folded in a fixed order at the end, so the
//! compiler can vectorise them without reordering floating-point sums itself; the kernels'
//! 16-lane masks and row dispatch; and the kernels' test inputs.

/// The largest of `values` (negative infinity for none).
#[inline(always)]
pub(crate) fn max(values: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 16];
    let chunks = values.chunks_exact(16);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (acc, &value) in acc.iter_mut().zip(chunk) {
            *acc = acc.max(value);
        }
    }
    acc.iter()
        .chain(rest)
        .fold(f32::NEG_INFINITY, |max, &value| max.max(value))
}

/// The sum of `map(value)` over `values`.
#[inline(always)]
pub(crate) fn sum(values: &[f32], map: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; 16];
    let chunks = values.chunks_exact(16);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (acc, &value) in acc.iter_mut().zip(chunk) {
            *acc += map(value);
        }
    }
    acc.iter().sum::<f32>() + rest.iter().map(|&value| map(value)).sum::<f32>()
}

/// The mask of the first `lanes` of 16 (all of them from 16 up): the kernels' stores and loads
/// of a partial vector.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) fn mask16(lanes: usize) -> u16 {
    if lanes >= 16 {
        u16::MAX
    } else {
        (1u16 << lanes) - 1
    }
}

/// Calls `$tile::<N>($args)` for the `$rows` of a block (one of the listed `N`): the kernels'
/// register tiles are compiled once per row count.
macro_rules! dispatch_rows {
    ($tile:ident, $rows:expr, $args:tt; $($n:literal)+) => {
        match $rows {
            $($n => $tile::<$n> $args,)+
            _ => unreachable!("no register tile for {} rows", $rows),
        }
    };
}
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_imports))]
pub(crate) use dispatch_rows;

/// A deterministic pseudo-random matrix in [-1, 1), for the kernels' tests.
#[cfg(test)]
pub(crate) fn test_values(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// `(rows, input, output)` shapes for the kernels' tests: row counts around their block sizes,
/// outputs below, at and between panels, inputs off the int8 kernel's groups of four.
#[cfg(test)]
pub(crate) const TEST_SHAPES: [(usize, usize, usize); 8] = [
    (1, 128, 384),
    (5, 128, 128),
    (6, 37, 40),
    (7, 128, 6),
    (8, 128, 384),
    (13, 63, 33),
    (64, 128, 128),
    (130, 128, 384),
];

#[cfg(test)]
mod tests {
    #[test]
    fn lanes_fold_like_iterators() {
        for len in [0, 1, 15, 16, 17, 40, 128] {
            let values: Vec<f32> = (0..len).map(|i| ((i * 37 % 11) as f32) - 5.0).collect();
            let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(super::max(&values), max, "max of {len}");
            let squares: f32 = values.iter().map(|v| v * v).sum();
            assert_eq!(super::sum(&values, |v| v * v), squares, "sum of {len}");
        }
    }
}
