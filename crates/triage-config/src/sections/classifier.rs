//! `[classifier]`: where the on-device model lives and which arithmetic it runs.

use std::path::PathBuf;

use serde::Deserialize;

use crate::ConfigError;
use triage_catalog::Source;

/// `[classifier]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClassifier {
    /// A model directory (config.json, model.safetensors, tokenizer.json, labels.json);
    /// relative paths are relative to the config file. Default: the shipped model.
    model_dir: Option<PathBuf>,
    /// The arithmetic of the model's linear layers. Default: `auto`.
    precision: Option<ClassifierPrecision>,
}

/// The arithmetic of the classifier's linear layers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassifierPrecision {
    /// Int8 where the CPU has AVX-512 VNNI, else f32.
    #[default]
    Auto,
    /// f32 on every CPU: the trained model's numbers, the same on every replica.
    F32,
    /// Int8, or f32 with a warning where the CPU lacks AVX-512 VNNI.
    Int8,
}

/// Validated `[classifier]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassifierSettings {
    /// The model directory, resolved against the config file's directory.
    pub model_dir: Option<PathBuf>,
    /// The arithmetic of the model's linear layers.
    pub precision: ClassifierPrecision,
}

pub(crate) fn validate(
    _source: &Source<'_>,
    raw: RawClassifier,
    base_dir: Option<&std::path::Path>,
) -> Result<ClassifierSettings, ConfigError> {
    Ok(ClassifierSettings {
        model_dir: raw.model_dir.map(|dir| match base_dir {
            Some(base) if dir.is_relative() => base.join(dir),
            _ => dir,
        }),
        precision: raw.precision.unwrap_or_default(),
    })
}
