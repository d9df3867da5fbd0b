//! Pruning a trained model's feed-forward layers to the units that matter. The ReLU units of a
//! small distilled encoder are mostly idle (in the shipped model's first layer half of them
//! fire on fewer than 6% of tokens), so keeping the most important ones cuts the forward pass's
//! largest matrix products while the model answers almost exactly as before.

use std::collections::HashMap;

use candle_core::{Device, Tensor};

use crate::ModelConfig;
use crate::params::layer_prefix;

/// `tensors` of a model with `config` keeping, in each layer, the `keep` feed-forward units of
/// greatest `importance` (one row per layer, as [`crate::Classifier::ffn_importance`] gives
/// it), in their original order; the returned config says the new width. An error names what
/// does not fit: a `keep` of 0 or above the current width, a missing tensor, a wrong row count.
pub fn prune_ffn(
    config: &ModelConfig,
    mut tensors: HashMap<String, Tensor>,
    importance: &[Vec<f32>],
    keep: usize,
) -> Result<(ModelConfig, HashMap<String, Tensor>), String> {
    let width = config.intermediate_size;
    if keep == 0 || keep > width {
        return Err(format!("cannot keep {keep} of {width} feed-forward units"));
    }
    if importance.len() != config.num_layers || importance.iter().any(|row| row.len() != width) {
        return Err(format!(
            "the importance has to give {width} values for each of {} layers",
            config.num_layers
        ));
    }
    for (layer, row) in importance.iter().enumerate() {
        let kept = most_important(row, keep);
        let kept = Tensor::from_vec(kept, keep, &Device::Cpu).map_err(|e| e.to_string())?;
        for (part, dim) in [
            ("ffn.up.weight", 0),
            ("ffn.up.bias", 0),
            ("ffn.down.weight", 1),
        ] {
            let name = layer_prefix(layer, part);
            let tensor = tensors
                .remove(&name)
                .ok_or_else(|| format!("missing tensor `{name}`"))?;
            let pruned = tensor
                .index_select(&kept, dim)
                .and_then(|pruned| pruned.contiguous())
                .map_err(|error| format!("tensor `{name}`: {error}"))?;
            tensors.insert(name, pruned);
        }
    }
    let config = ModelConfig {
        intermediate_size: keep,
        ..config.clone()
    };
    Ok((config, tensors))
}

/// The indices of the `keep` largest values of `row`, ascending (ties: the lower index).
fn most_important(row: &[f32], keep: usize) -> Vec<u32> {
    let mut order: Vec<u32> = (0..row.len() as u32).collect();
    order.sort_by(|&a, &b| row[b as usize].total_cmp(&row[a as usize]).then(a.cmp(&b)));
    order.truncate(keep);
    order.sort_unstable();
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_largest_in_order() {
        assert_eq!(most_important(&[0.1, 0.9, 0.0, 0.5, 0.9], 3), [1, 3, 4]);
        assert_eq!(most_important(&[1.0, 1.0, 1.0], 2), [0, 1]);
    }
}
