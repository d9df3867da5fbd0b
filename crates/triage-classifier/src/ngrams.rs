//! The n-gram head: a linear model over hashed token unigrams and bigrams whose logits are added
//! to the encoder's. It sees exact word pairs the small encoder blurs, at the cost of a table
//! lookup per n-gram.

/// Which table rows a sequence of token ids touches: each token and each adjacent pair (the
/// `[CLS]` and `[SEP]` ids included, so pairs also mark how a prompt starts and ends), hashed
/// into `buckets` rows, sorted and without repeats.
pub fn features(ids: &[u32], buckets: usize) -> Vec<u32> {
    if buckets == 0 {
        return Vec::new();
    }
    let bucket = |hash: u64| (hash % buckets as u64) as u32;
    let mut rows: Vec<u32> = ids.iter().map(|id| bucket(mix(u64::from(*id)))).collect();
    rows.extend(ids.windows(2).map(|pair| {
        bucket(mix(
            (u64::from(pair[0]) << 32 | u64::from(pair[1])) ^ 0x5851_F42D_4C95_7F2D
        ))
    }));
    rows.sort_unstable();
    rows.dedup();
    rows
}

/// The weight each of `count` features gets: the feature vector is binary and L2-normalised,
/// so long prompts do not shout.
pub fn feature_value(count: usize) -> f32 {
    if count == 0 {
        0.0
    } else {
        1.0 / (count as f32).sqrt()
    }
}

/// SplitMix64's finaliser: a fixed, well-mixed hash of a 64-bit key.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The n-gram table, `(buckets, num_labels)` row-major.
#[derive(Debug, Clone)]
pub(crate) struct NgramHead {
    weights: Vec<f32>,
    buckets: usize,
    num_labels: usize,
}

impl NgramHead {
    pub(crate) fn new(weights: Vec<f32>, buckets: usize, num_labels: usize) -> Self {
        debug_assert_eq!(weights.len(), buckets * num_labels);
        Self {
            weights,
            buckets,
            num_labels,
        }
    }

    /// Adds the n-gram logits of `ids` to `logits`.
    pub(crate) fn add_logits(&self, ids: &[u32], logits: &mut [f32]) {
        let rows = features(ids, self.buckets);
        let value = feature_value(rows.len());
        for row in rows {
            let start = row as usize * self.num_labels;
            for (logit, weight) in logits
                .iter_mut()
                .zip(&self.weights[start..start + self.num_labels])
            {
                *logit += value * weight;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_sorted_distinct_and_in_range() {
        let rows = features(&[2, 10, 11, 10, 11, 3], 1000);
        assert!(rows.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(rows.iter().all(|row| *row < 1000));
        // 4 distinct tokens and 4 distinct pairs (10-11 repeats), barring collisions.
        assert_eq!(rows.len(), 8);
        assert!(features(&[], 1000).is_empty());
        assert!(features(&[1, 2], 0).is_empty());
    }

    #[test]
    fn pairs_depend_on_order() {
        assert_ne!(features(&[5, 6], 1 << 20), features(&[6, 5], 1 << 20));
    }
}
