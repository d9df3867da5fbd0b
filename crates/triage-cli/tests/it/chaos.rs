//! The fault suite: `triage serve` in front of `triage mock-upstream`, both spawned on
//! loopback, put through the faults of issue 14 — a poison client among healthy traffic, a
//! ledger locked by another process under load, `kill -9` under load, clients that leave
//! before the first byte and mid-stream, requests the gateway or the upstream call invalid,
//! and half-open connections. Each test prints its figures (`cargo test -p triage-cli
//! --test it chaos -- --nocapture`); `TRIAGE_CHAOS=full` runs them at the size (the
//! README's figures), the default is a CI-sized run of the same checks.
#![expect(clippy::unwrap_used, reason = "test helpers panic on setup failures")]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use triage_ledger::{LedgerReader, RequestRecord, SummaryOptions};

use crate::gateway::{BASE_CONFIG, Server, mock_envs, start};

/// How hard the suite pushes: the figures under `TRIAGE_CHAOS=full`, a shorter run of
/// the same checks otherwise.
struct Scale {
    /// Healthy requests per second beside the poison client, and for how long.
    healthy_rps: usize,
    healthy_secs: usize,
    /// Requests that fail on every provider, spread through the healthy ones.
    poison: usize,
    /// How long another process holds the ledger locked, and the requests answered meanwhile.
    lock_secs: u64,
    lock_requests: usize,
    /// Connections that send half a request and stall.
    half_open: usize,
}

fn scale() -> Scale {
    if std::env::var("TRIAGE_CHAOS").is_ok_and(|value| value == "full") {
        Scale {
            healthy_rps: 200,
            healthy_secs: 10,
            poison: 40,
            lock_secs: 30,
            lock_requests: 7_000,
            half_open: 2_000,
        }
    } else {
        Scale {
            healthy_rps: 200,
            healthy_secs: 2,
            poison: 40,
            lock_secs: 7,
            lock_requests: 700,
            half_open: 500,
        }
    }
}

/// A gateway and its mock, in a directory that holds the config and the ledger.
struct Rig {
    _mock: Server,
    gateway: Server,
    url: String,
    mock_url: String,
    config: PathBuf,
    ledger: PathBuf,
    _dir: tempfile::TempDir,
}

impl Rig {
    fn start(config: &str) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let (mock, mock_url) = start(
            &["mock-upstream", "--port", "0"],
            &[],
            "mock upstream listening on ",
        );
        let config_path = dir.path().join("triage.toml");
        std::fs::write(&config_path, config).unwrap();
        let ledger = dir.path().join("ledger.sqlite3");
        let (gateway, url) = serve(&config_path, &ledger, &mock_url);
        Rig {
            _mock: mock,
            gateway,
            url,
            mock_url,
            config: config_path,
            ledger,
            _dir: dir,
        }
    }

    /// Starts the gateway again on the same config and ledger (after a kill).
    fn restart(&mut self) {
        let (gateway, url) = serve(&self.config, &self.ledger, &self.mock_url);
        self.gateway = gateway;
        self.url = url;
    }

    fn kill_9(&mut self) {
        self.gateway.0.kill().unwrap();
        self.gateway.0.wait().unwrap();
    }

    fn records(&self) -> Vec<RequestRecord> {
        LedgerReader::open(&self.ledger)
            .unwrap()
            .requests(&SummaryOptions::default())
            .unwrap()
    }

    fn recorded_ids(&self) -> BTreeSet<String> {
        self.records()
            .into_iter()
            .map(|record| record.request_id)
            .collect()
    }
}

fn serve(config: &Path, ledger: &Path, mock_url: &str) -> (Server, String) {
    start(
        &[
            "serve",
            "--as-of",
            "2026-11-29",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--ledger",
            ledger.to_str().unwrap(),
        ],
        &mock_envs(mock_url),
        "triage gateway listening on ",
    )
}

/// What one request got back; `status` 0 when the connection failed.
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

/// One HTTP/1.1 POST that never panics: a refused or broken connection is status 0.
fn try_post(url: &str, path: &str, body: &Value) -> Reply {
    let failed = |error: std::io::Error| Reply {
        status: 0,
        headers: BTreeMap::new(),
        body: error.to_string(),
    };
    let address = url.strip_prefix("http://").unwrap();
    let mut stream = match TcpStream::connect(address) {
        Ok(stream) => stream,
        Err(error) => return failed(error),
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let body = body.to_string();
    let sent = write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if let Err(error) = sent {
        return failed(error);
    }
    let mut response = String::new();
    if let Err(error) = stream.read_to_string(&mut response) {
        return failed(error);
    }
    let Some((head, body)) = response.split_once("\r\n\r\n") else {
        return failed(std::io::Error::other(format!(
            "no response head: {response}"
        )));
    };
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|line| line.split_once(": "))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// Sends `total` requests at `rate` per second (request `i` is due at `i / rate` s), from
/// enough threads that a slow answer does not hold the schedule back; replies in order.
fn load(
    url: &str,
    total: usize,
    rate: usize,
    request: impl Fn(usize) -> (&'static str, Value) + Send + Sync + 'static,
) -> Vec<Reply> {
    let url = Arc::new(url.to_owned());
    let request = Arc::new(request);
    let next = Arc::new(AtomicUsize::new(0));
    let replies = Arc::new(Mutex::new(vec![None; total]));
    let started = Instant::now();
    let workers: Vec<_> = (0..48)
        .map(|_| {
            let (url, request, next, replies) =
                (url.clone(), request.clone(), next.clone(), replies.clone());
            std::thread::spawn(move || {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= total {
                        return;
                    }
                    let due = started + Duration::from_secs_f64(index as f64 / rate as f64);
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    let (path, body) = request(index);
                    let reply = try_post(&url, path, &body);
                    replies.lock().unwrap()[index] = Some(reply);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    Arc::try_unwrap(replies)
        .unwrap()
        .into_inner()
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect()
}

fn chat(model: &str, content: &str) -> (&'static str, Value) {
    (
        "/v1/chat/completions",
        json!({"model": model, "messages": [{"role": "user", "content": content}]}),
    )
}

/// The ids of the answered requests (status 200).
fn answered_ids(replies: &[Reply]) -> BTreeSet<String> {
    replies
        .iter()
        .filter(|reply| reply.status == 200)
        .map(|reply| reply.headers["x-triage-request-id"].clone())
        .collect()
}

/// Waits (up to `limit`) until every id in `ids` is in the ledger; returns those missing.
fn missing_after(rig: &Rig, ids: &BTreeSet<String>, limit: Duration) -> BTreeSet<String> {
    let started = Instant::now();
    loop {
        let recorded = rig.recorded_ids();
        let missing: BTreeSet<String> = ids.difference(&recorded).cloned().collect();
        if missing.is_empty() || started.elapsed() > limit {
            return missing;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// How many calls a request's recorded attempts made upstream (skipped ones made none).
fn upstream_calls(record: &RequestRecord) -> usize {
    record
        .attempts
        .iter()
        .filter(|attempt| {
            !attempt
                .outcome
                .detail()
                .is_some_and(|detail| detail.starts_with("skipped"))
        })
        .count()
}

/// 1. A client whose requests fail on every provider (each fails over across all three)
///    does not open the breakers that everyone else's traffic needs.
#[test]
fn a_poison_client_leaves_healthy_traffic_answered() {
    let scale = scale();
    let rig = Rig::start(BASE_CONFIG);
    let total = scale.healthy_rps * scale.healthy_secs + scale.poison;
    let every = total / scale.poison;
    let poisoned = move |index: usize| index % every == every / 2;
    let started = Instant::now();
    let replies = load(&rig.url, total, total / scale.healthy_secs, move |index| {
        if poisoned(index) {
            chat("auto", &format!("[mock:status=500] poison {index}"))
        } else {
            chat("auto", &format!("What is the capital of France? ({index})"))
        }
    });
    let took = started.elapsed();
    let (mut healthy, mut healthy_ok, mut poison, mut poison_failed) = (0, 0, 0, 0);
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for (index, reply) in replies.iter().enumerate() {
        if poisoned(index) {
            poison += 1;
            poison_failed += usize::from(reply.status >= 500);
        } else {
            healthy += 1;
            healthy_ok += usize::from(reply.status == 200);
            *statuses.entry(reply.status).or_default() += 1;
        }
    }
    let rate = healthy_ok as f64 / healthy as f64;
    println!(
        "chaos poison: {healthy} healthy + {poison} poison requests in {:.1} s; healthy answered \
         {healthy_ok}/{healthy} ({:.2}%, statuses {statuses:?}); poison refused {poison_failed}/{poison}",
        took.as_secs_f64(),
        rate * 100.0
    );
    assert!(rate >= 0.99, "{statuses:?}");
    assert_eq!(poison_failed, poison);
}

/// 2. Another process holds the ledger locked (`BEGIN EXCLUSIVE`) while requests are
///    answered: the records wait (retries, then the journal) and all arrive once the lock
///    goes. Then `kill -9` under load: every request that was answered is in the ledger
///    after a restart.
#[test]
fn a_locked_ledger_and_kill_9_lose_no_record() {
    let scale = scale();
    let mut rig = Rig::start(BASE_CONFIG);
    // The gateway has created the ledger; take it from under it.
    let locker = rusqlite::Connection::open(&rig.ledger).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let hold = Duration::from_secs(scale.lock_secs);
    let unlock = std::thread::spawn(move || {
        std::thread::sleep(hold);
        locker.execute_batch("COMMIT").unwrap();
    });
    let rate = scale.lock_requests / usize::try_from(scale.lock_secs).unwrap();
    let replies = load(&rig.url, scale.lock_requests, rate, |index| {
        chat("auto", &format!("What is the capital of France? ({index})"))
    });
    unlock.join().unwrap();
    let answered = answered_ids(&replies);
    let missing = missing_after(&rig, &answered, Duration::from_secs(30));
    println!(
        "chaos ledger lock: {} requests during a {} s exclusive lock; answered {}, recorded {}, lost {}",
        replies.len(),
        scale.lock_secs,
        answered.len(),
        answered.len() - missing.len(),
        missing.len()
    );
    assert_eq!(answered.len(), replies.len());
    assert!(missing.is_empty(), "lost: {missing:?}");

    // kill -9 in the middle of a load.
    let url = rig.url.clone();
    let traffic = std::thread::spawn(move || {
        load(&url, 600, 200, |index| {
            chat("auto", &format!("What is the capital of Italy? ({index})"))
        })
    });
    std::thread::sleep(Duration::from_millis(1_500));
    rig.kill_9();
    let replies = traffic.join().unwrap();
    rig.restart();
    rig.gateway.terminate();
    let answered = answered_ids(&replies);
    let missing = missing_after(&rig, &answered, Duration::from_secs(5));
    println!(
        "chaos kill -9: {} requests sent at 200/s, gateway killed after 1.5 s; answered {}, \
         recorded {}, lost {}",
        replies.len(),
        answered.len(),
        answered.len() - missing.len(),
        missing.len()
    );
    assert!(answered.len() >= 100, "{} answered", answered.len());
    assert!(missing.is_empty(), "lost: {missing:?}");
}

/// 3. Clients that leave: before the first byte (a whole answer and a stream, both slow to
///    start) and mid-stream. Every upstream call made is in the ledger with its usage and
///    cost, the streams marked as client-disconnected.
#[test]
fn clients_that_leave_leave_their_spend_recorded() {
    let rig = Rig::start(BASE_CONFIG);
    let address = rig.url.strip_prefix("http://").unwrap().to_owned();
    let leave_after = |content: &str, stream: bool, after: Duration| {
        let body = json!({"model": "gpt-4o-mini", "stream": stream, "messages": [{"role": "user", "content": content}]})
            .to_string();
        let mut socket = TcpStream::connect(&address).unwrap();
        write!(
            socket,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        socket.set_read_timeout(Some(after)).unwrap();
        let started = Instant::now();
        let mut seen = Vec::new();
        let mut buffer = [0_u8; 4096];
        while started.elapsed() < after {
            match socket.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(read) => seen.extend_from_slice(&buffer[..read]),
            }
        }
        drop(socket);
        String::from_utf8_lossy(&seen).into_owned()
    };
    // `[mock:slow]` waits two seconds before its headers; the client gives up after one.
    let early = leave_after("[mock:slow] whole", false, Duration::from_secs(1));
    assert!(early.is_empty(), "{early}");
    let early = leave_after("[mock:slow] streamed", true, Duration::from_secs(1));
    assert!(early.is_empty(), "{early}");
    // `[mock:drip]` streams 200 words over four seconds; the client reads one.
    let partial = leave_after("[mock:drip] streamed", true, Duration::from_secs(1));
    assert!(partial.matches("word").count() >= 10, "{partial}");
    std::thread::sleep(Duration::from_millis(2_500));
    let records = rig.records();
    let shown: Vec<String> = records
        .iter()
        .map(|record| {
            format!(
                "{} ({}): {} upstream call(s), {} in + {} out tokens, ${}",
                record.outcome.as_str(),
                if record.streamed { "stream" } else { "whole" },
                upstream_calls(record),
                record.usage.input_tokens,
                record.usage.output_tokens,
                record.cost_usd
            )
        })
        .collect();
    println!("chaos disconnects: {}", shown.join("; "));
    assert_eq!(records.len(), 3, "{shown:?}");
    for record in &records {
        assert_eq!(upstream_calls(record), 1, "{shown:?}");
        assert!(record.usage.input_tokens > 0, "{shown:?}");
        assert!(record.usage.output_tokens > 0, "{shown:?}");
        assert!(record.cost_usd > rust_decimal::Decimal::ZERO, "{shown:?}");
    }
    let outcomes: Vec<&str> = records
        .iter()
        .map(|record| record.outcome.as_str())
        .collect();
    assert_eq!(
        outcomes,
        ["success", "client_disconnected", "client_disconnected"]
    );
    // The mid-stream one paid for part of the answer, not all of it.
    assert!(
        (10..200).contains(&records[2].usage.output_tokens),
        "{shown:?}"
    );
}

/// 4. Client errors are 4xx, early and cheap: an invalid JSON schema is refused before any
///    upstream call; a request every provider calls invalid reaches the client as a 400 after
///    at most two calls.
#[test]
fn client_errors_are_cheap_400s() {
    let rig = Rig::start(BASE_CONFIG);
    let before = model_calls(&rig.url);
    let schema = try_post(
        &rig.url,
        "/v1/chat/completions",
        &json!({
            "model": "auto",
            "messages": [{"role": "user", "content": "Give me JSON"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "bad", "schema": {"type": 5}}}
        }),
    );
    let schema_calls = model_calls(&rig.url) - before;
    let before = model_calls(&rig.url);
    let invalid = try_post(
        &rig.url,
        "/v1/chat/completions",
        &chat("auto", "[mock:status=400] invalid everywhere").1,
    );
    let invalid_calls = model_calls(&rig.url) - before;
    println!(
        "chaos client errors: invalid schema → {} after {schema_calls} upstream calls; all-400 \
         upstreams → {} after {invalid_calls} calls",
        schema.status, invalid.status,
    );
    assert_eq!(schema.status, 400, "{}", schema.body);
    assert_eq!(invalid.status, 400, "{}", invalid.body);
    assert_eq!(schema_calls, 0);
    assert!((1..=2).contains(&invalid_calls), "{invalid_calls}");
}

/// The model calls the gateway has made, from `/metrics` (`triage_attempts_total`, skipped
/// attempts left out).
fn model_calls(url: &str) -> u64 {
    let address = url.strip_prefix("http://").unwrap();
    let mut socket = TcpStream::connect(address).unwrap();
    write!(
        socket,
        "GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut page = String::new();
    socket.read_to_string(&mut page).unwrap();
    page.lines()
        .filter(|line| {
            line.starts_with("triage_attempts_total{") && !line.contains("status=\"skipped")
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// 5. Connections that send half a request and stall (2,000 at full size) do not lock a
///    normal client out.
#[test]
fn half_open_connections_do_not_lock_clients_out() {
    let scale = scale();
    let rig = Rig::start(BASE_CONFIG);
    let address = rig.url.strip_prefix("http://").unwrap().to_owned();
    let stalled: Vec<TcpStream> = (0..scale.half_open)
        .map(|_| {
            let mut socket = TcpStream::connect(&address).unwrap();
            socket
                .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-")
                .unwrap();
            socket
        })
        .collect();
    let started = Instant::now();
    let reply = try_post(
        &rig.url,
        "/v1/chat/completions",
        &chat("gpt-4o-mini", "hi").1,
    );
    let took = started.elapsed();
    println!(
        "chaos half-open: {} stalled connections; a normal request answered {} in {} ms",
        stalled.len(),
        reply.status,
        took.as_millis()
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(took < Duration::from_secs(1), "{took:?}");
}
