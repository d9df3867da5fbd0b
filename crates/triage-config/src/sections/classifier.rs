//! `[classifier]`: where the on-device model lives.

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
}

/// Validated `[classifier]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassifierSettings {
    /// The model directory, resolved against the config file's directory.
    pub model_dir: Option<PathBuf>,
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
    })
}
