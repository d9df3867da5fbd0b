//! What routing commands share: `--config`, `--catalog`, `--as-of` and `--model-dir`, loaded
//! into one [`Context`] (validated config, catalog, day, strategies, router). `route`,
//! `classify`, `eval` and `config check` use it; `ask` and `serve` can too.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use time::Date;
use triage_catalog::Catalog;
use triage_classifier::Classifier;
use triage_config::{Config, ProviderOverrides};
use triage_providers::{ProviderSettings, ProviderSource};
use triage_strategies::{ModelStrategy, Router, Strategy, StrategyKind};

use crate::commands::catalog_args::CatalogArgs;

/// The strategy used when neither `--strategy` nor `[routing] strategy` names one: the
/// on-device classifier, embedded in the binary (`models/default`).
pub(crate) const DEFAULT_STRATEGY: StrategyKind = StrategyKind::Model;

/// Options every routing command takes. Flatten with `#[command(flatten)]`.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct RoutingArgs {
    /// A triage.toml with routes, rules, keywords, thresholds and catalog overrides.
    #[arg(long, value_name = "FILE", env = triage_config::env::TRIAGE_CONFIG)]
    pub(crate) config: Option<PathBuf>,

    /// The classifier model directory for `--strategy model` (config.json, model.safetensors,
    /// tokenizer.json, labels.json); overrides `[classifier] model_dir`.
    #[arg(long, value_name = "DIR")]
    pub(crate) model_dir: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) catalog: CatalogArgs,
}

/// A loaded, validated routing setup.
pub(crate) struct Context {
    /// The validated config (the defaults when no file was given).
    pub(crate) config: Config,
    /// The embedded catalog with the config's and `--catalog`'s overlays.
    pub(crate) catalog: Catalog,
    /// The day lifecycles are judged on.
    pub(crate) today: Date,
    /// Lifecycle warnings about models the config names.
    pub(crate) warnings: Vec<String>,
    model_dir: Option<PathBuf>,
}

impl Context {
    /// Loads the config, builds the catalog (embedded, then `[catalog]`, then `--catalog`)
    /// and checks every model the config names.
    pub(crate) fn load(args: &RoutingArgs) -> anyhow::Result<Context> {
        let config = match &args.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        let mut catalog = config.catalog(Catalog::embedded())?;
        if let Some(path) = &args.catalog.catalog {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read catalog file {}", path.display()))?;
            catalog = catalog.overlay(&text, &path.display().to_string())?;
        }
        let today = args.catalog.today();
        let warnings = config.check_models(&catalog, today)?;
        let model_dir = args
            .model_dir
            .clone()
            .or_else(|| config.classifier.model_dir.clone());
        Ok(Context {
            config,
            catalog,
            today,
            warnings,
            model_dir,
        })
    }

    /// `--strategy` if given, else `[routing] strategy`, else [`DEFAULT_STRATEGY`].
    pub(crate) fn strategy_kind(&self, chosen: Option<StrategyKind>) -> StrategyKind {
        chosen
            .or(self.config.routing.strategy)
            .unwrap_or(DEFAULT_STRATEGY)
    }

    /// The classifier model directory from `--model-dir` or `[classifier] model_dir`; `None`
    /// means the model embedded in the binary.
    pub(crate) fn model_dir(&self) -> Option<&PathBuf> {
        self.model_dir.as_ref()
    }

    /// Builds a strategy; `model` loads the classifier, which can fail.
    pub(crate) fn strategy(&self, kind: StrategyKind) -> anyhow::Result<Arc<dyn Strategy>> {
        Ok(match kind {
            StrategyKind::Keyword => Arc::new(self.config.keyword_strategy()?),
            StrategyKind::Length => Arc::new(self.config.length_strategy()),
            StrategyKind::Model => {
                let classifier = match self.model_dir() {
                    Some(dir) => Classifier::load(dir).with_context(|| {
                        format!("cannot load the classifier model from {}", dir.display())
                    })?,
                    None => Classifier::embedded()
                        .context("cannot load the embedded classifier model")?,
                };
                Arc::new(ModelStrategy::new(Arc::new(classifier)))
            }
        })
    }

    /// The strategies that can run here, in report order: `model` only when its directory
    /// loads.
    pub(crate) fn available_strategies(&self) -> Vec<StrategyKind> {
        StrategyKind::ALL
            .into_iter()
            .filter(|kind| *kind != StrategyKind::Model || self.strategy(*kind).is_ok())
            .collect()
    }

    /// The router: the config's rules, the strategy, the config's policy and threshold.
    pub(crate) fn router(&self, strategy: Arc<dyn Strategy>) -> Router {
        Router::new(strategy, self.config.policy(&self.catalog))
            .with_rules(self.config.rules())
            .with_low_confidence(self.config.routing.low_confidence)
    }
}

/// `[providers.settings.<id>]` from the config, by catalog provider id.
pub(crate) type ProviderOverridesById = BTreeMap<String, ProviderOverrides>;

/// A catalog provider's connection settings: the catalog's base URL and key variable, replaced
/// by `[providers.settings.<id>]`, then the environment (`OPENAI_BASE_URL` and the like win
/// over both, as in the providers' SDKs; the key is read from the chosen variable).
pub(crate) fn provider_settings(
    catalog: &Catalog,
    overrides: &ProviderOverridesById,
    provider: &str,
) -> anyhow::Result<ProviderSettings> {
    let info = catalog
        .provider(provider)
        .with_context(|| format!("the catalog has no provider `{provider}`"))?;
    let protocol: triage_providers::Protocol = info
        .protocol
        .as_str()
        .parse()
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let configured = overrides.get(provider);
    let source = ProviderSource {
        base_url: Some(info.base_url.clone()),
        api_key_env: info.api_key_env.clone(),
        config_base_url: configured.and_then(|settings| settings.base_url.clone()),
        config_api_key_env: configured.and_then(|settings| settings.api_key_env.clone()),
    };
    Ok(ProviderSettings::resolve(
        provider,
        protocol,
        &source,
        |name| std::env::var(name).ok(),
    ))
}
