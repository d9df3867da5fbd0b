//! Retries with exponential backoff and full jitter that honour the provider's `Retry-After`.

use std::future::Future;
use std::time::{Duration, SystemTime};

use rand::Rng;

use crate::ProviderError;

/// How often and how patiently to retry a retryable error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 = no retry).
    pub max_retries: u32,
    /// The first backoff ceiling; it doubles each retry.
    pub base_delay: Duration,
    /// No single wait is longer than this, `Retry-After` included: a provider asking for more
    /// is better failed over than waited for.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub const NONE: RetryPolicy = RetryPolicy {
        max_retries: 0,
        base_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    };

    /// How long to wait before retry number `retry` (0-based) after `error`, or `None` when the
    /// error is not retryable or the retries are used up.
    ///
    /// With a `Retry-After`, the wait is exactly that (capped at `max_delay`); otherwise it is
    /// drawn uniformly from `[0, min(max_delay, base_delay * 2^retry)]` ("full jitter").
    pub fn delay_for(&self, retry: u32, error: &ProviderError) -> Option<Duration> {
        if retry >= self.max_retries || !error.is_retryable() {
            return None;
        }
        if let Some(after) = error.retry_after() {
            return Some(after.min(self.max_delay));
        }
        let ceiling = self
            .base_delay
            .saturating_mul(1_u32.checked_shl(retry.min(30)).unwrap_or(u32::MAX))
            .min(self.max_delay);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Some(Duration::ZERO);
        }
        Some(Duration::from_nanos(rand::rng().random_range(0..=nanos)))
    }

    /// Runs `attempt` until it succeeds, fails with a non-retryable error, or the retries run
    /// out; returns the last result and how many attempts were made.
    pub async fn run<T, F, Fut>(&self, mut attempt: F) -> (Result<T, ProviderError>, u32)
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let mut retry = 0;
        loop {
            let result = attempt(retry).await;
            let error = match result {
                Ok(value) => return (Ok(value), retry + 1),
                Err(error) => error,
            };
            let Some(delay) = self.delay_for(retry, &error) else {
                return (Err(error), retry + 1);
            };
            tracing::debug!(%error, ?delay, retry, "retrying provider call");
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }
}

/// Parses a `Retry-After` value: delay-seconds (fractions accepted) or an HTTP date, which is
/// measured against `now`. A date in the past means "now" (zero).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        if seconds.is_finite() && seconds >= 0.0 {
            return Some(Duration::from_secs_f64(seconds.min(86_400.0)));
        }
        return None;
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The wait a response's headers ask for: `retry-after-ms` (OpenAI), else `Retry-After`.
pub(crate) fn retry_after_from_headers(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| parse_retry_after(value, SystemTime::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate_limited(retry_after: Option<Duration>) -> ProviderError {
        ProviderError::RateLimited {
            provider: "p".into(),
            retry_after,
            message: String::new(),
        }
    }

    #[test]
    fn parses_seconds_and_dates() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(" 0.5 ", now),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn backoff_honours_retry_after_and_caps() {
        let policy = RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        let told = rate_limited(Some(Duration::from_millis(700)));
        assert_eq!(policy.delay_for(0, &told), Some(Duration::from_millis(700)));
        let greedy = rate_limited(Some(Duration::from_secs(60)));
        assert_eq!(policy.delay_for(0, &greedy), Some(Duration::from_secs(1)));
        for retry in 0..3 {
            let delay = policy.delay_for(retry, &rate_limited(None)).unwrap();
            assert!(delay <= Duration::from_millis(100) * 2_u32.pow(retry));
        }
        assert_eq!(policy.delay_for(3, &rate_limited(None)), None);
        let fatal = ProviderError::BadRequest {
            provider: "p".into(),
            message: String::new(),
        };
        assert_eq!(policy.delay_for(0, &fatal), None);
    }

    #[tokio::test]
    async fn run_retries_until_success() {
        let policy = RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        };
        let (result, attempts) = policy
            .run(|retry| async move {
                if retry < 2 {
                    Err(rate_limited(None))
                } else {
                    Ok(retry)
                }
            })
            .await;
        assert_eq!(result, Ok(2));
        assert_eq!(attempts, 3);
    }
}
