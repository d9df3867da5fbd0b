//! The priced model catalog: providers, models with their prices, limits, capabilities and
//! lifecycle, the seed routing table, and exact cost math. Pure: it reads TOML text handed to
//! it (and, for [`import_litellm`], a LiteLLM price list's JSON) and never touches files, the
//! network or the environment.
//!
//! The default catalog is `catalog.toml`, embedded at compile time; a user catalog in the same
//! format extends it or overrides models and providers by id ([`Catalog::overlay`]).
//!
//! ```
//! use time::macros::date;
//! use triage_catalog::{Catalog, CostOptions};
//! use triage_types::Usage;
//!
//! let catalog = Catalog::embedded();
//! let resolved = catalog.resolve("claude-sonnet-4", date!(2026 - 11 - 29)).unwrap();
//! assert_eq!(resolved.model.id, "claude-sonnet-4-5");
//! assert!(resolved.warning.is_some());
//!
//! let usage = Usage { input_tokens: 1_000, output_tokens: 500, ..Usage::default() };
//! let dollars = catalog.get("gpt-4o").unwrap().cost(&usage, CostOptions::default()).unwrap();
//! assert_eq!(dollars.to_string(), "0.0075");
//! ```
#![deny(missing_docs)]

mod cost;
mod diff;
mod error;
mod import;
mod lifecycle;
mod location;
mod model;
mod raw;
mod routes;
mod syntax;
mod validate;

use std::collections::HashMap;
use std::sync::LazyLock;

use time::Date;

pub use cost::{CostError, CostOptions, PriceKind, TokenCounts};
pub use diff::{Change, diff};
pub use error::{CatalogError, ProviderFieldProblem};
pub use import::{ImportError, Imported, ImportedPrice, import_litellm};
pub use lifecycle::{LifecycleWarning, Resolved};
pub use location::{Location, Source};
pub use model::{
    Capabilities, Lifecycle, MIN_ANSWER_TOKENS, Model, ModelStatus, Pricing, ProviderInfo,
    ReasoningSpec, Tier,
};
pub use routes::RouteTable;
pub use triage_types::{
    EffortSet, MaxTokensField, OpenAiQuirks, Protocol, ReasoningControl, ReasoningEffort,
};

/// The text of the embedded default catalog.
pub const EMBEDDED_TOML: &str = include_str!("../catalog.toml");

/// The name the embedded catalog goes by in messages.
pub const EMBEDDED_ORIGIN: &str = "embedded catalog.toml";

/// How many close ids an unknown-model error suggests at most.
const MAX_SUGGESTIONS: usize = 3;

static EMBEDDED: LazyLock<Catalog> =
    LazyLock::new(|| match Catalog::parse(EMBEDDED_TOML, EMBEDDED_ORIGIN) {
        Ok(catalog) => catalog,
        // The embedded file is fixed at compile time and checked by the test
        // `embedded_catalog_is_valid`, so this arm is a build defect, not a runtime condition.
        Err(error) => panic!("the embedded catalog is invalid: {error}"),
    });

/// A validated set of providers, models and routes.
///
/// Invariants: model ids are unique; every model names a known provider; successors exist and
/// form no cycle; prices are non-negative; every route names known models.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    providers: Vec<ProviderInfo>,
    models: Vec<Model>,
    index: HashMap<String, usize>,
    routes: RouteTable,
    default_baseline: Option<String>,
}

impl Catalog {
    /// The default catalog shipped in this crate, parsed once.
    pub fn embedded() -> &'static Catalog {
        &EMBEDDED
    }

    /// Reads a complete catalog: providers, models and a `[routes]` table naming every class.
    /// `origin` (a path or name) prefixes every error message.
    pub fn parse(text: &str, origin: &str) -> Result<Catalog, CatalogError> {
        let raw = syntax::parse_raw(text, origin)?;
        validate::build(Catalog::empty(), raw, text, origin, validate::Mode::Full)
    }

    /// This catalog extended by a user file in the same format: its providers and models replace
    /// ones with the same id (whole entries) or are added; each route class it lists replaces that
    /// class's list. Every table is optional.
    pub fn overlay(&self, text: &str, origin: &str) -> Result<Catalog, CatalogError> {
        let raw = syntax::parse_raw(text, origin)?;
        validate::build(self.clone(), raw, text, origin, validate::Mode::Overlay)
    }

    /// Every model, in file order (a model overridden by an overlay keeps its place; new ones
    /// come after).
    pub fn models(&self) -> impl Iterator<Item = &Model> {
        self.models.iter()
    }

    /// How many models the catalog holds.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// Whether the catalog holds no model.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// The model with this id, without lifecycle checks.
    pub fn find(&self, id: &str) -> Option<&Model> {
        self.index.get(id).map(|&position| &self.models[position])
    }

    /// The model with this id, or [`CatalogError::UnknownModel`] with the closest ids.
    pub fn get(&self, id: &str) -> Result<&Model, CatalogError> {
        self.find(id).ok_or_else(|| CatalogError::UnknownModel {
            id: id.to_owned(),
            suggestions: self.suggestions(id),
        })
    }

    /// Up to three known model ids closest to `id`, best first.
    pub fn suggestions(&self, id: &str) -> Vec<String> {
        validate::closest(
            id,
            self.models.iter().map(|model| model.id.as_str()),
            MAX_SUGGESTIONS,
        )
    }

    /// The model to use for `id` on `today`.
    ///
    /// An active model is itself. A deprecated one is itself with a
    /// [`LifecycleWarning::Deprecated`]. A retired one is replaced by its successor, followed
    /// until a model that is not retired, with a [`LifecycleWarning::Retired`] naming both; a
    /// retired model without a usable successor is [`CatalogError::RetiredWithoutSuccessor`].
    pub fn resolve(&self, id: &str, today: Date) -> Result<Resolved<'_>, CatalogError> {
        let requested = self.get(id)?;
        match requested.status(today) {
            ModelStatus::Active => Ok(Resolved {
                model: requested,
                requested: id.to_owned(),
                warning: None,
            }),
            ModelStatus::Deprecated => Ok(Resolved {
                model: requested,
                requested: id.to_owned(),
                warning: Some(LifecycleWarning::Deprecated {
                    model: requested.id.clone(),
                    deprecated_on: requested.lifecycle.deprecated_on,
                    retires_on: requested.lifecycle.retires_on,
                    successor: requested.lifecycle.successor.clone(),
                }),
            }),
            ModelStatus::Retired => {
                // A retired status implies a retirement date.
                let retired_on = requested.lifecycle.retires_on.unwrap_or(today);
                let mut current = requested;
                // Validation rules out cycles; the bound only guards against a broken invariant.
                for _ in 0..=self.models.len() {
                    let Some(next) = current.lifecycle.successor.as_deref() else {
                        break;
                    };
                    current = self.get(next)?;
                    if current.status(today) != ModelStatus::Retired {
                        return Ok(Resolved {
                            model: current,
                            requested: id.to_owned(),
                            warning: Some(LifecycleWarning::Retired {
                                requested: requested.id.clone(),
                                retired_on,
                                successor: current.id.clone(),
                            }),
                        });
                    }
                }
                Err(CatalogError::RetiredWithoutSuccessor {
                    id: current.id.clone(),
                    retired_on: current.lifecycle.retires_on.unwrap_or(retired_on),
                })
            }
        }
    }

    /// The provider with this id.
    pub fn provider(&self, id: &str) -> Option<&ProviderInfo> {
        self.providers.iter().find(|provider| provider.id == id)
    }

    /// Every provider, by id.
    pub fn providers(&self) -> impl Iterator<Item = &ProviderInfo> {
        self.providers.iter()
    }

    /// The routing table: for each class, its models, best first.
    pub fn routes(&self) -> &RouteTable {
        &self.routes
    }

    /// The model savings are measured against when the configuration names none: the
    /// catalog's `default_baseline`, as written (resolve it on the day before pricing with
    /// it). Validation guarantees it exists and had not retired when its prices were read.
    pub fn default_baseline(&self) -> Option<&str> {
        self.default_baseline.as_deref()
    }

    /// The most recent day any of the catalog's prices were read (`pricing.checked_on`), what
    /// `triage --version` calls the catalog's price date; `None` for a catalog without models.
    ///
    /// ```
    /// let day = triage_catalog::Catalog::embedded().prices_checked_on();
    /// assert!(day.is_some());
    /// ```
    pub fn prices_checked_on(&self) -> Option<Date> {
        self.models
            .iter()
            .map(|model| model.pricing.checked_on)
            .max()
    }

    fn empty() -> Catalog {
        Catalog {
            providers: Vec::new(),
            models: Vec::new(),
            index: HashMap::new(),
            routes: RouteTable::default(),
            default_baseline: None,
        }
    }
}
