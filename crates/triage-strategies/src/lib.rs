//! Routing strategies, user rules, the routing policy and evaluation metrics.
//!
//! Pure: no files, no network, no environment, no clock (the day is passed in), no candle.
//! A request flows through a [`Router`]: the first matching user [`Rule`] may force a class or
//! a model; otherwise a [`Strategy`] (keyword, length, or the on-device model through
//! [`ModelStrategy`]) classifies it; a low-confidence call may be escalated to the more
//! expensive of the two top classes; then the [`Policy`] turns the class into a [`RoutePlan`]:
//! candidates resolved through the catalog's lifecycle, filtered by context window,
//! capabilities and enabled providers, with a fallback ladder and an estimated cost.
//!
//! The keyword strategy's default weights (`src/keywords.toml`) are learned by
//! `cargo xtask learn-keywords` from the labelled training prompts: per-class smoothed
//! log-odds of word unigrams and bigrams, counted once per prompt over the first and last 40
//! words; annotated rows weigh 1 (near-duplicate templates share one unit), source-category
//! rows 0.25, templated rows are left out; the best-supported 150 features per class are kept,
//! capped at 4; each class gets a bias of twice its log share; a few hand-written patterns
//! follow `LABELS.md` (code, translation, summaries, poems, high-stakes advice, math). The
//! file's header has the exact recipe.
//!
//! ```
//! use std::sync::Arc;
//! use time::macros::date;
//! use triage_catalog::Catalog;
//! use triage_strategies::{KeywordStrategy, Policy, Router};
//! use triage_types::ChatRequest;
//!
//! let catalog = Catalog::embedded();
//! let router = Router::new(Arc::new(KeywordStrategy::embedded()?), Policy::from_catalog(catalog));
//! let route = router.route(catalog, &ChatRequest::from_prompt("Write a poem about rain"), date!(2026 - 11 - 29))?;
//! assert_eq!(route.decision.class.as_str(), "critical");
//! # Ok::<(), triage_strategies::StrategyError>(())
//! ```
#![deny(missing_docs)]

mod error;
pub mod eval;
mod keyword;
mod length;
mod model;
pub mod outcomes;
mod policy;
pub mod quality;
mod router;
mod rules;
mod strategy;
pub mod text;
pub mod tokens;

pub use error::StrategyError;
pub use keyword::{
    EMBEDDED_KEYWORDS, EMBEDDED_ORIGIN, Hit, KeywordFile, KeywordOverrides, KeywordPattern,
    KeywordScore, KeywordStrategy, KeywordTable, PatternSpec, WindowSpec, case_insensitive,
};
pub use length::{LENGTH_CONFIDENCE, LengthBucket, LengthStrategy, LengthThresholds};
pub use model::ModelStrategy;
pub use policy::{
    ASSUMED_OUTPUT_TOKENS, PlannedModel, Policy, ProviderFilter, QualityPolicy, ReasoningPlan,
    ReasoningSetting, ReasoningSource, Rejection, Requirements, RouteAlias, RoutePlan,
    TOKENS_PER_MESSAGE, blended_price, estimate_input_tokens, planned_effort,
};
pub use quality::{
    Bucket, DEFAULT_HIGH_STAKES, DEFAULT_QUALITY_KNOB, HighStakes, QualityChoice, QualityTable,
};
pub use router::{DEFAULT_LOW_CONFIDENCE, Decision, Route, Router};
pub use rules::{Rule, RuleAction, RuleMatcher, Rules};
pub use strategy::{Classification, Strategy, StrategyKind};
