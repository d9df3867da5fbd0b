//! Training the n-gram head: an L2-regularised logistic regression over hashed token unigrams
//! and bigrams (`triage_classifier::ngrams`), fitted on its own on the student's targets. Its
//! logits are added to the encoder's, which makes the model the product of the two experts.

use std::time::Instant;

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use triage_classifier::ngrams::{feature_value, features};

use triage_types::RouteClass;

use super::{SplitMix, Targets, argmax, target_loss};

/// How the n-gram head is trained.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct NgramArgs {
    /// Rows of the hashed n-gram table (0: no n-gram head).
    #[arg(long, default_value_t = 1 << 18)]
    pub(crate) ngram_buckets: usize,
    /// Passes of the n-gram head over the training data (the shipped model: 2, over teacher-labelled
    /// unlabelled prompts too).
    #[arg(long, default_value_t = 2)]
    pub(crate) ngram_epochs: usize,
    /// The n-gram head's peak learning rate (Adam, linear decay).
    #[arg(long, default_value_t = 0.02)]
    pub(crate) ngram_lr: f64,
    /// L2 penalty on the n-gram table, per unit of mean loss.
    #[arg(long, default_value_t = 1e-5)]
    pub(crate) ngram_l2: f64,
}

/// The trained head: the `(buckets, 6)` table and a bias to add to the classifier's.
pub(crate) struct NgramHead {
    pub(crate) table: Tensor,
    pub(crate) bias: Tensor,
}

impl NgramHead {
    /// The head's own best class for one prompt's model input ids.
    pub(crate) fn predict(&self, ids: &[u32]) -> Result<RouteClass> {
        let rows = features(ids, self.table.dim(0)?);
        let value = feature_value(rows.len());
        let count = rows.len();
        let rows = Tensor::from_vec(rows, count, &Device::Cpu)?;
        let logits: Vec<f32> = ((self.table.index_select(&rows, 0)?.sum(0)? * f64::from(value))?
            + &self.bias)?
            .to_vec1()?;
        Ok(RouteClass::ALL[argmax(&logits)])
    }
}

/// Fits the head on the model's input ids of every training prompt.
pub(crate) fn train(
    args: &NgramArgs,
    encoded: &[Vec<u32>],
    targets: &Targets<'_>,
    soft: Option<(&[[f32; 6]], f32)>,
    batch_size: usize,
    seed: u64,
) -> Result<NgramHead> {
    let started = Instant::now();
    let buckets = args.ngram_buckets;
    let rows: Vec<Vec<u32>> = encoded.iter().map(|ids| features(ids, buckets)).collect();
    let table = Var::zeros((buckets, 6), DType::F32, &Device::Cpu)?;
    let bias = Var::zeros(6, DType::F32, &Device::Cpu)?;
    let mut optimizer = AdamW::new(
        vec![table.clone(), bias.clone()],
        ParamsAdamW {
            lr: args.ngram_lr,
            weight_decay: 0.0,
            ..ParamsAdamW::default()
        },
    )?;
    let mut rng = SplitMix::new(seed ^ 0x6E67_7261_6D73);
    let steps_per_epoch = encoded.len().div_ceil(batch_size);
    let total_steps = (steps_per_epoch * args.ngram_epochs).max(1);
    let mut step = 0usize;
    let mut loss_sum = 0.0;
    for epoch in 1..=args.ngram_epochs {
        let mut order: Vec<usize> = (0..encoded.len()).collect();
        rng.shuffle(&mut order);
        loss_sum = 0.0;
        for batch in order.chunks(batch_size) {
            step += 1;
            optimizer.set_learning_rate(
                args.ngram_lr * (total_steps - step + 1) as f64 / total_steps as f64,
            );
            let width = batch
                .iter()
                .map(|index| rows[*index].len())
                .max()
                .unwrap_or(1)
                .max(1);
            let mut indices = vec![0u32; batch.len() * width];
            let mut values = vec![0f32; batch.len() * width];
            for (slot, index) in batch.iter().enumerate() {
                let features = &rows[*index];
                let value = feature_value(features.len());
                indices[slot * width..slot * width + features.len()].copy_from_slice(features);
                values[slot * width..slot * width + features.len()].fill(value);
            }
            let indices = Tensor::from_vec(indices, batch.len() * width, &Device::Cpu)?;
            let values = Tensor::from_vec(values, (batch.len(), width, 1), &Device::Cpu)?;
            let logits = table
                .as_tensor()
                .index_select(&indices, 0)?
                .reshape((batch.len(), width, 6))?
                .broadcast_mul(&values)?
                .sum(1)?
                .broadcast_add(bias.as_tensor())?;
            let data_loss = target_loss(&logits, &targets.batch(batch, soft)?)?;
            let penalty = (table.as_tensor().sqr()?.sum_all()? * args.ngram_l2)?;
            let loss = (&data_loss + penalty)?;
            optimizer.step(&loss.backward()?)?;
            loss_sum += f64::from(data_loss.to_scalar::<f32>()?);
        }
        if epoch == args.ngram_epochs || epoch == 1 {
            eprintln!(
                "n-grams epoch {epoch}/{}: train loss {:.4}",
                args.ngram_epochs,
                loss_sum / steps_per_epoch as f64
            );
        }
    }
    eprintln!(
        "n-gram head: {buckets} rows, trained in {:.0}s (final train loss {:.4})",
        started.elapsed().as_secs_f64(),
        loss_sum / steps_per_epoch as f64
    );
    Ok(NgramHead {
        table: table.as_tensor().copy()?,
        bias: bias.as_tensor().copy()?,
    })
}
