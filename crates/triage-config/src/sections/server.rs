//! `[server]`: how `triage serve` listens and whom it serves.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::ConfigError;
use crate::sections::invalid;
use crate::sections::keys::{ClientKeySettings, RawClientKey};
use triage_catalog::Source;

/// `[server]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    /// The address to listen on (default `127.0.0.1:8080`); `--listen` wins.
    listen: Option<Spanned<String>>,
    /// Proxy keys: when set, clients must send one as `Authorization: Bearer KEY` (OpenAI
    /// SDKs) or `x-api-key: KEY` (Anthropic SDKs).
    #[serde(default)]
    api_keys: Vec<Spanned<String>>,
    /// Whether `/metrics` stays open to clients without a proxy key when `api_keys` is set
    /// (default `false`: it shows spend per model and traffic).
    #[serde(default)]
    metrics_public: bool,
    /// The largest request body accepted, in bytes (default 4 MiB).
    body_limit_bytes: Option<Spanned<u64>>,
    /// The longest a request may take, in milliseconds (default 300000).
    request_timeout_ms: Option<Spanned<u64>>,
    /// How long a client may take to send a request's headers, in milliseconds, counted from
    /// the connection's start or its previous answer (default 10000); past it the connection
    /// is closed (slowloris clients, idle keep-alive connections).
    header_read_timeout_ms: Option<Spanned<u64>>,
    /// How long a client may take to send a request's body once its headers are in, in
    /// milliseconds (default 30000); past it the answer is 408.
    body_read_timeout_ms: Option<Spanned<u64>>,
    /// The most connections open at once (default 4096); more clients wait in the listen
    /// backlog. Keep it below the open-file limit (`ulimit -n`).
    max_connections: Option<Spanned<u64>>,
    /// The most chat requests answered at once, streams until their end (default 512); one
    /// more gets a 503 with `Retry-After`.
    max_concurrent_requests: Option<Spanned<u64>>,
    /// `[[server.keys]]`: per-client keys with their models, budgets and rate limits.
    #[serde(default)]
    keys: Vec<Spanned<RawClientKey>>,
}

/// Validated `[server]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// The address to listen on, if configured.
    pub listen: Option<SocketAddr>,
    /// Proxy keys; empty means no key is required.
    pub api_keys: Vec<String>,
    /// Whether `/metrics` needs no proxy key when keys are set.
    pub metrics_public: bool,
    /// The largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// The longest a request may take.
    pub request_timeout: Duration,
    /// The longest a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// The longest a client may take to send a request's body.
    pub body_read_timeout: Duration,
    /// The most connections open at once.
    pub max_connections: usize,
    /// The most chat requests answered at once.
    pub max_concurrent_requests: usize,
    /// Per-client keys (`[[server.keys]]`), in file order.
    pub keys: Vec<ClientKeySettings>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: None,
            api_keys: Vec::new(),
            metrics_public: false,
            body_limit_bytes: 4 * 1024 * 1024,
            request_timeout: Duration::from_secs(300),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 4096,
            max_concurrent_requests: 512,
            keys: Vec::new(),
        }
    }
}

pub(crate) fn validate(source: &Source<'_>, raw: RawServer) -> Result<ServerSettings, ConfigError> {
    let defaults = ServerSettings::default();
    let listen = match raw.listen {
        None => None,
        Some(listen) => Some(listen.get_ref().parse::<SocketAddr>().map_err(|_| {
            invalid(
                source,
                &listen.span(),
                "server.listen",
                format!(
                    "`{}` is not an address like 127.0.0.1:8080",
                    listen.get_ref()
                ),
            )
        })?),
    };
    let mut api_keys = Vec::with_capacity(raw.api_keys.len());
    for key in raw.api_keys {
        if key.get_ref().trim().is_empty() {
            return Err(invalid(
                source,
                &key.span(),
                "server.api_keys",
                "an API key cannot be empty",
            ));
        }
        api_keys.push(key.into_inner());
    }
    let positive = |value: Option<Spanned<u64>>, key: &str| -> Result<Option<u64>, ConfigError> {
        match value {
            Some(value) if *value.get_ref() == 0 => Err(invalid(
                source,
                &value.span(),
                key,
                "must be greater than zero",
            )),
            Some(value) => Ok(Some(value.into_inner())),
            None => Ok(None),
        }
    };
    let body_limit_bytes = positive(raw.body_limit_bytes, "server.body_limit_bytes")?
        .map_or(defaults.body_limit_bytes, |bytes| {
            usize::try_from(bytes).unwrap_or(usize::MAX)
        });
    let request_timeout = positive(raw.request_timeout_ms, "server.request_timeout_ms")?
        .map_or(defaults.request_timeout, Duration::from_millis);
    let header_read_timeout =
        positive(raw.header_read_timeout_ms, "server.header_read_timeout_ms")?
            .map_or(defaults.header_read_timeout, Duration::from_millis);
    let body_read_timeout = positive(raw.body_read_timeout_ms, "server.body_read_timeout_ms")?
        .map_or(defaults.body_read_timeout, Duration::from_millis);
    let count = |value: Option<u64>, default: usize| {
        value.map_or(default, |value| {
            usize::try_from(value).unwrap_or(usize::MAX)
        })
    };
    let max_connections = count(
        positive(raw.max_connections, "server.max_connections")?,
        defaults.max_connections,
    );
    let max_concurrent_requests = count(
        positive(
            raw.max_concurrent_requests,
            "server.max_concurrent_requests",
        )?,
        defaults.max_concurrent_requests,
    );
    Ok(ServerSettings {
        listen,
        api_keys,
        metrics_public: raw.metrics_public,
        body_limit_bytes,
        request_timeout,
        header_read_timeout,
        body_read_timeout,
        max_connections,
        max_concurrent_requests,
        keys: crate::sections::keys::validate(source, raw.keys)?,
    })
}

#[cfg(test)]
mod tests {
    use crate::Config;

    #[test]
    fn server_and_ledger_sections_validate() {
        let config = Config::parse(
            "[server]\nlisten = \"127.0.0.1:9000\"\napi_keys = [\"k1\"]\nmetrics_public = true\nrequest_timeout_ms = 1500\nheader_read_timeout_ms = 250\nbody_read_timeout_ms = 750\nmax_connections = 64\nmax_concurrent_requests = 8\n\n[ledger]\npath = \"data/l.sqlite3\"\n\n[routing]\nbaseline = \"gpt-4o\"\n",
            "t.toml",
            Some(std::path::Path::new("/etc/triage")),
        )
        .unwrap();
        assert_eq!(
            config.server.listen,
            Some("127.0.0.1:9000".parse().unwrap())
        );
        assert_eq!(config.server.api_keys, ["k1"]);
        assert!(config.server.metrics_public);
        assert!(!crate::sections::server::ServerSettings::default().metrics_public);
        assert_eq!(config.server.request_timeout.as_millis(), 1500);
        assert_eq!(config.server.body_limit_bytes, 4 * 1024 * 1024);
        assert_eq!(config.server.header_read_timeout.as_millis(), 250);
        assert_eq!(config.server.body_read_timeout.as_millis(), 750);
        assert_eq!(config.server.max_connections, 64);
        assert_eq!(config.server.max_concurrent_requests, 8);
        assert_eq!(
            config.ledger.path.as_deref(),
            Some(std::path::Path::new("/etc/triage/data/l.sqlite3"))
        );
        assert_eq!(
            config
                .routing
                .baseline
                .as_ref()
                .map(|model| model.id.as_str()),
            Some("gpt-4o")
        );
        assert!(config.ledger.enabled);

        for bad in [
            "[server]\nlisten = \"nowhere\"\n",
            "[server]\napi_keys = [\" \"]\n",
            "[server]\nbody_limit_bytes = 0\n",
            "[server]\nheader_read_timeout_ms = 0\n",
            "[server]\nmax_concurrent_requests = 0\n",
            "[ledger]\npaht = \"x\"\n",
        ] {
            let error = Config::parse(bad, "t.toml", None).unwrap_err();
            assert!(error.to_string().contains("t.toml"), "{bad}: {error}");
        }
    }
}
