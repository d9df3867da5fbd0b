//! `triage serve`: the OpenAI- and Anthropic-compatible gateway, built from `triage.toml`, with
//! every request recorded in the ledger and a graceful shutdown on Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use triage_engine::ProviderStatus;
use triage_server::{AppState, ServerOptions};
use triage_strategies::StrategyKind;

use crate::commands::context::{Context, LedgerArgs, RoutingArgs};
use crate::commands::output::usage_error;

/// The address used when neither `--listen` nor `[server] listen` gives one.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Serve the OpenAI- and Anthropic-compatible gateway.
///
/// Point an OpenAI SDK at `http://ADDR/v1` or an Anthropic SDK at `http://ADDR` and send
/// `model: "auto"` (routed by class), a route alias from the config, or a catalog model id.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  triage serve --config triage.toml
  triage serve --listen 127.0.0.1:0            (a free port; the first line says which)
  OPENAI_BASE_URL=http://127.0.0.1:8089/v1 OPENAI_API_KEY=test triage serve   (against triage mock-upstream)

Endpoints: POST /v1/chat/completions, POST /v1/responses, POST /v1/messages (streaming with
\"stream\": true), POST /v1/messages/count_tokens, GET /v1/models, GET /healthz, GET /metrics
(Prometheus). Answers carry x-triage-class,
x-triage-model, x-triage-cost-usd and x-triage-attempts headers. Provider keys and base URLs
come from the environment as for `triage ask`; [server] api_keys sets proxy keys clients must
send, and [[server.keys]] per-client keys with their models, budgets and rate limits (counted
in this process, or in Redis with [state] redis_url so replicas share them). Every request is recorded in the ledger ([ledger] path, default
<data dir>/triage/ledger.sqlite3); `triage report` summarises it.

Each classification runs on one thread (RAYON_NUM_THREADS=1 unless you set it): concurrent
requests already use the cores, and splitting the small classifier's matrix products across
threads only adds tail latency.")]
pub(crate) struct Args {
    #[command(flatten)]
    routing: RoutingArgs,

    /// The address to listen on; overrides `[server] listen` (default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,

    /// How `auto` requests are classified: keyword, length or model; overrides
    /// `[routing] strategy`.
    #[arg(long, value_name = "STRATEGY")]
    strategy: Option<StrategyKind>,

    #[command(flatten)]
    ledger: LedgerArgs,
}

/// Builds the gateway and serves until Ctrl-C or SIGTERM, then finishes in-flight requests and
/// flushes the ledger.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let context = match Context::load(&args.routing) {
        Ok(context) => context,
        Err(error) => return Ok(usage_error(&error)),
    };
    for warning in &context.warnings {
        eprintln!("warning: {warning}");
    }
    let strategy = context.strategy(context.strategy_kind(args.strategy))?;
    let ledger = context.open_ledger(&args.ledger)?;
    let server = &context.config.server;
    let env: triage_engine::EnvLookup = Arc::new(|name: &str| std::env::var(name).ok());
    let keys = triage_engine::keyring(&context.config, &env)
        .with_context(|| format!("[[server.keys]] in {}", context.config.origin_name()))?;
    let keys_banner = keys_banner(&keys, &context.config.state);
    let options = ServerOptions {
        keys,
        metrics_public: server.metrics_public,
        body_limit_bytes: server.body_limit_bytes,
        request_timeout: server.request_timeout,
        header_read_timeout: server.header_read_timeout,
        body_read_timeout: server.body_read_timeout,
        max_connections: server.max_connections,
        max_concurrent_requests: server.max_concurrent_requests,
    };
    let engine = context.engine(strategy, ledger.clone(), Some(server.request_timeout))?;
    let listen = match args.listen.or(server.listen) {
        Some(listen) => listen,
        None => DEFAULT_LISTEN
            .parse()
            .context("the default listen address")?,
    };
    if let Some(warning) = exposure_warning(listen, !options.keys.is_empty()) {
        eprintln!("{warning}");
        tracing::warn!(%listen, "listening beyond loopback without proxy keys");
    }
    let providers_banner = providers_banner(&engine);
    let settle = engine.clone();
    let state = AppState::new(engine, options);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let ledger_location = ledger.as_ref().map(|ledger| ledger.location().to_string());
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let address = listener.local_addr()?;
        let shutdown = shutdown_signal();
        let mut banner = format!(
            "triage gateway listening on http://{address}\n  OpenAI SDKs:    base_url=http://{address}/v1\n  Anthropic SDKs: base_url=http://{address}\n"
        );
        if let Some(location) = &ledger_location {
            banner.push_str(&format!("  ledger: {location}\n"));
        }
        banner.push_str(&providers_banner);
        banner.push_str(&keys_banner);
        // A closed stdout (a supervisor that read the address and left) must not stop serving.
        let mut out = std::io::stdout().lock();
        if let Err(error) = out.write_all(banner.as_bytes()).and_then(|()| out.flush()) {
            tracing::warn!(%error, "cannot print the listen address");
        }
        drop(out);
        let options = state.options().clone();
        let served = triage_server::serve(listener, triage_server::app(state), &options, shutdown)
            .await
            .context("the server failed");
        // Streams their clients left are recorded once their calls have stopped.
        settle.settled().await;
        served
    });
    // In-flight requests have finished (graceful shutdown); write what they recorded.
    if let Some(ledger) = &ledger {
        ledger.close();
        let stats = ledger.stats();
        tracing::info!(
            written = stats.written,
            dropped = stats.dropped,
            "ledger closed"
        );
    }
    served?;
    Ok(ExitCode::SUCCESS)
}

/// The loud warning for a gateway that anyone on the network may use (and spend through):
/// a non-loopback address with no `[server] api_keys`. It warns rather than refuses, so a
/// gateway behind its own authenticating proxy still starts.
fn exposure_warning(listen: std::net::SocketAddr, has_keys: bool) -> Option<String> {
    if listen.ip().is_loopback() || has_keys {
        return None;
    }
    Some(format!(
        "WARNING: listening on {listen}, beyond loopback, with no client keys: anyone who can \
         reach this address can spend through your provider keys. Add [[server.keys]] (or \
         [server] api_keys) to triage.toml, or listen on 127.0.0.1."
    ))
}

/// The start banner's provider lines: which providers can be called and which lack a key
/// (with the variable to set), then the routes none of whose models can be called, so a
/// gateway with no keys says so before its first request fails.
/// The client keys and where their limits are counted, for the start banner (names and limits,
/// never the keys).
fn keys_banner(keys: &triage_limits::Keyring, state: &triage_config::StateSettings) -> String {
    if keys.is_empty() {
        return String::new();
    }
    let names: Vec<String> = keys
        .keys()
        .map(|key| {
            if key.limits.is_unlimited() {
                key.name.clone()
            } else {
                format!("{} ({})", key.name, key.limits.describe())
            }
        })
        .collect();
    let store = match &state.redis_url {
        Some(_) => format!(
            "Redis (shared by replicas; unreachable: budgets {}, rate limits {})",
            state.budgets_when_unreachable.as_str(),
            state.rate_limits_when_unreachable.as_str()
        ),
        None => "this process (set [state] redis_url to share them across replicas)".to_owned(),
    };
    format!(
        "  client keys: {}
  limits counted in: {store}
",
        names.join(", ")
    )
}

fn providers_banner(engine: &triage_engine::Engine) -> String {
    let mut ready = Vec::new();
    let mut missing = Vec::new();
    let mut unavailable = Vec::new();
    for (provider, status) in engine.providers() {
        match status {
            ProviderStatus::Ready => ready.push(provider.clone()),
            ProviderStatus::MissingKey { env_var } => {
                missing.push(format!("{provider} (set {env_var})"));
            }
            ProviderStatus::Unavailable { reason } => {
                unavailable.push(format!("{provider} ({reason})"));
            }
        }
    }
    let list = |items: &[String]| {
        if items.is_empty() {
            "none".to_owned()
        } else {
            items.join(", ")
        }
    };
    let mut out = format!("  providers ready: {}\n", list(&ready));
    if !missing.is_empty() {
        out.push_str(&format!("  providers without a key: {}\n", list(&missing)));
    }
    if !unavailable.is_empty() {
        out.push_str(&format!(
            "  providers unavailable: {}\n",
            list(&unavailable)
        ));
    }
    let stranded = engine.classes_without_a_ready_model();
    if ready.is_empty() {
        out.push_str("  warning: no provider key set: every request will fail until one is\n");
    } else if !stranded.is_empty() {
        let names: Vec<&str> = stranded.iter().map(|class| class.as_str()).collect();
        out.push_str(&format!(
            "  warning: routes with no usable model: {} (their requests escalate to other routes' models)\n",
            names.join(", ")
        ));
    }
    out
}

/// Ctrl-C or SIGTERM. On Unix the handlers are installed when this is called, not when the
/// future is first polled, so a supervisor that reads the listen address and signals at once
/// gets a graceful shutdown, not the default action's kill. Call it inside the runtime.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        let install = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(signal) => Some(signal),
            Err(error) => {
                tracing::warn!(%error, "cannot listen for {name}");
                None
            }
        };
        (
            install(SignalKind::interrupt(), "Ctrl-C"),
            install(SignalKind::terminate(), "SIGTERM"),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |signal: Option<tokio::signal::unix::Signal>| async move {
                match signal {
                    Some(mut signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => {}
                () = wait(terminate) => {}
            }
        }
        #[cfg(not(unix))]
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        eprintln!("shutting down: finishing in-flight requests");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_only_for_open_non_loopback_addresses() {
        let cases = [
            ("127.0.0.1:8080", false, false),
            ("[::1]:8080", false, false),
            ("0.0.0.0:8080", false, true),
            ("0.0.0.0:8080", true, false),
            ("192.168.1.2:8080", false, true),
        ];
        for (listen, has_keys, warns) in cases {
            let warning = exposure_warning(listen.parse().unwrap(), has_keys);
            assert_eq!(warning.is_some(), warns, "{listen}");
        }
    }
}
