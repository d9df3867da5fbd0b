//! `triage models`: lists the catalog's models with prices, limits, tier and lifecycle status.

use std::process::ExitCode;

use serde_json::{Value, json};
use triage_catalog::{Catalog, Model, ModelStatus};

use crate::commands::catalog_args::CatalogArgs;
use crate::commands::output::{
    format_dollars, group_thousands, json_number, render_table, usage_error,
};

/// List the models of the catalog: provider, price per million tokens, context window,
/// capability tier (1 cheapest … 5 frontier) and lifecycle status.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  triage models
  triage models --provider anthropic
  triage models --json | jq '.[] | select(.status == \"active\") | .id'
  triage models --catalog my-models.toml

JSON output: an array of objects with id, provider, api_name, input_per_mtok,
output_per_mtok, cached_input_per_mtok, cache_write_per_mtok, batch_discount (numbers in
US dollars per million tokens, or null when unknown), context_window, max_output_tokens,
tier, capabilities, status (active, deprecated, retired), released, deprecated_on,
retires_on, successor (null if none), price_checked_on and price_source.")]
pub(crate) struct Args {
    /// Only models of this provider (openai, anthropic, google, deepseek, or one defined in the
    /// catalog).
    #[arg(long, value_name = "PROVIDER")]
    provider: Option<String>,

    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    catalog: CatalogArgs,
}

/// Prints the table or JSON.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let catalog = match args.catalog.load() {
        Ok(catalog) => catalog,
        Err(error) => return Ok(usage_error(&error)),
    };
    let unknown_provider = args
        .provider
        .as_ref()
        .filter(|provider| catalog.provider(provider).is_none());
    if let Some(provider) = unknown_provider {
        let known: Vec<&str> = catalog.providers().map(|p| p.id.as_str()).collect();
        let error = anyhow::anyhow!(
            "unknown provider `{provider}` (known: {})",
            known.join(", ")
        );
        return Ok(usage_error(&error));
    }
    let today = args.catalog.today();
    let models: Vec<&Model> = catalog
        .models()
        .filter(|model| args.provider.as_ref().is_none_or(|p| &model.provider == p))
        .collect();
    if args.json {
        let list: Vec<Value> = models
            .iter()
            .map(|model| model_json(model, today))
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        print!("{}", table(&catalog, &models, today));
    }
    Ok(ExitCode::SUCCESS)
}

fn table(catalog: &Catalog, models: &[&Model], today: time::Date) -> String {
    let rows: Vec<Vec<String>> = models
        .iter()
        .map(|model| {
            vec![
                model.id.clone(),
                model.provider.clone(),
                format_dollars(model.pricing.input),
                format_dollars(model.pricing.output),
                group_thousands(model.context_window),
                model.tier.to_string(),
                status_cell(catalog, model, today),
            ]
        })
        .collect();
    render_table(
        &[
            "id", "provider", "$ in/1M", "$ out/1M", "context", "tier", "status",
        ],
        &rows,
        &[2, 3, 4, 5],
    )
}

/// `active`, `deprecated (retires 2027-01-14)`, `retired -> claude-sonnet-4-5`.
fn status_cell(catalog: &Catalog, model: &Model, today: time::Date) -> String {
    match model.status(today) {
        ModelStatus::Active => "active".to_owned(),
        ModelStatus::Deprecated => match model.lifecycle.retires_on {
            Some(day) => format!("deprecated (retires {day})"),
            None => "deprecated".to_owned(),
        },
        ModelStatus::Retired => match catalog.resolve(&model.id, today) {
            Ok(resolved) if resolved.model.id != model.id => {
                format!("retired -> {}", resolved.model.id)
            }
            _ => "retired".to_owned(),
        },
    }
}

fn model_json(model: &Model, today: time::Date) -> Value {
    let pricing = &model.pricing;
    let date = |day: Option<time::Date>| day.map(|day| day.to_string());
    json!({
        "id": model.id,
        "provider": model.provider,
        "api_name": model.api_name,
        "input_per_mtok": json_number(pricing.input),
        "output_per_mtok": json_number(pricing.output),
        "cached_input_per_mtok": pricing.cached_input.map(json_number),
        "cache_write_per_mtok": pricing.cache_write.map(json_number),
        "batch_discount": pricing.batch_discount.map(json_number),
        "context_window": model.context_window,
        "max_output_tokens": model.max_output_tokens,
        "tier": model.tier,
        "capabilities": model.capabilities,
        "status": model.status(today),
        "released": date(model.lifecycle.released),
        "deprecated_on": date(model.lifecycle.deprecated_on),
        "retires_on": date(model.lifecycle.retires_on),
        "successor": model.lifecycle.successor,
        "price_checked_on": pricing.checked_on.to_string(),
        "price_source": pricing.source,
    })
}
