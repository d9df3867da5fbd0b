//! `triage config check`: validates a triage.toml against the catalog and prints the effective
//! policy: routes per class after lifecycle resolution, aliases, rules, thresholds, strategy.

use std::process::ExitCode;

use triage_config::Alias;
use triage_strategies::{RuleMatcher, StrategyKind};
use triage_types::RouteClass;

use crate::commands::context::{Context, DEFAULT_STRATEGY, RoutingArgs};
use crate::commands::output::{merge_warnings, usage_error};

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
    print!("{}", effective(&context));
    Ok(ExitCode::SUCCESS)
}

fn effective(context: &Context) -> String {
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
    if strategy == StrategyKind::Model || config.classifier.model_dir.is_some() {
        match context.model_dir() {
            Some(dir) => out.push_str(&format!("model dir   {}\n", dir.display())),
            None => out.push_str("model dir   embedded (models/default)\n"),
        }
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
                    if let Some(warning) = resolved.warning {
                        if user_named {
                            lifecycle.push(warning.to_string());
                        }
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
    let fallback = &config.fallback.config;
    out.push_str(&format!(
        "fallback    max {} attempts, deadline {} ms, {} retr{} per model, {} per-class and {} per-alias check overrides\n",
        fallback.max_attempts,
        fallback.deadline_ms,
        fallback.retries_per_model,
        if fallback.retries_per_model == 1 { "y" } else { "ies" },
        fallback.routes.len(),
        fallback.aliases.len()
    ));
    let warnings = merge_warnings(&context.warnings, &lifecycle);
    if !warnings.is_empty() {
        out.push_str("\nwarnings\n");
        for warning in warnings {
            out.push_str(&format!("  - {warning}\n"));
        }
    }
    out
}
