//! `cargo xtask bench-gateway --scale-out`: requests per second through one replica with the
//! SQLite ledger and in-process limits, then through one and two replicas sharing a PostgreSQL
//! ledger and Redis limits, closed-loop (a fixed number of clients, each sending its next request as
//! soon as the last is answered), every request with a client key that has a budget and a rate
//! limit, so each one is admitted, settled and recorded.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use super::{
    Args, PROMPTS, Process, load_client, path_str, percentile_ms, round3, spawn, start_mock,
};

/// The client key every request carries: limits high enough never to refuse, so the figures
/// measure the bookkeeping, not refusals.
const KEYS: &str = r#"
[[server.keys]]
name = "bench"
key = "sk-bench"
daily_budget_usd = 1000000
requests_per_minute = 100000000
"#;

#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct Figures {
    pub(super) setup: &'static str,
    pub(super) replicas: usize,
    pub(super) requests: usize,
    pub(super) errors: usize,
    pub(super) throughput_rps: f64,
    pub(super) p50_ms: f64,
    pub(super) p99_ms: f64,
}

/// A database of its own for the run, dropped at the end.
struct Database {
    admin: String,
    name: String,
}

impl Database {
    fn create(admin: &str) -> anyhow::Result<Database> {
        let mut client = postgres::Client::connect(admin, postgres::NoTls)
            .with_context(|| format!("cannot reach PostgreSQL at {admin} (--postgres)"))?;
        let name = format!("triage_bench_{}", std::process::id());
        client.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))?;
        client.batch_execute(&format!("CREATE DATABASE {name}"))?;
        Ok(Database {
            admin: admin.to_owned(),
            name,
        })
    }

    fn url(&self) -> String {
        let base = self
            .admin
            .rsplit_once('/')
            .map_or(self.admin.as_str(), |(base, _)| base);
        format!("{base}/{}", self.name)
    }

    fn rows(&self) -> anyhow::Result<i64> {
        let mut client = postgres::Client::connect(&self.url(), postgres::NoTls)?;
        Ok(client
            .query_one("SELECT count(*) FROM requests", &[])?
            .get(0))
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = client.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

pub(super) fn run(args: &Args, binary: &Path, strategy: &str, work: &Path) -> anyhow::Result<()> {
    let mock_url = start_mock()?;
    let envs = super::mock_envs(&mock_url, args.classifier_threads);
    let database = Database::create(&args.postgres)?;
    let prefix = format!("triage-bench-{}", std::process::id());

    let single_config = single_replica_config(work, "single.toml")?;
    let mut replica_configs = Vec::new();
    for name in ["a", "b"] {
        let path = work.join(format!("replica-{name}.toml"));
        std::fs::write(
            &path,
            format!(
                "[providers]\ndisabled = [\"deepseek\"]\n\n[ledger]\nurl = \"{}\"\njournal = \"{}\"\n\n[state]\nredis_url = \"{}\"\nkey_prefix = \"{prefix}\"\n{KEYS}",
                database.url(),
                work.join(format!("{name}.journal")).display(),
                args.redis,
            ),
        )?;
        replica_configs.push(path);
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = load_client()?;
    let serve = |config: &Path| serve(binary, config, strategy, &envs);

    // One setup: warm up for a second, measure, and say how many requests were sent.
    let measure = |setup: &'static str, urls: &[String]| -> anyhow::Result<(Figures, usize)> {
        eprintln!(
            "{setup} ({} replica(s)): {} clients, 1 s warm-up + {} s …",
            urls.len(),
            args.concurrency,
            args.seconds
        );
        let warm = runtime.block_on(load(
            &client,
            urls,
            args.concurrency,
            Duration::from_secs(1),
        ))?;
        let (requests, errors, latencies, elapsed) = runtime.block_on(load(
            &client,
            urls,
            args.concurrency,
            Duration::from_secs(args.seconds),
        ))?;
        let figures = summarise(setup, urls.len(), requests, errors, latencies, elapsed);
        Ok((figures, warm.0 + requests))
    };

    let mut figures = Vec::new();
    {
        let (gateway, url) = serve(&single_config)?;
        figures.push(measure("sqlite + in-process", &[url])?.0);
        drop(gateway);
    }
    {
        let replicas: Vec<(Process, String)> = replica_configs
            .iter()
            .map(|config| serve(config))
            .collect::<anyhow::Result<_>>()?;
        let urls: Vec<String> = replicas.iter().map(|(_, url)| url.clone()).collect();
        // The shared stores' own cost, on one replica, then the two replicas together.
        let (alone, sent_alone) = measure("postgres + redis", &urls[..1])?;
        figures.push(alone);
        let (measured, sent) = measure("postgres + redis", &urls)?;
        let sent = sent + sent_alone;
        figures.push(measured);
        // Give the writers a moment, then check that every request landed.
        std::thread::sleep(Duration::from_secs(2));
        let recorded = database.rows()?;
        if recorded != sent as i64 {
            eprintln!("warning: the PostgreSQL ledger holds {recorded} requests of {sent} sent");
        }
        drop(replicas);
    }

    if args.json {
        let report = json!({
            "concurrency": args.concurrency,
            "seconds": args.seconds,
            "strategy": strategy,
            "setups": figures,
            "two_replicas_over_sqlite": round3(figures[2].throughput_rps / figures[0].throughput_rps.max(1e-9)),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "scale-out benchmark: {} closed-loop clients, {} s per setup, strategy {strategy}, client key with a budget and a rate limit, loopback mock upstream\n",
        args.concurrency, args.seconds
    );
    println!(
        "{:<22} {:>8} {:>9} {:>7} {:>10} {:>8} {:>8}",
        "setup", "replicas", "requests", "errors", "req/s", "p50 ms", "p99 ms"
    );
    for figures in &figures {
        println!(
            "{:<22} {:>8} {:>9} {:>7} {:>10.1} {:>8.3} {:>8.3}",
            figures.setup,
            figures.replicas,
            figures.requests,
            figures.errors,
            figures.throughput_rps,
            figures.p50_ms,
            figures.p99_ms
        );
    }
    println!(
        "\ntwo replicas with PostgreSQL and Redis / one with SQLite: {:.2}× the requests per second",
        figures[2].throughput_rps / figures[0].throughput_rps.max(1e-9)
    );
    Ok(())
}

/// Writes `work/name`: one replica's config, with the SQLite ledger in `work`, in-process limits
/// and the bench client key.
pub(super) fn single_replica_config(work: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let path = work.join(name);
    std::fs::write(
        &path,
        format!(
            "[providers]\ndisabled = [\"deepseek\"]\n\n[ledger]\npath = \"{}\"\n{KEYS}",
            work.join("ledger.sqlite3").display()
        ),
    )?;
    Ok(path)
}

/// Starts `binary serve` on a free loopback port with `config` and `strategy`: the process and
/// its base URL.
pub(super) fn serve(
    binary: &Path,
    config: &Path,
    strategy: &str,
    envs: &[(&'static str, String)],
) -> anyhow::Result<(Process, String)> {
    spawn(
        binary,
        &[
            "serve",
            "--config",
            path_str(config)?,
            "--listen",
            "127.0.0.1:0",
            "--strategy",
            strategy,
        ],
        envs,
        "triage gateway listening on ",
    )
}

pub(super) fn summarise(
    setup: &'static str,
    replicas: usize,
    requests: usize,
    errors: usize,
    mut latencies: Vec<f64>,
    elapsed: f64,
) -> Figures {
    latencies.sort_by(f64::total_cmp);
    let percentile = |percent: usize| percentile_ms(&latencies, percent);
    Figures {
        setup,
        replicas,
        requests,
        errors,
        throughput_rps: round3(latencies.len() as f64 / elapsed),
        p50_ms: percentile(50),
        p99_ms: percentile(99),
    }
}

/// `clients` loops, each sending its next request as soon as the last one is answered, to the
/// replicas in turn, for `duration`: (requests, errors, latencies of the answered in ms,
/// seconds elapsed).
pub(super) async fn load(
    client: &reqwest::Client,
    urls: &[String],
    clients: usize,
    duration: Duration,
) -> anyhow::Result<(usize, usize, Vec<f64>, f64)> {
    load_model(client, urls, "auto", clients, duration).await
}

/// [`load`] with requests for `model`.
pub(super) async fn load_model(
    client: &reqwest::Client,
    urls: &[String],
    model: &str,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<(usize, usize, Vec<f64>, f64)> {
    if urls.is_empty() || clients == 0 {
        bail!("nothing to load");
    }
    let bodies: Arc<Vec<String>> = Arc::new(
        PROMPTS
            .iter()
            .map(|prompt| {
                json!({"model": model, "messages": [{"role": "user", "content": prompt}]})
                    .to_string()
            })
            .collect(),
    );
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..clients {
        let client = client.clone();
        let bodies = Arc::clone(&bodies);
        let urls: Vec<String> = urls
            .iter()
            .map(|url| format!("{url}/v1/chat/completions"))
            .collect();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut index = worker;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let response = client
                    .post(&urls[index % urls.len()])
                    .header("content-type", "application/json")
                    .header("authorization", "Bearer sk-bench")
                    .body(bodies[index % bodies.len()].clone())
                    .send()
                    .await;
                let ok = match response {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        ok && response.bytes().await.is_ok()
                    }
                    Err(_) => false,
                };
                if ok {
                    latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                } else {
                    errors += 1;
                }
                index += clients;
            }
            (latencies, errors)
        });
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    while let Some(joined) = tasks.join_next().await {
        let (mut worker, worker_errors) = joined?;
        latencies.append(&mut worker);
        errors += worker_errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok((latencies.len() + errors, errors, latencies, elapsed))
}
