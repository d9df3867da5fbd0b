//! What routing commands share: `--config`, `--catalog`, `--as-of` and `--model-dir`, loaded
//! into one [`Context`] (validated config, catalog, day, strategies, router). `route`,
//! `classify`, `eval` and `config check` use it; `ask` and `serve` can too.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use time::Date;
use triage_catalog::{Catalog, ProviderInfo};
use triage_classifier::Classifier;
use triage_config::{Config, ProviderOverrides};
use triage_providers::{ApiKey, ProviderSettings};
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

/// A catalog provider's connection settings, from the catalog, `[providers.settings.<id>]`
/// and the process environment (see [`resolve_provider`]).
pub(crate) fn provider_settings(
    catalog: &Catalog,
    overrides: &ProviderOverridesById,
    provider: &str,
) -> anyhow::Result<ProviderSettings> {
    let info = catalog
        .provider(provider)
        .with_context(|| format!("the catalog has no provider `{provider}`"))?;
    Ok(resolve_provider(info, overrides.get(provider), |name| {
        std::env::var(name).ok()
    }))
}

/// Resolves a catalog provider into client settings, with `lookup` reading the environment.
///
/// The base URL is the catalog's `base_url_env` variable when set and not blank (as in the
/// providers' SDKs), else `[providers.settings.<id>] base_url`, else the catalog's `base_url`.
/// The key comes from the variable named by `[providers.settings.<id>] api_key_env`, else by
/// the catalog's `api_key_env`; a provider with neither needs no key and is never asked for one.
pub(crate) fn resolve_provider(
    info: &ProviderInfo,
    overrides: Option<&ProviderOverrides>,
    lookup: impl Fn(&str) -> Option<String>,
) -> ProviderSettings {
    let present = |value: &String| !value.trim().is_empty();
    let base_url = info
        .base_url_env
        .as_deref()
        .and_then(&lookup)
        .filter(present)
        .or_else(|| overrides.and_then(|settings| settings.base_url.clone()))
        .unwrap_or_else(|| info.base_url.clone());
    let api_key_env = overrides
        .and_then(|settings| settings.api_key_env.clone())
        .or_else(|| info.api_key_env.clone())
        .filter(present);
    let api_key = api_key_env
        .as_deref()
        .and_then(&lookup)
        .filter(present)
        .map(ApiKey::new);
    ProviderSettings {
        api_key,
        api_key_env,
        ..ProviderSettings::new(info.id.clone(), info.protocol, base_url)
            .with_openai_quirks(info.openai_quirks)
    }
}

#[cfg(test)]
mod tests {
    use triage_providers::{MaxTokensField, OpenAiQuirks, Protocol};

    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "OPENAI_BASE_URL" => Some("http://127.0.0.1:9/v1".to_owned()),
            "OPENAI_API_KEY" => Some("sk-openai".to_owned()),
            "MY_KEY" => Some("sk-mine".to_owned()),
            "BLANK" => Some("  ".to_owned()),
            _ => None,
        }
    }

    fn info(id: &str) -> ProviderInfo {
        let catalog = Catalog::embedded();
        match catalog.provider(id) {
            Some(info) => info.clone(),
            None => ProviderInfo {
                id: id.to_owned(),
                protocol: Protocol::OpenAiCompatible,
                base_url: format!("http://{id}.local/v1"),
                base_url_env: None,
                api_key_env: None,
                openai_quirks: OpenAiQuirks::COMPATIBLE,
            },
        }
    }

    /// One resolution per line: base URL, key variable, whether a key was found, and what
    /// building the client would say about the key.
    fn check(cases: &[(&str, ProviderInfo, Option<ProviderOverrides>)]) -> String {
        let mut out = String::new();
        for (name, info, overrides) in cases {
            let settings = resolve_provider(info, overrides.as_ref(), env);
            out.push_str(&format!(
                "{name}: base_url={} api_key_env={:?} key={} quirks={}/{}\n",
                settings.base_url,
                settings.api_key_env,
                settings.api_key.as_ref().map_or("none", |key| key.expose()),
                settings.openai_quirks.max_tokens_field,
                settings.openai_quirks.json_schema,
            ));
        }
        out
    }

    #[test]
    fn resolution_follows_precedence_and_never_invents_keys() {
        let config = |base_url: Option<&str>, api_key_env: Option<&str>| {
            Some(ProviderOverrides {
                base_url: base_url.map(str::to_owned),
                api_key_env: api_key_env.map(str::to_owned),
            })
        };
        let cases = [
            (
                "openai: env base URL wins over config",
                info("openai"),
                config(Some("http://config/v1"), None),
            ),
            (
                "anthropic: catalog defaults, key unset",
                info("anthropic"),
                None,
            ),
            (
                "anthropic: config base URL, config key variable",
                info("anthropic"),
                config(Some("http://proxy.local"), Some("MY_KEY")),
            ),
            (
                "deepseek: catalog quirks, no base URL variable",
                info("deepseek"),
                None,
            ),
            (
                "keyless catalog provider",
                ProviderInfo {
                    protocol: Protocol::OpenAi,
                    ..info("ollama")
                },
                None,
            ),
            (
                "keyless provider given a key variable in config",
                info("together"),
                config(None, Some("MY_KEY")),
            ),
            (
                "blank variable values are absent",
                ProviderInfo {
                    base_url_env: Some("BLANK".to_owned()),
                    api_key_env: Some("BLANK".to_owned()),
                    ..info("blank")
                },
                None,
            ),
        ];
        insta::assert_snapshot!(check(&cases), @r#"
        openai: env base URL wins over config: base_url=http://127.0.0.1:9/v1 api_key_env=Some("OPENAI_API_KEY") key=sk-openai quirks=max_completion_tokens/true
        anthropic: catalog defaults, key unset: base_url=https://api.anthropic.com api_key_env=Some("ANTHROPIC_API_KEY") key=none quirks=max_tokens/true
        anthropic: config base URL, config key variable: base_url=http://proxy.local api_key_env=Some("MY_KEY") key=sk-mine quirks=max_tokens/true
        deepseek: catalog quirks, no base URL variable: base_url=https://api.deepseek.com/v1 api_key_env=Some("DEEPSEEK_API_KEY") key=none quirks=max_tokens/false
        keyless catalog provider: base_url=http://ollama.local/v1 api_key_env=None key=none quirks=max_tokens/true
        keyless provider given a key variable in config: base_url=http://together.local/v1 api_key_env=Some("MY_KEY") key=sk-mine quirks=max_tokens/true
        blank variable values are absent: base_url=http://blank.local/v1 api_key_env=Some("BLANK") key=none quirks=max_tokens/true
        "#);
        let keyless = resolve_provider(&info("ollama"), None, env);
        assert_eq!(
            keyless.openai_quirks.max_tokens_field,
            MaxTokensField::MaxTokens
        );
        assert!(
            triage_providers::build_provider(
                keyless,
                triage_providers::build_http_client(&Default::default()).unwrap()
            )
            .is_ok()
        );
    }
}
