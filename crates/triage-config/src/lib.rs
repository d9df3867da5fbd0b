//! `triage.toml`: parsing, validation, and the routing settings it yields.
//!
//! Two steps, as the house style asks: the file is deserialized into raw structs with
//! `deny_unknown_fields` (so a typo is an error naming the file, line, column and key), then
//! validated into typed settings ([`Config`]); model ids are then checked against the catalog
//! ([`Config::check_models`]), since the catalog itself may be extended by the config
//! ([`Config::catalog`]).
//!
//! Sections (each in its own module under `sections/`; see there to add one):
//!
//! ```toml
//! [routing]
//! strategy = "keyword"          # model | keyword | length; --strategy wins
//! low_confidence = 0.4          # below it: the pricier of the top two classes, or one tier up
//! quality = 0.5                 # cost-quality knob: 0 cheapest adequate … 1 best; --quality wins
//! candidates = ["gpt-4o-mini", "gpt-4o"]  # the models the knob may choose (default: the routes')
//! reasoning_effort = "auto"     # auto (by class and difficulty) | off | low | medium | high …
//! high_stakes = 0.3             # p(critical) from which the knob holds a request to …
//! high_stakes_min_tier = 4      # … this tier or higher (1: off)
//!
//! [quality]                     # expected quality the knob weighs (default: the shipped table)
//! file = "quality.toml"         # written by `triage calibrate --out`
//! [quality.reason]
//! "gpt-4o-mini" = [0.95, 0.8, 0.5]   # [easy, medium, hard]
//!
//! [routes]                      # replaces the catalog's seed routes, per class
//! faq = ["gemini-2.0-flash", "gpt-4o-mini"]
//!
//! [aliases.cheap-json]          # clients may send model = "cheap-json"
//! model = "gpt-4o-mini"         # or per-class lists: faq = [...], extract = [...]
//!
//! [[rules]]                     # evaluated first; contains or regex, case-insensitive
//! name = "legal"
//! contains = "contract"
//! class = "critical"            # and/or model = "…"
//!
//! [keywords.critical]           # keyword strategy: add or replace weights (0 removes)
//! "terms of service" = 3.0
//!
//! [length]
//! buckets = [{ below = 16, class = "faq" }, { below = 1024, class = "analyze" }]
//! otherwise = "transform"
//!
//! [catalog]
//! path = "my-catalog.toml"      # overlaid on the embedded catalog; [[catalog.models]] inline too
//!
//! [providers]
//! disabled = ["deepseek"]       # or enabled = ["openai", "anthropic"]
//!
//! [providers.settings.openai]   # per catalog provider id; *_BASE_URL variables still win
//! base_url = "https://my-proxy.example.com/v1"
//! api_key_env = "MY_OPENAI_KEY"
//!
//! [classifier]
//! model_dir = "models/custom"
//! precision = "f32"             # or "int8"; default "auto" (int8 where the CPU has VNNI)
//!
//! [fallback]                    # retries, failover, escalation, circuit breakers
//! max_attempts = 6
//! [fallback.checks]             # quality checks for every answer
//! refusal_patterns = ["^i can'?t help"]
//! [fallback.routes.extract]     # per-class overrides of the checks
//! min_chars = 1
//! [fallback.aliases.cheap-json] # per-alias overrides, over the class's
//! json = true
//!
//! [ledger]
//! path = "ledger.sqlite3"       # default <data dir>/triage/ledger.sqlite3
//!
//! [server]
//! listen = "127.0.0.1:8080"
//! api_keys = ["sk-team-1"]      # clients send Authorization: Bearer KEY or x-api-key
//! body_limit_bytes = 4194304
//! request_timeout_ms = 300000
//!
//! [[server.keys]]               # per-client keys: models, budgets, rate limits
//! name = "team-a"
//! key_env = "TEAM_A_KEY"        # or key = "…"
//! models = ["auto", "cheap-json"]
//! daily_budget_usd = 5
//! requests_per_minute = 60
//!
//! [state]                       # budgets and rate limits shared by every replica
//! redis_url = "redis://127.0.0.1:6379"
//! ```
//!
//! Only the CLI reads environment variables; their names are in [`env`](mod@env).
#![deny(missing_docs)]

pub mod env;
mod error;
mod raw;
#[cfg(test)]
mod reference;
mod sections;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use time::Date;
use triage_catalog::{Catalog, Source};
use triage_strategies::{
    KeywordOverrides, KeywordStrategy, KeywordTable, LengthStrategy, LengthThresholds, Policy,
    QualityPolicy, QualityTable, RouteAlias, Rules,
};
use triage_types::RouteClass;

pub use error::ConfigError;
pub use sections::aliases::Alias;
pub use sections::catalog::CatalogSettings;
pub use sections::classifier::{ClassifierPrecision, ClassifierSettings};
pub use sections::keys::{ClientKeySettings, KeySecret};
pub use sections::ledger::LedgerSettings;
pub use sections::providers::{ProviderOverrides, ProvidersSection};
pub use sections::quality::{QualityOverride, QualitySettings};
pub use sections::routing::Routing;
pub use sections::rules::RuleSettings;
pub use sections::server::ServerSettings;
pub use sections::state::{StateSettings, WhenUnreachable};
pub use triage_catalog::Location;

use crate::raw::RawConfig;

/// A model id as written in the config, with where, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    /// The id.
    pub id: String,
    /// Where it was written.
    pub location: Location,
    /// The dotted key it was written under.
    pub key: String,
}

/// A validated configuration. [`Config::default`] is the empty one (every setting default).
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Where it came from (a path), or `None` for the built-in defaults.
    pub origin: Option<PathBuf>,
    /// `[routing]`.
    pub routing: Routing,
    /// `[routes]`: per-class lists replacing the catalog's.
    pub routes: BTreeMap<RouteClass, Vec<ModelRef>>,
    /// `[aliases]`.
    pub aliases: BTreeMap<String, Alias>,
    /// `[[rules]]`.
    pub rules: RuleSettings,
    /// `[keywords]`.
    pub keywords: KeywordOverrides,
    /// `[length]`, if set.
    pub length: Option<LengthThresholds>,
    /// `[catalog]`.
    pub catalog: CatalogSettings,
    /// `[providers]`: which providers routing may use, and per-provider base URLs and key
    /// variables (`[providers.settings.<id>]`).
    pub providers: ProvidersSection,
    /// `[classifier]`.
    pub classifier: ClassifierSettings,
    /// `[fallback]`, validated: limits, and every class's and alias's quality checks compiled.
    pub fallback: triage_fallback::FallbackSettings,
    /// `[ledger]`.
    pub ledger: LedgerSettings,
    /// `[server]`.
    pub server: ServerSettings,
    /// `[quality]`.
    pub quality: QualitySettings,
    /// `[state]`.
    pub state: StateSettings,
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base_dir = path.parent().map(Path::to_owned);
        let mut config = Config::parse(&text, &path.display().to_string(), base_dir.as_deref())?;
        config.origin = Some(path.to_owned());
        Ok(config)
    }

    /// Validates config text; `origin` names it in errors and relative paths in it are
    /// resolved against `base_dir`.
    pub fn parse(text: &str, origin: &str, base_dir: Option<&Path>) -> Result<Config, ConfigError> {
        let source = Source { text, origin };
        let raw: RawConfig = toml::from_str(text).map_err(|error| {
            let span = error.span().unwrap_or(0..0);
            let mut message = error.message().trim().to_owned();
            if message.contains(sections::fallback::MOVED_LOW_CONFIDENCE) {
                message.push_str(
                    " (the low-confidence escalation is one routing decision now: set [routing] low_confidence)",
                );
            }
            ConfigError::Syntax {
                location: source.span(&span),
                key: error.span().and_then(|span| source.key_path(&span)),
                message,
            }
        })?;
        let aliases = sections::aliases::validate(&source, raw.aliases)?;
        let alias_names = aliases.keys().map(String::as_str).collect();
        let fallback = sections::fallback::validate(&source, raw.fallback, &alias_names)?;
        Ok(Config {
            origin: None,
            routing: sections::routing::validate(&source, raw.routing)?,
            routes: sections::routes::validate(&source, raw.routes)?,
            aliases,
            rules: sections::rules::validate(&source, raw.rules)?,
            keywords: sections::keywords::validate(&source, raw.keywords)?,
            length: raw
                .length
                .map(|length| sections::length::validate(&source, length))
                .transpose()?,
            catalog: sections::catalog::validate(&source, raw.catalog, base_dir)?,
            providers: sections::providers::validate(&source, raw.providers)?,
            classifier: sections::classifier::validate(&source, raw.classifier, base_dir)?,
            fallback,
            ledger: sections::ledger::validate(&source, raw.ledger, base_dir)?,
            server: sections::server::validate(&source, raw.server)?,
            quality: sections::quality::validate(&source, raw.quality, base_dir)?,
            state: sections::state::validate(&source, raw.state)?,
        })
    }

    /// The name of the config in messages.
    pub fn origin_name(&self) -> String {
        self.origin.as_ref().map_or_else(
            || "<defaults>".to_owned(),
            |path| path.display().to_string(),
        )
    }

    /// `base` extended by the `[catalog]` file and inline entries (reads the file).
    pub fn catalog(&self, base: &Catalog) -> Result<Catalog, ConfigError> {
        let mut catalog = base.clone();
        if let Some(path) = &self.catalog.path {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            catalog = catalog.overlay(&text, &path.display().to_string())?;
        }
        if let Some(inline) = &self.catalog.inline {
            catalog = catalog.overlay(
                inline,
                &format!("{} [catalog] inline entries", self.origin_name()),
            )?;
        }
        Ok(catalog)
    }

    /// Checks that every model named by routes, aliases, rules and `[ledger] baseline` exists in `catalog` and is
    /// usable on `today` (retired models need a successor); returns lifecycle warnings. A rule
    /// may also name an alias.
    pub fn check_models(&self, catalog: &Catalog, today: Date) -> Result<Vec<String>, ConfigError> {
        let mut warnings = Vec::new();
        let mut check = |model: &ModelRef, alias_ok: bool| -> Result<(), ConfigError> {
            if alias_ok && self.aliases.contains_key(&model.id) {
                return Ok(());
            }
            match catalog.resolve(&model.id, today) {
                Ok(resolved) => {
                    if let Some(warning) = resolved.warning {
                        warnings.push(format!("{} ({}): {warning}", model.location, model.key));
                    }
                    Ok(())
                }
                Err(error) => Err(ConfigError::Model {
                    location: model.location.clone(),
                    key: model.key.clone(),
                    model: model.id.clone(),
                    reason: error.to_string(),
                }),
            }
        };
        for models in self.routes.values() {
            for model in models {
                check(model, false)?;
            }
        }
        for alias in self.aliases.values() {
            match alias {
                Alias::Model(model) => check(model, false)?,
                Alias::Routes(routes) => {
                    for model in routes.values().flatten() {
                        check(model, false)?;
                    }
                }
            }
        }
        for model in &self.rules.models {
            check(model, true)?;
        }
        if let Some(baseline) = &self.routing.baseline {
            check(baseline, false)?;
        }
        for model in self.routing.candidates.iter().flatten() {
            check(model, false)?;
        }
        for entry in &self.quality.overrides {
            check(&entry.model, false)?;
        }
        for key in &self.server.keys {
            for model in key.models.iter().filter(|model| model.id != "auto") {
                check(model, true)?;
            }
        }
        Ok(warnings)
    }

    /// The routing policy: `catalog`'s routes with `[routes]` applied, the provider filter and
    /// the aliases.
    pub fn policy(&self, catalog: &Catalog) -> Policy {
        let mut policy = Policy::from_catalog(catalog);
        for (class, models) in &self.routes {
            policy.set_route(*class, ids(models));
        }
        policy.set_providers(self.providers.filter.clone());
        policy.set_reasoning(self.routing.reasoning_effort);
        for (name, alias) in &self.aliases {
            let alias = match alias {
                Alias::Model(model) => RouteAlias::Model(model.id.clone()),
                Alias::Routes(routes) => RouteAlias::Routes(
                    routes
                        .iter()
                        .map(|(class, models)| (*class, ids(models)))
                        .collect(),
                ),
            };
            policy.set_alias(name.clone(), alias);
        }
        policy
    }

    /// The expected-quality table: `[quality] file` (read here) or the shipped one, with the
    /// `[quality.<class>]` entries applied.
    pub fn quality_table(&self) -> Result<QualityTable, ConfigError> {
        let mut table = match &self.quality.file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                QualityTable::parse(&text, &path.display().to_string())
            }
            None => QualityTable::embedded(),
        }
        .map_err(|source| ConfigError::Strategy {
            origin: self.origin_name(),
            source,
        })?;
        for entry in &self.quality.overrides {
            table.set(entry.class, &entry.model.id, entry.quality);
        }
        Ok(table)
    }

    /// The cost-quality knob's settings: `[routing] quality` and `candidates`, the quality
    /// table, prices relative to `baseline`.
    pub fn quality_policy(&self, baseline: Option<String>) -> Result<QualityPolicy, ConfigError> {
        let table = self.quality_table()?;
        Ok(QualityPolicy {
            knob: self.routing.quality.unwrap_or_else(|| table.default_knob()),
            candidates: self.routing.candidates.as_ref().map(|models| ids(models)),
            baseline,
            table: std::sync::Arc::new(table),
            high_stakes: self.routing.high_stakes,
        })
    }

    /// The baseline: `[routing] baseline`, else the catalog's `default_baseline` (resolve it
    /// on the day before pricing with it).
    pub fn baseline(&self, catalog: &Catalog) -> Option<String> {
        match &self.routing.baseline {
            Some(baseline) => Some(baseline.id.clone()),
            None => catalog.default_baseline().map(str::to_owned),
        }
    }

    /// The router every entry point routes by: the config's rules and policy over `catalog`,
    /// `strategy` classifying, `quality` weighing cost against expected quality.
    pub fn router(
        &self,
        catalog: &Catalog,
        strategy: std::sync::Arc<dyn triage_strategies::Strategy>,
        quality: QualityPolicy,
    ) -> triage_strategies::Router {
        let mut policy = self.policy(catalog);
        policy.set_quality(Some(quality));
        triage_strategies::Router::new(strategy, policy)
            .with_rules(self.rules())
            .with_low_confidence(self.routing.low_confidence)
    }

    /// The user rules, in order.
    pub fn rules(&self) -> Rules {
        Rules::new(self.rules.rules.clone())
    }

    /// The keyword strategy: the embedded table with `[keywords]` applied.
    pub fn keyword_strategy(&self) -> Result<KeywordStrategy, ConfigError> {
        let mut table = KeywordTable::embedded().map_err(|source| ConfigError::Strategy {
            origin: self.origin_name(),
            source,
        })?;
        table.apply(&self.keywords);
        Ok(KeywordStrategy::new(table))
    }

    /// The length strategy: `[length]` or the defaults.
    pub fn length_strategy(&self) -> LengthStrategy {
        LengthStrategy::new(self.length.clone().unwrap_or_default())
    }
}

fn ids(models: &[ModelRef]) -> Vec<String> {
    models.iter().map(|model| model.id.clone()).collect()
}
