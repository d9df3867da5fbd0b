//! `[state]`: where budgets and rate limits are counted — in the process (the default) or in
//! Redis, shared by every replica — and what happens when Redis cannot be reached.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::ConfigError;
use crate::sections::invalid;
use triage_catalog::Source;

/// `[state]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawState {
    /// `redis://host:port[/db]` (or `rediss://`): count budgets and rate limits in Redis so
    /// every replica sees the same totals. Default: in this process only.
    redis_url: Option<Spanned<String>>,
    /// Prefix of every Redis key triage writes (default `triage`), so several deployments can
    /// share one Redis.
    key_prefix: Option<Spanned<String>>,
    /// How long one Redis call may take, in milliseconds (default 250); past it Redis counts
    /// as unreachable for that request.
    timeout_ms: Option<Spanned<u64>>,
    /// When Redis is unreachable: `closed` refuses requests of keys with a budget (503), `open`
    /// lets them through uncounted (default `closed`).
    budgets_when_unreachable: Option<Spanned<String>>,
    /// When Redis is unreachable: `open` lets requests of rate-limited keys through (default),
    /// `closed` refuses them (503).
    rate_limits_when_unreachable: Option<Spanned<String>>,
    /// The share of a budget (day or month) after which a key's requests route one tier
    /// cheaper, from 0 to 1 (default 0.8; 1 turns it off).
    downshift_at: Option<Spanned<f64>>,
}

/// What to do when the shared state cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenUnreachable {
    /// Refuse the request (503).
    Closed,
    /// Serve it without counting it.
    Open,
}

impl WhenUnreachable {
    /// As written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            WhenUnreachable::Closed => "closed",
            WhenUnreachable::Open => "open",
        }
    }
}

/// Validated `[state]`.
#[derive(Debug, Clone, PartialEq)]
pub struct StateSettings {
    /// Redis, when budgets and rate limits are shared; `None` counts them in the process.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key.
    pub key_prefix: String,
    /// The longest one Redis call may take.
    pub timeout: Duration,
    /// Budgets while Redis is unreachable.
    pub budgets_when_unreachable: WhenUnreachable,
    /// Rate limits while Redis is unreachable.
    pub rate_limits_when_unreachable: WhenUnreachable,
    /// The budget share after which requests route one tier cheaper.
    pub downshift_at: f64,
}

impl Default for StateSettings {
    fn default() -> Self {
        StateSettings {
            redis_url: None,
            key_prefix: "triage".to_owned(),
            timeout: Duration::from_millis(250),
            budgets_when_unreachable: WhenUnreachable::Closed,
            rate_limits_when_unreachable: WhenUnreachable::Open,
            downshift_at: 0.8,
        }
    }
}

pub(crate) fn validate(source: &Source<'_>, raw: RawState) -> Result<StateSettings, ConfigError> {
    let defaults = StateSettings::default();
    let redis_url = match raw.redis_url {
        Some(url) => {
            let text = url.get_ref().trim();
            if !(text.starts_with("redis://")
                || text.starts_with("rediss://")
                || text.starts_with("redis+unix://")
                || text.starts_with("unix://"))
            {
                return Err(invalid(
                    source,
                    &url.span(),
                    "state.redis_url",
                    "a Redis URL starts with redis:// (or rediss://, unix://)",
                ));
            }
            Some(text.to_owned())
        }
        None => None,
    };
    let key_prefix = match raw.key_prefix {
        Some(prefix) if prefix.get_ref().trim().is_empty() || prefix.get_ref().contains(' ') => {
            return Err(invalid(
                source,
                &prefix.span(),
                "state.key_prefix",
                "a key prefix is one word without spaces",
            ));
        }
        Some(prefix) => prefix.into_inner(),
        None => defaults.key_prefix,
    };
    let timeout = match raw.timeout_ms {
        Some(value) if *value.get_ref() == 0 => {
            return Err(invalid(
                source,
                &value.span(),
                "state.timeout_ms",
                "must be greater than zero",
            ));
        }
        Some(value) => Duration::from_millis(value.into_inner()),
        None => defaults.timeout,
    };
    let policy = |value: Option<Spanned<String>>, key: &str, default: WhenUnreachable| match value {
        None => Ok(default),
        Some(value) => match value.get_ref().as_str() {
            "closed" => Ok(WhenUnreachable::Closed),
            "open" => Ok(WhenUnreachable::Open),
            other => Err(invalid(
                source,
                &value.span(),
                key,
                format!("`{other}` is neither `closed` nor `open`"),
            )),
        },
    };
    let downshift_at = match raw.downshift_at {
        Some(value) => crate::sections::unit_interval(source, &value, "state.downshift_at")?,
        None => defaults.downshift_at,
    };
    Ok(StateSettings {
        redis_url,
        key_prefix,
        timeout,
        budgets_when_unreachable: policy(
            raw.budgets_when_unreachable,
            "state.budgets_when_unreachable",
            defaults.budgets_when_unreachable,
        )?,
        rate_limits_when_unreachable: policy(
            raw.rate_limits_when_unreachable,
            "state.rate_limits_when_unreachable",
            defaults.rate_limits_when_unreachable,
        )?,
        downshift_at,
    })
}
