//! The `[fallback]` section of `triage.toml` and its validated form.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use triage_providers::RetryPolicy;
use triage_types::RouteClass;

use crate::checks::FallbackConfigError;
use crate::{BreakerConfig, ChecksConfig, QualityChecks};

/// `[fallback]` as written in `triage.toml`. Every field has a default.
///
/// ```toml
/// [fallback]
/// max_attempts = 6
/// deadline_ms = 300000
/// retries_per_model = 1
///
/// [fallback.stream]
/// holdback_chars = 80
///
/// [fallback.breaker]
/// failure_rate_percent = 50
/// minimum_requests = 20
///
/// [fallback.checks]
/// refusal_patterns = ["^i can'?t help"]
///
/// [fallback.routes.extract]     # per-class overrides of [fallback.checks]
/// min_chars = 1
///
/// [fallback.aliases.cheap-json] # per-alias overrides, on top of the class's
/// json = true
/// ```
///
/// The low-confidence escalation is a routing decision, set by `[routing] low_confidence`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FallbackConfig {
    /// The most provider calls for one request, retries and judge calls included. Default 6.
    pub max_attempts: u32,
    /// The overall deadline for one request in milliseconds, a streamed answer included.
    /// Default 300 000.
    pub deadline_ms: u64,
    /// The longest one non-streaming call (or one whole stream) may take, in milliseconds.
    /// Default 240 000: long answers take minutes; a provider that never answers is caught
    /// sooner by the provider client's own time-to-first-token limit.
    pub attempt_timeout_ms: u64,
    /// The longest wait for a stream's first event, in milliseconds. Default 30 000.
    pub first_token_timeout_ms: u64,
    /// Retries of the same model after a retryable error (rate limit, overload, 5xx, timeout,
    /// connection) before failing over. Default 1.
    pub retries_per_model: u32,
    /// The first backoff ceiling in milliseconds; it doubles each retry (full jitter).
    /// Default 250.
    pub backoff_base_ms: u64,
    /// The longest wait before a retry, `Retry-After` included, in milliseconds; a provider
    /// asking for longer is failed over instead. Default 10 000.
    pub max_retry_wait_ms: u64,
    /// How much of a stream is held back for the early checks.
    pub stream: StreamConfig,
    /// Circuit breakers.
    pub breaker: BreakerConfig,
    /// The quality checks for every route (routes may override fields).
    pub checks: ChecksConfig,
    /// Per-class overrides of `checks` (`[fallback.routes.<class>]`): only the fields set
    /// there change.
    pub routes: BTreeMap<RouteClass, ChecksConfig>,
    /// Per-alias overrides (`[fallback.aliases.<alias>]`), applied over the class's checks
    /// for requests addressed to that route alias.
    pub aliases: BTreeMap<String, ChecksConfig>,
}

impl Default for FallbackConfig {
    fn default() -> Self {
        FallbackConfig {
            max_attempts: 6,
            deadline_ms: 300_000,
            attempt_timeout_ms: 240_000,
            first_token_timeout_ms: 30_000,
            retries_per_model: 1,
            backoff_base_ms: 250,
            max_retry_wait_ms: 10_000,
            stream: StreamConfig::default(),
            breaker: BreakerConfig::default(),
            checks: ChecksConfig::default(),
            routes: BTreeMap::new(),
            aliases: BTreeMap::new(),
        }
    }
}

/// `[fallback.stream]`: the held-back head of a streamed answer.
///
/// Nothing reaches the caller until the answer has non-empty text and either
/// `holdback_chars` characters or (with `holdback_until_sentence`) a complete first sentence,
/// whichever comes first; the early checks (refusal, JSON shape) then run on that head. A
/// failure up to that point falls back to the next model without the caller noticing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// Characters to hold back. Default 80; `0` releases at the first non-empty text.
    pub holdback_chars: usize,
    /// Release at the end of the first sentence if it comes before `holdback_chars`.
    /// Default `true`.
    pub holdback_until_sentence: bool,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            holdback_chars: 80,
            holdback_until_sentence: true,
        }
    }
}

/// [`FallbackConfig`] once validated: limits as durations, and every route's quality checks
/// compiled (so a request never meets a bad pattern).
#[derive(Debug, Clone)]
pub struct FallbackSettings {
    /// The most provider calls for one request.
    pub max_attempts: u32,
    /// The overall deadline.
    pub deadline: Duration,
    /// The longest one call may take.
    pub attempt_timeout: Duration,
    /// The longest wait for a stream's first event.
    pub first_token_timeout: Duration,
    /// Retries per model and their backoff.
    pub retry: RetryPolicy,
    /// The stream hold-back.
    pub stream: StreamConfig,
    /// The breaker settings.
    pub breaker: BreakerConfig,
    /// The section as written, for `triage config check`.
    pub config: FallbackConfig,
    /// The compiled `[fallback.checks]`.
    default_checks: QualityChecks,
    /// The compiled checks of each class with an override.
    class_checks: BTreeMap<RouteClass, QualityChecks>,
    /// The compiled checks of each alias with an override, per class.
    alias_checks: BTreeMap<String, BTreeMap<Option<RouteClass>, QualityChecks>>,
}

impl Default for FallbackSettings {
    fn default() -> Self {
        // The defaults are valid by construction (checked by a test); should that ever break,
        // the defaults fall back to the built-in checks rather than panic.
        FallbackSettings::from_config(&FallbackConfig::default()).unwrap_or_else(|error| {
            tracing::error!(%error, "the default [fallback] settings do not validate");
            FallbackSettings::build(&FallbackConfig::default(), QualityChecks::none())
        })
    }
}

impl FallbackSettings {
    /// Validates the raw section: positive limits and compilable checks for every route and
    /// alias. The error names the key within `[fallback]`.
    pub fn from_config(config: &FallbackConfig) -> Result<FallbackSettings, FallbackConfigError> {
        let invalid = |key: &str, message: &str| {
            Err(FallbackConfigError {
                key: key.to_owned(),
                message: message.to_owned(),
            })
        };
        if config.max_attempts == 0 {
            return invalid("max_attempts", "must be at least 1");
        }
        for (key, value) in [
            ("deadline_ms", config.deadline_ms),
            ("attempt_timeout_ms", config.attempt_timeout_ms),
            ("first_token_timeout_ms", config.first_token_timeout_ms),
        ] {
            if value == 0 {
                return invalid(key, "must be positive");
            }
        }
        if let Some((key, message)) = config.breaker.invalid_field() {
            return invalid(&format!("breaker.{key}"), message);
        }
        let default_checks =
            QualityChecks::from_config(&config.checks).map_err(|error| error.under("checks"))?;
        let mut settings = FallbackSettings::build(config, default_checks);
        for (class, route) in &config.routes {
            let checks = QualityChecks::from_config(&config.checks.merged_with(route))
                .map_err(|error| error.under(&format!("routes.{class}")))?;
            settings.class_checks.insert(*class, checks);
        }
        for (alias, overrides) in &config.aliases {
            let mut by_class = BTreeMap::new();
            let classes = std::iter::once(None).chain(RouteClass::ALL.into_iter().map(Some));
            for class in classes {
                let base = match class.and_then(|class| config.routes.get(&class)) {
                    Some(route) => config.checks.merged_with(route),
                    None => config.checks.clone(),
                };
                let checks = QualityChecks::from_config(&base.merged_with(overrides))
                    .map_err(|error| error.under(&format!("aliases.{alias}")))?;
                by_class.insert(class, checks);
            }
            settings.alias_checks.insert(alias.clone(), by_class);
        }
        Ok(settings)
    }

    fn build(config: &FallbackConfig, default_checks: QualityChecks) -> FallbackSettings {
        FallbackSettings {
            max_attempts: config.max_attempts,
            deadline: Duration::from_millis(config.deadline_ms),
            attempt_timeout: Duration::from_millis(config.attempt_timeout_ms),
            first_token_timeout: Duration::from_millis(config.first_token_timeout_ms),
            retry: RetryPolicy {
                max_retries: config.retries_per_model,
                base_delay: Duration::from_millis(config.backoff_base_ms),
                max_delay: Duration::from_millis(config.max_retry_wait_ms),
            },
            stream: config.stream,
            breaker: config.breaker,
            config: config.clone(),
            default_checks,
            class_checks: BTreeMap::new(),
            alias_checks: BTreeMap::new(),
        }
    }

    /// The checks for a request: `[fallback.checks]`, with `[fallback.routes.<class>]` on top
    /// when the request has a class, and `[fallback.aliases.<alias>]` on top of that when it
    /// was addressed to a route alias. Compiled once, at validation.
    pub fn checks(&self, class: Option<RouteClass>, alias: Option<&str>) -> &QualityChecks {
        if let Some(by_class) = alias.and_then(|alias| self.alias_checks.get(alias))
            && let Some(checks) = by_class.get(&class)
        {
            return checks;
        }
        class
            .and_then(|class| self.class_checks.get(&class))
            .unwrap_or(&self.default_checks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_parse_from_toml() {
        assert!(FallbackSettings::from_config(&FallbackConfig::default()).is_ok());
        let config: FallbackConfig = toml::from_str(
            "max_attempts = 3\n[stream]\nholdback_chars = 10\n[checks]\nmin_chars = 4\n[checks.judge]\nmodel = \"m\"\n[routes.extract]\nmin_chars = 1\n[aliases.short]\nmin_chars = 9\n",
        )
        .unwrap();
        assert_eq!(config.max_attempts, 3);
        assert_eq!(config.stream.holdback_chars, 10);
        assert!(config.stream.holdback_until_sentence);
        let settings = FallbackSettings::from_config(&config).unwrap();
        let request = triage_types::ChatRequest::from_prompt("q");
        let min_chars = |class, alias| settings.checks(class, alias).min_chars_for(&request, None);
        assert_eq!(min_chars(Some(RouteClass::Extract), None), 1);
        assert_eq!(min_chars(Some(RouteClass::Faq), None), 4);
        assert_eq!(min_chars(None, None), 4);
        assert_eq!(min_chars(Some(RouteClass::Extract), Some("short")), 9);
        assert_eq!(min_chars(None, Some("short")), 9);
        assert_eq!(min_chars(Some(RouteClass::Faq), Some("unknown")), 4);
    }

    #[test]
    fn rejects_bad_values_and_unknown_keys_naming_the_key() {
        assert!(toml::from_str::<FallbackConfig>("max_attempt = 3").is_err());
        assert!(toml::from_str::<FallbackConfig>("low_confidence_threshold = 0.4").is_err());
        let cases = [
            (
                "max_attempts = 0",
                "fallback.max_attempts: must be at least 1",
            ),
            ("deadline_ms = 0", "fallback.deadline_ms: must be positive"),
            (
                "[breaker]\nfailure_rate_percent = 0",
                "fallback.breaker.failure_rate_percent: must be between 1 and 100",
            ),
            (
                "[breaker]\nminimum_requests = 0",
                "fallback.breaker.minimum_requests: must be at least 1",
            ),
            (
                "[checks]\nrefusal_patterns = [\"(\"]",
                "fallback.checks.refusal_patterns: invalid refusal pattern",
            ),
            (
                "[routes.faq]\nrefusal_patterns = [\"[\"]",
                "fallback.routes.faq.refusal_patterns: invalid refusal pattern",
            ),
            (
                "[aliases.x]\njson_schema = { type = 5 }",
                "fallback.aliases.x.json_schema: invalid JSON schema",
            ),
        ];
        for (text, expected) in cases {
            let config: FallbackConfig = toml::from_str(text).unwrap();
            let error = FallbackSettings::from_config(&config).unwrap_err();
            assert!(error.to_string().starts_with(expected), "{text}: {error}");
        }
    }
}
