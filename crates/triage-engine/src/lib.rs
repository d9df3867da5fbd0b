//! triage's one request pipeline, shared by `triage serve`, `triage ask`, `triage route` and
//! `triage eval`: resolve the `model` a caller sent (`auto`, a route alias, a catalog id, a
//! retired id → its successor), classify, make one plan, execute it with fallback, and account
//! for it once — ledger and metrics — whatever the exit path.
//!
//! - [`Engine::new`] builds everything from a validated [`triage_config::Config`].
//! - [`Engine::plan`] is the plan, with its reasons: what `triage route` shows is what runs.
//! - [`Engine::complete`] and [`Engine::stream`] run a request and return a typed outcome
//!   ([`Completed`], [`EngineStream`]) or a typed failure ([`Failed`]), always with every
//!   attempt.
//!
//! A request that comes with a client key (`[[server.keys]]`) is admitted after its plan: the
//! key's models, then its budgets and rate limits ([`triage_limits`]), with the plan's estimate
//! reserved and settled with the real cost when the request is accounted for; near a budget
//! the plan starts one tier cheaper.
//!
//! [`Engine::batch_submit`], [`Engine::batch_poll`] and [`Engine::batch_collect`] run many
//! requests through the providers' batch APIs at their batch price ([`BatchJob`]), planned the
//! same way, with the live path for lines a batch could not answer.
//!
//! The engine reads no environment variable and no file of its own: the caller passes an
//! environment lookup, the strategy and the ledger.
#![deny(missing_docs)]

mod account;
mod affinity;
mod batch;
mod engine;
mod error;
mod keys;
mod observe;
mod pending;
mod providers;
mod run;

pub use account::{Accounted, Caller};
pub use batch::{
    BATCH_CANCELLED, BATCH_ENTRY, BATCH_LIVE_ENTRY, BatchError, BatchJob, BatchLine, CancelOutcome,
    CancelReport, GroupCancel, JobGroup, JobLine, LineOutcome, LineResult, LineRoute, Via,
};
pub use engine::{Engine, EngineOptions, Planned, Target};
pub use error::{BuildError, EngineError};
pub use keys::{key_limits, keyring};
pub use observe::{Observer, Report};
pub use providers::{EnvLookup, ProviderStatus, provider_settings};
pub use run::{CLIENT_DISCONNECTED, Completed, EngineStream, Failed, StreamItem};

/// The `model` that asks triage to classify and route by the default policy.
pub const AUTO_MODEL: &str = "auto";
