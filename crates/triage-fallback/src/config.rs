//! The `[fallback]` section of `triage.toml` and its validated form.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use triage_providers::RetryPolicy;
use triage_types::RouteClass;

use crate::{BreakerConfig, ChecksConfig, FallbackError, QualityChecks};

/// `[fallback]` as written in `triage.toml`. Every field has a default.
///
/// ```toml
/// [fallback]
/// max_attempts = 6
/// deadline_ms = 300000
/// retries_per_model = 1
/// low_confidence_threshold = 0.4
///
/// [fallback.stream]
/// holdback_chars = 80
///
/// [fallback.breaker]
/// failure_threshold = 5
///
/// [fallback.checks]
/// refusal_patterns = ["^i can'?t help"]
///
/// [fallback.routes.extract]     # per-class overrides of [fallback.checks]
/// min_chars = 1
/// ```
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
    /// Below this classifier confidence (0 to 1) the plan starts one tier higher; `0` turns it
    /// off. Default 0.4.
    pub low_confidence_threshold: f32,
    /// How much of a stream is held back for the early checks.
    pub stream: StreamConfig,
    /// Circuit breakers.
    pub breaker: BreakerConfig,
    /// The quality checks for every route (routes may override fields).
    pub checks: ChecksConfig,
    /// Per-class overrides of `checks` (`[fallback.routes.<class>]`): only the fields set
    /// there change.
    pub routes: BTreeMap<RouteClass, ChecksConfig>,
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
            low_confidence_threshold: 0.4,
            stream: StreamConfig::default(),
            breaker: BreakerConfig::default(),
            checks: ChecksConfig::default(),
            routes: BTreeMap::new(),
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

/// [`FallbackConfig`] once validated.
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
    /// The low-confidence threshold (0 = off).
    pub low_confidence_threshold: f32,
    /// The stream hold-back.
    pub stream: StreamConfig,
    /// The breaker settings.
    pub breaker: BreakerConfig,
    /// The `[fallback.checks]` defaults, kept raw so routes can override fields.
    pub checks: ChecksConfig,
    /// The per-class overrides.
    pub routes: BTreeMap<RouteClass, ChecksConfig>,
}

impl Default for FallbackSettings {
    fn default() -> Self {
        // The defaults are valid by construction (checked by a test).
        let config = FallbackConfig::default();
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
            low_confidence_threshold: config.low_confidence_threshold,
            stream: config.stream,
            breaker: config.breaker,
            checks: config.checks,
            routes: config.routes,
        }
    }
}

impl FallbackSettings {
    /// Validates the raw section: positive limits, a threshold within 0 to 1, compilable
    /// checks.
    pub fn from_config(config: &FallbackConfig) -> Result<FallbackSettings, FallbackError> {
        let invalid = |message: &str| {
            Err(FallbackError::Config {
                message: message.to_owned(),
            })
        };
        if config.max_attempts == 0 {
            return invalid("max_attempts must be at least 1");
        }
        if config.deadline_ms == 0 || config.attempt_timeout_ms == 0 {
            return invalid("deadline_ms and attempt_timeout_ms must be positive");
        }
        if config.first_token_timeout_ms == 0 {
            return invalid("first_token_timeout_ms must be positive");
        }
        if !(0.0..=1.0).contains(&config.low_confidence_threshold) {
            return invalid("low_confidence_threshold must be between 0 and 1");
        }
        QualityChecks::from_config(&config.checks)?;
        for (class, route) in &config.routes {
            QualityChecks::from_config(&config.checks.merged_with(route)).map_err(|error| {
                let message = match error {
                    FallbackError::Config { message } => message,
                    other => other.to_string(),
                };
                FallbackError::Config {
                    message: format!("[fallback.routes.{class}]: {message}"),
                }
            })?;
        }
        Ok(FallbackSettings {
            max_attempts: config.max_attempts,
            deadline: Duration::from_millis(config.deadline_ms),
            attempt_timeout: Duration::from_millis(config.attempt_timeout_ms),
            first_token_timeout: Duration::from_millis(config.first_token_timeout_ms),
            retry: RetryPolicy {
                max_retries: config.retries_per_model,
                base_delay: Duration::from_millis(config.backoff_base_ms),
                max_delay: Duration::from_millis(config.max_retry_wait_ms),
            },
            low_confidence_threshold: config.low_confidence_threshold,
            stream: config.stream,
            breaker: config.breaker,
            checks: config.checks.clone(),
            routes: config.routes.clone(),
        })
    }

    /// The compiled checks for a class: `[fallback.checks]` with `[fallback.routes.<class>]`
    /// on top.
    pub fn checks_for_class(
        &self,
        class: Option<RouteClass>,
    ) -> Result<QualityChecks, FallbackError> {
        self.checks_for(class.and_then(|class| self.routes.get(&class)))
    }

    /// The compiled checks for a route: `[fallback.checks]` with the route's overrides on top.
    pub fn checks_for(&self, route: Option<&ChecksConfig>) -> Result<QualityChecks, FallbackError> {
        match route {
            Some(route) => QualityChecks::from_config(&self.checks.merged_with(route)),
            None => QualityChecks::from_config(&self.checks),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_parse_from_toml() {
        assert!(FallbackSettings::from_config(&FallbackConfig::default()).is_ok());
        let config: FallbackConfig = toml::from_str(
            "max_attempts = 3\n[stream]\nholdback_chars = 10\n[checks]\nmin_chars = 4\n[checks.judge]\nmodel = \"m\"\n[routes.extract]\nmin_chars = 1\n",
        )
        .unwrap();
        assert_eq!(config.max_attempts, 3);
        assert_eq!(config.stream.holdback_chars, 10);
        assert!(config.stream.holdback_until_sentence);
        let settings = FallbackSettings::from_config(&config).unwrap();
        let route = ChecksConfig {
            min_chars: Some(9),
            ..ChecksConfig::default()
        };
        let request = triage_types::ChatRequest::from_prompt("q");
        let extract = settings
            .checks_for_class(Some(RouteClass::Extract))
            .unwrap();
        assert_eq!(extract.min_chars_for(&request, None), 1);
        let faq = settings.checks_for_class(Some(RouteClass::Faq)).unwrap();
        assert_eq!(faq.min_chars_for(&request, None), 4);
        assert_eq!(
            settings
                .checks_for(None)
                .unwrap()
                .min_chars_for(&request, None),
            4
        );
        assert_eq!(
            settings
                .checks_for(Some(&route))
                .unwrap()
                .min_chars_for(&request, None),
            9
        );
    }

    #[test]
    fn rejects_bad_values_and_unknown_keys() {
        assert!(toml::from_str::<FallbackConfig>("max_attempt = 3").is_err());
        let config = FallbackConfig {
            low_confidence_threshold: 1.5,
            ..FallbackConfig::default()
        };
        let error = FallbackSettings::from_config(&config).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid fallback configuration: low_confidence_threshold must be between 0 and 1"
        );
    }
}
