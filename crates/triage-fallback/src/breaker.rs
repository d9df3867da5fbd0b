//! Circuit breakers per provider and per model: open after repeated failures within a window,
//! skip while open, let one probe through after a cool-down, close on success.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// The breaker settings (`[fallback.breaker]` in `triage.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Failures within `window_ms` that open a breaker. `0` disables breakers. Default 5.
    pub failure_threshold: u32,
    /// The window failures are counted in, in milliseconds. Default 60 000.
    pub window_ms: u64,
    /// How long an open breaker stays open before letting one probe through, in
    /// milliseconds. Default 30 000.
    pub cooldown_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            window_ms: 60_000,
            cooldown_ms: 30_000,
        }
    }
}

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
    /// Failures counted in the current window.
    pub failures: u32,
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
    failures: VecDeque<Instant>,
    opened: Option<Opened>,
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
        if self.inner.config.failure_threshold == 0 {
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

    /// Records a successful call: both breakers close and forget their failures.
    pub fn record_success(&self, provider: &str, model: &str) {
        let mut entries = self.lock();
        for key in [provider_key(provider), model_key(model)] {
            if let Some(entry) = entries.get_mut(&key) {
                if entry.opened.is_some() {
                    tracing::info!(key, "circuit breaker closed");
                }
                entry.failures.clear();
                entry.opened = None;
            }
        }
    }

    /// Records a failed call: a half-open breaker reopens; a closed one opens once the window
    /// holds `failure_threshold` failures.
    pub fn record_failure(&self, provider: &str, model: &str) {
        let config = self.inner.config;
        if config.failure_threshold == 0 {
            return;
        }
        let now = self.inner.clock.now();
        let window = Duration::from_millis(config.window_ms);
        let mut entries = self.lock();
        for key in [provider_key(provider), model_key(model)] {
            let entry = entries.entry(key.clone()).or_default();
            while entry
                .failures
                .front()
                .is_some_and(|&failed| now.saturating_duration_since(failed) >= window)
            {
                entry.failures.pop_front();
            }
            entry.failures.push_back(now);
            let reopen = entry
                .opened
                .is_some_and(|opened| opened.probe_started.is_some());
            let trip = entry.opened.is_none()
                && entry.failures.len()
                    >= usize::try_from(config.failure_threshold).unwrap_or(usize::MAX);
            if reopen || trip {
                tracing::warn!(key, failures = entry.failures.len(), "circuit breaker open");
                entry.opened = Some(Opened {
                    at: now,
                    wall: SystemTime::now(),
                    probe_started: None,
                });
            }
        }
    }

    /// Every breaker that has seen a failure, by key.
    pub fn snapshot(&self) -> Vec<BreakerSnapshot> {
        let now = self.inner.clock.now();
        let cooldown = self.cooldown();
        let window = Duration::from_millis(self.inner.config.window_ms);
        let entries = self.lock();
        entries
            .iter()
            .map(|(key, entry)| {
                let failures = entry
                    .failures
                    .iter()
                    .filter(|&&failed| now.saturating_duration_since(failed) < window)
                    .count();
                let (state, probe_in_ms) = match entry.opened {
                    None => (BreakerState::Closed, None),
                    Some(opened) if now < opened.at + cooldown => (
                        BreakerState::Open,
                        Some(duration_ms(opened.at + cooldown - now)),
                    ),
                    Some(_) => (BreakerState::HalfOpen, None),
                };
                BreakerSnapshot {
                    key: key.clone(),
                    state,
                    failures: u32::try_from(failures).unwrap_or(u32::MAX),
                    opened_at_unix_ms: entry.opened.map(|opened| {
                        duration_ms(opened.wall.duration_since(UNIX_EPOCH).unwrap_or_default())
                    }),
                    probe_in_ms,
                }
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

    fn states(breaker: &CircuitBreaker) -> String {
        breaker
            .snapshot()
            .iter()
            .map(|s| format!("{}={:?}/{}", s.key, s.state, s.failures))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn opens_probes_and_closes() {
        let clock = Arc::new(ManualClock(Mutex::new(Instant::now())));
        let config = BreakerConfig {
            failure_threshold: 2,
            window_ms: 1_000,
            cooldown_ms: 500,
        };
        let breaker = CircuitBreaker::with_clock(config, clock.clone());
        assert_eq!(breaker.admit("openai", "gpt"), Admission::Allowed);
        breaker.record_failure("openai", "gpt");
        // Old failures leave the window.
        clock.advance(Duration::from_millis(1_500));
        breaker.record_failure("openai", "gpt");
        assert_eq!(
            states(&breaker),
            "model:gpt=Closed/1 provider:openai=Closed/1"
        );
        breaker.record_failure("openai", "gpt");
        assert_eq!(states(&breaker), "model:gpt=Open/2 provider:openai=Open/2");
        // The provider key blocks the provider's other models too.
        assert!(matches!(
            breaker.admit("openai", "other"),
            Admission::Open { key, retry_in } if key == "provider:openai" && retry_in == Duration::from_millis(500)
        ));
        assert_eq!(breaker.admit("anthropic", "claude"), Admission::Allowed);
        clock.advance(Duration::from_millis(500));
        assert_eq!(
            states(&breaker),
            "model:gpt=HalfOpen/2 provider:openai=HalfOpen/2"
        );
        assert_eq!(breaker.admit("openai", "gpt"), Admission::Probe);
        // Only one probe at a time.
        assert!(matches!(
            breaker.admit("openai", "gpt"),
            Admission::Open { .. }
        ));
        breaker.record_failure("openai", "gpt");
        assert_eq!(breaker.state("provider:openai"), BreakerState::Open);
        clock.advance(Duration::from_millis(500));
        assert_eq!(breaker.admit("openai", "gpt"), Admission::Probe);
        breaker.record_success("openai", "gpt");
        assert_eq!(
            states(&breaker),
            "model:gpt=Closed/0 provider:openai=Closed/0"
        );
        assert_eq!(breaker.admit("openai", "gpt"), Admission::Allowed);
    }

    #[test]
    fn a_lost_probe_frees_the_slot_after_a_cooldown() {
        let clock = Arc::new(ManualClock(Mutex::new(Instant::now())));
        let config = BreakerConfig {
            failure_threshold: 1,
            window_ms: 1_000,
            cooldown_ms: 100,
        };
        let breaker = CircuitBreaker::with_clock(config, clock.clone());
        breaker.record_failure("p", "m");
        clock.advance(Duration::from_millis(100));
        assert_eq!(breaker.admit("p", "m"), Admission::Probe);
        clock.advance(Duration::from_millis(100));
        assert_eq!(breaker.admit("p", "m"), Admission::Probe);
    }

    #[test]
    fn threshold_zero_disables() {
        let breaker = CircuitBreaker::new(BreakerConfig {
            failure_threshold: 0,
            ..BreakerConfig::default()
        });
        for _ in 0..10 {
            breaker.record_failure("p", "m");
        }
        assert_eq!(breaker.admit("p", "m"), Admission::Allowed);
        assert!(breaker.snapshot().is_empty());
    }
}
