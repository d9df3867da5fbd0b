//! A Hugging Face Hub imitation on 127.0.0.1 for fetch-model's tests: the file API exactly as
//! hf-hub 0.4's sync client uses it, written as a minimal HTTP/1.1 responder.
//!
//! `GET /{repo}/resolve/{revision}/{path}` answers with the `x-repo-commit` and `etag` headers
//! and honours `Range` (hf-hub first probes `bytes=0-0` for the size in `content-range`, then
//! fetches `bytes=0-`). Files marked LFS answer instead with a `302` to `/cdn/{sha256}` carrying
//! `x-linked-etag`, as the Hub does for large files. Errors carry the Hub's `x-error-code`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

/// One file the mock serves.
#[derive(Debug, Clone)]
pub(crate) struct MockFile {
    /// The bytes served.
    pub(crate) content: Vec<u8>,
    /// Served through a redirect to `/cdn/…`, like the Hub's LFS files.
    pub(crate) lfs: bool,
}

/// What a request looked like, for assertions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct SeenRequest {
    /// Request target, e.g. `/owner/name/resolve/main/config.json`.
    pub(crate) path: String,
    /// The `Range` header, if any.
    pub(crate) range: Option<String>,
    /// The `Authorization` header, if any.
    pub(crate) authorization: Option<String>,
}

/// The repository the mock hosts.
#[derive(Debug, Clone)]
pub(crate) struct MockRepo {
    /// `owner/name`.
    pub(crate) repo: String,
    /// The commit that `main` and the commit id itself resolve to.
    pub(crate) commit: String,
    /// Files by repository path.
    pub(crate) files: BTreeMap<String, MockFile>,
    /// When set, requests without `Authorization: Bearer {token}` get a 401.
    pub(crate) required_token: Option<String>,
}

/// A running mock Hub; the thread lives until the test process ends.
pub(crate) struct MockHub {
    /// `http://127.0.0.1:{port}`, to use as the endpoint.
    pub(crate) endpoint: String,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
}

impl MockHub {
    /// Starts serving `repo` on a free loopback port.
    pub(crate) fn start(repo: MockRepo) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let repo = Arc::new(repo);
        let thread_seen = Arc::clone(&seen);
        let thread_endpoint = endpoint.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let repo = Arc::clone(&repo);
                let seen = Arc::clone(&thread_seen);
                let endpoint = thread_endpoint.clone();
                std::thread::spawn(move || serve(stream, &repo, &seen, &endpoint));
            }
        });
        Self { endpoint, seen }
    }

    /// Every request so far, in arrival order.
    pub(crate) fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }
}

/// The lowercase hex sha256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    fn error(status: u16, code: &str, message: &str) -> Self {
        let mut response = Self::new(status)
            .header("x-error-code", code)
            .header("x-error-message", message)
            .header("content-type", "application/json");
        response.body = format!("{{\"error\":\"{message}\"}}").into_bytes();
        response
    }
}

fn serve(stream: TcpStream, repo: &MockRepo, seen: &Mutex<Vec<SeenRequest>>, endpoint: &str) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let request = SeenRequest {
        path: path.clone(),
        range: headers.get("range").cloned(),
        authorization: headers.get("authorization").cloned(),
    };
    seen.lock().unwrap().push(request.clone());

    let response = if method == "GET" {
        respond(&request, repo, endpoint)
    } else {
        Response::error(405, "MethodNotAllowed", "only GET")
    };
    let mut stream = reader.into_inner();
    let mut head = format!("HTTP/1.1 {} Mock\r\n", response.status);
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        response.body.len()
    ));
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&response.body);
    let _ = stream.flush();
}

fn respond(request: &SeenRequest, repo: &MockRepo, endpoint: &str) -> Response {
    if let Some(token) = &repo.required_token
        && request.authorization.as_deref() != Some(format!("Bearer {token}").as_str())
    {
        return Response::error(401, "RepoNotFound", "Repository not found");
    }
    if let Some(sha) = request.path.strip_prefix("/cdn/") {
        return match repo
            .files
            .values()
            .find(|file| sha256_hex(&file.content) == sha)
        {
            Some(file) => ranged(&file.content, request.range.as_deref()),
            None => Response::error(404, "NoSuchKey", "no such blob"),
        };
    }
    let Some(rest) = request
        .path
        .strip_prefix(&format!("/{}/resolve/", repo.repo))
    else {
        return Response::error(404, "RepoNotFound", "Repository not found");
    };
    let Some((revision, file_path)) = rest.split_once('/') else {
        return Response::error(404, "EntryNotFound", "no file");
    };
    if revision != "main" && revision != repo.commit {
        return Response::error(
            404,
            "RevisionNotFound",
            &format!("Invalid rev id: {revision}"),
        );
    }
    let Some(file) = repo.files.get(file_path) else {
        return Response::error(404, "EntryNotFound", &format!("{file_path} does not exist"))
            .header("x-repo-commit", repo.commit.clone());
    };
    let sha = sha256_hex(&file.content);
    if file.lfs {
        return Response::new(302)
            .header("location", format!("{endpoint}/cdn/{sha}"))
            .header("x-repo-commit", repo.commit.clone())
            .header("x-linked-etag", format!("\"{sha}\""))
            .header("x-linked-size", file.content.len().to_string());
    }
    // Not the Hub's git blob id, but just as stable and unique per content.
    ranged(&file.content, request.range.as_deref())
        .header("x-repo-commit", repo.commit.clone())
        .header("etag", format!("\"{}\"", &sha[..40]))
}

/// `200` with the whole body, or `206` with the `bytes=a-` / `bytes=a-b` slice.
fn ranged(content: &[u8], range: Option<&str>) -> Response {
    let Some(spec) = range.and_then(|range| range.strip_prefix("bytes=")) else {
        let mut response = Response::new(200);
        response.body = content.to_vec();
        return response;
    };
    let (start, end) = spec.split_once('-').unwrap_or((spec, ""));
    let start: usize = start.parse().unwrap_or(0);
    let last = content.len().saturating_sub(1);
    let end: usize = end.parse().map_or(last, |end: usize| end.min(last));
    if content.is_empty() || start > end {
        return Response::new(416).header("content-range", format!("bytes */{}", content.len()));
    }
    let mut response = Response::new(206).header(
        "content-range",
        format!("bytes {start}-{end}/{}", content.len()),
    );
    response.body = content[start..=end].to_vec();
    response
}
