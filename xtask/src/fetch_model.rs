//! `cargo xtask fetch-model`: downloads a model repository's files from the Hugging Face Hub
//! and verifies each against the sha256 pinned in `models/manifest.toml`.
//!
//! Files go through the Hub cache (`HF_HOME`) into `--out`. A file already in `--out` with the
//! pinned sum is skipped without a request; one in the cache with the pinned sum is copied
//! without a request. A download with another sum is an error, and is removed from the cache
//! and never written to `--out`.

mod manifest;
#[cfg(test)]
mod mock_hub;
#[cfg(test)]
mod tests;

use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow};
use hf_hub::api::sync::{ApiBuilder, ApiError};
use hf_hub::{Cache, Repo, RepoType};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};

pub(crate) use manifest::{Manifest, ModelEntry, PinnedFile};

/// The repository fetched when `--repo` is not given: the teacher the classifier is distilled from.
pub(crate) const DEFAULT_REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";
/// The revision fetched when `--revision` is not given.
pub(crate) const DEFAULT_REVISION: &str = "main";
/// The Hub used when `HF_ENDPOINT` is not set.
pub(crate) const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Environment variables this command reads, as the Python `huggingface_hub` names them.
pub(crate) mod env_vars {
    /// Base URL of the Hub or of a mirror, e.g. `https://hf-mirror.example`.
    pub(crate) const HF_ENDPOINT: &str = "HF_ENDPOINT";
    /// Access token, sent as `Authorization: Bearer`; needed for private or gated repositories.
    pub(crate) const HF_TOKEN: &str = "HF_TOKEN";
    /// Hub cache directory; wins over `HF_HOME`.
    pub(crate) const HF_HUB_CACHE: &str = "HF_HUB_CACHE";
    /// Hugging Face home: the cache is `$HF_HOME/hub`, a saved login token `$HF_HOME/token`.
    pub(crate) const HF_HOME: &str = "HF_HOME";
    /// When `HF_HOME` is unset, the home is `$XDG_CACHE_HOME/huggingface`…
    pub(crate) const XDG_CACHE_HOME: &str = "XDG_CACHE_HOME";
    /// …or else `$HOME/.cache/huggingface`.
    pub(crate) const HOME: &str = "HOME";
}

/// Download a model repository from the Hugging Face Hub and check it against pinned sums.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The files to fetch and their sha256 sums come from the manifest's entry for --repo at --revision;
a repository or revision that the manifest does not pin is refused. Files already in --out with
the pinned sum are skipped without a request, so running it again is cheap.

Environment:
  HF_ENDPOINT   Hub base URL (default https://huggingface.co), e.g. a mirror
  HF_TOKEN      access token for private or gated repositories
  HF_HOME       Hugging Face home; the download cache is $HF_HOME/hub (HF_HUB_CACHE overrides)

Examples:
  cargo xtask fetch-model
      the teacher, sentence-transformers/all-MiniLM-L6-v2, into .minilm/
  cargo xtask fetch-model --repo triage/router-classifier --out models/router-classifier
  HF_ENDPOINT=https://hf-mirror.example cargo xtask fetch-model")]
pub(crate) struct Args {
    /// Hub repository id (`owner/name`) to download.
    #[arg(long, default_value = DEFAULT_REPO)]
    pub(crate) repo: String,
    /// Branch, tag or commit to download; the manifest must pin exactly this revision.
    #[arg(long, default_value = DEFAULT_REVISION)]
    pub(crate) revision: String,
    /// Directory to put the files in; a relative path is taken from the repository root.
    #[arg(long, default_value = ".minilm")]
    pub(crate) out: PathBuf,
    /// Manifest with the pinned sums; a relative path is taken from the repository root.
    #[arg(long, default_value = "models/manifest.toml")]
    pub(crate) manifest: PathBuf,
}

/// Runs the command with settings from the environment.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let root = crate::project_root();
    let manifest_path = root.join(&args.manifest);
    let manifest = Manifest::load(&manifest_path)?;
    let entry = select(&manifest, &manifest_path, &args.repo, &args.revision)?;
    let hub = HubSettings::from_env(|name| std::env::var(name).ok())?;
    let options = FetchOptions {
        hub,
        out_dir: root.join(&args.out),
        show_progress: true,
    };
    let fetched = fetch(entry, &options)?;
    for file in &fetched {
        println!(
            "{:<24} {:>12} bytes  {}",
            file.path, file.size, file.outcome
        );
    }
    println!(
        "{}@{}: {} files verified in {}",
        entry.repo,
        entry.revision,
        fetched.len(),
        options.out_dir.display()
    );
    Ok(())
}

/// The manifest's entry for `repo` at `revision`, or an error listing what it does pin.
pub(crate) fn select<'manifest>(
    manifest: &'manifest Manifest,
    manifest_path: &Path,
    repo: &str,
    revision: &str,
) -> anyhow::Result<&'manifest ModelEntry> {
    manifest.find(repo, revision).ok_or_else(|| {
        anyhow!(
            "{} does not pin {repo}@{revision} (it pins: {}); add its files with their sha256 and size",
            manifest_path.display(),
            manifest.pinned().join(", ")
        )
    })
}

/// Where the Hub is and who we are to it.
#[derive(Debug, Clone)]
pub(crate) struct HubSettings {
    /// Base URL without a trailing slash.
    pub(crate) endpoint: String,
    /// Bearer token; when `None`, hf-hub falls back to a saved login token in the cache's home.
    pub(crate) token: Option<String>,
    /// The Hub cache directory (the `hub` folder).
    pub(crate) cache_dir: PathBuf,
}

impl HubSettings {
    /// Reads the settings through `lookup` (the process environment in the CLI), as
    /// `huggingface_hub` does; empty values count as unset.
    pub(crate) fn from_env(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let var = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let endpoint = var(env_vars::HF_ENDPOINT)
            .map(|endpoint| endpoint.trim().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
        let token = var(env_vars::HF_TOKEN).map(|token| token.trim().to_owned());
        let cache_dir = if let Some(cache) = var(env_vars::HF_HUB_CACHE) {
            PathBuf::from(cache)
        } else {
            let home = var(env_vars::HF_HOME)
                .map(PathBuf::from)
                .or_else(|| {
                    var(env_vars::XDG_CACHE_HOME).map(|xdg| PathBuf::from(xdg).join("huggingface"))
                })
                .or_else(|| {
                    var(env_vars::HOME)
                        .map(|home| PathBuf::from(home).join(".cache").join("huggingface"))
                })
                .ok_or_else(|| anyhow!("no cache directory: set HF_HOME"))?;
            home.join("hub")
        };
        Ok(Self {
            endpoint,
            token,
            cache_dir,
        })
    }
}

/// Everything [`fetch`] needs besides the manifest entry.
#[derive(Debug, Clone)]
pub(crate) struct FetchOptions {
    /// The Hub to download from.
    pub(crate) hub: HubSettings,
    /// Where the verified files end up, at their repository paths.
    pub(crate) out_dir: PathBuf,
    /// Draw a progress bar per file on stderr (hidden anyway when stderr is not a terminal).
    pub(crate) show_progress: bool,
}

/// How a file came to be in `--out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It was already there with the pinned sum; no request.
    UpToDate,
    /// Copied from the Hub cache, where it had the pinned sum; no request.
    FromCache,
    /// Downloaded from the Hub.
    Downloaded,
}

impl fmt::Display for Outcome {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::UpToDate => "up to date",
            Self::FromCache => "copied from the hub cache",
            Self::Downloaded => "downloaded",
        })
    }
}

/// One verified file in `--out`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FetchedFile {
    /// Repository path, as in the manifest.
    pub(crate) path: String,
    /// Size in bytes.
    pub(crate) size: u64,
    /// How it got there.
    pub(crate) outcome: Outcome,
}

/// A file whose content is not what the manifest pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HashMismatch {
    /// Repository path of the file.
    pub(crate) path: String,
    /// The pinned sha256.
    pub(crate) expected_sha256: String,
    /// The sha256 of what was downloaded.
    pub(crate) actual_sha256: String,
    /// The pinned size.
    pub(crate) expected_size: u64,
    /// The size of what was downloaded.
    pub(crate) actual_size: u64,
}

impl fmt::Display for HashMismatch {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "sha256 mismatch for {}: expected {}, got {}",
            self.path, self.expected_sha256, self.actual_sha256
        )?;
        if self.expected_size != self.actual_size {
            write!(
                formatter,
                " ({} bytes instead of {})",
                self.actual_size, self.expected_size
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for HashMismatch {}

/// Puts every file of `entry` into `options.out_dir`, verified, and says how each got there.
pub(crate) fn fetch(
    entry: &ModelEntry,
    options: &FetchOptions,
) -> anyhow::Result<Vec<FetchedFile>> {
    let repo = Repo::with_revision(entry.repo.clone(), RepoType::Model, entry.revision.clone());
    let cache = Cache::new(options.hub.cache_dir.clone());
    let mut builder = ApiBuilder::from_cache(cache.clone())
        .with_endpoint(options.hub.endpoint.clone())
        .with_progress(false);
    if let Some(token) = &options.hub.token {
        builder = builder.with_token(Some(token.clone()));
    }
    let api = builder.build().context("setting up the hub client")?;
    let api_repo = api.repo(repo.clone());
    let cache_repo = cache.repo(repo);

    let mut fetched = Vec::with_capacity(entry.files.len());
    for file in &entry.files {
        let destination = options.out_dir.join(&file.path);
        let mut outcome = Outcome::UpToDate;
        if !matches_pin(&destination, file)? {
            outcome = Outcome::FromCache;
            let cached = match cache_repo.get(&file.path) {
                Some(path) if matches_pin(&path, file)? => path,
                stale => {
                    if let Some(path) = stale {
                        discard_cached(&path);
                    }
                    outcome = Outcome::Downloaded;
                    let progress = FileProgress::new(options.show_progress);
                    let path = api_repo
                        .download_with_progress(&file.path, progress)
                        .map_err(|error| describe_hub_error(error, entry, file, &options.hub))?;
                    let (actual_sha256, actual_size) = sha256_of(&path)?;
                    if actual_sha256 != file.sha256 || actual_size != file.size {
                        discard_cached(&path);
                        return Err(HashMismatch {
                            path: file.path.clone(),
                            expected_sha256: file.sha256.clone(),
                            actual_sha256,
                            expected_size: file.size,
                            actual_size,
                        }
                        .into());
                    }
                    path
                }
            };
            copy_into_place(&cached, &destination)?;
        }
        fetched.push(FetchedFile {
            path: file.path.clone(),
            size: file.size,
            outcome,
        });
    }
    Ok(fetched)
}

/// Whether `path` exists with the pinned size and sum; the size is checked first, so a stale
/// file is not hashed.
fn matches_pin(path: &Path, file: &PinnedFile) -> anyhow::Result<bool> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_file() && metadata.len() == file.size => {}
        Ok(_) => return Ok(false),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    }
    let (sha256, _) = sha256_of(path)?;
    Ok(sha256 == file.sha256)
}

/// The lowercase hex sha256 and size of a file.
fn sha256_of(path: &Path) -> anyhow::Result<(String, u64)> {
    let mut reader = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 16];
    let mut size = 0;
    loop {
        let read = reader
            .read(&mut buffer)
            .with_context(|| format!("reading {}", path.display()))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
    let hex = hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Ok((hex, size))
}

/// Removes a cached file (the snapshot link and the blob it points to), so that the next run
/// downloads it again. Best effort: a cache we cannot clean is only a cache.
fn discard_cached(pointer: &Path) {
    if let Ok(blob) = std::fs::canonicalize(pointer) {
        let _ = std::fs::remove_file(blob);
    }
    let _ = std::fs::remove_file(pointer);
}

/// Copies a verified file to `destination` through a temporary file beside it, so that an
/// interrupted copy never leaves a partial file under the real name.
fn copy_into_place(source: &Path, destination: &Path) -> anyhow::Result<()> {
    let parent = destination
        .parent()
        .ok_or_else(|| anyhow!("{} has no parent directory", destination.display()))?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let name = destination
        .file_name()
        .ok_or_else(|| anyhow!("{} has no file name", destination.display()))?;
    let partial = parent.join(format!(".{}.part", name.to_string_lossy()));
    let result = (|| -> anyhow::Result<()> {
        let mut reader =
            File::open(source).with_context(|| format!("opening {}", source.display()))?;
        let mut writer = BufWriter::new(
            File::create(&partial).with_context(|| format!("creating {}", partial.display()))?,
        );
        std::io::copy(&mut reader, &mut writer)
            .and_then(|_| writer.flush())
            .with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, destination)
            .with_context(|| format!("moving {} into place", destination.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Turns an hf-hub error into one that says which file, where, and what the Hub answered
/// (its `x-error-code` and `x-error-message` headers), with a hint for the usual causes.
fn describe_hub_error(
    error: ApiError,
    entry: &ModelEntry,
    file: &PinnedFile,
    hub: &HubSettings,
) -> anyhow::Error {
    let what = format!(
        "downloading {} from {}@{} at {}",
        file.path, entry.repo, entry.revision, hub.endpoint
    );
    let ApiError::RequestError(request_error) = error else {
        return anyhow::Error::new(error).context(what);
    };
    match *request_error {
        ureq::Error::Status(status, response) => {
            let code = response.header("x-error-code").unwrap_or("").to_owned();
            let message = response.header("x-error-message").unwrap_or("").to_owned();
            let hint = match (status, code.as_str()) {
                (_, "RevisionNotFound") => {
                    format!(
                        "revision {} does not exist in {}",
                        entry.revision, entry.repo
                    )
                }
                (_, "EntryNotFound") => format!(
                    "{} has no file {} at revision {}",
                    entry.repo, file.path, entry.revision
                ),
                (_, "RepoNotFound") | (401, _) => format!(
                    "{} does not exist or needs a token: set HF_TOKEN",
                    entry.repo
                ),
                (403, _) => format!(
                    "access to {} is refused: accept its terms on the hub or check HF_TOKEN",
                    entry.repo
                ),
                (404, _) => format!(
                    "not found: check --repo, --revision and the manifest's path {}",
                    file.path
                ),
                _ => "the hub failed; try again later".to_owned(),
            };
            let detail = [code, message]
                .into_iter()
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join(": ");
            let answer = if detail.is_empty() {
                format!("the hub answered {status}")
            } else {
                format!("the hub answered {status} ({detail})")
            };
            anyhow!("{hint}; {answer}").context(what)
        }
        ureq::Error::Transport(transport) => anyhow!(
            "cannot reach {}: {transport}; set HF_ENDPOINT to a reachable hub or mirror",
            hub.endpoint
        )
        .context(what),
    }
}

/// An indicatif bar for one file, fed by hf-hub's progress callbacks.
struct FileProgress {
    bar: ProgressBar,
}

impl FileProgress {
    fn new(visible: bool) -> Self {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.enable_steady_tick(Duration::from_millis(200));
        Self { bar }
    }
}

impl hf_hub::api::Progress for FileProgress {
    fn init(&mut self, size: usize, filename: &str) {
        let style = ProgressStyle::with_template(
            "{msg:24} [{elapsed_precise}] [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} ({eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        self.bar.set_style(style);
        self.bar.set_length(size as u64);
        self.bar.set_position(0);
        self.bar.set_message(filename.to_owned());
    }

    fn update(&mut self, size: usize) {
        self.bar.inc(size as u64);
    }

    fn finish(&mut self) {
        self.bar.finish();
    }
}

impl Drop for FileProgress {
    fn drop(&mut self) {
        // A failed download never reaches `finish`; stop the ticker either way.
        if !self.bar.is_finished() {
            self.bar.abandon();
        }
    }
}
