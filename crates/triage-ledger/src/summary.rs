//! The read side: opening a ledger for reading, the aggregates `triage report` shows, and
//! reading records back.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;
use serde::ser::SerializeMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use triage_types::RouteClass;

use crate::location::LedgerLocation;
use crate::rows;
use crate::store::{SqliteMode, Store};
use crate::{LedgerError, RequestOutcome, RequestRecord};

/// Which requests to aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SummaryOptions {
    /// Only requests that arrived at or after this time; all when `None`.
    pub since: Option<OffsetDateTime>,
    /// Measure savings against this model instead of the baselines recorded with each
    /// request (`triage report --baseline`): each answered request's recorded tokens at its
    /// prices.
    pub baseline: Option<BaselinePrice>,
    /// Also price every recorded attempt at these prices, by model id (`triage report
    /// --reprice`): what the same traffic would cost at another catalog's prices.
    pub reprice: Option<BTreeMap<String, BaselinePrice>>,
    /// The current prices, by model id, for what prompt caching saved
    /// ([`Summary::cache`]); without them the saving is not computed.
    pub prices: Option<BTreeMap<String, BaselinePrice>>,
}

/// Prompt caching over the period: how much of the input came from a provider's cache and
/// what that saved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheSummary {
    /// Cached input tokens as a share of all input tokens (0 without input).
    pub hit_share: f64,
    /// What the cached tokens saved at the answering model's prices: cache reads at the
    /// input price minus their cached price, less what cache writes cost above the input
    /// price; `None` when [`SummaryOptions::prices`] was not given.
    #[serde(serialize_with = "money::serialize_option")]
    pub saved_usd: Option<Decimal>,
    /// Requests with cached tokens whose model has no price there (left out of the saving).
    pub unpriced_requests: u64,
}

/// What the recorded traffic would cost at other prices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Repriced {
    /// Every attempt's recorded tokens at the other prices (all input as uncached: attempts
    /// record no cache split).
    #[serde(serialize_with = "money::serialize")]
    pub spend_usd: Decimal,
    /// The recorded spend of the same attempts, to compare with.
    #[serde(serialize_with = "money::serialize")]
    pub recorded_usd: Decimal,
    /// Attempts whose model has no price there (left out of both sums).
    pub unpriced_attempts: u64,
}

/// A model's prices, in US dollars per million tokens (a baseline's, or another catalog's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselinePrice {
    /// The catalog id.
    pub model: String,
    /// Input tokens.
    pub input: Decimal,
    /// Cached input tokens (the input price when the model has no cache price).
    pub cached_input: Decimal,
    /// Output tokens (reasoning included).
    pub output: Decimal,
    /// Input tokens written to the cache (the input price when not billed apart).
    pub cache_write: Decimal,
}

impl BaselinePrice {
    /// What caching saved on one request's tokens at these prices: reads cost less than
    /// input, writes may cost more.
    fn cache_saving(&self, cached_read: u64, cache_write: u64) -> Decimal {
        (Decimal::from(cached_read) * (self.input - self.cached_input)
            - Decimal::from(cache_write) * (self.cache_write - self.input))
            / Decimal::from(1_000_000)
    }

    /// What one answer's tokens cost at these prices.
    fn cost(&self, input: u64, cached_read: u64, output: u64) -> Decimal {
        let million = Decimal::from(1_000_000);
        let uncached = input.saturating_sub(cached_read);
        (Decimal::from(uncached) * self.input
            + Decimal::from(cached_read) * self.cached_input
            + Decimal::from(output) * self.output)
            / million
    }
}

/// Aggregates over the requests in a ledger: what `triage report` prints.
///
/// Money fields are exact decimals, summed exactly; they serialize as JSON numbers, converted
/// at that output edge to the double nearest the exact decimal (what JSON readers use anyway).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The start of the period, RFC 3339, or `None` for everything recorded.
    pub since: Option<String>,
    /// Requests recorded.
    pub requests: u64,
    /// Requests that got an answer.
    pub succeeded: u64,
    /// Requests that ended in an error.
    pub failed: u64,
    /// What the requests cost.
    #[serde(serialize_with = "money::serialize")]
    pub spend_usd: Decimal,
    /// What the same answers would have cost on the baseline model.
    #[serde(serialize_with = "money::serialize")]
    pub baseline_usd: Decimal,
    /// The model `baseline_usd` was measured on: the baseline every record of the period
    /// used, or the one most of them used when it changed within the period (all are in
    /// `baselines`); `None` when no record names one.
    pub baseline_model: Option<String>,
    /// The day `baseline_model`'s prices were read (its catalog `pricing.checked_on`,
    /// `YYYY-MM-DD`), once [`Summary::date_baseline_prices`] filled it in.
    pub baseline_price_checked_on: Option<String>,
    /// Every baseline model the period's records used, most requests first.
    pub baselines: Vec<BaselineShare>,
    /// `baseline_usd - spend_usd`.
    #[serde(serialize_with = "money::serialize")]
    pub savings_usd: Decimal,
    /// Savings as a percentage of the baseline, to two decimals; `None` when the baseline is
    /// zero.
    #[serde(serialize_with = "money::serialize_option")]
    pub savings_pct: Option<Decimal>,
    /// `spend_usd / requests`, to eight decimals; `None` without requests.
    #[serde(serialize_with = "money::serialize_option")]
    pub cost_per_request_usd: Option<Decimal>,
    /// Requests that needed more than one answer attempt (judge calls do not count).
    pub fallbacks: u64,
    /// `fallbacks / requests` (0 without requests).
    pub fallback_rate: f64,
    /// Requests whose cost is not known in full (an attempt the catalog could not price);
    /// `spend_usd` counts only their priced part.
    pub unpriced_requests: u64,
    /// Tokens over all requests.
    pub tokens: TokenTotals,
    /// End-to-end latency percentiles.
    pub latency_ms: LatencyPercentiles,
    /// Requests per routing class, in routing-table order; unclassified requests (a concrete
    /// model asked for) are counted under `unclassified` when there are any.
    pub class_mix: ClassMix,
    /// Requests and spend per answering model.
    pub model_mix: BTreeMap<String, ModelShare>,
    /// The traffic at other prices, when [`SummaryOptions::reprice`] asked for it.
    pub repriced: Option<Repriced>,
    /// Prompt caching: the cached share of input and what it saved.
    pub cache: CacheSummary,
    /// Requests, spend, baseline spend and savings per client key (`[[server.keys]]`);
    /// requests made without one are under [`NO_KEY`].
    pub by_key: BTreeMap<String, KeyShare>,
    /// Requests, spend and baseline spend per UTC day, oldest first.
    pub daily: Vec<DailySpend>,
}

/// One client key's share of the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct KeyShare {
    /// Requests it made.
    pub requests: u64,
    /// Of those, refused for its budget or a rate limit.
    pub refused: u64,
    /// Of those, routed one tier cheaper because it was near a budget.
    pub downshifted: u64,
    /// What they cost.
    #[serde(serialize_with = "money::serialize")]
    pub spend_usd: Decimal,
    /// What they would have cost on the baseline model.
    #[serde(serialize_with = "money::serialize")]
    pub baseline_usd: Decimal,
    /// `baseline_usd - spend_usd`.
    #[serde(serialize_with = "money::serialize")]
    pub savings_usd: Decimal,
}

/// Token totals by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct TokenTotals {
    /// Prompt tokens.
    pub input: u64,
    /// Completion tokens.
    pub output: u64,
    /// Prompt tokens read from a provider cache.
    pub cached_read: u64,
    /// Prompt tokens written to a provider cache.
    pub cache_write: u64,
    /// Hidden reasoning tokens (part of `output`).
    pub reasoning: u64,
}

/// Nearest-rank latency percentiles in milliseconds (0 without requests).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct LatencyPercentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// Request counts per routing class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClassMix {
    /// Indexed by [`RouteClass::index`].
    pub by_class: [u64; 6],
    /// Requests without a class.
    pub unclassified: u64,
}

impl ClassMix {
    /// The count for one class.
    pub fn get(&self, class: RouteClass) -> u64 {
        self.by_class[class.index()]
    }
}

impl Serialize for ClassMix {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for class in RouteClass::ALL {
            map.serialize_entry(class.as_str(), &self.get(class))?;
        }
        if self.unclassified > 0 {
            map.serialize_entry("unclassified", &self.unclassified)?;
        }
        map.end()
    }
}

/// One model's share of the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ModelShare {
    /// Requests it answered.
    pub requests: u64,
    /// What those requests cost (all their attempts).
    #[serde(serialize_with = "money::serialize")]
    pub spend_usd: Decimal,
}

/// One baseline model's share of the period's records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BaselineShare {
    /// The catalog id the records were measured on.
    pub model: String,
    /// Records measured on it.
    pub requests: u64,
    /// What their answers would have cost on it.
    #[serde(serialize_with = "money::serialize")]
    pub baseline_usd: Decimal,
    /// The day its prices were read (`pricing.checked_on`), once known.
    pub price_checked_on: Option<String>,
}

impl Summary {
    /// Fills in each baseline's price date from the catalog (`checked_on` maps a model id to
    /// its `pricing.checked_on`; the ledger itself stores no prices).
    pub fn date_baseline_prices(&mut self, checked_on: impl Fn(&str) -> Option<time::Date>) {
        for share in &mut self.baselines {
            share.price_checked_on = checked_on(&share.model).map(|day| day.to_string());
        }
        self.baseline_price_checked_on = self
            .baselines
            .first()
            .and_then(|share| share.price_checked_on.clone());
    }
}

/// One UTC day of spend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailySpend {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Requests that day.
    pub requests: u64,
    /// What they cost.
    #[serde(serialize_with = "money::serialize")]
    pub spend_usd: Decimal,
    /// What they would have cost on the baseline model.
    #[serde(serialize_with = "money::serialize")]
    pub baseline_usd: Decimal,
}

/// A read connection to a ledger, for reports. Reads while gateways write (SQLite's WAL,
/// PostgreSQL's MVCC).
#[derive(Debug)]
pub struct LedgerReader {
    store: Mutex<Store>,
    location: LedgerLocation,
}

impl LedgerReader {
    /// Opens an existing SQLite ledger. A missing file is an error rather than a new empty
    /// ledger, so a wrong path is noticed.
    pub fn open(path: &Path) -> Result<LedgerReader, LedgerError> {
        LedgerReader::open_at(&LedgerLocation::Sqlite(path.to_owned()))
    }

    /// Opens the ledger at `location`: an existing SQLite file, or a PostgreSQL database
    /// (whose schema is created if it has none yet).
    pub fn open_at(location: &LedgerLocation) -> Result<LedgerReader, LedgerError> {
        Ok(LedgerReader {
            store: Mutex::new(Store::open(location, SqliteMode::Existing)?),
            location: location.clone(),
        })
    }

    /// Where the ledger is.
    pub fn location(&self) -> &LedgerLocation {
        &self.location
    }

    /// Aggregates the requests selected by `options`.
    pub fn summary(&self, options: &SummaryOptions) -> Result<Summary, LedgerError> {
        Ok(summarize(&self.requests(options)?, options))
    }

    /// Reads back the requests selected by `options`, with their attempts, oldest first.
    pub fn requests(&self, options: &SummaryOptions) -> Result<Vec<RequestRecord>, LedgerError> {
        let mut store = match self.store.lock() {
            Ok(store) => store,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (requests, attempts) = store.fetch(since_ms(options))?;
        rows::assemble(requests, attempts)
    }
}

/// The aggregates over `records` (oldest first).
fn summarize(records: &[RequestRecord], options: &SummaryOptions) -> Summary {
    let mut summary = Summary {
        since: options.since.and_then(|since| since.format(&Rfc3339).ok()),
        requests: 0,
        succeeded: 0,
        failed: 0,
        spend_usd: Decimal::ZERO,
        baseline_usd: Decimal::ZERO,
        baseline_model: None,
        baseline_price_checked_on: None,
        baselines: Vec::new(),
        savings_usd: Decimal::ZERO,
        savings_pct: None,
        cost_per_request_usd: None,
        fallbacks: 0,
        fallback_rate: 0.0,
        unpriced_requests: 0,
        tokens: TokenTotals::default(),
        latency_ms: LatencyPercentiles::default(),
        class_mix: ClassMix::default(),
        model_mix: BTreeMap::new(),
        by_key: BTreeMap::new(),
        repriced: options.reprice.as_ref().map(|_| Repriced {
            spend_usd: Decimal::ZERO,
            recorded_usd: Decimal::ZERO,
            unpriced_attempts: 0,
        }),
        cache: CacheSummary {
            hit_share: 0.0,
            saved_usd: options.prices.as_ref().map(|_| Decimal::ZERO),
            unpriced_requests: 0,
        },
        daily: Vec::new(),
    };
    let mut latencies_us: Vec<i64> = Vec::new();
    for record in records {
        let succeeded = record.outcome == RequestOutcome::Success;
        let cost = record.cost_usd;
        let usage = &record.usage;
        let mut baseline = record.baseline_cost_usd;
        let mut baseline_model = record.baseline_model.clone();
        if let Some(price) = &options.baseline {
            baseline = if succeeded {
                price.cost(
                    usage.input_tokens,
                    usage.cached_read_tokens,
                    usage.output_tokens,
                )
            } else {
                Decimal::ZERO
            };
            baseline_model = Some(price.model.clone());
        }
        summary.requests += 1;
        if succeeded {
            summary.succeeded += 1;
        } else {
            summary.failed += 1;
        }
        summary.spend_usd += cost;
        summary.baseline_usd += baseline;
        let answer_attempts = record
            .attempts
            .iter()
            .filter(|attempt| !attempt.judge)
            .count();
        if answer_attempts > 1 {
            summary.fallbacks += 1;
        }
        if let (Some(prices), Some(repriced)) = (&options.reprice, &mut summary.repriced) {
            for attempt in &record.attempts {
                match prices.get(&attempt.model) {
                    Some(price) => {
                        repriced.spend_usd +=
                            price.cost(attempt.usage.input_tokens, 0, attempt.usage.output_tokens);
                        repriced.recorded_usd += attempt.cost_usd;
                    }
                    None => repriced.unpriced_attempts += 1,
                }
            }
        }
        let cached = usage.cached_read_tokens > 0 || usage.cache_write_tokens > 0;
        if let (true, Some(prices), Some(saved)) =
            (cached, &options.prices, &mut summary.cache.saved_usd)
        {
            match record.model.as_ref().and_then(|model| prices.get(model)) {
                Some(price) => {
                    *saved +=
                        price.cache_saving(usage.cached_read_tokens, usage.cache_write_tokens);
                }
                None => summary.cache.unpriced_requests += 1,
            }
        }
        summary.tokens.input += usage.input_tokens;
        summary.tokens.output += usage.output_tokens;
        summary.tokens.cached_read += usage.cached_read_tokens;
        summary.tokens.cache_write += usage.cache_write_tokens;
        summary.tokens.reasoning += usage.reasoning_tokens;
        summary.unpriced_requests += u64::from(record.unpriced.is_some());
        latencies_us.push(i64::try_from(record.latency.as_micros()).unwrap_or(i64::MAX));
        if let Some(baseline_model) = baseline_model {
            match summary
                .baselines
                .iter_mut()
                .find(|share| share.model == baseline_model)
            {
                Some(share) => {
                    share.requests += 1;
                    share.baseline_usd += baseline;
                }
                None => summary.baselines.push(BaselineShare {
                    model: baseline_model,
                    requests: 1,
                    baseline_usd: baseline,
                    price_checked_on: None,
                }),
            }
        }
        match record.class {
            Some(class) => summary.class_mix.by_class[class.index()] += 1,
            None => summary.class_mix.unclassified += 1,
        }
        if let Some(model) = &record.model {
            let share = summary.model_mix.entry(model.clone()).or_default();
            share.requests += 1;
            share.spend_usd += cost;
        }
        let key = summary
            .by_key
            .entry(
                record
                    .client_key
                    .clone()
                    .unwrap_or_else(|| NO_KEY.to_owned()),
            )
            .or_default();
        key.requests += 1;
        key.refused += u64::from(matches!(
            record.outcome.as_str(),
            "budget_exceeded" | "rate_limited"
        ));
        key.spend_usd += cost;
        key.baseline_usd += baseline;
        key.downshifted += u64::from(record.budget_note.is_some());
        let started_at_ms = (record.started_at.unix_timestamp_nanos() / 1_000_000) as i64;
        let date = utc_date(started_at_ms);
        match summary.daily.last_mut() {
            Some(day) if day.date == date => {
                day.requests += 1;
                day.spend_usd += cost;
                day.baseline_usd += baseline;
            }
            _ => summary.daily.push(DailySpend {
                date,
                requests: 1,
                spend_usd: cost,
                baseline_usd: baseline,
            }),
        }
    }

    summary.spend_usd = summary.spend_usd.normalize();
    summary.baseline_usd = summary.baseline_usd.normalize();
    summary.savings_usd = (summary.baseline_usd - summary.spend_usd).normalize();
    if !summary.baseline_usd.is_zero() {
        let percent = summary.savings_usd * Decimal::ONE_HUNDRED / summary.baseline_usd;
        summary.savings_pct = Some(
            percent
                .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
                .normalize(),
        );
    }
    if summary.requests > 0 {
        let per_request = summary.spend_usd / Decimal::from(summary.requests);
        summary.cost_per_request_usd = Some(
            per_request
                .round_dp_with_strategy(8, RoundingStrategy::MidpointAwayFromZero)
                .normalize(),
        );
        summary.fallback_rate = summary.fallbacks as f64 / summary.requests as f64;
    }
    if summary.tokens.input > 0 {
        summary.cache.hit_share = summary.tokens.cached_read as f64 / summary.tokens.input as f64;
    }
    if let Some(saved) = &mut summary.cache.saved_usd {
        *saved = saved.normalize();
    }
    for share in summary.model_mix.values_mut() {
        share.spend_usd = share.spend_usd.normalize();
    }
    if let Some(repriced) = &mut summary.repriced {
        repriced.spend_usd = repriced.spend_usd.normalize();
        repriced.recorded_usd = repriced.recorded_usd.normalize();
    }
    for key in summary.by_key.values_mut() {
        key.spend_usd = key.spend_usd.normalize();
        key.baseline_usd = key.baseline_usd.normalize();
        key.savings_usd = (key.baseline_usd - key.spend_usd).normalize();
    }
    for share in &mut summary.baselines {
        share.baseline_usd = share.baseline_usd.normalize();
    }
    // Most requests first; ties keep the order the baselines were first used in.
    summary
        .baselines
        .sort_by_key(|share| std::cmp::Reverse(share.requests));
    summary.baseline_model = summary.baselines.first().map(|share| share.model.clone());
    for day in &mut summary.daily {
        day.spend_usd = day.spend_usd.normalize();
        day.baseline_usd = day.baseline_usd.normalize();
    }
    latencies_us.sort_unstable();
    summary.latency_ms = LatencyPercentiles {
        p50: percentile_ms(&latencies_us, 50),
        p95: percentile_ms(&latencies_us, 95),
        p99: percentile_ms(&latencies_us, 99),
    };
    summary
}

/// The `by_key` entry of requests made without a client key.
pub const NO_KEY: &str = "(no key)";

fn since_ms(options: &SummaryOptions) -> i64 {
    options.since.map_or(i64::MIN, |since| {
        (since.unix_timestamp_nanos() / 1_000_000) as i64
    })
}

fn utc_date(ms: i64) -> String {
    let date = crate::rows::from_ms(ms).date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Nearest-rank percentile of sorted microsecond latencies, in milliseconds.
fn percentile_ms(sorted_us: &[i64], percent: usize) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = (percent * sorted_us.len()).div_ceil(100).max(1);
    let micros = sorted_us[rank.min(sorted_us.len()) - 1];
    micros as f64 / 1000.0
}

/// Decimal amounts as JSON numbers: the nearest double to the exact value, found by parsing the
/// decimal's text (correctly rounded), so `0.0162` prints as `0.0162`.
mod money {
    use rust_decimal::Decimal;
    use serde::Serializer;

    pub(super) fn serialize<S: Serializer>(
        amount: &Decimal,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match amount.normalize().to_string().parse::<f64>() {
            Ok(value) => serializer.serialize_f64(value),
            Err(_) => serializer.serialize_none(),
        }
    }

    pub(super) fn serialize_option<S: Serializer>(
        amount: &Option<Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match amount {
            Some(amount) => serialize(amount, serializer),
            None => serializer.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let latencies: Vec<i64> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(percentile_ms(&latencies, 50), 50.0);
        assert_eq!(percentile_ms(&latencies, 99), 99.0);
        assert_eq!(percentile_ms(&[1500], 95), 1.5);
        assert_eq!(percentile_ms(&[], 50), 0.0);
    }

    #[test]
    fn days_are_utc() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(86_400_000 - 1), "1970-01-01");
        assert_eq!(utc_date(86_400_000), "1970-01-02");
    }
}
