//! `cargo xtask bench-gateway --throughput`: requests per second through one replica (SQLite
//! ledger, in-process limits) saturated by closed-loop clients, with a concrete model (no
//! classification) and with `model: "auto"` (classified and routed) taking turns in five
//! rounds; the ratio is what classification costs a gateway whose cores are busy.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::scale_out::{Figures, load_model, serve, single_replica_config, summarise};
use super::{Args, load_client, round3, start_mock};

/// The concrete model of the `fixed` scenario, as in the latency scenarios.
const FIXED_MODEL: &str = "gpt-4o-mini";

/// Turns each scenario takes, alternating with the other, within its `--seconds`.
const ROUNDS: u32 = 5;

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
    // Fixed and auto take turns in short rounds, so a change in the shared machine's load
    // lands on both rather than on whichever ran second.
    let setups = [("fixed", FIXED_MODEL), ("auto", "auto")];
    let round = Duration::from_secs(args.seconds).div_f64(ROUNDS as f64);
    eprintln!(
        "{} clients, 1 s warm-up each, then {ROUNDS} rounds of {:.1} s per scenario in turn …",
        args.concurrency,
        round.as_secs_f64()
    );
    let mut totals: Vec<(usize, usize, Vec<f64>, f64)> = vec![(0, 0, Vec::new(), 0.0); 2];
    for (_, model) in setups {
        runtime.block_on(load_model(
            &client,
            &urls,
            model,
            args.concurrency,
            Duration::from_secs(1),
        ))?;
    }
    for _ in 0..ROUNDS {
        for ((_, model), total) in setups.iter().zip(&mut totals) {
            let (requests, errors, latencies, elapsed) =
                runtime.block_on(load_model(&client, &urls, model, args.concurrency, round))?;
            total.0 += requests;
            total.1 += errors;
            total.2.extend(latencies);
            total.3 += elapsed;
        }
    }
    let figures: Vec<Figures> = setups
        .iter()
        .zip(totals)
        .map(|((setup, _), (requests, errors, latencies, elapsed))| {
            summarise(setup, 1, requests, errors, latencies, elapsed)
        })
        .collect();
    drop(gateway);
    let ratio = figures[1].throughput_rps / figures[0].throughput_rps.max(1e-9);

    if args.json {
        let report = json!({
            "concurrency": args.concurrency,
            "seconds": args.seconds,
            "rounds": ROUNDS,
            "strategy": strategy,
            "classifier_threads": args.classifier_threads,
            "scenarios": figures,
            "auto_over_fixed": round3(ratio),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "throughput benchmark: {} closed-loop clients, {} s per scenario in {ROUNDS} alternating rounds, strategy {strategy}, one replica (SQLite), loopback mock upstream\n",
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
