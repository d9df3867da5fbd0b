//! What routing commands share: `--config`, `--catalog`, `--as-of` and `--model-dir`, loaded
//! into one [`Context`] (validated config, catalog, day, strategies, router). `route`,
//! `classify`, `eval` and `config check` use it; `ask` and `serve` can too.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use time::Date;
use triage_catalog::{Catalog, Location};
use triage_classifier::{Classifier, Precision};
use triage_config::{ClassifierPrecision, Config, ModelRef};
use triage_engine::{Engine, EngineOptions};
use triage_ledger::{Ledger, LedgerLocation, LedgerOptions};
use triage_strategies::{ModelStrategy, Strategy, StrategyKind};

use crate::commands::catalog_args::CatalogArgs;
use crate::commands::output::default_ledger_path;

/// The strategy used when neither `--strategy` nor `[routing] strategy` names one: the
/// on-device classifier, embedded in the binary (`models/default`).
pub(crate) const DEFAULT_STRATEGY: StrategyKind = StrategyKind::Model;

/// Where a command that answers requests records them. Flatten with `#[command(flatten)]`.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct LedgerArgs {
    /// The ledger to record in: an SQLite file or a PostgreSQL URL
    /// (postgres://user@host:5432/db, one ledger for every replica); overrides `[ledger] path`
    /// and `url`.
    #[arg(long, value_name = "FILE|URL", env = triage_config::env::TRIAGE_LEDGER, hide_env_values = true)]
    pub(crate) ledger: Option<PathBuf>,

    /// Record nothing (overrides `[ledger] enabled`).
    #[arg(long)]
    pub(crate) no_ledger: bool,
}

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

    /// The cost-quality knob in 0..=1 (0 = cheapest adequate model, 1 = best expected quality
    /// whatever it costs); overrides `[routing] quality`.
    #[arg(long, value_name = "Q", value_parser = parse_knob)]
    pub(crate) quality: Option<f64>,

    /// The model you would otherwise send everything to: savings are measured against it and,
    /// below knob 1, nothing dearer is chosen; overrides `[routing] baseline` (default: the
    /// catalog's `default_baseline`).
    #[arg(long, value_name = "MODEL")]
    pub(crate) baseline: Option<String>,

    #[command(flatten)]
    pub(crate) catalog: CatalogArgs,
}

/// A knob value: a number in 0..=1.
fn parse_knob(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if !(0.0..=1.0).contains(&value) {
        return Err(format!("{value} is not between 0 and 1"));
    }
    Ok(value)
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
    /// The day pinned by `--as-of`; `None` judges each request on its own date.
    pub(crate) as_of: Option<Date>,
    model_dir: Option<PathBuf>,
}

impl Context {
    /// Loads the config, builds the catalog (embedded, then `[catalog]`, then `--catalog`)
    /// and checks every model the config names.
    pub(crate) fn load(args: &RoutingArgs) -> anyhow::Result<Context> {
        let mut config = match &args.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(knob) = args.quality {
            config.routing.quality = Some(knob);
        }
        let mut catalog = config.catalog(Catalog::embedded())?;
        if let Some(path) = &args.catalog.catalog {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read catalog file {}", path.display()))?;
            catalog = catalog.overlay(&text, &path.display().to_string())?;
        }
        let today = args.catalog.today();
        if let Some(baseline) = &args.baseline {
            catalog
                .resolve(baseline, today)
                .with_context(|| format!("--baseline {baseline}"))?;
            config.routing.baseline = Some(ModelRef {
                id: baseline.clone(),
                location: Location {
                    origin: "--baseline".to_owned(),
                    line: 1,
                    column: 1,
                },
                key: "--baseline".to_owned(),
            });
        }
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
            as_of: args.catalog.as_of,
            model_dir,
        })
    }

    /// The baseline: `--baseline`, else `[routing] baseline`, else the catalog's
    /// `default_baseline`, resolved on the day (a retired id names its successor).
    pub(crate) fn baseline(&self) -> Option<String> {
        let id = self.config.baseline(&self.catalog)?;
        match self.catalog.resolve(&id, self.today) {
            Ok(resolved) => Some(resolved.model.id.clone()),
            Err(_) => Some(id),
        }
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
                let classifier = with_precision(classifier, self.config.classifier.precision)?;
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

    /// The request pipeline over this config: `strategy` for `auto`, provider keys and base
    /// URLs from the environment, `ledger` to record in.
    pub(crate) fn engine(
        &self,
        strategy: Arc<dyn Strategy>,
        ledger: Option<Ledger>,
        request_timeout: Option<Duration>,
    ) -> anyhow::Result<Engine> {
        let options = EngineOptions {
            strategy,
            env: Arc::new(|name: &str| std::env::var(name).ok()),
            ledger,
            as_of: self.as_of,
            request_timeout,
        };
        Ok(Engine::new(&self.config, self.catalog.clone(), options)?)
    }

    /// The ledger to record in: `--ledger` (or `TRIAGE_LEDGER`: a file or a PostgreSQL URL),
    /// else `[ledger] url` or `path`, else the default file under the user's data directory;
    /// `None` when recording is off.
    pub(crate) fn open_ledger(&self, args: &LedgerArgs) -> anyhow::Result<Option<Ledger>> {
        if args.no_ledger || !self.config.ledger.enabled {
            return Ok(None);
        }
        let location = ledger_location(args.ledger.as_deref(), &self.config.ledger)?;
        let journal = match (&self.config.ledger.journal, &location) {
            (Some(journal), _) => Some(journal.clone()),
            (None, LedgerLocation::Postgres(_)) => {
                Some(crate::commands::output::default_postgres_journal()?)
            }
            (None, LedgerLocation::Sqlite(_)) => None,
        };
        let options = LedgerOptions {
            journal,
            ..LedgerOptions::default()
        };
        Ok(Some(Ledger::open_at(&location, &options)?))
    }
}

/// Where the ledger is: `flag` (a file or a PostgreSQL URL), else `[ledger] url` or `path`,
/// else the default file.
pub(crate) fn ledger_location(
    flag: Option<&Path>,
    settings: &triage_config::LedgerSettings,
) -> anyhow::Result<LedgerLocation> {
    Ok(match (flag, &settings.url, &settings.path) {
        (Some(flag), _, _) => LedgerLocation::parse(&flag.to_string_lossy()),
        (None, Some(url), _) => LedgerLocation::Postgres(url.clone()),
        (None, None, Some(path)) => LedgerLocation::Sqlite(path.clone()),
        (None, None, None) => LedgerLocation::Sqlite(default_ledger_path()?),
    })
}

/// `classifier` in the arithmetic `[classifier] precision` asks for; `int8` on a CPU without
/// AVX-512 VNNI runs f32 and says so.
fn with_precision(
    classifier: Classifier,
    precision: ClassifierPrecision,
) -> anyhow::Result<Classifier> {
    let wanted = match precision {
        ClassifierPrecision::Auto => return Ok(classifier),
        ClassifierPrecision::F32 => Precision::F32,
        ClassifierPrecision::Int8 => Precision::Int8,
    };
    let classifier = classifier
        .with_precision(wanted)
        .context("cannot repack the classifier's weights")?;
    if classifier.precision() != wanted {
        eprintln!(
            "warning: [classifier] precision = \"int8\" needs AVX-512 VNNI, which this CPU lacks; the classifier runs f32"
        );
    }
    Ok(classifier)
}

#[cfg(test)]
mod tests {
    use triage_classifier::{Classifier, Precision};
    use triage_config::ClassifierPrecision;

    #[test]
    fn the_classifier_runs_the_configured_precision() {
        let embedded = Classifier::embedded().unwrap();
        for (setting, want) in [
            (ClassifierPrecision::Auto, Precision::detect()),
            (ClassifierPrecision::F32, Precision::F32),
            (ClassifierPrecision::Int8, Precision::detect()),
        ] {
            let classifier = super::with_precision(embedded.clone(), setting).unwrap();
            assert_eq!(classifier.precision(), want, "{setting:?}");
        }
    }
}
