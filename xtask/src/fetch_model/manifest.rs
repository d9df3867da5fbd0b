//! The manifest of pinned model files (`models/manifest.toml`): which files `fetch-model`
//! downloads for a repository and revision, with the sha256 and size each must have.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;

/// Every pinned repository revision, in file order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    /// One `[[model]]` table per repository and revision.
    #[serde(rename = "model", default)]
    pub(crate) models: Vec<ModelEntry>,
}

/// The files of one repository at one revision.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelEntry {
    /// Hub repository id, `owner/name`.
    pub(crate) repo: String,
    /// Branch, tag or commit the sums were taken at; `--revision` must match it exactly.
    pub(crate) revision: String,
    /// What the model is and why the project needs it.
    #[serde(default)]
    #[expect(dead_code, reason = "documentation for people reading the manifest")]
    pub(crate) description: Option<String>,
    /// The files to download, each with its pinned sum.
    #[serde(rename = "file")]
    pub(crate) files: Vec<PinnedFile>,
}

/// One file and the content it must have.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PinnedFile {
    /// Path inside the repository, `/`-separated (also its path under `--out`).
    pub(crate) path: String,
    /// Lowercase hex sha256 of the content.
    pub(crate) sha256: String,
    /// Size in bytes.
    pub(crate) size: u64,
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the manifest {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in the manifest {}", path.display()))
    }

    /// Parses and validates manifest text.
    pub(crate) fn parse(text: &str) -> anyhow::Result<Self> {
        let manifest: Self = toml::from_str(text)?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// The entry pinned for `repo` at `revision`, if any.
    pub(crate) fn find(&self, repo: &str, revision: &str) -> Option<&ModelEntry> {
        self.models
            .iter()
            .find(|model| model.repo == repo && model.revision == revision)
    }

    /// `repo@revision` of every entry, for error messages.
    pub(crate) fn pinned(&self) -> Vec<String> {
        self.models
            .iter()
            .map(|model| format!("{}@{}", model.repo, model.revision))
            .collect()
    }

    fn validate(&self) -> anyhow::Result<()> {
        let mut seen = HashSet::new();
        for model in &self.models {
            let key = format!("{}@{}", model.repo, model.revision);
            if model
                .repo
                .split('/')
                .filter(|part| !part.is_empty())
                .count()
                != 2
            {
                bail!("{key}: the repo id must be `owner/name`");
            }
            if model.revision.is_empty() {
                bail!("{key}: the revision is empty");
            }
            if !seen.insert(key.clone()) {
                bail!("{key} is pinned twice");
            }
            if model.files.is_empty() {
                bail!("{key} lists no files");
            }
            let mut paths = HashSet::new();
            for file in &model.files {
                validate_path(&file.path)
                    .with_context(|| format!("{key}: file {:?}", file.path))?;
                if !is_sha256_hex(&file.sha256) {
                    bail!(
                        "{key}: file {}: sha256 must be 64 lowercase hex digits, got {:?}",
                        file.path,
                        file.sha256
                    );
                }
                if !paths.insert(file.path.as_str()) {
                    bail!("{key}: file {} is listed twice", file.path);
                }
            }
        }
        Ok(())
    }
}

/// A repository path must stay inside `--out`: relative, `/`-separated, no `.` or `..` parts.
fn validate_path(path: &str) -> anyhow::Result<()> {
    if path.is_empty() || path.starts_with('/') || path.contains('\\') {
        bail!("the path must be relative and `/`-separated");
    }
    if path
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        bail!("the path must not have empty, `.` or `..` parts");
    }
    Ok(())
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUM: &str = "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41";

    fn entry(repo: &str, path: &str, sha256: &str) -> String {
        format!(
            "[[model]]\nrepo = \"{repo}\"\nrevision = \"main\"\n\
             [[model.file]]\npath = \"{path}\"\nsha256 = \"{sha256}\"\nsize = 1\n"
        )
    }

    /// Parses `text` and returns the error chain, or `ok`.
    fn check(text: &str) -> String {
        match Manifest::parse(text) {
            Ok(_) => "ok".to_owned(),
            Err(error) => format!("{error:#}"),
        }
    }

    #[test]
    fn validation() {
        let cases = [
            entry("a/b", "config.json", SUM),
            entry("a/b", "onnx/model.onnx", SUM),
            entry("ab", "config.json", SUM),
            entry("a/b", "../escape", SUM),
            entry("a/b", "/etc/passwd", SUM),
            entry("a/b", "config.json", &SUM.to_uppercase()),
            entry("a/b", "config.json", "abc"),
            format!("{}{}", entry("a/b", "x", SUM), entry("a/b", "y", SUM)),
            "[[model]]\nrepo = \"a/b\"\nrevision = \"main\"\nfile = []\n".to_owned(),
            "[[model]]\nrepo = \"a/b\"\nrevision = \"main\"\nlicence = \"MIT\"\nfile = []\n"
                .to_owned(),
        ];
        let report: Vec<String> = cases.iter().map(|text| check(text)).collect();
        insta::assert_yaml_snapshot!(report);
    }

    #[test]
    fn shipped_manifest_is_valid_and_pins_the_teacher() {
        let path = crate::project_root().join("models/manifest.toml");
        let manifest = Manifest::load(&path).unwrap();
        let teacher = manifest
            .find(super::super::DEFAULT_REPO, super::super::DEFAULT_REVISION)
            .unwrap();
        let paths: Vec<&str> = teacher
            .files
            .iter()
            .map(|file| file.path.as_str())
            .collect();
        assert_eq!(
            paths,
            ["config.json", "tokenizer.json", "model.safetensors"]
        );
    }
}
