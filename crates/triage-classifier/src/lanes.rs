//! Reductions over a slice in 16 independent lanes, folded in a fixed order at the end, so the
//! compiler can vectorise them without reordering floating-point sums itself.

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
