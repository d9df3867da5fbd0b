//! What every handler shares: the catalog, the router, the fallback executor, the ledger, the
//! metrics and the server's limits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use triage_catalog::Catalog;
use triage_fallback::{Executor, QualityChecks};
use triage_ledger::Ledger;
use triage_strategies::Router;

use crate::metrics::Metrics;

/// The routing and execution machinery the gateway serves, built by the caller (the CLI builds
/// it from `triage.toml`).
#[derive(Debug, Clone)]
pub struct Gateway {
    /// The model catalog (with any config overlay applied).
    pub catalog: Catalog,
    /// Rules, strategy and policy (with the config's aliases).
    pub router: Router,
    /// The fallback executor, with its provider clients and circuit breakers.
    pub executor: Executor,
    /// The quality checks for requests routed by `auto` or a concrete model.
    pub checks: QualityChecks,
    /// Per-alias quality checks, replacing [`Gateway::checks`] for that alias.
    pub alias_checks: BTreeMap<String, QualityChecks>,
    /// The model savings are measured against; `None` records a baseline cost of zero.
    pub baseline_model: Option<String>,
    /// Where every request is recorded; `None` records nothing.
    pub ledger: Option<Ledger>,
    /// The day model lifecycles (deprecated, retired → successor) are judged on; `None` judges
    /// each request on its own date (UTC).
    pub as_of: Option<time::Date>,
}

/// Limits and access control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// Proxy keys: when non-empty, `/v1/*` requests must carry one as `Authorization: Bearer
    /// KEY` or `x-api-key: KEY`.
    pub api_keys: Vec<String>,
    /// The largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// The longest a request may take before the gateway answers 504 (for a stream: until its
    /// first event).
    pub request_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            api_keys: Vec::new(),
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
    pub(crate) gateway: Gateway,
    pub(crate) options: ServerOptions,
    pub(crate) metrics: Metrics,
    pub(crate) registry: Registry,
    /// `auto`, the aliases and every catalog id, for 404 messages and `/v1/models`.
    pub(crate) model_names: Vec<String>,
}

impl AppState {
    /// Puts the gateway and its options together.
    pub fn new(gateway: Gateway, options: ServerOptions) -> AppState {
        let (metrics, registry) = Metrics::new();
        let mut model_names = vec![crate::AUTO_MODEL.to_owned()];
        model_names.extend(gateway.router.policy().aliases().keys().cloned());
        model_names.extend(gateway.catalog.models().map(|model| model.id.clone()));
        AppState {
            inner: Arc::new(Inner {
                gateway,
                options,
                metrics,
                registry,
                model_names,
            }),
        }
    }

    /// The gateway's parts.
    pub fn gateway(&self) -> &Gateway {
        &self.inner.gateway
    }

    /// The server's limits.
    pub fn options(&self) -> &ServerOptions {
        &self.inner.options
    }

    /// The ledger, to flush or close on shutdown.
    pub fn ledger(&self) -> Option<&Ledger> {
        self.inner.gateway.ledger.as_ref()
    }
}
