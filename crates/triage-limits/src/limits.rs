//! Admission and settlement: the two steps every request of a limited key goes through.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{LimitsError, Refusal};
use crate::key::ClientKey;
use crate::store::{Ask, Limit, Memory, Settlement, Shared, Store, Verdict};
use crate::window::{BudgetWindow, RateKind, Windows};

/// What to do with a request when the shared store cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenUnreachable {
    /// Refuse it (the gateway answers 503).
    Closed,
    /// Serve it uncounted.
    Open,
}

/// How limits are counted and enforced.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitsOptions {
    /// Prefix of every store key.
    pub key_prefix: String,
    /// The longest one store call may take.
    pub timeout: Duration,
    /// Keys with a budget, while the store is unreachable.
    pub budgets_when_unreachable: WhenUnreachable,
    /// Keys with only rate limits, while the store is unreachable.
    pub rate_limits_when_unreachable: WhenUnreachable,
    /// The share of a budget after which [`Admission::downshift`] says so.
    pub downshift_at: f64,
}

impl Default for LimitsOptions {
    fn default() -> Self {
        LimitsOptions {
            key_prefix: "triage".to_owned(),
            timeout: Duration::from_millis(250),
            budgets_when_unreachable: WhenUnreachable::Closed,
            rate_limits_when_unreachable: WhenUnreachable::Open,
            downshift_at: 0.8,
        }
    }
}

/// What a request is expected to use, reserved at admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Estimate {
    /// The plan's estimated cost, US dollars.
    pub cost_usd: Decimal,
    /// Its estimated input and output tokens.
    pub tokens: u64,
}

/// What a request really used, settled after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Spent {
    /// Its cost over every attempt, US dollars.
    pub cost_usd: Decimal,
    /// Its input and output tokens over every attempt.
    pub tokens: u64,
}

/// An admitted request: what was reserved for it, to be settled once it ends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Admission {
    reserved: Option<Reserved>,
    downshift: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Reserved {
    tokens: Option<(String, i64)>,
    day: Option<String>,
    month: Option<String>,
    cost: i64,
}

impl Admission {
    /// An admission that reserved nothing (no limits apply).
    pub fn unlimited() -> Admission {
        Admission::default()
    }

    /// Set when the key has spent at least the configured share of a budget: why it should be
    /// routed cheaper, in words (`daily budget 85% spent ($4.25 of $5)`).
    pub fn downshift(&self) -> Option<&str> {
        self.downshift.as_deref()
    }
}

/// Counters of what the limits have done, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LimitsStats {
    /// Requests refused for a spent budget.
    pub budget_refusals: u64,
    /// Requests refused for a rate limit.
    pub rate_refusals: u64,
    /// Store calls that failed (Redis unreachable or too slow), each logged.
    pub store_errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    budget_refusals: AtomicU64,
    rate_refusals: AtomicU64,
    store_errors: AtomicU64,
}

/// Enforces client keys' budgets and rate limits. Cheap to clone; clones share the store.
#[derive(Debug, Clone)]
pub struct Limits {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    options: LimitsOptions,
    counters: Counters,
}

impl Limits {
    /// Limits counted in this process: exact for one replica, forgotten at exit.
    pub fn in_process(options: LimitsOptions) -> Limits {
        Limits::with_store(Store::Memory(Memory::default()), options)
    }

    /// Limits counted in Redis at `url`, shared by every replica using the same URL and key
    /// prefix. The connection is made at the first request and remade after failures.
    pub fn redis(url: &str, options: LimitsOptions) -> Result<Limits, LimitsError> {
        let client = redis::Client::open(url).map_err(|source| LimitsError::RedisUrl {
            url: triage_types::url::redact_password(url),
            source,
        })?;
        let shared = Shared::new(client, options.timeout);
        Ok(Limits::with_store(Store::Redis(Box::new(shared)), options))
    }

    fn with_store(store: Store, options: LimitsOptions) -> Limits {
        Limits {
            inner: Arc::new(Inner {
                store,
                options,
                counters: Counters::default(),
            }),
        }
    }

    /// `in-process` or `redis`, for banners and status.
    pub fn backend(&self) -> &'static str {
        match self.inner.store {
            Store::Memory(_) => "in-process",
            Store::Redis(_) => "redis",
        }
    }

    /// The options in force.
    pub fn options(&self) -> &LimitsOptions {
        &self.inner.options
    }

    /// What the limits have done so far.
    pub fn stats(&self) -> LimitsStats {
        let counters = &self.inner.counters;
        LimitsStats {
            budget_refusals: counters.budget_refusals.load(Ordering::Relaxed),
            rate_refusals: counters.rate_refusals.load(Ordering::Relaxed),
            store_errors: counters.store_errors.load(Ordering::Relaxed),
        }
    }

    /// Checks `key`'s windows at `now` and reserves `estimate` in them, or says why not. A
    /// key without limits is admitted without a store call.
    pub async fn admit(
        &self,
        key: &ClientKey,
        estimate: Estimate,
        now: OffsetDateTime,
    ) -> Result<Admission, Refusal> {
        let limits = &key.limits;
        if limits.is_unlimited() {
            return Ok(Admission::unlimited());
        }
        let windows = Windows::at(now);
        let prefix = &self.inner.options.key_prefix;
        let key_of = |window: &str| windows.key(prefix, &key.name, window);
        let cap = |budget: Option<Decimal>| budget.map_or(0, micros_floor).max(0);
        let limit = |value: Option<u64>| value.map_or(0, |v| i64::try_from(v).unwrap_or(i64::MAX));
        let cost = micros_ceil(estimate.cost_usd).max(0);
        let token_estimate = i64::try_from(estimate.tokens).unwrap_or(i64::MAX);
        let ask = Ask {
            requests: (key_of("rpm"), limit(limits.requests_per_minute)),
            tokens: (key_of("tpm"), limit(limits.tokens_per_minute)),
            day: (key_of("day"), cap(limits.daily_budget_usd)),
            month: (key_of("month"), cap(limits.monthly_budget_usd)),
            cost,
            token_estimate,
        };
        let verdict = match self.inner.store.admit(&ask).await {
            Ok(verdict) => verdict,
            Err(reason) => return self.unreachable(key, reason),
        };
        let counters = &self.inner.counters;
        match verdict {
            Verdict::Admitted { day, month } => {
                let downshift = self.downshift(key, day - cost, month - cost);
                Ok(Admission {
                    reserved: Some(Reserved {
                        tokens: (ask.tokens.1 > 0).then_some((ask.tokens.0, token_estimate)),
                        day: (ask.day.1 > 0).then_some(ask.day.0),
                        month: (ask.month.1 > 0).then_some(ask.month.0),
                        cost,
                    }),
                    downshift,
                })
            }
            Verdict::Refused { limit, used } => match limit {
                Limit::Day | Limit::Month => {
                    counters.budget_refusals.fetch_add(1, Ordering::Relaxed);
                    let (window, cap) = match limit {
                        Limit::Day => (BudgetWindow::Day, limits.daily_budget_usd),
                        _ => (BudgetWindow::Month, limits.monthly_budget_usd),
                    };
                    let resets = windows.reset(window);
                    Err(Refusal::BudgetExceeded {
                        key: key.name.clone(),
                        window,
                        cap: cap.unwrap_or_default(),
                        spent: from_micros(used),
                        resets_at: resets.format(&Rfc3339).unwrap_or_default(),
                        retry_after_s: windows.seconds_to(resets),
                    })
                }
                Limit::Requests | Limit::Tokens => {
                    counters.rate_refusals.fetch_add(1, Ordering::Relaxed);
                    let (kind, per_minute) = match limit {
                        Limit::Requests => (RateKind::Requests, limits.requests_per_minute),
                        _ => (RateKind::Tokens, limits.tokens_per_minute),
                    };
                    Err(Refusal::RateLimited {
                        key: key.name.clone(),
                        kind,
                        limit: per_minute.unwrap_or_default(),
                        retry_after_s: windows.seconds_to_next_minute(),
                    })
                }
            },
        }
    }

    /// Replaces an admission's reservation by what the request really used. In Redis this
    /// runs in the background (the request's answer does not wait for it); a failure is
    /// logged and counted, and the reservation then stands.
    pub fn settle(&self, admission: &Admission, spent: Spent) {
        let Some(reserved) = &admission.reserved else {
            return;
        };
        let cost = micros_ceil(spent.cost_usd).max(0) - reserved.cost;
        let mut settlement: Settlement = Vec::new();
        if let Some((key, estimate)) = &reserved.tokens {
            let tokens = i64::try_from(spent.tokens).unwrap_or(i64::MAX);
            settlement.push((key.clone(), tokens - estimate));
        }
        for key in [&reserved.day, &reserved.month].into_iter().flatten() {
            settlement.push((key.clone(), cost));
        }
        settlement.retain(|(_, delta)| *delta != 0);
        if settlement.is_empty() {
            return;
        }
        match &self.inner.store {
            Store::Memory(memory) => memory.settle(&settlement, std::time::Instant::now()),
            Store::Redis(_) => {
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    tracing::warn!(
                        "no async runtime to settle a request's spend; its estimate stands"
                    );
                    return;
                };
                let limits = self.clone();
                runtime.spawn(async move {
                    if let Store::Redis(shared) = &limits.inner.store
                        && let Err(reason) = shared.settle(&settlement).await
                    {
                        limits.store_failed(&reason);
                    }
                });
            }
        }
    }

    fn downshift(&self, key: &ClientKey, day: i64, month: i64) -> Option<String> {
        let threshold = self.inner.options.downshift_at;
        if threshold >= 1.0 {
            return None;
        }
        let windows = [
            (BudgetWindow::Day, key.limits.daily_budget_usd, day),
            (BudgetWindow::Month, key.limits.monthly_budget_usd, month),
        ];
        windows
            .into_iter()
            .filter_map(|(window, cap, used)| {
                let cap = cap?;
                let share = from_micros(used).to_f64()? / cap.to_f64()?;
                (share >= threshold).then_some((window, cap, used, share))
            })
            .max_by(|a, b| a.3.total_cmp(&b.3))
            .map(|(window, cap, used, share)| {
                format!(
                    "{window} budget {:.0}% spent (${} of ${cap})",
                    share * 100.0,
                    from_micros(used).round_dp(4).normalize()
                )
            })
    }

    fn unreachable(&self, key: &ClientKey, reason: String) -> Result<Admission, Refusal> {
        self.store_failed(&reason);
        let options = &self.inner.options;
        let (what, policy) = if key.limits.has_budget() {
            ("budget", options.budgets_when_unreachable)
        } else {
            ("rate limit", options.rate_limits_when_unreachable)
        };
        match policy {
            WhenUnreachable::Closed => Err(Refusal::Unavailable {
                key: key.name.clone(),
                what,
                reason,
            }),
            WhenUnreachable::Open => Ok(Admission::unlimited()),
        }
    }

    fn store_failed(&self, reason: &str) {
        let errors = self
            .inner
            .counters
            .store_errors
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        // Every failure is counted; the log says so at 1, 2, 4, 8, … to stay readable while
        // Redis is down.
        if errors.is_power_of_two() {
            tracing::error!(%reason, errors, "the limits store (Redis) cannot be reached");
        }
    }
}

fn micros_ceil(usd: Decimal) -> i64 {
    (usd * Decimal::from(1_000_000))
        .ceil()
        .to_i64()
        .unwrap_or(i64::MAX)
}

fn micros_floor(usd: Decimal) -> i64 {
    (usd * Decimal::from(1_000_000))
        .floor()
        .to_i64()
        .unwrap_or(i64::MAX)
}

fn from_micros(micros: i64) -> Decimal {
    Decimal::new(micros, 6).normalize()
}
