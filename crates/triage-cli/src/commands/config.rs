//! `triage config check`: validates a triage.toml against the catalog and prints every
//! effective setting: strategy, routes per class after lifecycle resolution, providers with
//! their resolved base URLs and key variables, aliases, rules, thresholds, catalog, ledger,
//! server and the whole of `[fallback]` (docs/config.md describes each key).

use std::process::ExitCode;

use std::path::Path;

use triage_catalog::ProviderInfo;
use triage_config::{Alias, env};
use triage_engine::provider_settings;
use triage_fallback::{ChecksConfig, DEFAULT_REFUSAL_PATTERNS, FallbackConfig};
use triage_strategies::RuleMatcher;
use triage_types::RouteClass;

use crate::commands::context::{Context, DEFAULT_STRATEGY, RoutingArgs};
use crate::commands::output::{default_ledger_path, merge_warnings, usage_error};

/// Inspect configuration.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ConfigCommand {
    /// Validate a triage.toml (unknown keys, bad values, unknown models) and print the
    /// effective policy. Exit status 2 when it is invalid.
    #[command(after_help = "\
Examples:
  triage config check --config triage.toml
  TRIAGE_CONFIG=triage.toml triage config check
  triage config check            # the built-in defaults")]
    Check(CheckArgs),
}

/// `triage config check` options.
#[derive(Debug, clap::Args)]
struct CheckArgs {
    #[command(flatten)]
    routing: RoutingArgs,
}

/// Runs the subcommand.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        ConfigCommand::Check(args) => check(&args),
    }
}

fn check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let context = match Context::load(&args.routing) {
        Ok(context) => context,
        Err(error) => return Ok(usage_error(&error)),
    };
    let environment = |name: &str| std::env::var(name).ok();
    print!(
        "{}",
        effective(
            &context,
            args.routing.catalog.catalog.as_deref(),
            &environment
        )
    );
    Ok(ExitCode::SUCCESS)
}

fn effective(
    context: &Context,
    catalog_flag: Option<&Path>,
    environment: &dyn Fn(&str) -> Option<String>,
) -> String {
    let config = &context.config;
    let mut out = String::new();
    match &config.origin {
        Some(path) => out.push_str(&format!("config      {} (valid)\n", path.display())),
        None => out.push_str("config      none (built-in defaults)\n"),
    }
    let (strategy, source) = match config.routing.strategy {
        Some(kind) => (kind, "[routing] strategy"),
        None => (DEFAULT_STRATEGY, "default"),
    };
    out.push_str(&format!("strategy    {strategy} ({source})\n"));
    match context.model_dir() {
        Some(dir) => out.push_str(&format!("model dir   {}\n", dir.display())),
        None => out.push_str("model dir   embedded (models/default)\n"),
    }
    out.push_str(&format!(
        "low confidence  {:.2} (below it: the pricier of the top two classes, or one tier up)\n",
        config.routing.low_confidence
    ));
    out.push_str(&format!("as of       {}\n", context.today));

    let policy = config.policy(&context.catalog);
    let mut lifecycle: Vec<String> = Vec::new();
    out.push_str("\nroutes (after lifecycle resolution)\n");
    for class in RouteClass::ALL {
        let source = if config.routes.contains_key(&class) {
            "config"
        } else {
            "catalog"
        };
        // Warn about routes the user wrote (in the config or a catalog overlay), not about
        // shipped defaults they did not name.
        let user_named = config.routes.contains_key(&class)
            || policy.route(class) != triage_catalog::Catalog::embedded().routes().models(class);
        let mut shown = Vec::new();
        for id in policy.route(class) {
            match context.catalog.resolve(id, context.today) {
                Ok(resolved) => {
                    if resolved.model.id == *id {
                        shown.push(id.clone());
                    } else {
                        shown.push(format!("{} (for {id})", resolved.model.id));
                    }
                    if let Some(warning) = resolved.warning
                        && user_named
                    {
                        lifecycle.push(warning.to_string());
                    }
                }
                Err(error) => shown.push(format!("{id} (unusable: {error})")),
            }
        }
        out.push_str(&format!(
            "  {:<10} {}  [{source}]\n",
            class.as_str(),
            shown.join(" → ")
        ));
    }
    let filter = policy.providers();
    match &filter.enabled {
        Some(enabled) => out.push_str(&format!(
            "providers   only {}\n",
            enabled.iter().cloned().collect::<Vec<_>>().join(", ")
        )),
        None => out.push_str("providers   all\n"),
    }
    if !filter.disabled.is_empty() {
        out.push_str(&format!(
            "disabled    {}\n",
            filter
                .disabled
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out.push_str("\nprovider settings (catalog, then [providers.settings], then environment)\n");
    for info in context.catalog.providers() {
        out.push_str(&provider_line(context, info, environment));
    }
    if !config.aliases.is_empty() {
        out.push_str("\naliases\n");
        for (name, alias) in &config.aliases {
            match alias {
                Alias::Model(model) => out.push_str(&format!("  {name} → {}\n", model.id)),
                Alias::Routes(routes) => {
                    let parts: Vec<String> = routes
                        .iter()
                        .map(|(class, models)| {
                            let ids: Vec<&str> =
                                models.iter().map(|model| model.id.as_str()).collect();
                            format!("{class}: {}", ids.join(" → "))
                        })
                        .collect();
                    out.push_str(&format!("  {name} → {}\n", parts.join("; ")));
                }
            }
        }
    }
    out.push_str("\nrules (first match wins, before any strategy)\n");
    if config.rules.rules.is_empty() {
        out.push_str("  none\n");
    }
    for (index, rule) in config.rules.rules.iter().enumerate() {
        let matcher = match &rule.matcher {
            RuleMatcher::Contains(needle) => format!("contains {needle:?}"),
            RuleMatcher::Regex(regex) => format!("regex {:?}", regex.as_str()),
        };
        let mut actions = Vec::new();
        if let Some(class) = rule.action.class {
            actions.push(format!("class {class}"));
        }
        if let Some(model) = &rule.action.model {
            actions.push(format!("model {model}"));
        }
        out.push_str(&format!(
            "  {}. {}: {matcher} → {}\n",
            index + 1,
            rule.name,
            actions.join(", ")
        ));
    }
    let overrides: usize = config
        .keywords
        .weights
        .values()
        .map(|list| list.len())
        .sum();
    match config.keyword_strategy() {
        Ok(strategy) => out.push_str(&format!(
            "\nkeywords    {} entries ({overrides} keyword and {} pattern overrides from config)\n",
            strategy.table().len(),
            config.keywords.patterns.len()
        )),
        Err(error) => out.push_str(&format!("\nkeywords    unusable: {error}\n")),
    }
    let length = config.length_strategy();
    let mut buckets: Vec<String> = length
        .thresholds()
        .buckets()
        .iter()
        .map(|bucket| format!("< {} tokens {}", bucket.below, bucket.class))
        .collect();
    buckets.push(format!("else {}", length.thresholds().otherwise()));
    let source = if config.length.is_some() {
        "config"
    } else {
        "default"
    };
    out.push_str(&format!("length      {} [{source}]\n", buckets.join(", ")));
    out.push_str(&catalog_line(context, catalog_flag));
    out.push_str(&ledger_line(context, environment));
    out.push_str(&server_line(context));
    out.push_str("\nfallback (effective; unset min_chars scales with the request)\n");
    out.push_str(&fallback_toml(&config.fallback.config));
    let warnings = merge_warnings(&context.warnings, &lifecycle);
    if !warnings.is_empty() {
        out.push_str("\nwarnings\n");
        for warning in warnings {
            out.push_str(&format!("  - {warning}\n"));
        }
    }
    out
}

/// One provider's effective base URL and key variable, resolved by the engine's
/// [`provider_settings`], with where the base URL came from.
fn provider_line(
    context: &Context,
    info: &ProviderInfo,
    environment: &dyn Fn(&str) -> Option<String>,
) -> String {
    let overrides = context.config.providers.overrides.get(&info.id);
    let settings = provider_settings(info, overrides, environment);
    let set = |name: &str| environment(name).is_some_and(|value| !value.trim().is_empty());
    let source = match &info.base_url_env {
        Some(variable) if set(variable) => format!("${variable}"),
        _ if overrides.is_some_and(|overrides| overrides.base_url.is_some()) => {
            format!("[providers.settings.{}]", info.id)
        }
        _ => "catalog".to_owned(),
    };
    let key = match &settings.api_key_env {
        Some(variable) if settings.api_key.is_some() => format!("key ${variable} (set)"),
        Some(variable) => format!("key ${variable} (not set)"),
        None => "no key needed".to_owned(),
    };
    format!(
        "  {:<10} {}  [{source}]  {key}\n",
        info.id, settings.base_url
    )
}

fn catalog_line(context: &Context, catalog_flag: Option<&Path>) -> String {
    let mut layers = vec!["embedded".to_owned()];
    let settings = &context.config.catalog;
    if let Some(path) = &settings.path {
        layers.push(format!("{} ([catalog] path)", path.display()));
    }
    if settings.inline.is_some() {
        layers.push("[catalog] inline entries".to_owned());
    }
    if let Some(path) = catalog_flag {
        layers.push(format!("{} (--catalog)", path.display()));
    }
    format!(
        "catalog     {} ({} models)\n",
        layers.join(" + "),
        context.catalog.len()
    )
}

fn ledger_line(context: &Context, environment: &dyn Fn(&str) -> Option<String>) -> String {
    let ledger = &context.config.ledger;
    let path = match (environment(env::TRIAGE_LEDGER), &ledger.url, &ledger.path) {
        (Some(path), _, _) => format!(
            "{} (${})",
            triage_types::url::redact_password(&path),
            env::TRIAGE_LEDGER
        ),
        (None, Some(url), _) => format!(
            "PostgreSQL {} ([ledger] url)",
            triage_types::url::redact_password(url)
        ),
        (None, None, Some(path)) => format!("{} ([ledger] path)", path.display()),
        (None, None, None) => match default_ledger_path() {
            Ok(path) => format!("{} (default)", path.display()),
            Err(error) => format!("unknown ({error})"),
        },
    };
    // The same resolution as the engine's (`triage_config::Config::baseline`).
    let baseline = match (&context.config.routing.baseline, context.baseline()) {
        (Some(baseline), _) => format!("{} ([routing] baseline)", baseline.id),
        (None, Some(default)) => format!("{default} (the catalog's default_baseline)"),
        (None, None) => "none".to_owned(),
    };
    format!(
        "ledger      {}, {path}; baseline {baseline}\n",
        if ledger.enabled {
            "recording"
        } else {
            "off ([ledger] enabled = false)"
        }
    )
}

fn server_line(context: &Context) -> String {
    let server = &context.config.server;
    let listen = match server.listen {
        Some(listen) => format!("{listen} ([server] listen)"),
        None => "127.0.0.1:8080 (default)".to_owned(),
    };
    let keys = match (server.api_keys.len(), server.keys.len()) {
        (0, 0) => "no proxy keys (any client may call)".to_owned(),
        (plain, 0) => plural(plain, "proxy key"),
        (0, client) => plural(client, "client key"),
        (plain, client) => format!(
            "{} and {}",
            plural(plain, "proxy key"),
            plural(client, "client key")
        ),
    };
    format!(
        "server      listen {listen}, {keys}, body limit {} bytes, request timeout {} ms\n            \
         header read timeout {} ms, body read timeout {} ms, at most {} connections and {} \
         concurrent requests\n",
        server.body_limit_bytes,
        server.request_timeout.as_millis(),
        server.header_read_timeout.as_millis(),
        server.body_read_timeout.as_millis(),
        server.max_connections,
        server.max_concurrent_requests,
    ) + &keys_lines(context)
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Each `[[server.keys]]` entry (name, where its secret comes from, models, limits; never the
/// key itself) and where limits are counted.
fn keys_lines(context: &Context) -> String {
    let config = &context.config;
    if config.server.keys.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    for key in &config.server.keys {
        let secret = match &key.secret {
            triage_config::KeySecret::Literal(_) => "key in the file".to_owned(),
            triage_config::KeySecret::Env(variable) => format!("key from ${variable}"),
        };
        let models = if key.models.is_empty() {
            "any model".to_owned()
        } else {
            let ids: Vec<&str> = key.models.iter().map(|model| model.id.as_str()).collect();
            format!("models {}", ids.join(", "))
        };
        out.push_str(&format!(
            "key         {}: {secret}, {models}; {}\n",
            key.name,
            triage_engine::key_limits(key).describe(),
        ));
    }
    let state = &config.state;
    let store = match &state.redis_url {
        Some(url) => format!(
            "Redis {} (prefix {})",
            triage_types::url::redact_password(url),
            state.key_prefix
        ),
        None => "this process".to_owned(),
    };
    out.push_str(&format!(
        "state       limits counted in {store}; {} ms per call; unreachable: budgets {}, rate limits {}; one tier cheaper from {:.0}% of a budget\n",
        state.timeout.as_millis(),
        state.budgets_when_unreachable.as_str(),
        state.rate_limits_when_unreachable.as_str(),
        state.downshift_at * 100.0,
    ));
    out
}

/// `[fallback]` as TOML with every default filled in: the built-in check settings under the
/// configured ones, per-class and per-alias overrides as written.
fn fallback_toml(config: &FallbackConfig) -> String {
    let built_in = ChecksConfig {
        empty: Some(true),
        min_chars: None,
        cut_off: Some(true),
        refusal: Some(true),
        refusal_patterns: Some(
            DEFAULT_REFUSAL_PATTERNS
                .iter()
                .map(|pattern| (*pattern).to_owned())
                .collect(),
        ),
        json: Some(true),
        json_schema: None,
        judge: None,
    };
    let mut effective = config.clone();
    effective.checks = built_in.merged_with(&config.checks);
    let mut root = toml::Table::new();
    let text = match toml::Table::try_from(&effective) {
        Ok(mut table) => {
            // No overrides: no empty `[fallback.routes]` heading.
            table.retain(|_, value| value.as_table().is_none_or(|table| !table.is_empty()));
            root.insert("fallback".to_owned(), toml::Value::Table(table));
            toml::to_string(&root).unwrap_or_else(|error| format!("unprintable: {error}\n"))
        }
        Err(error) => format!("unprintable: {error}\n"),
    };
    let mut out = String::new();
    for line in text.lines() {
        if !line.is_empty() {
            out.push_str("  ");
        }
        out.push_str(line);
        out.push('\n');
    }
    if effective.checks.judge.is_none() {
        out.push_str("  # [fallback.checks.judge] off\n");
    }
    out
}
