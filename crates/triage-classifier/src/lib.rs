//! The on-device request classifier: a small BERT-like encoder, run with candle on the CPU, that
//! turns a prompt into probabilities over the six routing classes. A model may add an n-gram
//! head ([`ngrams`]), whose logits over hashed token pairs are summed with the encoder's.
//!
//! A model directory holds `config.json` ([`ModelConfig`]), `model.safetensors`, `tokenizer.json`
//! (a Hugging Face `tokenizers` WordPiece tokenizer) and `labels.json` (the class of each output,
//! in order). The project's trained model is embedded in the library ([`Classifier::embedded`],
//! feature `embedded-model`, on by default), so the `triage` binary needs no files at run time.
//!
//! Pure inference: no threads of its own, no I/O beyond [`Classifier::load`], no downloads.
#![deny(missing_docs)]

mod attention;
mod config;
mod error;
mod lanes;
mod linear;
mod model;
pub mod ngrams;
pub mod params;
pub mod prune;
mod quantized;
mod stack;
mod tokenize;
pub mod training;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use tokenizers::Tokenizer;
use triage_types::{ClassScores, RouteClass, TextClassifier};

pub use config::ModelConfig;
pub use error::ClassifierError;
pub use tokenize::PromptTokenizer;

use model::Encoder;

/// The model configuration's file name in a model directory.
pub const CONFIG_FILE: &str = "config.json";
/// The weights' file name in a model directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The tokenizer's file name in a model directory.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// The labels' file name in a model directory.
pub const LABELS_FILE: &str = "labels.json";

/// The shipped model's directory in a source checkout (`models/default`). The embedded model
/// ([`Classifier::embedded`]) is built from these files.
pub fn default_model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/default")
}

/// The shipped model's id: its directory name and the first 12 hex digits of the sha256 of its
/// `model.safetensors`, so that `triage --version` names the model without loading it. A test
/// (`tests/it/shipped.rs`) recomputes it from `models/default`, so retraining cannot leave it
/// stale.
#[cfg(feature = "embedded-model")]
pub const EMBEDDED_MODEL_ID: &str = "default-0e1e482ec06b";

/// The contents of a model directory's four files.
#[derive(Debug, Clone, Copy)]
pub struct ModelFiles<'a> {
    /// `config.json`.
    pub config: &'a [u8],
    /// `model.safetensors`.
    pub weights: &'a [u8],
    /// `tokenizer.json`.
    pub tokenizer: &'a [u8],
    /// `labels.json`.
    pub labels: &'a [u8],
}

/// The arithmetic of the encoder's linear layers (its attention, norms and heads are f32 either
/// way). The weights on disk are f32; int8 ones are quantized from them at load time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Precision {
    /// f32 throughout: the model as trained.
    F32,
    /// Int8 weights (one scale per output column) and inputs (one scale per token), summed
    /// exactly in 32 bits: a forward pass about 1.5 times as fast as f32 where the CPU has
    /// AVX-512 VNNI, at the price of rare flips between near-tied classes (the model card
    /// measures them).
    Int8,
}

impl Precision {
    /// Whether this CPU runs `self` (int8 needs x86-64 with AVX-512 VNNI).
    pub fn available(self) -> bool {
        match self {
            Self::F32 => true,
            Self::Int8 => quantized::QuantizedLinear::available(),
        }
    }

    /// What a classifier runs unless told otherwise: int8 where this CPU runs it, else f32.
    pub fn detect() -> Self {
        Self::Int8.or_f32()
    }

    /// `self` where this CPU runs it, else f32 (which every CPU runs).
    pub fn or_f32(self) -> Self {
        if self.available() { self } else { Self::F32 }
    }
}

/// A loaded model: tokenizer, encoder and the class of each output.
#[derive(Debug, Clone)]
pub struct Classifier {
    name: String,
    config: ModelConfig,
    tokenizer: PromptTokenizer,
    encoder: Encoder,
    /// The routing class of each model output, in output order.
    labels: Vec<RouteClass>,
}

impl Classifier {
    /// Loads the model in `dir`; the error names the file that is missing or wrong.
    pub fn load(dir: &Path) -> Result<Self, ClassifierError> {
        let read = |file: &str| {
            let path = dir.join(file);
            std::fs::read(&path).map_err(|source| ClassifierError::Read { path, source })
        };
        let config = read(CONFIG_FILE)?;
        let weights = read(WEIGHTS_FILE)?;
        let tokenizer = read(TOKENIZER_FILE)?;
        let labels = read(LABELS_FILE)?;
        let name = dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        let files = ModelFiles {
            config: &config,
            weights: &weights,
            tokenizer: &tokenizer,
            labels: &labels,
        };
        Self::from_files(&name, dir, files)
    }

    /// The model shipped with triage, compiled into the library.
    ///
    /// ```
    /// use triage_types::RouteClass;
    ///
    /// let classifier = triage_classifier::Classifier::embedded()?;
    /// let scores = classifier.classify("What is the capital of Australia?")?;
    /// assert_eq!(scores.best().0, RouteClass::Faq);
    /// # Ok::<(), triage_classifier::ClassifierError>(())
    /// ```
    #[cfg(feature = "embedded-model")]
    pub fn embedded() -> Result<Self, ClassifierError> {
        const FILES: ModelFiles<'static> = ModelFiles {
            config: include_bytes!("../../../models/default/config.json"),
            weights: include_bytes!("../../../models/default/model.safetensors"),
            tokenizer: include_bytes!("../../../models/default/tokenizer.json"),
            labels: include_bytes!("../../../models/default/labels.json"),
        };
        Self::from_files("default", Path::new("<embedded>/models/default"), FILES)
    }

    /// Builds a classifier from the contents of a model directory's files; `dir` only names the
    /// files in errors.
    pub fn from_files(
        name: &str,
        dir: &Path,
        files: ModelFiles<'_>,
    ) -> Result<Self, ClassifierError> {
        let config_path = dir.join(CONFIG_FILE);
        let config: ModelConfig =
            serde_json::from_slice(files.config).map_err(|error| ClassifierError::Config {
                path: config_path.clone(),
                message: error.to_string(),
            })?;
        config
            .validate()
            .map_err(|message| ClassifierError::Config {
                path: config_path,
                message,
            })?;
        let labels_path = dir.join(LABELS_FILE);
        let labels = parse_labels(files.labels, config.num_labels).map_err(|message| {
            ClassifierError::Labels {
                path: labels_path,
                message,
            }
        })?;
        let tokenizer_path = dir.join(TOKENIZER_FILE);
        let tokenizer =
            Tokenizer::from_bytes(files.tokenizer).map_err(|error| ClassifierError::Tokenizer {
                path: tokenizer_path.clone(),
                message: error.to_string(),
            })?;
        let weights_path = dir.join(WEIGHTS_FILE);
        let tensors = candle_core::safetensors::load_buffer(files.weights, &Device::Cpu).map_err(
            |error| ClassifierError::Weights {
                path: weights_path.clone(),
                message: error.to_string(),
            },
        )?;
        Self::build(name, config, tensors, tokenizer, labels).map_err(|error| match error {
            PartError::Tokenizer(message) => ClassifierError::Tokenizer {
                path: tokenizer_path,
                message,
            },
            PartError::Weights(message) => ClassifierError::Weights {
                path: weights_path,
                message,
            },
        })
    }

    /// Builds a classifier from parts already in memory (tests, training).
    pub fn from_parts(
        name: &str,
        config: ModelConfig,
        tensors: HashMap<String, Tensor>,
        tokenizer: Tokenizer,
        labels: Vec<RouteClass>,
    ) -> Result<Self, ClassifierError> {
        let path = PathBuf::from(name);
        config
            .validate()
            .map_err(|message| ClassifierError::Config {
                path: path.join(CONFIG_FILE),
                message,
            })?;
        if labels.len() != config.num_labels {
            return Err(ClassifierError::Labels {
                path: path.join(LABELS_FILE),
                message: format!("{} labels for {} outputs", labels.len(), config.num_labels),
            });
        }
        Self::build(name, config, tensors, tokenizer, labels).map_err(|error| match error {
            PartError::Tokenizer(message) => ClassifierError::Tokenizer {
                path: path.join(TOKENIZER_FILE),
                message,
            },
            PartError::Weights(message) => ClassifierError::Weights {
                path: path.join(WEIGHTS_FILE),
                message,
            },
        })
    }

    fn build(
        name: &str,
        config: ModelConfig,
        tensors: HashMap<String, Tensor>,
        tokenizer: Tokenizer,
        labels: Vec<RouteClass>,
    ) -> Result<Self, PartError> {
        let tokenizer = PromptTokenizer::new(tokenizer, &config).map_err(PartError::Tokenizer)?;
        let encoder = Encoder::new(&config, tensors).map_err(PartError::Weights)?;
        Ok(Self {
            name: name.to_owned(),
            config,
            tokenizer,
            encoder,
            labels,
        })
    }

    /// Per-class probabilities for `text`, indexed by [`RouteClass::index`].
    pub fn classify(&self, text: &str) -> Result<ClassScores, ClassifierError> {
        let ids = self.encode(text)?;
        let probabilities = self.probabilities(&ids)?;
        let mut scores = [0.0; 6];
        for (class, probability) in self.labels.iter().zip(probabilities) {
            scores[class.index()] += probability;
        }
        Ok(ClassScores(scores))
    }

    /// The token ids the model reads for `text` (truncated, with `[CLS]` and `[SEP]`).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, ClassifierError> {
        self.tokenizer
            .encode(text)
            .map_err(|message| ClassifierError::Tokenize { message })
    }

    /// The model's output probabilities, in `labels.json` order, for already encoded ids.
    pub fn probabilities(&self, ids: &[u32]) -> Result<Vec<f32>, ClassifierError> {
        Ok(on_this_thread(|| self.encoder.forward(ids))?)
    }

    /// How much each feed-forward unit contributes on `prompts`, one row per layer: its mean
    /// ReLU output over every token read, times the length of its output weights. What
    /// [`prune::prune_ffn`] keeps the largest of.
    pub fn ffn_importance<'a>(
        &self,
        prompts: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<Vec<f32>>, ClassifierError> {
        let mut sums = vec![vec![0.0f32; self.config.intermediate_size]; self.config.num_layers];
        let mut tokens = 0usize;
        for prompt in prompts {
            let ids = self.encode(prompt)?;
            tokens += on_this_thread(|| self.encoder.add_ffn_activations(&ids, &mut sums))?;
        }
        let norms = self.encoder.ffn_output_norms()?;
        let tokens = tokens.max(1) as f32;
        Ok(sums
            .into_iter()
            .zip(norms)
            .map(|(sums, norms)| {
                sums.into_iter()
                    .zip(norms)
                    .map(|(sum, norm)| sum / tokens * norm)
                    .collect()
            })
            .collect())
    }

    /// The same classifier with its linear layers in `precision`. Where the CPU does not run
    /// it ([`Precision::available`]) the classifier keeps f32, so check [`Classifier::precision`]
    /// when it matters; f32 gives the trained model's numbers (within 1e-5) on every CPU.
    pub fn with_precision(mut self, precision: Precision) -> Result<Self, ClassifierError> {
        self.encoder.set_precision(precision)?;
        Ok(self)
    }

    /// The arithmetic each pass runs (see [`Classifier::with_precision`]).
    pub fn precision(&self) -> Precision {
        self.encoder.precision()
    }

    /// The model's configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The routing class of each output, in output order.
    pub fn labels(&self) -> &[RouteClass] {
        &self.labels
    }

    /// The tokenizer with the model's truncation rule.
    pub fn tokenizer(&self) -> &PromptTokenizer {
        &self.tokenizer
    }
}

impl TextClassifier for Classifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn classify_text(
        &self,
        text: &str,
    ) -> Result<ClassScores, Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.classify(text)?)
    }
}

thread_local! {
    /// A one-thread rayon pool made of the current thread, for [`on_this_thread`].
    static THIS_THREAD_POOL: Option<rayon::ThreadPool> = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .use_current_thread()
        .build()
        .ok();
}

/// Runs one forward pass. Candle's fused operations (layer norm, softmax) run in the current
/// rayon pool, and `Device::with_context` enters candle's shared pool: with one thread
/// configured (`RAYON_NUM_THREADS=1`, how `triage` serves), that puts every concurrent
/// classification in a queue for one pool thread while the calling threads wait, which halved
/// the gateway's throughput. So with one thread the pass runs in a pool made of the calling
/// thread itself (no hand-off, and concurrent requests classify on their own threads); with
/// more, in candle's pool, which splits each product across them.
fn on_this_thread<R: Send>(pass: impl FnOnce() -> R + Send) -> R {
    if candle_core::utils::get_num_threads() > 1 {
        return Device::Cpu.with_context(pass);
    }
    THIS_THREAD_POOL.with(|pool| match pool {
        Some(pool) => pool.install(pass),
        None => pass(),
    })
}

/// Which of the in-memory parts was wrong.
enum PartError {
    Tokenizer(String),
    Weights(String),
}

/// Parses `labels.json`: a list of distinct routing class names, one per model output.
pub fn parse_labels(bytes: &[u8], outputs: usize) -> Result<Vec<RouteClass>, String> {
    let names: Vec<String> = serde_json::from_slice(bytes).map_err(|error| error.to_string())?;
    if names.len() != outputs {
        return Err(format!("{} labels for {outputs} outputs", names.len()));
    }
    let labels = names
        .iter()
        .map(|name| {
            name.parse::<RouteClass>()
                .map_err(|error| error.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (index, label) in labels.iter().enumerate() {
        if labels[..index].contains(label) {
            return Err(format!("label `{label}` appears twice"));
        }
    }
    Ok(labels)
}
