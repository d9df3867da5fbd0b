//! `[quality]`: the expected-quality table the cost-quality knob weighs: a file written by
//! `triage calibrate` replacing the shipped one, and single entries overriding either.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;
use triage_strategies::quality::quality_triple;
use triage_types::RouteClass;

use super::{invalid, model_ref};
use crate::{ConfigError, ModelRef};
use triage_catalog::Source;

/// One class's overrides: catalog id → `[easy, medium, hard]` expected quality.
type RawClassQuality = Option<BTreeMap<String, Spanned<Vec<f64>>>>;

/// `[quality]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQuality {
    /// A quality file (`triage calibrate --out`) replacing the shipped table; relative to the
    /// config file.
    file: Option<PathBuf>,
    /// `[quality.extract]`: `"<model>" = [easy, medium, hard]`.
    extract: RawClassQuality,
    /// `[quality.faq]`.
    faq: RawClassQuality,
    /// `[quality.transform]`.
    transform: RawClassQuality,
    /// `[quality.analyze]`.
    analyze: RawClassQuality,
    /// `[quality.reason]`.
    reason: RawClassQuality,
    /// `[quality.critical]`.
    critical: RawClassQuality,
}

/// One `[quality.<class>]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityOverride {
    /// The class.
    pub class: RouteClass,
    /// The model, with where it was written.
    pub model: ModelRef,
    /// `[easy, medium, hard]`.
    pub quality: [f64; 3],
}

/// Validated `[quality]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QualitySettings {
    /// The quality file replacing the shipped table, resolved against the config's folder.
    pub file: Option<PathBuf>,
    /// Entries overriding the table.
    pub overrides: Vec<QualityOverride>,
}

pub(crate) fn validate(
    source: &Source<'_>,
    raw: RawQuality,
    base_dir: Option<&Path>,
) -> Result<QualitySettings, ConfigError> {
    let classes = [
        raw.extract,
        raw.faq,
        raw.transform,
        raw.analyze,
        raw.reason,
        raw.critical,
    ];
    let mut overrides = Vec::new();
    for (class, entries) in RouteClass::ALL.into_iter().zip(classes) {
        for (model, written) in entries.into_iter().flatten() {
            let key = format!("quality.{class}.{model}");
            let quality = quality_triple(written.get_ref())
                .map_err(|message| invalid(source, &written.span(), &key, message))?;
            let model = Spanned::new(written.span(), model);
            overrides.push(QualityOverride {
                class,
                model: model_ref(source, &model, &key),
                quality,
            });
        }
    }
    Ok(QualitySettings {
        file: raw.file.map(|path| match base_dir {
            Some(base) if path.is_relative() => base.join(path),
            _ => path,
        }),
        overrides,
    })
}
