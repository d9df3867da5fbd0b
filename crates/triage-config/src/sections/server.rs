//! `[server]`: how `triage serve` listens and whom it serves.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::ConfigError;
use crate::sections::invalid;
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
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: None,
            api_keys: Vec::new(),
            metrics_public: false,
            body_limit_bytes: 4 * 1024 * 1024,
            request_timeout: Duration::from_secs(300),
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
    Ok(ServerSettings {
        listen,
        api_keys,
        metrics_public: raw.metrics_public,
        body_limit_bytes,
        request_timeout,
    })
}

#[cfg(test)]
mod tests {
    use crate::Config;

    #[test]
    fn server_and_ledger_sections_validate() {
        let config = Config::parse(
            "[server]\nlisten = \"127.0.0.1:9000\"\napi_keys = [\"k1\"]\nmetrics_public = true\nrequest_timeout_ms = 1500\n\n[ledger]\npath = \"data/l.sqlite3\"\n\n[routing]\nbaseline = \"gpt-4o\"\n",
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
            "[ledger]\npaht = \"x\"\n",
        ] {
            let error = Config::parse(bad, "t.toml", None).unwrap_err();
            assert!(error.to_string().contains("t.toml"), "{bad}: {error}");
        }
    }
}
