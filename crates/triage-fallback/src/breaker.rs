//! Circuit breakers per provider and per model that measure provider health: each opens when
//! the share of health failures (connection errors, timeouts, 429, 5xx) among the calls of a
//! sliding window passes a rate, once the window holds a minimum number of calls (as Envoy's
//! outlier detection and Resilience4j do); skip while open, let one probe through after a
//! cool-down, close on its success.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// The breaker settings (`[fallback.breaker]` in `triage.toml`).
///
/// A breaker judges only provider health: a client error (any 4xx but 429) or a failed
/// quality check never counts, and one request counts at most once per provider however many
/// times it was retried or failed over there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Whether breakers run at all. Default `true`.
    pub enabled: bool,
    /// The share of health failures among the calls in the window, in percent (1 to 100),
    /// at which a breaker opens. Default 50.
    pub failure_rate_percent: u8,
    /// The fewest calls the window must hold before its failure rate is judged, so a few
    /// failures on a quiet provider do not open it. At least 1. Default 20.
    pub minimum_requests: u32,
    /// The sliding window calls are counted in, in milliseconds. Default 30 000.
    pub window_ms: u64,
    /// How long an open breaker stays open before letting one probe through, in
    /// milliseconds. Default 15 000.
    pub cooldown_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            enabled: true,
            failure_rate_percent: 50,
            minimum_requests: 20,
            window_ms: 30_000,
            cooldown_ms: 15_000,
        }
    }
}

impl BreakerConfig {
    /// The first invalid field and why, or `None` when the settings are usable.
    pub fn invalid_field(&self) -> Option<(&'static str, &'static str)> {
        if !(1..=100).contains(&self.failure_rate_percent) {
            return Some(("failure_rate_percent", "must be between 1 and 100"));
        }
        if self.minimum_requests == 0 {
            return Some(("minimum_requests", "must be at least 1"));
        }
        if self.window_ms == 0 {
            return Some(("window_ms", "must be positive"));
        }
        if self.cooldown_ms == 0 {
            return Some(("cooldown_ms", "must be positive"));
        }
        None
    }
}

/// The most calls one breaker's window remembers; older ones are forgotten first.
const MAX_WINDOW_CALLS: usize = 10_000;

/// Where time comes from; tests inject their own.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// Tokio's clock, which tests can pause and advance (`tokio::time::pause`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are skipped until the cool-down ends.
    Open,
    /// The cool-down ended: one probe call may go through; its outcome closes or reopens.
    HalfOpen,
}

/// One breaker's state, for status output and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerSnapshot {
    /// `provider:<id>` or `model:<id>`.
    pub key: String,
    /// Its state now.
    pub state: BreakerState,
    /// Health failures counted in the current window.
    pub failures: u32,
    /// Calls counted in the current window, failures included.
    pub calls: u32,
    /// When it last opened (Unix milliseconds), while open or half-open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_at_unix_ms: Option<u64>,
    /// While open: milliseconds until a probe is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_in_ms: Option<u64>,
}

/// Whether a call may go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Yes.
    Allowed,
    /// Yes, as the probe of a half-open breaker; its outcome decides the breaker's state.
    Probe,
    /// No: this breaker is open (or half-open with its probe already out).
    Open {
        /// The breaker's key.
        key: String,
        /// How long until a probe may go through.
        retry_in: Duration,
    },
}

/// Circuit breakers for every provider and model the executor calls, shared across requests.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: BreakerConfig,
    clock: Arc<dyn Clock>,
    entries: Mutex<BTreeMap<String, Entry>>,
}

#[derive(Debug, Default)]
struct Entry {
    /// The calls of the window, oldest first: when, and whether it was a health failure.
    calls: VecDeque<(Instant, bool)>,
    opened: Option<Opened>,
}

impl Entry {
    /// Forgets the calls that left the window (or overflow it).
    fn trim(&mut self, now: Instant, window: Duration) {
        while self.calls.len() > MAX_WINDOW_CALLS
            || self
                .calls
                .front()
                .is_some_and(|&(at, _)| now.saturating_duration_since(at) >= window)
        {
            self.calls.pop_front();
        }
    }

    fn failures(&self) -> usize {
        self.calls.iter().filter(|&&(_, failed)| failed).count()
    }
}

#[derive(Debug, Clone, Copy)]
struct Opened {
    at: Instant,
    wall: SystemTime,
    /// When the half-open probe was let through, if it was.
    probe_started: Option<Instant>,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        CircuitBreaker::new(BreakerConfig::default())
    }
}

/// The breaker key of a provider.
pub fn provider_key(provider: &str) -> String {
    format!("provider:{provider}")
}

/// The breaker key of a model.
pub fn model_key(model: &str) -> String {
    format!("model:{model}")
}

impl CircuitBreaker {
    /// Breakers on tokio's clock.
    pub fn new(config: BreakerConfig) -> Self {
        CircuitBreaker::with_clock(config, Arc::new(TokioClock))
    }

    /// Breakers on an injected clock.
    pub fn with_clock(config: BreakerConfig, clock: Arc<dyn Clock>) -> Self {
        CircuitBreaker {
            inner: Arc::new(Inner {
                config,
                clock,
                entries: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> BreakerConfig {
        self.inner.config
    }

    /// Whether a call to `model` at `provider` may go ahead; a half-open breaker lets exactly
    /// one probe through per cool-down.
    pub fn admit(&self, provider: &str, model: &str) -> Admission {
        if !self.inner.config.enabled {
            return Admission::Allowed;
        }
        let now = self.inner.clock.now();
        let cooldown = self.cooldown();
        let mut entries = self.lock();
        let keys = [provider_key(provider), model_key(model)];
        // Decide for both keys before changing either, so a refused call takes no probe.
        let mut probes = Vec::new();
        for key in &keys {
            let Some(opened) = entries.get(key).and_then(|entry| entry.opened) else {
                continue;
            };
            let open_until = opened.at + cooldown;
            if now < open_until {
                return Admission::Open {
                    key: key.clone(),
                    retry_in: open_until - now,
                };
            }
            if let Some(started) = opened.probe_started {
                // A probe that never reported back (cancelled) frees the slot after a cool-down.
                if now < started + cooldown {
                    return Admission::Open {
                        key: key.clone(),
                        retry_in: started + cooldown - now,
                    };
                }
            }
            probes.push(key.clone());
        }
        if probes.is_empty() {
            return Admission::Allowed;
        }
        for key in probes {
            if let Some(opened) = entries
                .get_mut(&key)
                .and_then(|entry| entry.opened.as_mut())
            {
                opened.probe_started = Some(now);
            }
        }
        Admission::Probe
    }

    /// Records a successful call: it counts in both windows; a half-open breaker closes and
    /// forgets its window.
    pub fn record_success(&self, provider: &str, model: &str) {
        self.record(provider, model, false);
    }

    /// Records a health failure (connection error, timeout, 429, 5xx; never a client
    /// error): a half-open breaker reopens; a closed one opens once its window holds at
    /// least `minimum_requests` calls of which at least `failure_rate_percent` failed.
    pub fn record_failure(&self, provider: &str, model: &str) {
        self.record(provider, model, true);
    }

    fn record(&self, provider: &str, model: &str, failed: bool) {
        let config = self.inner.config;
        if !config.enabled {
            return;
        }
        let now = self.inner.clock.now();
        let window = Duration::from_millis(config.window_ms);
        let mut entries = self.lock();
        for key in [provider_key(provider), model_key(model)] {
            let entry = entries.entry(key.clone()).or_default();
            let probing = entry
                .opened
                .is_some_and(|opened| opened.probe_started.is_some());
            if !failed {
                if probing {
                    tracing::info!(key, "circuit breaker closed");
                    entry.opened = None;
                    entry.calls.clear();
                }
                // A success from a call started before the breaker opened leaves it open.
                if entry.opened.is_none() {
                    entry.calls.push_back((now, false));
                    entry.trim(now, window);
                }
                continue;
            }
            entry.calls.push_back((now, true));
            entry.trim(now, window);
            let calls = entry.calls.len();
            let failures = entry.failures();
            let trip = entry.opened.is_none()
                && calls >= usize::try_from(config.minimum_requests).unwrap_or(usize::MAX)
                && failures * 100 >= calls * usize::from(config.failure_rate_percent);
            if probing || trip {
                tracing::warn!(key, failures, calls, "circuit breaker open");
                entry.opened = Some(Opened {
                    at: now,
                    wall: SystemTime::now(),
                    probe_started: None,
                });
            }
        }
    }

    /// Every breaker with a health failure in its window, or open, by key.
    pub fn snapshot(&self) -> Vec<BreakerSnapshot> {
        let now = self.inner.clock.now();
        let cooldown = self.cooldown();
        let window = Duration::from_millis(self.inner.config.window_ms);
        let entries = self.lock();
        entries
            .iter()
            .filter_map(|(key, entry)| {
                let recent = entry
                    .calls
                    .iter()
                    .filter(|&&(at, _)| now.saturating_duration_since(at) < window);
                let (calls, failures) = recent
                    .fold((0_usize, 0_usize), |(calls, failures), call| {
                        (calls + 1, failures + usize::from(call.1))
                    });
                if failures == 0 && entry.opened.is_none() {
                    return None;
                }
                let (state, probe_in_ms) = match entry.opened {
                    None => (BreakerState::Closed, None),
                    Some(opened) if now < opened.at + cooldown => (
                        BreakerState::Open,
                        Some(duration_ms(opened.at + cooldown - now)),
                    ),
                    Some(_) => (BreakerState::HalfOpen, None),
                };
                Some(BreakerSnapshot {
                    key: key.clone(),
                    state,
                    failures: u32::try_from(failures).unwrap_or(u32::MAX),
                    calls: u32::try_from(calls).unwrap_or(u32::MAX),
                    opened_at_unix_ms: entry.opened.map(|opened| {
                        duration_ms(opened.wall.duration_since(UNIX_EPOCH).unwrap_or_default())
                    }),
                    probe_in_ms,
                })
            })
            .collect()
    }

    /// The state of one breaker (`provider:<id>` or `model:<id>`); unknown keys are closed.
    pub fn state(&self, key: &str) -> BreakerState {
        self.snapshot()
            .into_iter()
            .find(|snapshot| snapshot.key == key)
            .map_or(BreakerState::Closed, |snapshot| snapshot.state)
    }

    fn cooldown(&self) -> Duration {
        Duration::from_millis(self.inner.config.cooldown_ms)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        // The map stays consistent between statements, so a panic elsewhere leaves it usable.
        self.inner
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock tests move by hand.
    #[derive(Debug)]
    struct ManualClock(Mutex<Instant>);

    impl ManualClock {
        fn advance(&self, by: Duration) {
            let mut now = self.0.lock().unwrap();
            *now += by;
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> Instant {
            *self.0.lock().unwrap()
        }
    }

    /// One step of a breaker script, on provider `p`, model `m` (or `other` for `O`).
    ///
    /// `s` success, `f` failure, `a` admit (its answer is rendered), `O` admit model `other`
    /// of the same provider, `+N` advance the clock N ms.
    fn run(config: BreakerConfig, script: &str) -> String {
        let clock = Arc::new(ManualClock(Mutex::new(Instant::now())));
        let breaker = CircuitBreaker::with_clock(config, clock.clone());
        let mut out = Vec::new();
        for step in script.split_whitespace() {
            match step {
                "s" => breaker.record_success("p", "m"),
                "f" => breaker.record_failure("p", "m"),
                "a" | "O" => {
                    let model = if step == "a" { "m" } else { "other" };
                    out.push(match breaker.admit("p", model) {
                        Admission::Allowed => "allowed".to_owned(),
                        Admission::Probe => "probe".to_owned(),
                        Admission::Open { key, retry_in } => {
                            format!("open({key},{}ms)", retry_in.as_millis())
                        }
                    });
                }
                advance => {
                    let ms: u64 = advance.trim_start_matches('+').parse().unwrap();
                    clock.advance(Duration::from_millis(ms));
                }
            }
        }
        let states = breaker
            .snapshot()
            .iter()
            .map(|s| format!("{}={:?}/{}of{}", s.key, s.state, s.failures, s.calls))
            .collect::<Vec<_>>()
            .join(" ");
        format!("{} | {states}", out.join(" "))
    }

    const SMALL: BreakerConfig = BreakerConfig {
        enabled: true,
        failure_rate_percent: 50,
        minimum_requests: 4,
        window_ms: 1_000,
        cooldown_ms: 500,
    };

    #[test]
    fn breaker_scripts() {
        let cases: &[(&str, BreakerConfig, &str)] = &[
            // Below the minimum volume nothing opens, whatever the rate.
            ("below_minimum_volume", SMALL, "f f f a"),
            // Four calls, half failed: the rate is reached.
            ("rate_reached_opens", SMALL, "s s f f a O"),
            // Four calls, one failed: 25% stays closed, however long it goes on.
            ("rate_below_stays_closed", SMALL, "s s s f s s s f a"),
            // Old calls leave the window: three failures then quiet, then one more.
            ("window_slides", SMALL, "f f f +1000 f a"),
            // After the cool-down exactly one probe goes through; its success closes.
            ("probe_success_closes", SMALL, "f f f f a +500 a a s a"),
            // A failed probe reopens for another cool-down.
            ("probe_failure_reopens", SMALL, "f f f f +500 a f a +500 a"),
            // A probe that never reports back frees the slot after a cool-down.
            ("lost_probe_frees_the_slot", SMALL, "f f f f +500 a +500 a"),
            // Disabled breakers admit everything and remember nothing.
            (
                "disabled",
                BreakerConfig {
                    enabled: false,
                    ..SMALL
                },
                "f f f f f a",
            ),
        ];
        let rendered = cases
            .iter()
            .map(|(name, config, script)| format!("{name}: {script} => {}", run(*config, script)))
            .collect::<Vec<_>>()
            .join("\n");
        insta::assert_snapshot!(rendered);
    }

    #[test]
    fn config_validation_names_the_field() {
        assert_eq!(BreakerConfig::default().invalid_field(), None);
        let cases = [
            (
                BreakerConfig {
                    failure_rate_percent: 0,
                    ..SMALL
                },
                "failure_rate_percent",
            ),
            (
                BreakerConfig {
                    failure_rate_percent: 101,
                    ..SMALL
                },
                "failure_rate_percent",
            ),
            (
                BreakerConfig {
                    minimum_requests: 0,
                    ..SMALL
                },
                "minimum_requests",
            ),
            (
                BreakerConfig {
                    window_ms: 0,
                    ..SMALL
                },
                "window_ms",
            ),
            (
                BreakerConfig {
                    cooldown_ms: 0,
                    ..SMALL
                },
                "cooldown_ms",
            ),
        ];
        for (config, field) in cases {
            assert_eq!(config.invalid_field().map(|(key, _)| key), Some(field));
        }
    }
}
