//! `triage mock-upstream`: serves the scripted mock provider (OpenAI, Anthropic and Gemini wire
//! formats) on a local port, for demos and end-to-end tests without real keys.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use anyhow::Context;
use triage_mock::MockUpstream;

/// Serve a mock LLM upstream that speaks the OpenAI, Anthropic and Gemini APIs.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  triage mock-upstream --port 8089
  OPENAI_BASE_URL=http://127.0.0.1:8089/v1 OPENAI_API_KEY=test triage ask \"hello\"

Routes: POST /v1/chat/completions (OpenAI, also any …/chat/completions for OpenAI-compatible
base URLs), POST /v1/messages (Anthropic), POST /v1beta/models/MODEL:generateContent and
:streamGenerateContent?alt=sse (Gemini). Keys are accepted but not checked.

By default it echoes the last user message. A marker in the prompt picks another answer:
  [mock:empty] [mock:json] [mock:tool] [mock:length] [mock:cut] [mock:malformed] [mock:slow]
  [mock:drip] (200 words, one every 20 ms) [mock:status=429] (any status; 429/503/529 come with Retry-After: 1) [mock:text=WORDS]

Batch APIs (in memory; a batch ends at its second poll): OpenAI /v1/files and /v1/batches,
Anthropic /v1/messages/batches, Gemini MODEL:batchGenerateContent and /v1beta/batches/ID, each
with its cancel endpoint. Markers for batch lines only: [mock:batch-error] (the line fails in
the batch) [mock:expired] (unprocessed; the batch expires) [mock:batch-pending] (answered when
the batch ends, so a cancel before then cancels it).")]
pub(crate) struct Args {
    /// Port to listen on; 0 picks a free one (the first line of output says which).
    #[arg(long, default_value_t = 8089)]
    port: u16,

    /// Address to bind; keep the loopback default unless you know you need otherwise.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,

    /// Simulate the providers' prompt caches: usage counts each prompt's tokens (about four
    /// characters a token) and a prefix the same model saw in the last five minutes is read
    /// from the cache (OpenAI and Gemini: the prompt before the last message, from 1,024
    /// tokens; Anthropic: up to the last `cache_control` mark, written on a miss).
    #[arg(long)]
    prompt_cache: bool,
}

/// Starts the mock and serves until interrupted (Ctrl-C).
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let address = SocketAddr::new(args.host, args.port);
        let mock = MockUpstream::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        if args.prompt_cache {
            mock.handle().simulate_prompt_cache();
        }
        let url = mock.url();
        let mut out = std::io::stdout().lock();
        writeln!(out, "mock upstream listening on {url}")?;
        writeln!(out, "  OPENAI_BASE_URL={}", mock.openai_base_url())?;
        writeln!(out, "  ANTHROPIC_BASE_URL={url}")?;
        writeln!(out, "  GEMINI_BASE_URL={url}")?;
        writeln!(out, "press Ctrl-C to stop")?;
        out.flush()?;
        drop(out);
        tokio::signal::ctrl_c()
            .await
            .context("cannot wait for Ctrl-C")?;
        tracing::info!(requests = mock.requests().len(), "mock upstream stopping");
        Ok(ExitCode::SUCCESS)
    })
}
