//! Where the counters live: a map in this process, or Redis shared by every replica. Both
//! apply the same check-then-reserve step atomically (a lock here, one Lua script there), so
//! the two behave alike and are tested with the same cases.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use crate::window::{DAY_TTL, MINUTE_TTL, MONTH_TTL};

/// One admission: the key of each window with its limit (0: none), and what to reserve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ask {
    /// Requests this minute, and the limit.
    pub(crate) requests: (String, i64),
    /// Tokens this minute, and the limit.
    pub(crate) tokens: (String, i64),
    /// Micro-dollars today, and the cap.
    pub(crate) day: (String, i64),
    /// Micro-dollars this month, and the cap.
    pub(crate) month: (String, i64),
    /// The estimated cost, micro-dollars.
    pub(crate) cost: i64,
    /// The estimated tokens.
    pub(crate) token_estimate: i64,
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    Requests,
    Tokens,
    Day,
    Month,
}

/// What the store decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Reserved; the day's and month's totals after the reservation (0 where no cap).
    Admitted { day: i64, month: i64 },
    /// Refused by `limit`, which had `used` when it was checked.
    Refused { limit: Limit, used: i64 },
}

/// Corrections after a request: each window key and the amount to add (negative when the
/// estimate was too high). A window that has expired meanwhile is left alone.
pub(crate) type Settlement = Vec<(String, i64)>;

/// The counters' home.
#[derive(Debug)]
pub(crate) enum Store {
    Memory(Memory),
    Redis(Box<Shared>),
}

impl Store {
    pub(crate) async fn admit(&self, ask: &Ask) -> Result<Verdict, String> {
        match self {
            Store::Memory(memory) => Ok(memory.admit(ask, Instant::now())),
            Store::Redis(shared) => shared.admit(ask).await,
        }
    }
}

/// Counters in this process: exact, and lost at exit (budgets start again from zero).
#[derive(Debug, Default)]
pub(crate) struct Memory {
    counters: Mutex<HashMap<String, (i64, Instant)>>,
}

impl Memory {
    fn admit(&self, ask: &Ask, now: Instant) -> Verdict {
        let mut counters = match self.counters.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if counters.len() > 4096 {
            counters.retain(|_, (_, expires)| *expires > now);
        }
        let used = |counters: &HashMap<String, (i64, Instant)>, key: &str| {
            counters
                .get(key)
                .filter(|(_, expires)| *expires > now)
                .map_or(0, |(value, _)| *value)
        };
        let checks = [
            (&ask.day, Limit::Day),
            (&ask.month, Limit::Month),
            (&ask.requests, Limit::Requests),
            (&ask.tokens, Limit::Tokens),
        ];
        for ((key, limit), which) in checks {
            if *limit > 0 {
                let used = used(&counters, key);
                if used >= *limit {
                    return Verdict::Refused { limit: which, used };
                }
            }
        }
        let mut bump = |key: &str, by: i64, ttl: Duration| {
            let entry = counters.entry(key.to_owned()).or_insert((0, now + ttl));
            if entry.1 <= now {
                *entry = (0, now + ttl);
            }
            entry.0 += by;
            entry.0
        };
        if ask.requests.1 > 0 {
            bump(&ask.requests.0, 1, MINUTE_TTL);
        }
        if ask.tokens.1 > 0 {
            bump(&ask.tokens.0, ask.token_estimate, MINUTE_TTL);
        }
        let day = if ask.day.1 > 0 {
            bump(&ask.day.0, ask.cost, DAY_TTL)
        } else {
            0
        };
        let month = if ask.month.1 > 0 {
            bump(&ask.month.0, ask.cost, MONTH_TTL)
        } else {
            0
        };
        Verdict::Admitted { day, month }
    }

    pub(crate) fn settle(&self, settlement: &Settlement, now: Instant) {
        let mut counters = match self.counters.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        for (key, delta) in settlement {
            if let Some((value, expires)) = counters.get_mut(key)
                && *expires > now
            {
                *value += delta;
            }
        }
    }
}

/// The admission step in Redis: check every window, then reserve in all of them, in one
/// script so that no other replica's request comes in between. KEYS: requests, tokens, day,
/// month; ARGV: their limits (0: none), the cost and token estimates, and the minute's, day's
/// and month's expiry in milliseconds. Returns `{0, day, month}` when admitted, else
/// `{limit, used}` with limit 1 requests, 2 tokens, 3 day, 4 month.
const ADMIT: &str = r"
local function used(key) return tonumber(redis.call('GET', key) or '0') end
local function bump(key, by, ttl)
  local value = redis.call('INCRBY', key, by)
  if redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ttl) end
  return value
end
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local day_cap, month_cap = tonumber(ARGV[3]), tonumber(ARGV[4])
if day_cap > 0 then local n = used(KEYS[3]); if n >= day_cap then return {3, n} end end
if month_cap > 0 then local n = used(KEYS[4]); if n >= month_cap then return {4, n} end end
if rpm > 0 then local n = used(KEYS[1]); if n >= rpm then return {1, n} end end
if tpm > 0 then local n = used(KEYS[2]); if n >= tpm then return {2, n} end end
if rpm > 0 then bump(KEYS[1], 1, ARGV[7]) end
if tpm > 0 then bump(KEYS[2], ARGV[6], ARGV[7]) end
local day, month = 0, 0
if day_cap > 0 then day = bump(KEYS[3], ARGV[5], ARGV[8]) end
if month_cap > 0 then month = bump(KEYS[4], ARGV[5], ARGV[9]) end
return {0, day, month}
";

/// The settlement step: add each ARGV[i] to KEYS[i] if that window still exists.
const SETTLE: &str = r"
for i = 1, #KEYS do
  local delta = tonumber(ARGV[i])
  if delta ~= 0 and redis.call('EXISTS', KEYS[i]) == 1 then redis.call('INCRBY', KEYS[i], delta) end
end
return 0
";

/// Counters in Redis, shared by every replica. The connection is made on first use and
/// remade after a failure (a request meanwhile finds Redis unreachable).
pub(crate) struct Shared {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    timeout: Duration,
    admit: redis::Script,
    settle: redis::Script,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(client: redis::Client, timeout: Duration) -> Shared {
        Shared {
            client,
            connection: OnceCell::new(),
            timeout,
            admit: redis::Script::new(ADMIT),
            settle: redis::Script::new(SETTLE),
        }
    }

    async fn connection(&self) -> Result<ConnectionManager, String> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let connection = tokio::time::timeout(
            self.timeout * 2,
            self.connection.get_or_try_init(|| {
                self.client
                    .get_connection_manager_with_config(config.clone())
            }),
        )
        .await
        .map_err(|_| format!("no connection within {} ms", self.timeout.as_millis() * 2))?
        .map_err(|error| error.to_string())?;
        Ok(connection.clone())
    }

    async fn admit(&self, ask: &Ask) -> Result<Verdict, String> {
        let mut connection = self.connection().await?;
        let mut invocation = self.admit.key(&ask.requests.0);
        invocation
            .key(&ask.tokens.0)
            .key(&ask.day.0)
            .key(&ask.month.0)
            .arg(ask.requests.1)
            .arg(ask.tokens.1)
            .arg(ask.day.1)
            .arg(ask.month.1)
            .arg(ask.cost)
            .arg(ask.token_estimate)
            .arg(millis(MINUTE_TTL))
            .arg(millis(DAY_TTL))
            .arg(millis(MONTH_TTL));
        let reply: Vec<i64> =
            tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
                .await
                .map_err(|_| format!("no answer within {} ms", self.timeout.as_millis()))?
                .map_err(|error| error.to_string())?;
        match reply.as_slice() {
            [0, day, month] => Ok(Verdict::Admitted {
                day: *day,
                month: *month,
            }),
            [limit, used] => Ok(Verdict::Refused {
                limit: match limit {
                    1 => Limit::Requests,
                    2 => Limit::Tokens,
                    3 => Limit::Day,
                    _ => Limit::Month,
                },
                used: *used,
            }),
            other => Err(format!(
                "unexpected reply from the admission script: {other:?}"
            )),
        }
    }

    pub(crate) async fn settle(&self, settlement: &Settlement) -> Result<(), String> {
        if settlement.is_empty() {
            return Ok(());
        }
        let mut connection = self.connection().await?;
        let mut invocation = self.settle.prepare_invoke();
        for (key, delta) in settlement {
            invocation.key(key).arg(*delta);
        }
        let _: i64 = tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
            .await
            .map_err(|_| format!("no answer within {} ms", self.timeout.as_millis()))?
            .map_err(|error| error.to_string())?;
        Ok(())
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
