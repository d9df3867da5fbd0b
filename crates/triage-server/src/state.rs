//! What every handler shares: the engine (the request pipeline), the metrics and the server's
//! limits.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::sync::Semaphore;
use triage_engine::Engine;
use triage_limits::Keyring;

use crate::metrics::Metrics;

/// Limits and access control.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Client keys (`[[server.keys]]` and `[server] api_keys`, built by
    /// [`triage_engine::keyring`]): when there are any, `/v1/*` requests must carry one as
    /// `Authorization: Bearer KEY` or `x-api-key: KEY`, and its models, budgets and rate limits
    /// apply.
    pub keys: Keyring,
    /// Whether `/metrics` stays open when `api_keys` is set; by default it then needs a proxy
    /// key too (it shows spend per model and traffic).
    pub metrics_public: bool,
    /// The largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// The longest a request may take before the gateway answers 504 (for a stream: until its
    /// first event). The engine applies it; it is kept here for the banner and tests.
    pub request_timeout: Duration,
    /// How long a client may take to send a request's headers, counted from the connection's
    /// start or the end of its previous answer; past it the connection is closed. This is what
    /// closes half-open (slowloris) and idle keep-alive connections.
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's whole body once its headers are in; past
    /// it the gateway answers 408.
    pub body_read_timeout: Duration,
    /// The most connections held open at once; further clients wait in the listen backlog
    /// until one closes. Keep it below the process's open-file limit (`ulimit -n`).
    pub max_connections: usize,
    /// The most chat requests (`/v1/chat/completions`, `/v1/messages`) answered at once, a
    /// stream counting until its end; one more gets a 503 with `Retry-After` at once.
    pub max_concurrent_requests: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            keys: Keyring::new(),
            metrics_public: false,
            body_limit_bytes: 4 * 1024 * 1024,
            request_timeout: Duration::from_secs(300),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 4096,
            max_concurrent_requests: 512,
        }
    }
}

/// The state behind every handler. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) engine: Engine,
    pub(crate) options: ServerOptions,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) registry: Registry,
    /// One permit per chat request being answered (`max_concurrent_requests`).
    pub(crate) admission: Arc<Semaphore>,
}

impl AppState {
    /// Puts the engine and the options together; the gateway's metrics observe every request
    /// the engine finishes.
    pub fn new(engine: Engine, options: ServerOptions) -> AppState {
        let (metrics, registry) = Metrics::new();
        let metrics = Arc::new(metrics);
        engine.observe_with(Arc::clone(&metrics) as Arc<dyn triage_engine::Observer>);
        let admission = Arc::new(Semaphore::new(
            options.max_concurrent_requests.min(Semaphore::MAX_PERMITS),
        ));
        AppState {
            inner: Arc::new(Inner {
                engine,
                admission,
                options,
                metrics,
                registry,
            }),
        }
    }

    /// The request pipeline.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The server's limits.
    pub fn options(&self) -> &ServerOptions {
        &self.inner.options
    }

    /// The ledger, to flush or close on shutdown.
    pub fn ledger(&self) -> Option<&triage_ledger::Ledger> {
        self.inner.engine.ledger()
    }
}
