//! `cargo xtask bench-gateway --throughput`: requests per second through one replica (SQLite
//! ledger, in-process limits) saturated by closed-loop clients, first with a concrete model (no
//! classification), then with `model: "auto"` (classified and routed); the ratio is what
//! classification costs a gateway whose cores are busy.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::scale_out::{Figures, load_model, serve, single_replica_config, summarise};
use super::{Args, load_client, round3, start_mock};

/// The concrete model of the `fixed` scenario, as in the latency scenarios.
const FIXED_MODEL: &str = "gpt-4o-mini";

pub(super) fn run(args: &Args, binary: &Path, strategy: &str, work: &Path) -> anyhow::Result<()> {
    let mock_url = start_mock()?;
    let envs = super::mock_envs(&mock_url, args.classifier_threads);
    let config = single_replica_config(work, "throughput.toml")?;
    let (gateway, url) = serve(binary, &config, strategy, &envs)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = load_client()?;
    let urls = [url];
    let mut figures: Vec<Figures> = Vec::new();
    for (setup, model) in [("fixed", FIXED_MODEL), ("auto", "auto")] {
        eprintln!(
            "{setup}: {} clients, 1 s warm-up + {} s …",
            args.concurrency, args.seconds
        );
        runtime.block_on(load_model(
            &client,
            &urls,
            model,
            args.concurrency,
            Duration::from_secs(1),
        ))?;
        let (requests, errors, latencies, elapsed) = runtime.block_on(load_model(
            &client,
            &urls,
            model,
            args.concurrency,
            Duration::from_secs(args.seconds),
        ))?;
        figures.push(summarise(setup, 1, requests, errors, latencies, elapsed));
    }
    drop(gateway);
    let ratio = figures[1].throughput_rps / figures[0].throughput_rps.max(1e-9);

    if args.json {
        let report = json!({
            "concurrency": args.concurrency,
            "seconds": args.seconds,
            "strategy": strategy,
            "classifier_threads": args.classifier_threads,
            "scenarios": figures,
            "auto_over_fixed": round3(ratio),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "throughput benchmark: {} closed-loop clients, {} s per scenario, strategy {strategy}, one replica (SQLite), loopback mock upstream\n",
        args.concurrency, args.seconds
    );
    println!(
        "{:<8} {:>9} {:>7} {:>10} {:>8} {:>8}",
        "scenario", "requests", "errors", "req/s", "p50 ms", "p99 ms"
    );
    for figures in &figures {
        println!(
            "{:<8} {:>9} {:>7} {:>10.1} {:>8.3} {:>8.3}",
            figures.setup,
            figures.requests,
            figures.errors,
            figures.throughput_rps,
            figures.p50_ms,
            figures.p99_ms
        );
    }
    println!("\nauto / fixed: {ratio:.2}× the requests per second");
    Ok(())
}
