//! `cargo xtask train-model`: trains the shipped classifier from `../shared/data/train.jsonl`
//! in three steps (a fine-tuned all-MiniLM-L6-v2 teacher, the n-gram head on the teacher's
//! probabilities, then the student encoder on them), keeping the average of the last epochs'
//! weights (`dev.jsonl` is only measured on, unless `--keep best-on-dev`), and writes a model
//! directory that `triage-classifier` loads.

mod data;
mod metrics;
mod ngrams;
mod teacher;
mod vocab;

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::Digest;
use tokenizers::Tokenizer;
use triage_classifier::params::{POSITION_EMBEDDINGS, ParamKind, WORD_EMBEDDINGS, param_specs};
use triage_classifier::training::{Dropout, TrainableEncoder};
use triage_classifier::{Classifier, ModelConfig, PromptTokenizer};
use triage_types::RouteClass;

use data::{Example, LabelWeights, class_weights, read_examples};
use metrics::Metrics;

/// Train the on-device classifier and write it to a model directory.
///
/// Fine-tunes an all-MiniLM-L6-v2 teacher (about 40 minutes on 2 cores; its outputs are cached
/// in --teacher-cache for later runs), fits the n-gram head and trains the student encoder on the
/// teacher's probabilities. Deterministic for a given seed on one thread. Reproduce the shipped
/// model with `RAYON_NUM_THREADS=2 cargo xtask train-model` (the defaults below).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Directory holding train.jsonl and dev.jsonl (relative paths are from the repository root).
    #[arg(long, default_value = "../shared/data")]
    data: PathBuf,
    /// Where to write config.json, model.safetensors, tokenizer.json and labels.json.
    #[arg(long, default_value = "models/default")]
    out: PathBuf,
    /// The all-MiniLM-L6-v2 directory (from ../shared/tools/fetch-minilm.sh) whose tokenizer and
    /// word embeddings the student starts from.
    #[arg(long, default_value = ".minilm")]
    minilm: PathBuf,
    /// Passes over the training data.
    #[arg(long, default_value_t = 6)]
    epochs: usize,
    /// Seed for initialisation, shuffling and dropout.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Width of the hidden states.
    #[arg(long, default_value_t = 128)]
    hidden: usize,
    /// Transformer layers.
    #[arg(long, default_value_t = 2)]
    layers: usize,
    /// Attention heads.
    #[arg(long, default_value_t = 4)]
    heads: usize,
    /// Width of the feed-forward layers.
    #[arg(long, default_value_t = 512)]
    ffn: usize,
    /// Most tokens read per prompt, [CLS] and [SEP] included.
    #[arg(long, default_value_t = 128)]
    max_tokens: usize,
    /// Tokens kept from the start of a longer prompt (the rest come from its end).
    #[arg(long, default_value_t = 32)]
    head_tokens: usize,
    /// Examples per optimisation step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Peak learning rate (AdamW), reached after the warm-up and decayed linearly to zero.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Share of the steps spent warming the learning rate up.
    #[arg(long, default_value_t = 0.06)]
    warmup: f64,
    /// AdamW weight decay (not applied to biases and layer norms).
    #[arg(long, default_value_t = 0.01)]
    weight_decay: f64,
    /// Dropout probability.
    #[arg(long, default_value_t = 0.1)]
    dropout: f32,
    /// Label smoothing of the cross-entropy.
    #[arg(long, default_value_t = 0.1)]
    label_smoothing: f32,
    /// Loss weight of examples labelled by source category or templates (style-biased).
    #[arg(long, default_value_t = 0.15)]
    weak_weight: f32,
    /// Loss weight of annotated examples marked `unsure`.
    #[arg(long, default_value_t = 0.8)]
    unsure_weight: f32,
    /// How the token embeddings learn: `train` fine-tunes the table; `project` keeps MiniLM's
    /// 384-wide embeddings frozen and trains only their projection to the hidden size, so that
    /// tokens rare in the training data keep MiniLM's meaning.
    #[arg(long, value_enum, default_value_t = EmbeddingMode::Project)]
    embeddings: EmbeddingMode,
    /// Learning rate of the token embedding table (`--embeddings train`), relative to `--lr`:
    /// below one keeps MiniLM's meaning of rare tokens.
    #[arg(long, default_value_t = 1.0)]
    embedding_lr_scale: f64,
    /// Average the weights after each of the last N epochs (0 or 1: off).
    #[arg(long, default_value_t = 3)]
    average_last: usize,
    /// Which weights are written: `average` (of the last --average-last epochs, else the last
    /// epoch's) never looks at dev.jsonl, so its dev figures are honest; `best-on-dev` keeps
    /// whichever epoch or average scores the best dev macro-F1 (dev then tunes the model).
    #[arg(long, value_enum, default_value_t = Keep::Average)]
    keep: Keep,
    /// Keep a MiniLM token in the vocabulary if the training prompts use it this often (0 keeps
    /// MiniLM's whole vocabulary).
    #[arg(long, default_value_t = 0)]
    min_count: usize,
    /// Characters MiniLM has no token for (most Chinese ones, Korean syllables, …) added to the
    /// vocabulary, the most used in the training and unlabelled prompts first; they start as
    /// `[UNK]` and learn their own embeddings.
    #[arg(long, default_value_t = 2500)]
    new_tokens: usize,
    /// Unlabelled real prompts the teacher labels for the student and the n-gram head to learn
    /// from as well (relative paths are from the repository root).
    #[arg(long, default_value = "../shared/data/unlabelled.jsonl")]
    unlabelled: PathBuf,
    /// Prompts taken from each source of --unlabelled (0: none); the sample is weighed by
    /// source so that no kind of traffic dominates.
    #[arg(long, default_value_t = 600)]
    unlabelled_per_source: usize,
    /// Loss weight of a teacher-labelled prompt (an annotated `sure` one weighs 1).
    #[arg(long, default_value_t = 0.5)]
    unlabelled_weight: f32,
    /// Feed-forward units kept per layer once trained: the most important on the training
    /// prompts (mean ReLU output times output-weight length); the rest are dropped, which
    /// speeds up the forward pass (0 or --ffn: keep all).
    #[arg(long, default_value_t = 128)]
    ffn_keep: usize,
    /// Only prune the model already in --out to --ffn-keep units (no training).
    #[arg(long)]
    prune_only: bool,
    #[command(flatten)]
    teacher: teacher::TeacherArgs,
    #[command(flatten)]
    ngrams: ngrams::NgramArgs,
}

/// Which of the trained weights become the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Keep {
    /// The average of the last epochs (or the last epoch): chosen without dev.jsonl.
    Average,
    /// The epoch or average with the best dev macro-F1.
    BestOnDev,
}

/// How the token embeddings are trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum EmbeddingMode {
    /// Fine-tune the embedding table.
    Train,
    /// Train a projection of MiniLM's frozen embeddings.
    Project,
}

pub(crate) fn run(args: Args) -> Result<()> {
    let started = Instant::now();
    let root = crate::project_root();
    let resolve = |path: &Path| {
        if path.is_absolute() {
            path.to_owned()
        } else {
            root.join(path)
        }
    };
    let data_dir = resolve(&args.data);
    let out_dir = resolve(&args.out);
    let minilm = resolve(&args.minilm);

    let train = read_examples(&data_dir.join("train.jsonl"))?;
    let dev = read_examples(&data_dir.join("dev.jsonl"))?;
    eprintln!("{} training and {} dev examples", train.len(), dev.len());
    if args.prune_only {
        return prune_model(
            &out_dir,
            args.ffn_keep,
            &train,
            &dev,
            &resolve(&args.unlabelled),
        );
    }

    let texts: Vec<&str> = train.iter().map(|example| example.text.as_str()).collect();
    let unlabelled = if args.unlabelled_per_source > 0 && args.teacher.distill > 0.0 {
        let known: std::collections::HashSet<&str> = texts
            .iter()
            .copied()
            .chain(dev.iter().map(|example| example.text.as_str()))
            .collect();
        data::read_unlabelled(
            &resolve(&args.unlabelled),
            args.unlabelled_per_source,
            &known,
        )?
    } else {
        Vec::new()
    };
    let unlabelled_texts: Vec<&str> = unlabelled.iter().map(String::as_str).collect();
    eprintln!(
        "{} unlabelled prompts for the teacher to label",
        unlabelled.len()
    );
    let all_texts: Vec<&str> = texts.iter().chain(&unlabelled_texts).copied().collect();
    let vocab = vocab::build(&vocab::VocabInputs {
        minilm: &minilm,
        texts: &texts,
        all_texts: &all_texts,
        min_count: args.min_count,
        new_token_limit: args.new_tokens,
        hidden: args.hidden,
        max_tokens: args.max_tokens,
    })?;
    let tokenizer = Tokenizer::from_bytes(vocab.tokenizer_json.as_bytes())
        .map_err(|error| anyhow!("compact tokenizer: {error}"))?;
    let config = ModelConfig {
        vocab_size: tokenizer.get_vocab_size(true),
        hidden_size: args.hidden,
        num_layers: args.layers,
        num_heads: args.heads,
        intermediate_size: args.ffn,
        max_tokens: args.max_tokens,
        head_tokens: args.head_tokens,
        layer_norm_eps: 1e-12,
        num_labels: RouteClass::ALL.len(),
        ngram_buckets: args.ngrams.ngram_buckets,
    };
    config.validate().map_err(|message| anyhow!("{message}"))?;
    eprintln!("vocabulary: {} tokens", config.vocab_size);
    let prompt_tokenizer =
        PromptTokenizer::new(tokenizer.clone(), &config).map_err(|message| anyhow!("{message}"))?;
    // The training prompts, then the unlabelled ones (the order of the teacher's outputs).
    let encoded = all_texts
        .iter()
        .map(|text| prompt_tokenizer.encode(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|message| anyhow!("tokenizing: {message}"))?;

    let label_weights = LabelWeights {
        unsure: args.unsure_weight,
        weak: args.weak_weight,
    };
    let mut labels: Vec<RouteClass> = train.iter().map(|example| example.label).collect();
    let mut sample_weights: Vec<f32> = train.iter().map(|e| label_weights.weight(e)).collect();
    let class_weights = class_weights(&labels, &sample_weights);
    eprintln!("class weights {class_weights:?}");
    let labelled_targets = Targets {
        labels: &labels,
        sample_weights: &sample_weights,
        class_weights,
        smoothing: args.label_smoothing,
    };
    let soft_labels = if args.teacher.distill > 0.0 {
        let dev_texts: Vec<&str> = dev.iter().map(|example| example.text.as_str()).collect();
        let dev_labels: Vec<RouteClass> = dev.iter().map(|example| example.label).collect();
        let train_bytes = std::fs::read(data_dir.join("train.jsonl"))?;
        let data_key = format!(
            "{:x} {label_weights:?} {}",
            sha2::Sha256::digest(&train_bytes),
            args.label_smoothing
        );
        let mut teacher_args = args.teacher.clone();
        teacher_args.teacher_cache = resolve(&teacher_args.teacher_cache);
        Some(teacher::soft_labels(
            &teacher_args,
            &teacher::TeacherInputs {
                minilm: &minilm,
                train_texts: &texts,
                unlabelled_texts: &unlabelled_texts,
                dev_texts: &dev_texts,
                dev_labels: &dev_labels,
                targets: &labelled_targets,
                max_tokens: args.max_tokens,
                head_tokens: args.head_tokens,
                batch_size: args.batch_size,
                seed: args.seed,
                data_key,
            },
        )?)
    } else {
        None
    };
    // A teacher-labelled prompt's label is the teacher's best class (its target is the
    // teacher's probabilities at --distill 1, the default).
    if let Some(probabilities) = &soft_labels {
        for probabilities in &probabilities[train.len()..] {
            labels.push(RouteClass::ALL[argmax(probabilities)]);
            sample_weights.push(args.unlabelled_weight);
        }
    }
    let targets = Targets {
        labels: &labels,
        sample_weights: &sample_weights,
        class_weights,
        smoothing: args.label_smoothing,
    };
    let soft = soft_labels
        .as_deref()
        .map(|probabilities| (probabilities, args.teacher.distill));
    let ngram_head = if config.ngram_buckets > 0 {
        Some(ngrams::train(
            &args.ngrams,
            &encoded,
            &targets,
            soft,
            args.batch_size,
            args.seed,
        )?)
    } else {
        None
    };
    if let Some(head) = &ngram_head {
        let mut predicted = Vec::with_capacity(dev.len());
        for example in &dev {
            let ids = prompt_tokenizer
                .encode(&example.text)
                .map_err(|message| anyhow!("tokenizing: {message}"))?;
            predicted.push(head.predict(&ids)?);
        }
        let gold: Vec<RouteClass> = dev.iter().map(|example| example.label).collect();
        eprintln!("n-gram head alone: dev {}", Metrics::new(&gold, &predicted));
    }
    let with_ngrams = |tensors: HashMap<String, Tensor>| -> Result<HashMap<String, Tensor>> {
        add_ngram_head(tensors, ngram_head.as_ref())
    };

    let mut rng = SplitMix::new(args.seed);
    let varmap = initial_varmap(&config, &vocab, &mut rng)?;
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let model = TrainableEncoder::new(&config, &vb)?;
    let params = |weight_decay| ParamsAdamW {
        lr: args.lr,
        weight_decay,
        ..ParamsAdamW::default()
    };
    let (mut decayed, mut plain) = split_vars(&config, &varmap)?;
    let word = varmap_var(&varmap, WORD_EMBEDDINGS)?;
    decayed.retain(|var| var.as_tensor().id() != word.as_tensor().id());
    let mut embedding_optimizer = match args.embeddings {
        EmbeddingMode::Train => Some(AdamW::new(vec![word.clone()], params(args.weight_decay))?),
        EmbeddingMode::Project => None,
    };
    let projection = match args.embeddings {
        EmbeddingMode::Train => None,
        EmbeddingMode::Project => {
            let projection = Var::from_tensor(&vocab.projection)?;
            plain.push(projection.clone());
            let new_rows = NewRows::new(config.vocab_size, vocab.new_tokens, args.hidden)?;
            if let Some(delta) = &new_rows.delta {
                decayed.push(delta.clone());
            }
            Some((
                vocab.minilm_rows.clone(),
                projection,
                word.clone(),
                new_rows,
            ))
        }
    };

    let mut decayed = AdamW::new(decayed, params(args.weight_decay))?;
    let mut plain = AdamW::new(plain, params(0.0))?;
    let mut dropout = Dropout::new(args.dropout, args.seed.wrapping_add(1));

    let schedule = Schedule::new(
        args.lr,
        encoded.len().div_ceil(args.batch_size) * args.epochs,
        args.warmup,
    );
    let mut step = 0usize;
    let mut kept: Option<(String, Metrics)> = None;
    let mut weight_sum: Option<HashMap<String, Tensor>> = None;
    let mut averaged_epochs = 0usize;
    for epoch in 1..=args.epochs {
        let epoch_started = Instant::now();
        let batches = batches(&encoded, args.batch_size, &mut rng);
        let bar = progress(batches.len(), &format!("epoch {epoch}/{}", args.epochs))?;
        let mut loss_sum = 0.0;
        for (index, batch) in batches.iter().enumerate() {
            step += 1;
            let lr = schedule.at(step);
            decayed.set_learning_rate(lr);
            plain.set_learning_rate(lr);
            if let Some(optimizer) = &mut embedding_optimizer {
                optimizer.set_learning_rate(lr * args.embedding_lr_scale);
            }
            let (ids, mask) = padded_ids(batch, &encoded)?;
            let batch_targets = targets.batch(batch, soft)?;
            let logits = match &projection {
                None => model.forward(&ids, &mask, Some(&mut dropout))?,
                Some((rows, projection, _, new_rows)) => {
                    let (batch, tokens) = ids.dims2()?;
                    let flat = ids.flatten_all()?;
                    let embedded = new_rows
                        .add_to(
                            rows.index_select(&flat, 0)?
                                .matmul(projection.as_tensor())?,
                            &flat,
                        )?
                        .reshape((batch, tokens, config.hidden_size))?;
                    model.forward_embedded(&embedded, &mask, Some(&mut dropout))?
                }
            };
            let loss = target_loss(&logits, &batch_targets)?;
            let grads = loss.backward()?;
            decayed.step(&grads)?;
            plain.step(&grads)?;
            if let Some(optimizer) = &mut embedding_optimizer {
                optimizer.step(&grads)?;
            }
            loss_sum += f64::from(loss.to_scalar::<f32>()?);
            report_step(
                &bar,
                &format!("epoch {epoch}"),
                index,
                loss_sum,
                epoch_started,
            );
        }
        bar.finish();
        if let Some((rows, projection, word, new_rows)) = &projection {
            word.set(&new_rows.add_to_table(rows.matmul(projection.as_tensor())?)?)?;
        }
        let tensors = current_tensors(&varmap)?;
        if args.average_last >= 2 && epoch + args.average_last > args.epochs {
            weight_sum = Some(match weight_sum {
                None => tensors.clone(),
                Some(sum) => sum
                    .into_iter()
                    .map(|(name, total)| {
                        let add = tensors.get(&name).context("tensor vanished")?;
                        Ok((name, (total + add)?))
                    })
                    .collect::<Result<_>>()?,
            });
            averaged_epochs += 1;
        }
        if ngram_head.is_some() {
            let alone = ModelConfig {
                ngram_buckets: 0,
                ..config.clone()
            };
            let classifier = classifier_from(&alone, tensors.clone(), &tokenizer)?;
            eprintln!(
                "epoch {epoch}: encoder alone: dev {}",
                evaluate(&classifier, &dev)?
            );
        }
        let tensors = with_ngrams(tensors)?;
        let classifier = classifier_from(&config, tensors.clone(), &tokenizer)?;
        let metrics = evaluate(&classifier, &dev)?;
        eprintln!(
            "epoch {epoch}: train loss {:.4}, {:.0}s; dev {metrics}",
            loss_sum / batches.len() as f64,
            epoch_started.elapsed().as_secs_f64()
        );
        let last_without_average = epoch == args.epochs && args.average_last.min(args.epochs) < 2;
        let better_on_dev = args.keep == Keep::BestOnDev
            && kept
                .as_ref()
                .is_none_or(|(_, best)| metrics.macro_f1 > best.macro_f1);
        if better_on_dev || last_without_average {
            write_model(&out_dir, &config, tensors, &vocab.tokenizer_json)?;
            eprintln!("epoch {epoch}: wrote {}", out_dir.display());
            kept = Some((format!("epoch {epoch}"), metrics));
        }
    }
    if let Some(sum) = weight_sum.filter(|_| averaged_epochs >= 2) {
        let averaged = sum
            .into_iter()
            .map(|(name, total)| Ok((name, (total / averaged_epochs as f64)?)))
            .collect::<Result<HashMap<_, _>>>()?;
        let averaged = with_ngrams(averaged)?;
        let classifier = classifier_from(&config, averaged.clone(), &tokenizer)?;
        let metrics = evaluate(&classifier, &dev)?;
        eprintln!("average of the last {averaged_epochs} epochs: dev {metrics}");
        let keep_it = match args.keep {
            Keep::Average => true,
            Keep::BestOnDev => kept
                .as_ref()
                .is_none_or(|(_, best)| metrics.macro_f1 > best.macro_f1),
        };
        if keep_it {
            write_model(&out_dir, &config, averaged, &vocab.tokenizer_json)?;
            eprintln!("the average: wrote {}", out_dir.display());
            kept = Some((
                format!("average of the last {averaged_epochs} epochs"),
                metrics,
            ));
        }
    }
    if let Some((which, metrics)) = kept {
        eprintln!("kept: {which}; dev {metrics}");
    }
    if args.ffn_keep > 0 && args.ffn_keep < args.ffn {
        prune_model(
            &out_dir,
            args.ffn_keep,
            &train,
            &dev,
            &resolve(&args.unlabelled),
        )?;
    }
    eprintln!("trained in {:.0}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Prompts the pruning step looks at: about this many, evenly spread over a list.
const PRUNE_PROMPTS: usize = 3000;

/// Every `len / PRUNE_PROMPTS`-th of `texts`.
fn spread<'a>(texts: impl ExactSizeIterator<Item = &'a str>) -> Vec<&'a str> {
    let step = texts.len().div_ceil(PRUNE_PROMPTS).max(1);
    texts.step_by(step).collect()
}

/// Prunes the model in `dir` to `keep` feed-forward units per layer, the most important on the
/// training prompts, and writes it back; reports how often the pruned model agrees with the
/// unpruned one on unlabelled prompts, and both on dev.
fn prune_model(
    dir: &Path,
    keep: usize,
    train: &[Example],
    dev: &[Example],
    unlabelled: &Path,
) -> Result<()> {
    let full = Classifier::load(dir)?;
    let config = full.config().clone();
    if keep == 0 || keep >= config.intermediate_size {
        eprintln!(
            "pruning: keeping all {} feed-forward units",
            config.intermediate_size
        );
        return Ok(());
    }
    let importance = full.ffn_importance(spread(train.iter().map(|e| e.text.as_str())))?;
    let weights =
        candle_core::safetensors::load(dir.join(triage_classifier::WEIGHTS_FILE), &Device::Cpu)?;
    let (pruned_config, pruned) =
        triage_classifier::prune::prune_ffn(&config, weights, &importance, keep)
            .map_err(|message| anyhow!("pruning: {message}"))?;
    let tokenizer_path = dir.join(triage_classifier::TOKENIZER_FILE);
    let tokenizer_json = std::fs::read_to_string(&tokenizer_path)
        .with_context(|| format!("reading {}", tokenizer_path.display()))?;
    let tokenizer =
        Tokenizer::from_bytes(tokenizer_json.as_bytes()).map_err(|error| anyhow!("{error}"))?;
    let small = classifier_from(&pruned_config, pruned.clone(), &tokenizer)?;

    let known: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let pool = data::read_unlabelled(unlabelled, usize::MAX, &known)?;
    let sample = spread(pool.iter().map(String::as_str));
    let mut agree = 0;
    for text in &sample {
        agree += usize::from(full.classify(text)?.best().0 == small.classify(text)?.best().0);
    }
    eprintln!(
        "pruned {} to {keep} feed-forward units per layer: agrees with the unpruned model on {:.2}% of {} unlabelled prompts; dev {} (unpruned {})",
        config.intermediate_size,
        100.0 * agree as f64 / sample.len().max(1) as f64,
        sample.len(),
        evaluate(&small, dev)?,
        evaluate(&full, dev)?,
    );
    write_model(dir, &pruned_config, pruned, &tokenizer_json)?;
    eprintln!("pruning: wrote {}", dir.display());
    Ok(())
}

/// A progress bar on a terminal, hidden otherwise (logs then get a line every 100 steps).
fn progress(length: usize, prefix: &str) -> Result<ProgressBar> {
    let bar = ProgressBar::new(length as u64);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})",
        )?
        .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_owned());
    Ok(bar)
}

/// The learned part of the new tokens' embeddings in `--embeddings project` mode: a delta on
/// top of the `[UNK]` embedding they start from, zero for MiniLM's own tokens (which keep their
/// frozen, projected rows).
struct NewRows {
    /// `(new tokens, hidden)`, trained; `None` when there are no new tokens.
    delta: Option<Var>,
    /// `(MiniLM tokens, hidden)` zeros above the delta.
    zeros: Tensor,
}

impl NewRows {
    fn new(vocab_size: usize, new_tokens: usize, hidden: usize) -> Result<Self> {
        let delta = (new_tokens > 0)
            .then(|| Var::zeros((new_tokens, hidden), DType::F32, &Device::Cpu))
            .transpose()?;
        Ok(Self {
            delta,
            zeros: Tensor::zeros((vocab_size - new_tokens, hidden), DType::F32, &Device::Cpu)?,
        })
    }

    /// `(vocab, hidden)`: zeros, then the delta.
    fn table(&self) -> Result<Option<Tensor>> {
        Ok(match &self.delta {
            None => None,
            Some(delta) => Some(Tensor::cat(&[&self.zeros, delta.as_tensor()], 0)?),
        })
    }

    /// `embedded` (one row per id of `ids`) plus each id's delta.
    fn add_to(&self, embedded: Tensor, ids: &Tensor) -> Result<Tensor> {
        Ok(match self.table()? {
            None => embedded,
            Some(table) => (embedded + table.index_select(ids, 0)?)?,
        })
    }

    /// A whole `(vocab, hidden)` embedding table plus the delta.
    fn add_to_table(&self, table: Tensor) -> Result<Tensor> {
        Ok(match self.table()? {
            None => table,
            Some(delta) => (table + delta)?,
        })
    }
}

/// Warm-up from zero to the peak learning rate, then linear decay to zero.
struct Schedule {
    peak: f64,
    total_steps: usize,
    warmup_steps: f64,
}

impl Schedule {
    /// A schedule over `total_steps` whose first `warmup` share (at least one step) warms up.
    fn new(peak: f64, total_steps: usize, warmup: f64) -> Self {
        Self {
            peak,
            total_steps,
            warmup_steps: (total_steps as f64 * warmup).ceil().max(1.0),
        }
    }

    /// The learning rate of `step` (counted from 1).
    fn at(&self, step: usize) -> f64 {
        if (step as f64) < self.warmup_steps {
            self.peak * step as f64 / self.warmup_steps
        } else {
            self.peak * (self.total_steps - step) as f64
                / (self.total_steps as f64 - self.warmup_steps).max(1.0)
        }
    }
}

/// The loss against weighted target distributions (rows summing to the example's share of the
/// batch, see [`Targets::batch`]): the weighted mean cross-entropy.
fn target_loss(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let log_probabilities = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    Ok((log_probabilities * targets)?.sum_all()?.neg()?)
}

/// Shows the running mean loss on the bar; without a terminal, logs a line every 100 steps.
fn report_step(bar: &ProgressBar, what: &str, index: usize, loss_sum: f64, started: Instant) {
    let mean_loss = loss_sum / (index + 1) as f64;
    bar.set_message(format!("loss {mean_loss:.4}"));
    bar.inc(1);
    if bar.is_hidden() && (index + 1).is_multiple_of(100) {
        eprintln!(
            "{what} step {}/{} loss {mean_loss:.4} ({:.0}s)",
            index + 1,
            bar.length().unwrap_or(0),
            started.elapsed().as_secs_f64()
        );
    }
}

/// The index of the largest value (the first on ties).
fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(index, _)| index)
}

/// A small seeded generator (SplitMix64) for initialisation and shuffling.
struct SplitMix(u64);

impl SplitMix {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    fn next_normal(&mut self) -> f64 {
        let u1 = self.next_f64().max(1e-300);
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for index in (1..items.len()).rev() {
            let other = (self.next_u64() % (index as u64 + 1)) as usize;
            items.swap(index, other);
        }
    }
}

/// Every variable, initialised from the seed (embeddings from MiniLM).
fn initial_varmap(
    config: &ModelConfig,
    vocab: &vocab::StudentVocab,
    rng: &mut SplitMix,
) -> Result<VarMap> {
    let varmap = VarMap::new();
    {
        let mut data = varmap
            .data()
            .lock()
            .map_err(|_| anyhow!("variable map lock poisoned"))?;
        for spec in param_specs(config) {
            let tensor = match (spec.name.as_str(), spec.kind) {
                (WORD_EMBEDDINGS, _) => vocab.word_embeddings.clone(),
                (POSITION_EMBEDDINGS, _) => vocab.position_embeddings.clone(),
                (_, ParamKind::Embedding | ParamKind::Linear) => {
                    let count = spec.shape.iter().product::<usize>();
                    let values: Vec<f32> = (0..count)
                        .map(|_| (rng.next_normal() * 0.02) as f32)
                        .collect();
                    Tensor::from_vec(values, spec.shape.as_slice(), &Device::Cpu)?
                }
                (_, ParamKind::NormScale) => {
                    Tensor::ones(spec.shape.as_slice(), DType::F32, &Device::Cpu)?
                }
                (_, ParamKind::Bias) => {
                    Tensor::zeros(spec.shape.as_slice(), DType::F32, &Device::Cpu)?
                }
            };
            if tensor.dims() != spec.shape.as_slice() {
                return Err(anyhow!(
                    "{} has shape {:?}, expected {:?}",
                    spec.name,
                    tensor.dims(),
                    spec.shape
                ));
            }
            data.insert(spec.name, Var::from_tensor(&tensor)?);
        }
    }
    Ok(varmap)
}

/// Variables with weight decay (linear weights, embeddings) and without (biases, norms).
fn split_vars(config: &ModelConfig, varmap: &VarMap) -> Result<(Vec<Var>, Vec<Var>)> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| anyhow!("variable map lock poisoned"))?;
    let mut decayed = Vec::new();
    let mut plain = Vec::new();
    for spec in param_specs(config) {
        let var = data
            .get(&spec.name)
            .cloned()
            .with_context(|| format!("no variable {}", spec.name))?;
        match spec.kind {
            ParamKind::Embedding | ParamKind::Linear => decayed.push(var),
            ParamKind::NormScale | ParamKind::Bias => plain.push(var),
        }
    }
    Ok((decayed, plain))
}

fn varmap_var(varmap: &VarMap, name: &str) -> Result<Var> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| anyhow!("variable map lock poisoned"))?;
    data.get(name)
        .cloned()
        .with_context(|| format!("no variable {name}"))
}

/// Batches of example indices: shuffled, then sorted by length within groups of 50 batches so
/// that a batch pads little, then the batches shuffled.
fn batches(encoded: &[Vec<u32>], batch_size: usize, rng: &mut SplitMix) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..encoded.len()).collect();
    rng.shuffle(&mut order);
    let mut batches = Vec::new();
    for group in order.chunks_mut(batch_size * 50) {
        group.sort_by_key(|index| encoded[*index].len());
        batches.extend(group.chunks(batch_size).map(<[usize]>::to_vec));
    }
    rng.shuffle(&mut batches);
    batches
}

/// Padded ids of `batch` and the mask of their real tokens.
fn padded_ids(batch: &[usize], encoded: &[Vec<u32>]) -> Result<(Tensor, Tensor)> {
    let tokens = batch
        .iter()
        .map(|index| encoded[*index].len())
        .max()
        .unwrap_or(1);
    let mut ids = vec![0u32; batch.len() * tokens];
    let mut mask = vec![0f32; batch.len() * tokens];
    for (row, index) in batch.iter().enumerate() {
        let sequence = &encoded[*index];
        ids[row * tokens..row * tokens + sequence.len()].copy_from_slice(sequence);
        mask[row * tokens..row * tokens + sequence.len()].fill(1.0);
    }
    Ok((
        Tensor::from_vec(ids, (batch.len(), tokens), &Device::Cpu)?,
        Tensor::from_vec(mask, (batch.len(), tokens), &Device::Cpu)?,
    ))
}

/// What each training example should be pulled towards, and how hard.
struct Targets<'a> {
    labels: &'a [RouteClass],
    sample_weights: &'a [f32],
    class_weights: [f32; 6],
    smoothing: f32,
}

impl Targets<'_> {
    /// The loss's target weights `(batch, 6)`: the smoothed one-hot label, mixed with a
    /// teacher's probabilities (`soft`: all examples' probabilities and their share), scaled by
    /// the example's weight and normalised so that the loss is a weighted mean.
    fn batch(&self, batch: &[usize], soft: Option<(&[[f32; 6]], f32)>) -> Result<Tensor> {
        let weights: Vec<f32> = batch
            .iter()
            .map(|index| {
                self.sample_weights[*index] * self.class_weights[self.labels[*index].index()]
            })
            .collect();
        let total: f32 = weights.iter().sum::<f32>().max(1e-6);
        let mut targets = vec![0f32; batch.len() * 6];
        for (row, index) in batch.iter().enumerate() {
            let weight = weights[row] / total;
            for class in 0..6 {
                let mut target = self.smoothing / 6.0
                    + if class == self.labels[*index].index() {
                        1.0 - self.smoothing
                    } else {
                        0.0
                    };
                if let Some((probabilities, share)) = soft {
                    target = (1.0 - share) * target + share * probabilities[*index][class];
                }
                targets[row * 6 + class] = target * weight;
            }
        }
        Ok(Tensor::from_vec(targets, (batch.len(), 6), &Device::Cpu)?)
    }
}

/// Adds the n-gram head's table to the encoder's tensors and its bias to the classifier's.
fn add_ngram_head(
    mut tensors: HashMap<String, Tensor>,
    head: Option<&ngrams::NgramHead>,
) -> Result<HashMap<String, Tensor>> {
    if let Some(head) = head {
        let name = format!("{}.bias", triage_classifier::params::CLASSIFIER);
        let bias = tensors.get(&name).context("no classifier bias")?;
        let bias = (bias + &head.bias)?;
        tensors.insert(name, bias);
        tensors.insert(
            triage_classifier::params::NGRAM_WEIGHTS.to_owned(),
            head.table.clone(),
        );
    }
    Ok(tensors)
}

/// The given weights in the inference path (so dev metrics are those of the shipped code).
fn classifier_from(
    config: &ModelConfig,
    tensors: HashMap<String, Tensor>,
    tokenizer: &Tokenizer,
) -> Result<Classifier> {
    Ok(Classifier::from_parts(
        "training",
        config.clone(),
        tensors,
        tokenizer.clone(),
        RouteClass::ALL.to_vec(),
    )?)
}

fn current_tensors(varmap: &VarMap) -> Result<HashMap<String, Tensor>> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| anyhow!("variable map lock poisoned"))?;
    Ok(data
        .iter()
        .map(|(name, var)| {
            (
                name.clone(),
                var.as_tensor()
                    .copy()
                    .unwrap_or_else(|_| var.as_tensor().clone()),
            )
        })
        .collect())
}

fn evaluate(classifier: &Classifier, examples: &[Example]) -> Result<Metrics> {
    let mut gold = Vec::with_capacity(examples.len());
    let mut predicted = Vec::with_capacity(examples.len());
    for example in examples {
        gold.push(example.label);
        predicted.push(classifier.classify(&example.text)?.best().0);
    }
    Ok(Metrics::new(&gold, &predicted))
}

fn write_model(
    dir: &Path,
    config: &ModelConfig,
    tensors: HashMap<String, Tensor>,
    tokenizer_json: &str,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |file: &str, contents: &[u8]| {
        let path = dir.join(file);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))
    };
    write(
        triage_classifier::CONFIG_FILE,
        format!("{}\n", serde_json::to_string_pretty(config)?).as_bytes(),
    )?;
    let labels: Vec<&str> = RouteClass::ALL.iter().map(|class| class.as_str()).collect();
    write(
        triage_classifier::LABELS_FILE,
        format!("{}\n", serde_json::to_string(&labels)?).as_bytes(),
    )?;
    write(triage_classifier::TOKENIZER_FILE, tokenizer_json.as_bytes())?;
    let path = dir.join(triage_classifier::WEIGHTS_FILE);
    candle_core::safetensors::save(&tensors, &path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
