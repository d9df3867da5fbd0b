//! The engine against the in-process mock upstream: one plan for every entry point, per-class
//! and per-alias checks, keyless models skipped, costs that fail closed, and one ledger record
//! per request whatever the exit path.
#![expect(clippy::unwrap_used, reason = "test helpers panic on setup failures")]

mod batch;
mod pipeline;

use std::path::Path;
use std::sync::Arc;

use triage_catalog::Catalog;
use triage_config::Config;
use triage_engine::{Caller, Engine, EngineOptions};
use triage_ledger::{Ledger, LedgerOptions};
use triage_mock::MockUpstream;
use triage_strategies::{Classification, KeywordStrategy, Strategy, StrategyError};
use triage_types::{ChatRequest, ClassScores};

/// What a test engine is built from.
pub(crate) struct Setup<'a> {
    /// The upstream every provider points at.
    pub(crate) mock: &'a MockUpstream,
    /// The provider key variables that are set.
    pub(crate) keys: &'a [&'a str],
    /// Config text added to the providers' base URLs.
    pub(crate) config: &'a str,
    /// A ledger to record in.
    pub(crate) ledger: Option<&'a Path>,
    /// Fixed class scores instead of the keyword strategy.
    pub(crate) scores: Option<[f32; 6]>,
    /// The engine's request timeout.
    pub(crate) request_timeout: Option<std::time::Duration>,
}

impl<'a> Setup<'a> {
    pub(crate) fn new(mock: &'a MockUpstream) -> Self {
        Setup {
            mock,
            keys: &[
                "OPENAI_API_KEY",
                "ANTHROPIC_API_KEY",
                "GEMINI_API_KEY",
                "DEEPSEEK_API_KEY",
            ],
            config: "",
            ledger: None,
            scores: None,
            request_timeout: None,
        }
    }

    pub(crate) fn engine(&self) -> Engine {
        let catalog = Catalog::embedded().clone();
        let mut text = self.config.to_owned();
        for provider in catalog.providers() {
            let url = if provider.base_url.ends_with("/v1") {
                self.mock.openai_base_url()
            } else {
                self.mock.url()
            };
            text.push_str(&format!(
                "\n[providers.settings.{}]\nbase_url = \"{url}\"\n",
                provider.id
            ));
        }
        let config = Config::parse(&text, "test.toml", None).unwrap();
        let catalog = config.catalog(&catalog).unwrap();
        let keys: Vec<String> = self.keys.iter().map(|key| (*key).to_owned()).collect();
        let strategy: Arc<dyn Strategy> = match self.scores {
            Some(scores) => Arc::new(Fixed(scores)),
            None => Arc::new(KeywordStrategy::embedded().unwrap()),
        };
        Engine::new(
            &config,
            catalog,
            EngineOptions {
                strategy,
                env: Arc::new(move |name: &str| {
                    keys.iter()
                        .any(|key| key == name)
                        .then(|| "test-key".to_owned())
                }),
                ledger: self
                    .ledger
                    .map(|path| Ledger::open(path, &LedgerOptions::default()).unwrap()),
                as_of: Some(time::macros::date!(2026 - 11 - 29)),
                request_timeout: self.request_timeout,
            },
        )
        .unwrap()
    }
}

/// A strategy that always gives the same scores.
struct Fixed([f32; 6]);

impl Strategy for Fixed {
    fn name(&self) -> &str {
        "fixed"
    }

    fn classify(&self, _request: &ChatRequest) -> Result<Classification, StrategyError> {
        Ok(Classification::from_scores(ClassScores(self.0), Vec::new()))
    }
}

pub(crate) fn cli() -> Caller {
    Caller::new("cli", false)
}
