//! `cargo xtask bench-gateway`: the gateway's added latency. Drives `triage serve` (release
//! build, a child process) in front of the mock upstream (`triage-mock`, served in this process)
//! at a fixed request rate, and compares its latency with calling the mock directly: once with a concrete model (no classification) and once with
//! `model: "auto"` (classified and routed), plus throughput and the gateway's peak memory.
//! Loopback only; bounded in requests and time.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use crate::project_root;

mod scale_out;
mod throughput;

/// Measure the gateway's added latency against the mock upstream at a fixed request rate.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Example:
  cargo xtask bench-gateway                     500 req/s, 10 s per scenario
  cargo xtask bench-gateway --rate 200 --seconds 5 --strategy keyword --json
  cargo xtask bench-gateway --scale-out --strategy keyword   1 replica (SQLite) vs 2 (PostgreSQL + Redis)
  cargo xtask bench-gateway --throughput --concurrency 25   saturated: fixed model vs auto

Scenarios, each after a one-second warm-up at the same rate: `direct` (the mock itself),
`fixed` (the gateway with model gpt-4o-mini: no classification) and `auto` (the gateway with
model auto: classified by the strategy, then routed). Added latency = the gateway's percentile
minus the direct one.")]
pub(crate) struct Args {
    /// Requests per second, sent open-loop (on schedule, whether or not earlier ones finished).
    #[arg(long, default_value_t = 500)]
    rate: u32,

    /// Seconds of measured load per scenario.
    #[arg(long, default_value_t = 10)]
    seconds: u64,

    /// The strategy for `auto`: model, keyword or length. Default: model when
    /// models/default holds a trained classifier, else keyword.
    #[arg(long, value_name = "STRATEGY")]
    strategy: Option<String>,

    /// Threads each classifier call may use (`RAYON_NUM_THREADS` for the gateway, which candle
    /// reads). Concurrent requests already keep the cores busy; splitting a small model's matrix
    /// products across threads only adds contention, so 1 is the serving setting.
    #[arg(long, value_name = "N", default_value_t = 1)]
    classifier_threads: u32,

    /// A triage binary to run instead of building the release one (in `CARGO_TARGET_DIR` when
    /// set, else target/release/triage).
    #[arg(long, value_name = "FILE")]
    binary: Option<PathBuf>,

    /// Print the results as JSON.
    #[arg(long)]
    json: bool,

    /// Instead of the latency scenarios: requests per second, closed-loop, through one replica
    /// with the SQLite ledger and in-process limits, then two replicas sharing a PostgreSQL
    /// ledger and Redis limits (needs both servers; see --postgres and --redis).
    #[arg(long)]
    scale_out: bool,

    /// Instead of the latency scenarios: requests per second, closed-loop, through one replica
    /// (SQLite ledger, in-process limits) with a concrete model and then with `model: "auto"`,
    /// and their ratio: what classification costs a saturated gateway.
    #[arg(long, conflicts_with = "scale_out")]
    throughput: bool,

    /// Clients sending back-to-back requests, for --scale-out and --throughput.
    #[arg(long, value_name = "N", default_value_t = 64)]
    concurrency: usize,

    /// A PostgreSQL database to connect to for --scale-out; a fresh database is created beside
    /// it for the run and dropped after.
    #[arg(
        long,
        value_name = "URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres: String,

    /// The Redis for --scale-out's shared limits.
    #[arg(long, value_name = "URL", default_value = "redis://127.0.0.1:6379")]
    redis: String,
}

/// Runs the benchmark and prints its figures.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    if args.rate == 0 || args.seconds == 0 {
        bail!("--rate and --seconds must be positive");
    }
    let root = project_root();
    let binary = match &args.binary {
        Some(binary) => binary.clone(),
        None => build_release(&root)?,
    };
    let strategy = args.strategy.clone().unwrap_or_else(|| {
        if root.join("models/default/model.safetensors").exists() {
            "model".to_owned()
        } else {
            "keyword".to_owned()
        }
    });
    let work = std::env::temp_dir().join(format!("triage-bench-gateway-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let result = if args.scale_out {
        scale_out::run(&args, &binary, &strategy, &work)
    } else if args.throughput {
        throughput::run(&args, &binary, &strategy, &work)
    } else {
        bench(&args, &binary, &strategy, &work)
    };
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// The variables this command reads.
mod env {
    /// The cargo that runs xtask, used to build the release binary.
    pub(super) const CARGO: &str = "CARGO";
    /// Where cargo puts build outputs when not `target/` under the workspace root.
    pub(super) const CARGO_TARGET_DIR: &str = "CARGO_TARGET_DIR";
}

fn build_release(root: &Path) -> anyhow::Result<PathBuf> {
    let binary = release_binary(root, std::env::var_os(env::CARGO_TARGET_DIR).as_deref());
    eprintln!("building {} …", binary.display());
    let status = Command::new(std::env::var(env::CARGO).unwrap_or_else(|_| "cargo".to_owned()))
        .args(["build", "--release", "--quiet", "-p", "triage-cli"])
        .current_dir(root)
        .status()
        .context("cannot run cargo build")?;
    if !status.success() {
        bail!("cargo build --release -p triage-cli failed");
    }
    if !binary.is_file() {
        bail!(
            "cargo build --release -p triage-cli succeeded but {} does not exist (a target-dir \
             set in a cargo config file is not followed: set {} or pass --binary)",
            binary.display(),
            env::CARGO_TARGET_DIR
        );
    }
    Ok(binary)
}

/// Where `cargo build --release` run in `root` puts the `triage` binary: under
/// `CARGO_TARGET_DIR` when it is set (relative to `root`, where cargo runs), else `target/`.
fn release_binary(root: &Path, target_dir: Option<&std::ffi::OsStr>) -> PathBuf {
    let target = match target_dir {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    };
    target
        .join("release")
        .join(format!("triage{}", std::env::consts::EXE_SUFFIX))
}

/// A spawned process, killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `binary ARGS` and returns it with the URL its first output line gives after `prefix`.
fn spawn(
    binary: &Path,
    args: &[&str],
    envs: &[(&str, String)],
    prefix: &str,
) -> anyhow::Result<(Process, String)> {
    let mut command = Command::new(binary);
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (name, value) in envs {
        command.env(name, value);
    }
    let mut process = Process(
        command
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?,
    );
    let stdout = process.0.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().context("the process printed nothing")??;
    std::thread::spawn(move || lines.for_each(drop));
    let url = first
        .strip_prefix(prefix)
        .with_context(|| format!("unexpected first line `{first}`"))?
        .to_owned();
    Ok((process, url))
}

/// The variables that point every provider at the mock, with test keys.
fn mock_envs(mock_url: &str, classifier_threads: u32) -> Vec<(&'static str, String)> {
    vec![
        ("OPENAI_BASE_URL", format!("{mock_url}/v1")),
        ("ANTHROPIC_BASE_URL", mock_url.to_owned()),
        ("GEMINI_BASE_URL", mock_url.to_owned()),
        ("OPENAI_API_KEY", "bench".to_owned()),
        ("ANTHROPIC_API_KEY", "bench".to_owned()),
        ("GEMINI_API_KEY", "bench".to_owned()),
        ("DEEPSEEK_API_KEY", String::new()),
        ("RUST_LOG", "error".to_owned()),
        ("RAYON_NUM_THREADS", classifier_threads.to_string()),
    ]
}

/// Prompts of every class, sent in turn by every scenario.
const PROMPTS: &[&str] = &[
    "What is the capital of Australia?",
    "Extract every date from: the meeting moved from 3 May to 9 June, then to 1 July.",
    "Translate into French: the train leaves at nine and arrives at noon.",
    "Explain the difference between a mutex and a semaphore, with an example in Rust.",
    "Plan a three-day trip to Kyoto for two people on a budget of 600 euros, hour by hour.",
    "Write a short poem about a lighthouse keeper who hears music in the fog.",
    "Classify the sentiment of this review as positive or negative: the soup was cold.",
    "Summarise in two sentences: the city council approved the new bike lanes after a long debate.",
    "Should I refinance my mortgage now that rates dropped by one point? I have 20 years left.",
    "Why does my Python loop print the same value every time when I append lambdas to a list?",
];

struct Scenario {
    name: &'static str,
    url: String,
    model: &'static str,
}

#[derive(Debug, Clone, serde::Serialize)]
struct Figures {
    scenario: String,
    sent: usize,
    ok: usize,
    errors: usize,
    throughput_rps: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// Serves the mock upstream on its own one-thread runtime in this process, with `TCP_NODELAY`
/// on its sockets (without it, small responses on kept-alive connections can wait ~40 ms for a
/// delayed ACK, which would swamp what is being measured). Returns its URL.
fn start_mock() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let url = format!("http://{}", listener.local_addr()?);
    std::thread::Builder::new()
        .name("mock-upstream".to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("error: cannot start the mock's runtime: {error}");
                    return;
                }
            };
            runtime.block_on(async move {
                use axum::serve::ListenerExt;
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    eprintln!("error: cannot serve the mock");
                    return;
                };
                let listener = listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                let app = triage_mock::router(triage_mock::MockHandle::default());
                if let Err(error) = axum::serve(listener, app).await {
                    eprintln!("error: the mock stopped: {error}");
                }
            });
        })?;
    Ok(url)
}

fn bench(args: &Args, binary: &Path, strategy: &str, work: &Path) -> anyhow::Result<()> {
    let mock_url = start_mock()?;
    let config = work.join("triage.toml");
    std::fs::write(&config, "[providers]\ndisabled = [\"deepseek\"]\n")?;
    let ledger = work.join("ledger.sqlite3");
    let envs = mock_envs(&mock_url, args.classifier_threads);
    let serve_args = [
        "serve",
        "--config",
        path_str(&config)?,
        "--listen",
        "127.0.0.1:0",
        "--ledger",
        path_str(&ledger)?,
        "--strategy",
        strategy,
    ];
    let (gateway, gateway_url) = spawn(binary, &serve_args, &envs, "triage gateway listening on ")?;
    let scenarios = [
        Scenario {
            name: "direct",
            url: format!("{mock_url}/v1/chat/completions"),
            model: "gpt-4o-mini",
        },
        Scenario {
            name: "fixed",
            url: format!("{gateway_url}/v1/chat/completions"),
            model: "gpt-4o-mini",
        },
        Scenario {
            name: "auto",
            url: format!("{gateway_url}/v1/chat/completions"),
            model: "auto",
        },
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = load_client()?;
    let mut figures = Vec::new();
    for scenario in &scenarios {
        eprintln!(
            "{}: {} req/s for 1 s warm-up + {} s …",
            scenario.name, args.rate, args.seconds
        );
        runtime.block_on(load(&client, scenario, args.rate, Duration::from_secs(1)))?;
        let measured = runtime.block_on(load(
            &client,
            scenario,
            args.rate,
            Duration::from_secs(args.seconds),
        ))?;
        figures.push(measured);
    }
    let gateway_memory = peak_memory_kib(gateway.0.id());
    drop(gateway);

    let direct = figures.first().context("no scenario was measured")?.clone();
    let added = |figures: &Figures| {
        json!({
            "p50_ms": round3(figures.p50_ms - direct.p50_ms),
            "p99_ms": round3(figures.p99_ms - direct.p99_ms),
        })
    };
    if args.json {
        let report = json!({
            "rate_rps": args.rate,
            "seconds": args.seconds,
            "strategy": strategy,
            "classifier_threads": args.classifier_threads,
            "scenarios": figures,
            "added_latency": {"fixed": added(&figures[1]), "auto": added(&figures[2])},
            "gateway_peak_rss_kib": gateway_memory,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "gateway benchmark: {} req/s, {} s per scenario, strategy {strategy} (RAYON_NUM_THREADS={}), loopback mock upstream\n",
        args.rate, args.seconds, args.classifier_threads
    );
    println!(
        "{:<8} {:>6} {:>6} {:>10} {:>8} {:>8} {:>8} {:>8}   added p50 / p99",
        "scenario", "sent", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for figures in &figures {
        let added = if figures.scenario == "direct" {
            String::new()
        } else {
            format!(
                "   {:+.3} / {:+.3} ms",
                figures.p50_ms - direct.p50_ms,
                figures.p99_ms - direct.p99_ms
            )
        };
        println!(
            "{:<8} {:>6} {:>6} {:>10.1} {:>8.3} {:>8.3} {:>8.3} {:>8.3}{added}",
            figures.scenario,
            figures.sent,
            figures.errors,
            figures.throughput_rps,
            figures.p50_ms,
            figures.p90_ms,
            figures.p99_ms,
            figures.max_ms
        );
    }
    match gateway_memory {
        Some(kib) => println!(
            "\ngateway peak memory (VmHWM): {:.1} MiB",
            kib as f64 / 1024.0
        ),
        None => println!("\ngateway peak memory: unavailable (no /proc)"),
    }
    Ok(())
}

/// Sends `rate` requests a second for `duration`, open-loop, and measures each.
async fn load(
    client: &reqwest::Client,
    scenario: &Scenario,
    rate: u32,
    duration: Duration,
) -> anyhow::Result<Figures> {
    let total = (u128::from(rate) * duration.as_millis() / 1000) as usize;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let bodies: Arc<Vec<String>> = Arc::new(
        PROMPTS
            .iter()
            .map(|prompt| {
                json!({"model": scenario.model, "messages": [{"role": "user", "content": prompt}]})
                    .to_string()
            })
            .collect(),
    );
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for index in 0..total {
        ticker.tick().await;
        let client = client.clone();
        let url = scenario.url.clone();
        let body = bodies[index % bodies.len()].clone();
        tasks.spawn(async move {
            let sent = Instant::now();
            let response = client
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            let ok = match response {
                Ok(response) => {
                    let ok = response.status().is_success();
                    ok && response.bytes().await.is_ok()
                }
                Err(_) => false,
            };
            (ok, sent.elapsed())
        });
    }
    let mut latencies = Vec::with_capacity(total);
    let mut errors = 0;
    while let Some(joined) = tasks.join_next().await {
        let (ok, latency) = joined?;
        if ok {
            latencies.push(latency.as_secs_f64() * 1000.0);
        } else {
            errors += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let percentile = |percent: usize| percentile_ms(&latencies, percent);
    Ok(Figures {
        scenario: scenario.name.to_owned(),
        sent: total,
        ok: latencies.len(),
        errors,
        throughput_rps: round3(latencies.len() as f64 / elapsed),
        p50_ms: percentile(50),
        p90_ms: percentile(90),
        p99_ms: percentile(99),
        max_ms: latencies.last().copied().map_or(0.0, round3),
    })
}

/// A process's peak resident memory (VmHWM) in KiB, from /proc.
fn peak_memory_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let fields: BTreeMap<&str, &str> = status
        .lines()
        .filter_map(|line| line.split_once(':'))
        .collect();
    fields
        .get("VmHWM")?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The load generator's HTTP client: `TCP_NODELAY` (see [`start_mock`]) and a pool large enough
/// that no request waits for a connection.
fn load_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1024)
        .build()
}

/// Nearest-rank percentile of sorted latencies in milliseconds, to the microsecond (0 without
/// any).
fn percentile_ms(sorted: &[f64], percent: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    round3(sorted[rank - 1])
}

fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::path::Path;

    #[test]
    fn the_release_binary_follows_cargo_target_dir() {
        let root = Path::new("/repo");
        let exe = std::env::consts::EXE_SUFFIX;
        let cases = [
            (None, format!("/repo/target/release/triage{exe}")),
            (Some(""), format!("/repo/target/release/triage{exe}")),
            (Some("/tmp/out"), format!("/tmp/out/release/triage{exe}")),
            (Some("build"), format!("/repo/build/release/triage{exe}")),
        ];
        for (target_dir, expect) in cases {
            assert_eq!(
                super::release_binary(root, target_dir.map(OsStr::new)),
                Path::new(&expect),
                "CARGO_TARGET_DIR={target_dir:?}"
            );
        }
    }
}
