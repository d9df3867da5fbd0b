//! What the ledger stores about one request and each of its attempts.

use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use triage_types::{RouteClass, Usage};

/// One request as the gateway saw it, from arrival to the last byte of the answer.
///
/// Serializable for the ledger's journal, where records wait while the database is locked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// The gateway's id for the request (also logged), unique per request.
    pub request_id: String,
    /// When the request arrived.
    pub started_at: OffsetDateTime,
    /// The protocol the caller spoke (`openai`, `openai-responses`, `anthropic`; `batch` and
    /// `batch-live` for `triage batch` lines).
    pub protocol: String,
    /// What the caller asked for in `model`, exactly as sent: `auto`, a route alias, or a
    /// catalog model id (possibly a retired one; see [`RequestRecord::resolved_from`]).
    pub route: String,
    /// The retired model the caller named, when triage replaced it by its successor (the
    /// successor is the first model of the plan); `None` otherwise.
    pub resolved_from: Option<String>,
    /// The warnings the caller was sent with the answer (`x-triage-warning`), such as a
    /// retired model replaced or a deprecated one still used.
    pub warnings: Vec<String>,
    /// The routing class the request was given, if it was classified.
    pub class: Option<RouteClass>,
    /// The classifier's confidence in [`RequestRecord::class`], from 0 to 1.
    pub confidence: Option<f32>,
    /// How the request ended.
    pub outcome: RequestOutcome,
    /// The catalog model that produced the answer, if one did.
    pub model: Option<String>,
    /// The provider that served the answer, if one did.
    pub provider: Option<String>,
    /// Tokens used, summed over every attempt (what was billed).
    pub usage: Usage,
    /// What the request cost in US dollars, summed over every attempt that could be priced.
    pub cost_usd: Decimal,
    /// Why the cost is not known in full (an attempt the catalog could not price); `None` when
    /// every attempt was priced. An unknown price is never counted as $0 silently.
    pub unpriced: Option<String>,
    /// The single model the savings are measured against, if configured.
    pub baseline_model: Option<String>,
    /// What the answer would have cost on the baseline model.
    pub baseline_cost_usd: Decimal,
    /// From arrival to the end of the answer (the last streamed byte when streaming).
    pub latency: Duration,
    /// Whether the answer was streamed.
    pub streamed: bool,
    /// Every model call made for this request, in order.
    pub attempts: Vec<AttemptRecord>,
    /// The name of the client key (`[[server.keys]]`) that made the request; `None` for a
    /// request without one (the CLI, a gateway without per-client keys).
    #[serde(default)]
    pub client_key: Option<String>,
    /// Why the request was routed cheaper than its plan: its key was near a budget (for
    /// example `daily budget 85% spent`); `None` when the budget did not change the route.
    #[serde(default)]
    pub budget_note: Option<String>,
}

impl RequestRecord {
    /// An empty successful record started now: fill in the fields that apply.
    pub fn new(request_id: impl Into<String>, route: impl Into<String>) -> Self {
        RequestRecord {
            request_id: request_id.into(),
            started_at: OffsetDateTime::now_utc(),
            protocol: "openai".to_owned(),
            route: route.into(),
            resolved_from: None,
            warnings: Vec::new(),
            class: None,
            confidence: None,
            outcome: RequestOutcome::Success,
            model: None,
            provider: None,
            usage: Usage::default(),
            cost_usd: Decimal::ZERO,
            unpriced: None,
            baseline_model: None,
            baseline_cost_usd: Decimal::ZERO,
            latency: Duration::ZERO,
            streamed: false,
            attempts: Vec::new(),
            client_key: None,
            budget_note: None,
        }
    }
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestOutcome {
    /// The caller got an answer.
    Success,
    /// The caller got an error.
    Failure {
        /// A short machine-readable kind (`no_provider`, `timeout`, `upstream`, …).
        kind: String,
    },
}

impl RequestOutcome {
    /// The text stored in the `outcome` column.
    pub fn as_str(&self) -> &str {
        match self {
            RequestOutcome::Success => "success",
            RequestOutcome::Failure { kind } => kind,
        }
    }

    /// Reads the `outcome` column back.
    pub fn from_stored(text: &str) -> Self {
        match text {
            "success" => RequestOutcome::Success,
            other => RequestOutcome::Failure {
                kind: other.to_owned(),
            },
        }
    }
}

/// One call to one model on one provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// The catalog model id.
    pub model: String,
    /// The provider it was called on.
    pub provider: String,
    /// How the call ended.
    pub outcome: AttemptOutcome,
    /// Whether this was a judge model grading an answer rather than a call for the answer;
    /// judge calls do not count as fallbacks.
    pub judge: bool,
    /// How long the call took.
    pub latency: Duration,
    /// Tokens the call used (zero when it failed before answering).
    pub usage: Usage,
    /// What the call cost in US dollars.
    pub cost_usd: Decimal,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttemptOutcome {
    /// Its answer was used.
    Success,
    /// It answered, but a quality check turned the answer down and the plan moved on.
    Rejected {
        /// Which check, and why.
        reason: String,
    },
    /// The call failed (network, status, timeout, open circuit).
    Failed {
        /// What failed, as logged (never contains keys).
        error: String,
    },
}

impl AttemptOutcome {
    /// The text stored in the attempt's `outcome` column.
    pub fn kind(&self) -> &'static str {
        match self {
            AttemptOutcome::Success => "success",
            AttemptOutcome::Rejected { .. } => "rejected",
            AttemptOutcome::Failed { .. } => "failed",
        }
    }

    /// The detail stored beside the kind.
    pub fn detail(&self) -> Option<&str> {
        match self {
            AttemptOutcome::Success => None,
            AttemptOutcome::Rejected { reason } => Some(reason),
            AttemptOutcome::Failed { error } => Some(error),
        }
    }

    /// Reads the kind and detail columns back.
    pub fn from_stored(kind: &str, detail: Option<String>) -> Self {
        let detail = detail.unwrap_or_default();
        match kind {
            "success" => AttemptOutcome::Success,
            "rejected" => AttemptOutcome::Rejected { reason: detail },
            _ => AttemptOutcome::Failed { error: detail },
        }
    }
}
