//! What every handler shares: the engine (the request pipeline), the metrics and the server's
//! limits.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use triage_engine::Engine;

use crate::metrics::Metrics;

/// Limits and access control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// Proxy keys: when non-empty, `/v1/*` requests must carry one as `Authorization: Bearer
    /// KEY` or `x-api-key: KEY`.
    pub api_keys: Vec<String>,
    /// Whether `/metrics` stays open when `api_keys` is set; by default it then needs a proxy
    /// key too (it shows spend per model and traffic).
    pub metrics_public: bool,
    /// The largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// The longest a request may take before the gateway answers 504 (for a stream: until its
    /// first event). The engine applies it; it is kept here for the banner and tests.
    pub request_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            api_keys: Vec::new(),
            metrics_public: false,
            body_limit_bytes: 4 * 1024 * 1024,
            request_timeout: Duration::from_secs(300),
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
}

impl AppState {
    /// Puts the engine and the options together; the gateway's metrics observe every request
    /// the engine finishes.
    pub fn new(engine: Engine, options: ServerOptions) -> AppState {
        let (metrics, registry) = Metrics::new();
        let metrics = Arc::new(metrics);
        engine.observe_with(Arc::clone(&metrics) as Arc<dyn triage_engine::Observer>);
        AppState {
            inner: Arc::new(Inner {
                engine,
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
