//! fetch-model against the mock Hub on 127.0.0.1: downloads, idempotence, the cache, hash
//! mismatches, tokens and the Hub's errors, through the same `fetch` the CLI calls.

use std::collections::BTreeMap;
use std::path::Path;

use clap::Parser;
use tempfile::TempDir;

use super::mock_hub::{MockFile, MockHub, MockRepo, sha256_hex};
use super::*;

const REPO: &str = "owner/tiny-model";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// The repository as published: two small git files and one LFS file.
fn published() -> BTreeMap<String, MockFile> {
    let file = |content: &[u8], lfs| MockFile {
        content: content.to_vec(),
        lfs,
    };
    BTreeMap::from([
        (
            "config.json".to_owned(),
            file(br#"{"hidden_size": 8}"#, false),
        ),
        (
            "tokenizer.json".to_owned(),
            file(br#"{"model": {"type": "WordPiece"}}"#, false),
        ),
        (
            "model.safetensors".to_owned(),
            file(&(0..=255).cycle().take(70_000).collect::<Vec<u8>>(), true),
        ),
    ])
}

fn repo(files: BTreeMap<String, MockFile>) -> MockRepo {
    MockRepo {
        repo: REPO.to_owned(),
        commit: COMMIT.to_owned(),
        files,
        required_token: None,
    }
}

/// The manifest entry pinning the published files (config, tokenizer, model, in that order).
fn pinned(revision: &str) -> ModelEntry {
    let files = published();
    let pin = |path: &str| PinnedFile {
        path: path.to_owned(),
        sha256: sha256_hex(&files[path].content),
        size: files[path].content.len() as u64,
    };
    ModelEntry {
        repo: REPO.to_owned(),
        revision: revision.to_owned(),
        description: None,
        files: vec![
            pin("config.json"),
            pin("tokenizer.json"),
            pin("model.safetensors"),
        ],
    }
}

/// A scratch cache and output directory, and options pointing at `hub`.
struct Scratch {
    dir: TempDir,
    options: FetchOptions,
}

impl Scratch {
    fn new(hub: &MockHub, token: Option<&str>) -> Self {
        let dir = TempDir::new().unwrap();
        let options = FetchOptions {
            hub: HubSettings {
                endpoint: hub.endpoint.clone(),
                token: token.map(str::to_owned),
                cache_dir: dir.path().join("hf-home").join("hub"),
            },
            out_dir: dir.path().join("out"),
            show_progress: false,
        };
        Self { dir, options }
    }

    fn out(&self, path: &str) -> std::path::PathBuf {
        self.options.out_dir.join(path)
    }
}

fn outcomes(fetched: &[FetchedFile]) -> Vec<(&str, Outcome)> {
    fetched
        .iter()
        .map(|file| (file.path.as_str(), file.outcome))
        .collect()
}

/// Every regular file under `dir`, relative, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, found: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, found);
            } else {
                found.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut found = Vec::new();
    walk(dir, dir, &mut found);
    found.sort();
    found
}

fn error_text(error: &anyhow::Error) -> String {
    format!("{error:#}")
}

#[test]
fn downloads_and_verifies_every_file() {
    let hub = MockHub::start(repo(published()));
    let scratch = Scratch::new(&hub, None);

    let fetched = fetch(&pinned("main"), &scratch.options).unwrap();

    assert_eq!(
        outcomes(&fetched),
        [
            ("config.json", Outcome::Downloaded),
            ("tokenizer.json", Outcome::Downloaded),
            ("model.safetensors", Outcome::Downloaded),
        ]
    );
    for (path, file) in published() {
        assert_eq!(
            std::fs::read(scratch.out(&path)).unwrap(),
            file.content,
            "{path}"
        );
    }
    assert_eq!(
        files_under(&scratch.options.out_dir),
        ["config.json", "model.safetensors", "tokenizer.json"]
    );
    // The wire protocol hf-hub speaks, pinned so that a change in hf-hub shows up here.
    insta::assert_yaml_snapshot!(hub.requests());
}

#[test]
fn second_run_makes_no_requests() {
    let hub = MockHub::start(repo(published()));
    let scratch = Scratch::new(&hub, None);
    fetch(&pinned("main"), &scratch.options).unwrap();
    let requests = hub.requests().len();

    let fetched = fetch(&pinned("main"), &scratch.options).unwrap();

    assert!(fetched.iter().all(|file| file.outcome == Outcome::UpToDate));
    assert_eq!(hub.requests().len(), requests);
}

#[test]
fn files_in_the_hub_cache_are_copied_without_requests() {
    let hub = MockHub::start(repo(published()));
    let mut scratch = Scratch::new(&hub, None);
    fetch(&pinned("main"), &scratch.options).unwrap();
    let requests = hub.requests().len();
    scratch.options.out_dir = scratch.dir.path().join("elsewhere");

    let fetched = fetch(&pinned("main"), &scratch.options).unwrap();

    assert!(
        fetched
            .iter()
            .all(|file| file.outcome == Outcome::FromCache)
    );
    assert_eq!(hub.requests().len(), requests);
    assert_eq!(
        std::fs::read(scratch.out("model.safetensors")).unwrap(),
        published()["model.safetensors"].content
    );
}

#[test]
fn a_stale_file_in_out_is_replaced() {
    let hub = MockHub::start(repo(published()));
    let scratch = Scratch::new(&hub, None);
    std::fs::create_dir_all(&scratch.options.out_dir).unwrap();
    std::fs::write(scratch.out("config.json"), b"{}").unwrap();

    let fetched = fetch(&pinned("main"), &scratch.options).unwrap();

    assert_eq!(fetched[0].outcome, Outcome::Downloaded);
    assert_eq!(
        std::fs::read(scratch.out("config.json")).unwrap(),
        published()["config.json"].content
    );
}

#[test]
fn a_tampered_download_is_an_error_naming_the_file_and_is_not_kept() {
    let mut files = published();
    files.get_mut("model.safetensors").unwrap().content = b"not the weights".to_vec();
    let hub = MockHub::start(repo(files));
    let scratch = Scratch::new(&hub, None);
    let entry = pinned("main");

    let error = fetch(&entry, &scratch.options).unwrap_err();

    let mismatch = error.downcast_ref::<HashMismatch>().unwrap();
    assert_eq!(
        mismatch,
        &HashMismatch {
            path: "model.safetensors".to_owned(),
            expected_sha256: entry.files[2].sha256.clone(),
            actual_sha256: sha256_hex(b"not the weights"),
            expected_size: 70_000,
            actual_size: 15,
        }
    );
    assert_eq!(
        error.to_string(),
        format!(
            "sha256 mismatch for model.safetensors: expected {}, got {} (15 bytes instead of 70000)",
            entry.files[2].sha256,
            sha256_hex(b"not the weights")
        )
    );
    // The files before it are in place; the bad one is neither in --out nor in the cache.
    assert_eq!(
        files_under(&scratch.options.out_dir),
        ["config.json", "tokenizer.json"]
    );
    let cached = files_under(&scratch.options.hub.cache_dir);
    assert!(
        !cached.iter().any(|path| path.ends_with("model.safetensors")
            || path.ends_with(&sha256_hex(b"not the weights"))),
        "{cached:?}"
    );
}

#[test]
fn the_token_is_sent_as_a_bearer_header() {
    let hub = MockHub::start(MockRepo {
        required_token: Some("hf_secret".to_owned()),
        ..repo(published())
    });
    let scratch = Scratch::new(&hub, Some("hf_secret"));

    fetch(&pinned("main"), &scratch.options).unwrap();

    let requests = hub.requests();
    assert!(!requests.is_empty());
    for request in requests {
        assert_eq!(
            request.authorization.as_deref(),
            Some("Bearer hf_secret"),
            "{}",
            request.path
        );
    }
}

#[test]
fn a_missing_token_is_a_clear_error() {
    let hub = MockHub::start(MockRepo {
        required_token: Some("hf_secret".to_owned()),
        ..repo(published())
    });
    let scratch = Scratch::new(&hub, None);

    let error = fetch(&pinned("main"), &scratch.options).unwrap_err();

    let text = error_text(&error);
    assert!(
        text.starts_with(&format!(
            "downloading config.json from {REPO}@main at {}: ",
            hub.endpoint
        )),
        "{text}"
    );
    assert!(
        text.ends_with(&format!(
            "{REPO} does not exist or needs a token: set HF_TOKEN; \
             the hub answered 401 (RepoNotFound: Repository not found)"
        )),
        "{text}"
    );
    assert!(!scratch.out("config.json").exists());
}

#[test]
fn an_unknown_revision_is_a_clear_error() {
    let hub = MockHub::start(repo(published()));
    let scratch = Scratch::new(&hub, None);

    let error = fetch(&pinned("v9.9"), &scratch.options).unwrap_err();

    assert!(
        error_text(&error).ends_with(&format!(
            "revision v9.9 does not exist in {REPO}; \
             the hub answered 404 (RevisionNotFound: Invalid rev id: v9.9)"
        )),
        "{error:#}"
    );
}

#[test]
fn a_commit_revision_is_fetched() {
    let hub = MockHub::start(repo(published()));
    let scratch = Scratch::new(&hub, None);

    fetch(&pinned(COMMIT), &scratch.options).unwrap();

    assert!(
        hub.requests()
            .iter()
            .any(|request| request.path == format!("/{REPO}/resolve/{COMMIT}/config.json"))
    );
}

#[test]
fn an_unknown_file_is_a_clear_error() {
    let hub = MockHub::start(repo(published()));
    let scratch = Scratch::new(&hub, None);
    let mut entry = pinned("main");
    entry.files[1].path = "vocab.txt".to_owned();

    let error = fetch(&entry, &scratch.options).unwrap_err();

    assert!(
        error_text(&error).ends_with(&format!(
            "{REPO} has no file vocab.txt at revision main; \
             the hub answered 404 (EntryNotFound: vocab.txt does not exist)"
        )),
        "{error:#}"
    );
}

#[test]
fn an_unreachable_hub_is_a_clear_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let hub = MockHub::start(repo(published()));
    let mut scratch = Scratch::new(&hub, None);
    scratch.options.hub.endpoint = endpoint.clone();

    let error = fetch(&pinned("main"), &scratch.options).unwrap_err();

    let text = error_text(&error);
    assert!(
        text.contains(&format!("cannot reach {endpoint}: ")),
        "{text}"
    );
    assert!(
        text.ends_with("set HF_ENDPOINT to a reachable hub or mirror"),
        "{text}"
    );
}

#[test]
fn a_repo_the_manifest_does_not_pin_is_refused() {
    let manifest = Manifest {
        models: vec![pinned("main")],
    };

    let error = select(&manifest, Path::new("models/manifest.toml"), REPO, "v2").unwrap_err();

    assert_eq!(
        error.to_string(),
        "models/manifest.toml does not pin owner/tiny-model@v2 (it pins: owner/tiny-model@main); \
         add its files with their sha256 and size"
    );
}

#[test]
fn settings_come_from_the_environment() {
    let settings = |vars: &[(&str, &str)]| {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        HubSettings::from_env(|name| vars.get(name).cloned())
            .map(|settings| {
                format!(
                    "{} {:?} {}",
                    settings.endpoint,
                    settings.token,
                    settings.cache_dir.display()
                )
            })
            .unwrap_or_else(|error| format!("error: {error}"))
    };

    assert_eq!(
        settings(&[("HOME", "/home/me")]),
        "https://huggingface.co None /home/me/.cache/huggingface/hub"
    );
    assert_eq!(
        settings(&[
            ("HOME", "/home/me"),
            ("HF_ENDPOINT", "http://127.0.0.1:9/"),
            ("HF_TOKEN", "hf_abc"),
            ("HF_HOME", "/data/hf"),
        ]),
        "http://127.0.0.1:9 Some(\"hf_abc\") /data/hf/hub"
    );
    assert_eq!(
        settings(&[
            ("HF_HOME", "/data/hf"),
            ("HF_HUB_CACHE", "/fast/hub"),
            ("HF_TOKEN", "")
        ]),
        "https://huggingface.co None /fast/hub"
    );
    assert_eq!(
        settings(&[("HOME", "/home/me"), ("XDG_CACHE_HOME", "/xdg")]),
        "https://huggingface.co None /xdg/huggingface/hub"
    );
    assert_eq!(settings(&[]), "error: no cache directory: set HF_HOME");
}

#[test]
fn the_cli_defaults_fetch_the_teacher_into_dot_minilm() {
    let cli = crate::flags::Xtask::try_parse_from(["cargo xtask", "fetch-model"]).unwrap();
    assert_eq!(
        format!("{:?}", cli.command),
        "FetchModel(Args { repo: \"sentence-transformers/all-MiniLM-L6-v2\", revision: \"main\", \
         out: \".minilm\", manifest: \"models/manifest.toml\" })"
    );
}
