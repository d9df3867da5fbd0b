//! Per-client keys and what each may spend: budgets per UTC day and month in US dollars, and
//! requests and tokens per minute, counted in this process or in Redis, where every replica of
//! the gateway sees the same totals.
//!
//! A request is admitted in two steps. Before its model is called, [`Limits::admit`] checks
//! the key's windows and reserves the plan's estimated cost and tokens, atomically (one Lua
//! script in Redis, one lock in the process), so concurrent requests see each other's
//! reservations; after the call, [`Limits::settle`] replaces the estimate by what the request
//! really cost. A request is refused once a window is used up, so a budget is overshot by at
//! most what the requests admitted just before the cap spend beyond their estimates. Money is
//! counted in integer micro-dollars, rounded up.
//!
//! ```
//! use rust_decimal_macros::dec;
//! use time::OffsetDateTime;
//! use triage_limits::{ClientKey, Estimate, KeyLimits, Limits, LimitsOptions, Spent};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let key = ClientKey::new("team-a", Vec::new(), KeyLimits {
//!     daily_budget_usd: Some(dec!(1)),
//!     ..KeyLimits::default()
//! });
//! let limits = Limits::in_process(LimitsOptions::default());
//! let now = OffsetDateTime::now_utc();
//! let estimate = Estimate { cost_usd: dec!(0.6), tokens: 1_000 };
//! let first = limits.admit(&key, estimate, now).await?;
//! limits.settle(&first, Spent { cost_usd: dec!(1.2), tokens: 1_100 });
//! // The day's dollar is spent: the next request is refused until midnight UTC.
//! assert!(limits.admit(&key, estimate, now).await.is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod error;
mod key;
mod limits;
mod store;
mod window;

pub use error::{LimitsError, Refusal};
pub use key::{ClientKey, KeyLimits, Keyring};
pub use limits::{Admission, Estimate, Limits, LimitsOptions, LimitsStats, Spent, WhenUnreachable};
pub use window::{BudgetWindow, RateKind};
