//! A request and its attempts as stored, column by column, in plain types both backends
//! read and write: the one mapping between [`RequestRecord`] and the tables.

use std::collections::HashMap;
use std::time::Duration;

use rust_decimal::Decimal;
use time::OffsetDateTime;
use triage_types::{RouteClass, Usage};

use crate::{AttemptOutcome, AttemptRecord, LedgerError, RequestOutcome, RequestRecord};

/// One `requests` row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredRequest {
    pub(crate) id: i64,
    pub(crate) request_id: String,
    pub(crate) started_at_ms: i64,
    pub(crate) protocol: String,
    pub(crate) route: String,
    pub(crate) class: Option<String>,
    pub(crate) confidence: Option<f64>,
    pub(crate) outcome: String,
    pub(crate) model: Option<String>,
    pub(crate) provider: Option<String>,
    pub(crate) input_tokens: i64,
    pub(crate) output_tokens: i64,
    pub(crate) cached_read_tokens: i64,
    pub(crate) cache_write_tokens: i64,
    pub(crate) reasoning_tokens: i64,
    pub(crate) cost_usd: String,
    pub(crate) baseline_model: Option<String>,
    pub(crate) baseline_cost_usd: String,
    pub(crate) latency_us: i64,
    pub(crate) streamed: bool,
    /// Answer attempts, judge calls excluded.
    pub(crate) attempt_count: i64,
    pub(crate) unpriced: Option<String>,
    pub(crate) resolved_from: Option<String>,
    /// One warning per line.
    pub(crate) warnings: Option<String>,
    pub(crate) client_key: Option<String>,
    pub(crate) budget_note: Option<String>,
}

/// One `attempts` row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredAttempt {
    pub(crate) request: i64,
    pub(crate) model: String,
    pub(crate) provider: String,
    pub(crate) outcome: String,
    pub(crate) detail: Option<String>,
    pub(crate) judge: bool,
    pub(crate) latency_us: i64,
    pub(crate) input_tokens: i64,
    pub(crate) output_tokens: i64,
    pub(crate) cost_usd: String,
}

impl StoredRequest {
    /// A record as a row (`id` is assigned by the database).
    pub(crate) fn of(record: &RequestRecord) -> StoredRequest {
        StoredRequest {
            id: 0,
            request_id: record.request_id.clone(),
            started_at_ms: (record.started_at.unix_timestamp_nanos() / 1_000_000) as i64,
            protocol: record.protocol.clone(),
            route: record.route.clone(),
            class: record.class.map(|class| class.as_str().to_owned()),
            confidence: record.confidence.map(f64::from),
            outcome: record.outcome.as_str().to_owned(),
            model: record.model.clone(),
            provider: record.provider.clone(),
            input_tokens: saturating_i64(record.usage.input_tokens),
            output_tokens: saturating_i64(record.usage.output_tokens),
            cached_read_tokens: saturating_i64(record.usage.cached_read_tokens),
            cache_write_tokens: saturating_i64(record.usage.cache_write_tokens),
            reasoning_tokens: saturating_i64(record.usage.reasoning_tokens),
            cost_usd: record.cost_usd.normalize().to_string(),
            baseline_model: record.baseline_model.clone(),
            baseline_cost_usd: record.baseline_cost_usd.normalize().to_string(),
            latency_us: micros(record.latency),
            streamed: record.streamed,
            attempt_count: record
                .attempts
                .iter()
                .filter(|attempt| !attempt.judge)
                .count() as i64,
            unpriced: record.unpriced.clone(),
            resolved_from: record.resolved_from.clone(),
            warnings: (!record.warnings.is_empty()).then(|| record.warnings.join("\n")),
            client_key: record.client_key.clone(),
            budget_note: record.budget_note.clone(),
        }
    }

    /// The row back as a record, with its attempts.
    fn into_record(self, attempts: Vec<AttemptRecord>) -> Result<RequestRecord, LedgerError> {
        let class = match self.class {
            Some(class) => {
                Some(
                    class
                        .parse::<RouteClass>()
                        .map_err(|_| LedgerError::BadValue {
                            column: "class",
                            value: class,
                        })?,
                )
            }
            None => None,
        };
        Ok(RequestRecord {
            request_id: self.request_id,
            started_at: from_ms(self.started_at_ms),
            protocol: self.protocol,
            route: self.route,
            resolved_from: self.resolved_from,
            warnings: self
                .warnings
                .map(|text| text.lines().map(str::to_owned).collect())
                .unwrap_or_default(),
            class,
            confidence: self.confidence.map(|value| value as f32),
            outcome: RequestOutcome::from_stored(&self.outcome),
            model: self.model,
            provider: self.provider,
            usage: Usage {
                input_tokens: count(self.input_tokens),
                output_tokens: count(self.output_tokens),
                cached_read_tokens: count(self.cached_read_tokens),
                cache_write_tokens: count(self.cache_write_tokens),
                reasoning_tokens: count(self.reasoning_tokens),
            },
            cost_usd: decimal(self.cost_usd, "cost_usd")?,
            unpriced: self.unpriced,
            baseline_model: self.baseline_model,
            baseline_cost_usd: decimal(self.baseline_cost_usd, "baseline_cost_usd")?,
            latency: duration(self.latency_us),
            streamed: self.streamed,
            attempts,
            client_key: self.client_key,
            budget_note: self.budget_note,
        })
    }
}

impl StoredAttempt {
    /// An attempt of request `request` as a row.
    pub(crate) fn of(request: i64, attempt: &AttemptRecord) -> StoredAttempt {
        StoredAttempt {
            request,
            model: attempt.model.clone(),
            provider: attempt.provider.clone(),
            outcome: attempt.outcome.kind().to_owned(),
            detail: attempt.outcome.detail().map(str::to_owned),
            judge: attempt.judge,
            latency_us: micros(attempt.latency),
            input_tokens: saturating_i64(attempt.usage.input_tokens),
            output_tokens: saturating_i64(attempt.usage.output_tokens),
            cost_usd: attempt.cost_usd.normalize().to_string(),
        }
    }

    fn into_record(self) -> Result<AttemptRecord, LedgerError> {
        Ok(AttemptRecord {
            outcome: AttemptOutcome::from_stored(&self.outcome, self.detail),
            model: self.model,
            provider: self.provider,
            judge: self.judge,
            latency: duration(self.latency_us),
            usage: Usage {
                input_tokens: count(self.input_tokens),
                output_tokens: count(self.output_tokens),
                ..Usage::default()
            },
            cost_usd: decimal(self.cost_usd, "attempts.cost_usd")?,
        })
    }
}

/// Rows back as records, each with its attempts (`attempts` in request and position order).
pub(crate) fn assemble(
    requests: Vec<StoredRequest>,
    attempts: Vec<StoredAttempt>,
) -> Result<Vec<RequestRecord>, LedgerError> {
    let mut by_request: HashMap<i64, Vec<AttemptRecord>> = HashMap::new();
    for attempt in attempts {
        let request = attempt.request;
        by_request
            .entry(request)
            .or_default()
            .push(attempt.into_record()?);
    }
    requests
        .into_iter()
        .map(|request| {
            let attempts = by_request.remove(&request.id).unwrap_or_default();
            request.into_record(attempts)
        })
        .collect()
}

fn decimal(text: String, column: &'static str) -> Result<Decimal, LedgerError> {
    text.parse::<Decimal>().map_err(|_| LedgerError::BadValue {
        column,
        value: text,
    })
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn duration(micros: i64) -> Duration {
    Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

pub(crate) fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}
