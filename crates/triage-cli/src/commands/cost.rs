//! `triage cost`: the monthly cost of one baseline model against a routed mix of models.

use std::process::ExitCode;
use std::str::FromStr;

use anyhow::{Context, bail};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};
use triage_catalog::{Catalog, CostOptions, TokenCounts};
use triage_types::RouteClass;

use crate::commands::catalog_args::CatalogArgs;
use crate::commands::output::{
    format_dollars, group_thousands, json_number, render_table, usage_error,
};

/// Days in the month the calculator projects.
const DAYS_PER_MONTH: u64 = 30;

/// How far shares may sum from 1 before they are rejected.
const SHARE_TOLERANCE: Decimal = Decimal::from_parts(1, 0, 0, false, 6);

/// The class mix used when neither `--mix` nor `--model-mix` is given, in routing-table order.
const DEFAULT_MIX: [(RouteClass, &str); 6] = [
    (RouteClass::Extract, "0.20"),
    (RouteClass::Faq, "0.30"),
    (RouteClass::Transform, "0.15"),
    (RouteClass::Analyze, "0.20"),
    (RouteClass::Reason, "0.10"),
    (RouteClass::Critical, "0.05"),
];

/// Compare the monthly cost (30 days) of sending every request to one baseline model with
/// routing them: a class mix mapped through the catalog's routes (the first model of each
/// class, retired models replaced by their successors), or an explicit model mix.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The default class mix is extract=0.20,faq=0.30,transform=0.15,analyze=0.20,reason=0.10,
critical=0.05. Shares must be non-negative and sum to 1.

Examples:
  triage cost --requests-per-day 1000 --input-tokens 1000 --output-tokens 500 --baseline gpt-4o
      (baseline: $225.00 a month)
  triage cost --requests-per-day 1000 --input-tokens 1000 --output-tokens 500 \\
      --baseline gpt-4o --mix extract=0.5,faq=0.5 --batch --cached-share 0.25
  triage cost --requests-per-day 500 --input-tokens 2000 --output-tokens 300 \\
      --baseline claude-sonnet-4-5 --model-mix gpt-4o-mini=0.7,gpt-4o=0.3 --json

JSON output: baseline_monthly_usd, routed_monthly_usd, savings_usd, savings_pct (numbers),
the inputs, the baseline, a `routed` breakdown per class or model, and lifecycle warnings.")]
pub(crate) struct Args {
    /// Requests per day.
    #[arg(long, value_name = "N")]
    requests_per_day: u64,

    /// Average prompt tokens per request.
    #[arg(long, value_name = "N", value_parser = parse_non_negative)]
    input_tokens: Decimal,

    /// Average answer tokens per request (reasoning included).
    #[arg(long, value_name = "N", value_parser = parse_non_negative)]
    output_tokens: Decimal,

    /// The model every request would go to without routing (default: the config's
    /// `[routing] baseline`, else the catalog's `default_baseline`).
    #[arg(long, value_name = "MODEL")]
    baseline: Option<String>,

    /// The triage.toml whose `[routing] baseline` is the default baseline.
    #[arg(long, value_name = "FILE", env = triage_config::env::TRIAGE_CONFIG)]
    config: Option<std::path::PathBuf>,

    /// Share of requests per routing class, like `extract=0.3,faq=0.25,...`; classes left out
    /// get none.
    #[arg(long, value_name = "CLASS=SHARE,...", conflicts_with = "model_mix")]
    mix: Option<String>,

    /// Share of requests per model instead of per class, like `gpt-4o-mini=0.7,gpt-4o=0.3`.
    #[arg(long, value_name = "MODEL=SHARE,...")]
    model_mix: Option<String>,

    /// Send everything through the providers' batch APIs, at each model's batch discount
    /// (an error for a model without one).
    #[arg(long)]
    batch: bool,

    /// Share of prompt tokens (0 to 1) served from the provider's cache, priced at the
    /// cached-input rate.
    #[arg(long, value_name = "X", default_value = "0", value_parser = parse_fraction)]
    cached_share: Decimal,

    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    catalog: CatalogArgs,
}

/// Computes and prints the comparison.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let catalog = match args.catalog.load() {
        Ok(catalog) => catalog,
        Err(error) => return Ok(usage_error(&error)),
    };
    let mut args = args;
    let (baseline, source) = match resolve_baseline(&args, &catalog) {
        Ok(found) => found,
        Err(error) => return Ok(usage_error(&error)),
    };
    args.baseline = Some(baseline);
    let plan = match plan(&args, &catalog) {
        Ok(plan) => plan,
        Err(error) => return Ok(usage_error(&error)),
    };
    let report = price(&args, &catalog, &plan)?;
    if !args.json {
        println!("baseline {} ({source})", args.baseline());
    }
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report_json(&args, &report))?
        );
    } else {
        print!("{}", report_table(&args, &report));
    }
    Ok(ExitCode::SUCCESS)
}

/// One slice of the routed traffic, before pricing.
struct Slice {
    class: Option<RouteClass>,
    share: Decimal,
    requested: String,
}

/// The baseline and the routed slices, checked against the catalog.
struct Plan {
    slices: Vec<Slice>,
}

/// One priced slice, or the baseline.
struct Priced {
    class: Option<RouteClass>,
    share: Decimal,
    requested: String,
    model: String,
    per_request: Decimal,
    monthly: Decimal,
}

struct Report {
    baseline: Priced,
    routed: Vec<Priced>,
    routed_monthly: Decimal,
    savings: Decimal,
    savings_pct: Option<Decimal>,
    warnings: Vec<String>,
}

impl Args {
    /// The baseline, once [`resolve_baseline`] has filled it in.
    fn baseline(&self) -> &str {
        self.baseline.as_deref().unwrap_or_default()
    }
}

/// `--baseline`, else the config's `[routing] baseline`, else the catalog's
/// `default_baseline`, with where it came from.
fn resolve_baseline(args: &Args, catalog: &Catalog) -> anyhow::Result<(String, &'static str)> {
    if let Some(baseline) = &args.baseline {
        return Ok((baseline.clone(), "--baseline"));
    }
    if let Some(path) = &args.config {
        let config = triage_config::Config::load(path)?;
        if let Some(baseline) = &config.routing.baseline {
            return Ok((baseline.id.clone(), "[routing] baseline"));
        }
    }
    match catalog.default_baseline() {
        Some(baseline) => Ok((baseline.to_owned(), "the catalog's default_baseline")),
        None => anyhow::bail!("no baseline: pass --baseline MODEL"),
    }
}

fn plan(args: &Args, catalog: &Catalog) -> anyhow::Result<Plan> {
    catalog.get(args.baseline())?;
    let slices = match (&args.mix, &args.model_mix) {
        (_, Some(model_mix)) => {
            let shares = parse_shares(model_mix, "--model-mix")?;
            let mut slices = Vec::with_capacity(shares.len());
            for (id, share) in shares {
                catalog.get(&id).context("--model-mix")?;
                slices.push(Slice {
                    class: None,
                    share,
                    requested: id,
                });
            }
            slices
        }
        (mix, None) => {
            let shares = match mix {
                Some(mix) => parse_shares(mix, "--mix")?
                    .into_iter()
                    .map(|(name, share)| Ok((RouteClass::from_str(&name)?, share)))
                    .collect::<anyhow::Result<Vec<_>>>()
                    .context("--mix")?,
                None => DEFAULT_MIX
                    .iter()
                    .map(|(class, share)| Ok((*class, Decimal::from_str(share)?)))
                    .collect::<anyhow::Result<Vec<_>>>()?,
            };
            let mut slices = Vec::with_capacity(shares.len());
            for (class, share) in shares {
                let Some(model) = catalog.routes().primary(class) else {
                    bail!("the catalog routes no model for class `{class}`");
                };
                slices.push(Slice {
                    class: Some(class),
                    share,
                    requested: model.to_owned(),
                });
            }
            slices
        }
    };
    Ok(Plan { slices })
}

/// Parses `name=share,name=share`: shares non-negative, names unique, sum 1 within 1e-6.
fn parse_shares(text: &str, flag: &str) -> anyhow::Result<Vec<(String, Decimal)>> {
    let mut shares: Vec<(String, Decimal)> = Vec::new();
    for part in text
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        let Some((name, share)) = part.split_once('=') else {
            bail!("{flag}: expected NAME=SHARE, got `{part}`");
        };
        let name = name.trim().to_owned();
        let share = Decimal::from_str(share.trim()).map_err(|_| {
            anyhow::anyhow!(
                "{flag}: share of `{name}` is not a number: `{}`",
                share.trim()
            )
        })?;
        if share.is_sign_negative() && !share.is_zero() {
            bail!("{flag}: share of `{name}` is negative ({share})");
        }
        if shares.iter().any(|(known, _)| *known == name) {
            bail!("{flag}: `{name}` is listed twice");
        }
        shares.push((name, share));
    }
    if shares.is_empty() {
        bail!("{flag}: no shares given");
    }
    let sum: Decimal = shares.iter().map(|(_, share)| *share).sum();
    if (sum - Decimal::ONE).abs() > SHARE_TOLERANCE {
        bail!("{flag}: shares sum to {}, not 1", sum.normalize());
    }
    Ok(shares)
}

fn price(args: &Args, catalog: &Catalog, plan: &Plan) -> anyhow::Result<Report> {
    let today = args.catalog.today();
    let options = CostOptions { batch: args.batch };
    let tokens = TokenCounts {
        input: args.input_tokens,
        cached_read: args.input_tokens * args.cached_share,
        cache_write: Decimal::ZERO,
        output: args.output_tokens,
    };
    let requests_per_month = Decimal::from(args.requests_per_day) * Decimal::from(DAYS_PER_MONTH);
    let mut warnings = Vec::new();
    let mut priced = |class: Option<RouteClass>, share: Decimal, requested: &str| {
        let resolved = catalog.resolve(requested, today)?;
        if let Some(warning) = &resolved.warning {
            let warning = warning.to_string();
            if !warnings.contains(&warning) {
                warnings.push(warning);
            }
        }
        let per_request = resolved.model.cost_of(&tokens, options)?;
        Ok::<Priced, anyhow::Error>(Priced {
            class,
            share,
            requested: requested.to_owned(),
            model: resolved.model.id.clone(),
            per_request,
            monthly: per_request * requests_per_month * share,
        })
    };
    let baseline = priced(None, Decimal::ONE, args.baseline())?;
    let routed = plan
        .slices
        .iter()
        .filter(|slice| !slice.share.is_zero())
        .map(|slice| priced(slice.class, slice.share, &slice.requested))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let routed_monthly: Decimal = routed.iter().map(|slice| slice.monthly).sum();
    let savings = baseline.monthly - routed_monthly;
    let savings_pct =
        (!baseline.monthly.is_zero()).then(|| savings * Decimal::ONE_HUNDRED / baseline.monthly);
    Ok(Report {
        baseline,
        routed,
        routed_monthly,
        savings,
        savings_pct,
        warnings,
    })
}

fn cents(amount: Decimal) -> String {
    let mut rounded = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(2);
    rounded.to_string()
}

/// A token count with thousands separators when whole (`1,000`), as given otherwise (`1250.5`).
fn token_count(count: Decimal) -> String {
    use rust_decimal::prelude::ToPrimitive;
    match count.normalize().to_u64() {
        Some(whole) if count.fract().is_zero() => group_thousands(whole),
        _ => count.normalize().to_string(),
    }
}

fn percent(share: Decimal) -> String {
    format!("{}%", cents(share * Decimal::ONE_HUNDRED))
}

fn report_table(args: &Args, report: &Report) -> String {
    let mut out = format!(
        "{} requests/day for {DAYS_PER_MONTH} days; per request {} input + {} output tokens{}{}\n\n",
        group_thousands(args.requests_per_day),
        token_count(args.input_tokens),
        token_count(args.output_tokens),
        if args.cached_share.is_zero() {
            String::new()
        } else {
            format!(", {} of input cached", percent(args.cached_share))
        },
        if args.batch { ", batch API" } else { "" },
    );
    let row = |label: String, slice: &Priced| {
        let model = if slice.model == slice.requested {
            slice.model.clone()
        } else {
            format!("{} -> {}", slice.requested, slice.model)
        };
        vec![
            label,
            percent(slice.share),
            model,
            format_dollars(slice.per_request),
            cents(slice.monthly),
        ]
    };
    let mut rows: Vec<Vec<String>> = report
        .routed
        .iter()
        .map(|slice| {
            let label = slice
                .class
                .map_or_else(|| "model".to_owned(), |class| class.to_string());
            row(label, slice)
        })
        .collect();
    rows.push(vec![
        "routed".to_owned(),
        percent(report.routed.iter().map(|slice| slice.share).sum()),
        String::new(),
        String::new(),
        cents(report.routed_monthly),
    ]);
    rows.push(row("baseline".to_owned(), &report.baseline));
    out.push_str(&render_table(
        &["", "share", "model", "$/request", "$/month"],
        &rows,
        &[1, 3, 4],
    ));
    out.push('\n');
    let summary = vec![
        vec![
            format!("baseline ({})", report.baseline.model),
            format!("${}", cents(report.baseline.monthly)),
            "/ month".to_owned(),
        ],
        vec![
            "routed mix".to_owned(),
            format!("${}", cents(report.routed_monthly)),
            "/ month".to_owned(),
        ],
        vec![
            "savings".to_owned(),
            format!("${}", cents(report.savings)),
            match report.savings_pct {
                Some(pct) => format!("/ month ({}%)", cents(pct)),
                None => "/ month".to_owned(),
            },
        ],
    ];
    let summary = render_table(&["", "", ""], &summary, &[1]);
    // The summary needs no header line.
    out.push_str(summary.split_once('\n').map_or("", |(_, rest)| rest));
    out
}

fn report_json(args: &Args, report: &Report) -> Value {
    let slice = |slice: &Priced| {
        json!({
            "class": slice.class,
            "share": json_number(slice.share),
            "requested": slice.requested,
            "model": slice.model,
            "per_request_usd": json_number(slice.per_request),
            "monthly_usd": json_number(slice.monthly),
        })
    };
    json!({
        "requests_per_day": args.requests_per_day,
        "days": DAYS_PER_MONTH,
        "input_tokens": json_number(args.input_tokens),
        "output_tokens": json_number(args.output_tokens),
        "cached_share": json_number(args.cached_share),
        "batch": args.batch,
        "as_of": args.catalog.today().to_string(),
        "baseline": slice(&report.baseline),
        "baseline_model": report.baseline.model,
        "routed": report.routed.iter().map(slice).collect::<Vec<_>>(),
        "baseline_monthly_usd": json_number(report.baseline.monthly),
        "routed_monthly_usd": json_number(report.routed_monthly),
        "savings_usd": json_number(report.savings),
        "savings_pct": report.savings_pct.map(|pct| json_number(pct.round_dp(2))),
        "warnings": report.warnings,
    })
}

fn parse_non_negative(text: &str) -> Result<Decimal, String> {
    let value = Decimal::from_str(text.trim()).map_err(|_| format!("`{text}` is not a number"))?;
    if value.is_sign_negative() && !value.is_zero() {
        return Err(format!("`{text}` is negative"));
    }
    Ok(value)
}

fn parse_fraction(text: &str) -> Result<Decimal, String> {
    let value = parse_non_negative(text)?;
    if value > Decimal::ONE {
        return Err(format!("`{text}` is above 1; give a share between 0 and 1"));
    }
    Ok(value)
}
