//! The distillation teacher: all-MiniLM-L6-v2 fine-tuned on the routing classes, whose
//! probabilities on the training prompts become part of the student's targets.
//!
//! Fine-tuning all six 384-wide layers is too slow on two cores, so the lower layers stay frozen:
//! their output is computed once per prompt and cached in memory, and only the upper layers and
//! a new head are trained. The teacher's train-set logits are cached on disk, keyed by the data
//! and the teacher's settings, so retraining the student does not retrain the teacher.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;
use triage_classifier::params::{
    CLASSIFIER, EMBEDDINGS_NORM, POSITION_EMBEDDINGS, WORD_EMBEDDINGS, layer_prefix,
};
use triage_classifier::training::{Activation, Dropout, TrainableEncoder};
use triage_classifier::{ModelConfig, PromptTokenizer};
use triage_types::RouteClass;

use super::metrics::Metrics;
use super::{
    Schedule, SplitMix, Targets, argmax, batches, padded_ids, progress, report_step, target_loss,
};

/// How the teacher is trained and how much the student listens to it.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TeacherArgs {
    /// Weight of the teacher's probabilities in the student's and the n-gram head's targets (the
    /// rest is the label); 0 trains them on the labels alone and skips the teacher.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) distill: f32,
    /// Temperature that softens the teacher's probabilities.
    #[arg(long, default_value_t = 2.0)]
    pub(crate) teacher_temperature: f32,
    /// Passes of the teacher over the training data.
    #[arg(long, default_value_t = 3)]
    pub(crate) teacher_epochs: usize,
    /// The teacher's peak learning rate (AdamW, warm-up then linear decay).
    #[arg(long, default_value_t = 1e-4)]
    pub(crate) teacher_lr: f64,
    /// MiniLM layers kept frozen (their output is computed once); the rest are fine-tuned.
    #[arg(long, default_value_t = 3)]
    pub(crate) teacher_frozen_layers: usize,
    /// Where the teacher's logits are cached between runs.
    #[arg(long, default_value = "target/teacher")]
    pub(crate) teacher_cache: PathBuf,
}

/// What the teacher needs from the student's run.
pub(crate) struct TeacherInputs<'a> {
    pub(crate) minilm: &'a Path,
    pub(crate) train_texts: &'a [&'a str],
    /// Unlabelled prompts the teacher labels after training (no loss on them).
    pub(crate) unlabelled_texts: &'a [&'a str],
    pub(crate) dev_texts: &'a [&'a str],
    pub(crate) dev_labels: &'a [RouteClass],
    pub(crate) targets: &'a Targets<'a>,
    pub(crate) max_tokens: usize,
    pub(crate) head_tokens: usize,
    pub(crate) batch_size: usize,
    pub(crate) seed: u64,
    /// Identifies the training data and label weighting for the cache key.
    pub(crate) data_key: String,
}

/// The teacher's probabilities at the teacher temperature for every training prompt, then every
/// unlabelled one, from its cached logits when an identical teacher was trained before.
pub(crate) fn soft_labels(args: &TeacherArgs, inputs: &TeacherInputs<'_>) -> Result<Vec<[f32; 6]>> {
    let key = cache_key(args, inputs);
    let cache = args.teacher_cache.join(format!("{key}.json"));
    let cached = match std::fs::read_to_string(&cache) {
        Ok(text) => {
            let logits: Vec<[f32; 6]> = serde_json::from_str(&text).with_context(|| {
                format!(
                    "reading the teacher cache {} (delete it to retrain the teacher)",
                    cache.display()
                )
            })?;
            (logits.len() == inputs.train_texts.len() + inputs.unlabelled_texts.len())
                .then_some(logits)
        }
        Err(_) => None,
    };
    let logits = match cached {
        Some(logits) => {
            eprintln!("teacher: logits from {}", cache.display());
            logits
        }
        None => {
            eprintln!(
                "teacher: nothing cached at {}; training it (about 40 minutes on 2 cores)",
                cache.display()
            );
            let logits = train(args, inputs)?;
            std::fs::create_dir_all(&args.teacher_cache)
                .with_context(|| format!("creating {}", args.teacher_cache.display()))?;
            std::fs::write(&cache, serde_json::to_string(&logits)?)
                .with_context(|| format!("writing {}", cache.display()))?;
            eprintln!("teacher: logits cached in {}", cache.display());
            logits
        }
    };
    Ok(logits
        .iter()
        .map(|logits| softmax(logits, args.teacher_temperature))
        .collect())
}

/// `softmax(logits / temperature)`.
fn softmax(logits: &[f32; 6], temperature: f32) -> [f32; 6] {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps = logits.map(|logit| ((logit - max) / temperature).exp());
    let sum: f32 = exps.iter().sum();
    exps.map(|value| value / sum)
}

fn cache_key(args: &TeacherArgs, inputs: &TeacherInputs<'_>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(format!(
        "v3 {} {} {} {} {} {} {} {} {:x}",
        args.teacher_epochs,
        args.teacher_lr,
        args.teacher_frozen_layers,
        inputs.max_tokens,
        inputs.head_tokens,
        inputs.batch_size,
        inputs.seed,
        inputs.data_key,
        inputs
            .unlabelled_texts
            .iter()
            .fold(Sha256::new(), |hasher, text| hasher
                .chain_update(text.as_bytes())
                .chain_update([0]))
            .finalize(),
    ));
    let digest = hasher.finalize();
    digest[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// all-MiniLM-L6-v2's shape, reading prompts truncated like the student's.
fn teacher_config(max_tokens: usize, head_tokens: usize) -> ModelConfig {
    ModelConfig {
        vocab_size: 30_522,
        hidden_size: 384,
        num_layers: 6,
        num_heads: 12,
        intermediate_size: 1536,
        max_tokens,
        head_tokens,
        layer_norm_eps: 1e-12,
        num_labels: RouteClass::ALL.len(),
        ngram_buckets: 0,
    }
}

/// Fine-tunes the teacher and returns its logits for every training prompt, then every
/// unlabelled one.
fn train(args: &TeacherArgs, inputs: &TeacherInputs<'_>) -> Result<Vec<[f32; 6]>> {
    let started = Instant::now();
    let config = teacher_config(inputs.max_tokens, inputs.head_tokens);
    let frozen = args.teacher_frozen_layers.min(config.num_layers);
    let tokenizer_path = inputs.minilm.join("tokenizer.json");
    let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
        .map_err(|error| anyhow!("{}: {error}", tokenizer_path.display()))?;
    // MiniLM's tokenizer.json truncates to 128 tokens and pads; the prompt tokenizer keeps both
    // ends of long prompts instead.
    tokenizer
        .with_truncation(None)
        .map_err(|error| anyhow!("{error}"))?;
    tokenizer.with_padding(None);
    let prompt_tokenizer =
        PromptTokenizer::new(tokenizer, &config).map_err(|message| anyhow!("{message}"))?;
    let encode = |texts: &[&str]| {
        texts
            .iter()
            .map(|text| prompt_tokenizer.encode(text))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|message| anyhow!("tokenizing for the teacher: {message}"))
    };
    let train_ids = encode(inputs.train_texts)?;
    let dev_ids = encode(inputs.dev_texts)?;
    let unlabelled_ids = encode(inputs.unlabelled_texts)?;

    let mut rng = SplitMix::new(inputs.seed ^ 0x7EAC_4E55);
    let varmap = minilm_varmap(inputs.minilm, &config, &mut rng)?;
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let model = TrainableEncoder::new(&config, &vb)?.with_activation(Activation::Gelu);

    eprintln!(
        "teacher: all-MiniLM-L6-v2, layers 1-{frozen} frozen, {}-{} fine-tuned",
        frozen + 1,
        config.num_layers
    );
    let train_states = frozen_states(&model, &train_ids, frozen, "train")?;
    let dev_states = frozen_states(&model, &dev_ids, frozen, "dev")?;

    let (decayed, plain) = trainable_vars(&varmap, frozen, config.num_layers)?;
    let params = |weight_decay| ParamsAdamW {
        lr: args.teacher_lr,
        weight_decay,
        ..ParamsAdamW::default()
    };
    let mut decayed = AdamW::new(decayed, params(0.01))?;
    let mut plain = AdamW::new(plain, params(0.0))?;
    let mut dropout = Dropout::new(0.1, inputs.seed.wrapping_add(7));
    let schedule = Schedule::new(
        args.teacher_lr,
        train_ids.len().div_ceil(inputs.batch_size) * args.teacher_epochs,
        0.1,
    );
    let mut step = 0usize;
    for epoch in 1..=args.teacher_epochs {
        let epoch_started = Instant::now();
        let batches = batches(&train_ids, inputs.batch_size, &mut rng);
        let bar = progress(
            batches.len(),
            &format!("teacher {epoch}/{}", args.teacher_epochs),
        )?;
        let mut loss_sum = 0.0;
        for (index, batch) in batches.iter().enumerate() {
            step += 1;
            let lr = schedule.at(step);
            decayed.set_learning_rate(lr);
            plain.set_learning_rate(lr);
            let (xs, mask) = padded_states(&train_states, batch)?;
            let targets = inputs.targets.batch(batch, None)?;
            let xs = model.layers(&xs, &mask, frozen..config.num_layers, Some(&mut dropout))?;
            let logits = model.head(&xs, &mask, Some(&mut dropout))?;
            let loss = target_loss(&logits, &targets)?;
            let grads = loss.backward()?;
            decayed.step(&grads)?;
            plain.step(&grads)?;
            loss_sum += f64::from(loss.to_scalar::<f32>()?);
            report_step(
                &bar,
                &format!("teacher epoch {epoch}"),
                index,
                loss_sum,
                epoch_started,
            );
        }
        bar.finish_and_clear();
        let predicted: Vec<RouteClass> = logits(&model, &config, &dev_states, frozen)?
            .iter()
            .map(|logits| RouteClass::ALL[argmax(logits)])
            .collect();
        let metrics = Metrics::new(inputs.dev_labels, &predicted);
        eprintln!(
            "teacher epoch {epoch}: train loss {:.4}, {:.0}s; dev {metrics}",
            loss_sum / batches.len() as f64,
            epoch_started.elapsed().as_secs_f64()
        );
    }
    let mut all = logits(&model, &config, &train_states, frozen)?;
    drop(train_states);
    if !unlabelled_ids.is_empty() {
        let states = frozen_states(&model, &unlabelled_ids, frozen, "unlabelled")?;
        all.extend(logits(&model, &config, &states, frozen)?);
    }
    eprintln!("teacher trained in {:.0}s", started.elapsed().as_secs_f64());
    Ok(all)
}

/// MiniLM's weights under the encoder's parameter names: query, key and value fused, the token
/// type 0 embedding folded into the positions, and a new seeded head.
fn minilm_varmap(minilm: &Path, config: &ModelConfig, rng: &mut SplitMix) -> Result<VarMap> {
    let path = minilm.join("model.safetensors");
    let weights = candle_core::safetensors::load(&path, &Device::Cpu).with_context(|| {
        format!(
            "reading {} (run `bash ../shared/tools/fetch-minilm.sh .minilm`)",
            path.display()
        )
    })?;
    let get = |name: &str| {
        weights
            .get(name)
            .cloned()
            .with_context(|| format!("{} has no tensor {name}", path.display()))
    };
    let mut named: Vec<(String, Tensor)> = vec![
        (
            WORD_EMBEDDINGS.to_owned(),
            get("embeddings.word_embeddings.weight")?,
        ),
        (
            POSITION_EMBEDDINGS.to_owned(),
            get("embeddings.position_embeddings.weight")?
                .narrow(0, 0, config.max_tokens)?
                .broadcast_add(&get("embeddings.token_type_embeddings.weight")?.narrow(0, 0, 1)?)?,
        ),
        (
            format!("{EMBEDDINGS_NORM}.weight"),
            get("embeddings.LayerNorm.weight")?,
        ),
        (
            format!("{EMBEDDINGS_NORM}.bias"),
            get("embeddings.LayerNorm.bias")?,
        ),
    ];
    for layer in 0..config.num_layers {
        let source = |part: &str| format!("encoder.layer.{layer}.{part}");
        for suffix in ["weight", "bias"] {
            let fused = Tensor::cat(
                &[
                    get(&source(&format!("attention.self.query.{suffix}")))?,
                    get(&source(&format!("attention.self.key.{suffix}")))?,
                    get(&source(&format!("attention.self.value.{suffix}")))?,
                ],
                0,
            )?;
            named.push((
                format!("{}.{suffix}", layer_prefix(layer, "attention.qkv")),
                fused,
            ));
            for (ours, theirs) in [
                ("attention.output", "attention.output.dense"),
                ("attention.norm", "attention.output.LayerNorm"),
                ("ffn.up", "intermediate.dense"),
                ("ffn.down", "output.dense"),
                ("ffn.norm", "output.LayerNorm"),
            ] {
                named.push((
                    format!("{}.{suffix}", layer_prefix(layer, ours)),
                    get(&source(&format!("{theirs}.{suffix}")))?,
                ));
            }
        }
    }
    let head: Vec<f32> = (0..config.num_labels * config.hidden_size)
        .map(|_| (rng.next_normal() * 0.02) as f32)
        .collect();
    named.push((
        format!("{CLASSIFIER}.weight"),
        Tensor::from_vec(head, (config.num_labels, config.hidden_size), &Device::Cpu)?,
    ));
    named.push((
        format!("{CLASSIFIER}.bias"),
        Tensor::zeros(config.num_labels, DType::F32, &Device::Cpu)?,
    ));
    let varmap = VarMap::new();
    {
        let mut data = varmap
            .data()
            .lock()
            .map_err(|_| anyhow!("variable map lock poisoned"))?;
        for (name, tensor) in named {
            data.insert(name, Var::from_tensor(&tensor)?);
        }
    }
    Ok(varmap)
}

/// The fine-tuned variables: the upper layers' and the head's, with weight decay (matrices) and
/// without (biases, norms).
fn trainable_vars(varmap: &VarMap, frozen: usize, layers: usize) -> Result<(Vec<Var>, Vec<Var>)> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| anyhow!("variable map lock poisoned"))?;
    let mut decayed = Vec::new();
    let mut plain = Vec::new();
    let trained = (frozen..layers)
        .map(|layer| format!("layers.{layer}."))
        .chain(std::iter::once(format!("{CLASSIFIER}.")))
        .collect::<Vec<_>>();
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        if !trained
            .iter()
            .any(|prefix| name.starts_with(prefix.as_str()))
        {
            continue;
        }
        let var = data[name].clone();
        if name.ends_with(".weight") && !name.contains("norm") {
            decayed.push(var);
        } else {
            plain.push(var);
        }
    }
    Ok((decayed, plain))
}

/// The hidden states after the frozen layers for every prompt, `(tokens, hidden)` each.
fn frozen_states(
    model: &TrainableEncoder,
    encoded: &[Vec<u32>],
    frozen: usize,
    what: &str,
) -> Result<Vec<Tensor>> {
    let started = Instant::now();
    let mut order: Vec<usize> = (0..encoded.len()).collect();
    order.sort_by_key(|index| encoded[*index].len());
    let mut states: Vec<Option<Tensor>> = vec![None; encoded.len()];
    let chunks: Vec<&[usize]> = order.chunks(64).collect();
    let bar = progress(chunks.len(), &format!("teacher: frozen layers over {what}"))?;
    for chunk in chunks {
        let (ids, mask) = padded_ids(chunk, encoded)?;
        let xs = model.embed(&model.token_embeddings(&ids)?, None)?;
        // Detached: the cached states must not keep the frozen layers' graph alive.
        let xs = model.layers(&xs, &mask, 0..frozen, None)?.detach();
        for (row, index) in chunk.iter().enumerate() {
            let length = encoded[*index].len();
            states[*index] = Some(xs.get(row)?.narrow(0, 0, length)?.contiguous()?);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    eprintln!(
        "teacher: frozen layers over {} {what} prompts in {:.0}s",
        encoded.len(),
        started.elapsed().as_secs_f64()
    );
    states
        .into_iter()
        .map(|state| state.context("a prompt was skipped"))
        .collect()
}

/// Cached states of `batch` padded to one length, and the padding mask.
fn padded_states(states: &[Tensor], batch: &[usize]) -> Result<(Tensor, Tensor)> {
    let tokens = batch
        .iter()
        .map(|index| states[*index].dim(0))
        .collect::<candle_core::Result<Vec<_>>>()?
        .into_iter()
        .max()
        .unwrap_or(1);
    let mut rows = Vec::with_capacity(batch.len());
    let mut mask = vec![0f32; batch.len() * tokens];
    for (row, index) in batch.iter().enumerate() {
        let state = &states[*index];
        let length = state.dim(0)?;
        rows.push(state.pad_with_zeros(0, 0, tokens - length)?);
        mask[row * tokens..row * tokens + length].fill(1.0);
    }
    Ok((
        Tensor::stack(&rows, 0)?,
        Tensor::from_vec(mask, (batch.len(), tokens), &Device::Cpu)?,
    ))
}

/// The teacher's logits for every cached prompt.
fn logits(
    model: &TrainableEncoder,
    config: &ModelConfig,
    states: &[Tensor],
    frozen: usize,
) -> Result<Vec<[f32; 6]>> {
    let mut order: Vec<usize> = (0..states.len()).collect();
    order.sort_by_key(|index| states[*index].dim(0).unwrap_or(0));
    let mut all = vec![[0f32; 6]; states.len()];
    for chunk in order.chunks(64) {
        let (xs, mask) = padded_states(states, chunk)?;
        let xs = model.layers(&xs, &mask, frozen..config.num_layers, None)?;
        let rows: Vec<Vec<f32>> = model.head(&xs, &mask, None)?.to_vec2()?;
        for (index, row) in chunk.iter().zip(rows) {
            for (slot, value) in all[*index].iter_mut().zip(row) {
                *slot = value;
            }
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperature_softens_without_reordering() {
        let logits = [2.0, 0.0, -1.0, 0.5, 0.0, 1.0];
        for (temperature, top) in [(1.0, 0.523), (2.0, 0.329), (4.0, 0.241)] {
            let probabilities = softmax(&logits, temperature);
            assert!((probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-6);
            assert_eq!(argmax(&probabilities), 0);
            assert!(
                (probabilities[0] - top).abs() < 1e-3,
                "T {temperature}: {probabilities:?}"
            );
        }
    }
}
