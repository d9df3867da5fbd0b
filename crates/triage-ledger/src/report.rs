//! Renders a [`Summary`] for people: a plain-text table for the terminal and a self-contained
//! HTML page with inline SVG charts (no scripts, no external resources, so it opens offline).

use std::fmt::Write as _;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use triage_types::RouteClass;

use crate::Summary;

/// What the rendered report says about where its numbers came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReportContext {
    /// The ledger file the summary was read from.
    pub ledger_path: String,
    /// When the report was made, RFC 3339.
    pub generated_at: String,
}

/// The summary as an aligned plain-text table.
pub fn render_text(summary: &Summary) -> String {
    let mut out = String::new();
    let period = match &summary.since {
        Some(since) => format!("since {since}"),
        None => "all recorded requests".to_owned(),
    };
    let _ = writeln!(out, "triage report: {period}\n");
    let rows = [
        (
            "requests",
            format!(
                "{} ({} answered, {} failed)",
                summary.requests, summary.succeeded, summary.failed
            ),
        ),
        ("spend", usd(summary.spend_usd)),
        ("baseline spend", usd(summary.baseline_usd)),
        ("baseline", baseline_text(summary)),
        (
            "savings",
            match summary.savings_pct {
                Some(percent) => format!("{} ({percent}%)", usd(summary.savings_usd)),
                None => usd(summary.savings_usd),
            },
        ),
        (
            "cost per request",
            summary
                .cost_per_request_usd
                .map_or_else(|| "-".to_owned(), usd),
        ),
        (
            "fallback rate",
            format!(
                "{:.1}% ({} of {})",
                summary.fallback_rate * 100.0,
                summary.fallbacks,
                summary.requests
            ),
        ),
        (
            "latency p50/p95/p99",
            format!(
                "{:.1} / {:.1} / {:.1} ms",
                summary.latency_ms.p50, summary.latency_ms.p95, summary.latency_ms.p99
            ),
        ),
        (
            "tokens",
            format!(
                "{} in ({} cached) / {} out",
                summary.tokens.input, summary.tokens.cached_read, summary.tokens.output
            ),
        ),
        (
            "prompt cache",
            match summary.cache.saved_usd {
                Some(saved) => format!(
                    "{:.1}% of input from cache, saved {}",
                    summary.cache.hit_share * 100.0,
                    usd(saved)
                ),
                None => format!(
                    "{:.1}% of input from cache",
                    summary.cache.hit_share * 100.0
                ),
            },
        ),
    ];
    for (label, value) in rows {
        let _ = writeln!(out, "  {label:<20} {value}");
    }
    if let Some(repriced) = &summary.repriced {
        let change = if repriced.recorded_usd.is_zero() {
            String::new()
        } else {
            let percent = (repriced.spend_usd - repriced.recorded_usd) * Decimal::ONE_HUNDRED
                / repriced.recorded_usd;
            format!(" ({:+.1}% vs recorded)", percent.round_dp(1))
        };
        let unpriced = match repriced.unpriced_attempts {
            0 => String::new(),
            n => format!("; {n} attempts of models it does not price left out"),
        };
        let _ = writeln!(
            out,
            "  {:<20} {}{change}{unpriced}",
            "at other prices",
            usd(repriced.spend_usd)
        );
    }

    let _ = writeln!(out, "\n  {:<14} {:>9} {:>7}", "class", "requests", "share");
    for (name, count) in class_rows(summary) {
        let _ = writeln!(
            out,
            "  {name:<14} {count:>9} {:>6.1}%",
            share(count, summary.requests)
        );
    }

    if !summary.model_mix.is_empty() {
        let width = summary
            .model_mix
            .keys()
            .map(|model| model.chars().count())
            .max()
            .unwrap_or(5)
            .max(5);
        let _ = writeln!(
            out,
            "\n  {:<width$} {:>9} {:>12}",
            "model", "requests", "spend"
        );
        for (model, model_share) in models_by_spend(summary) {
            let _ = writeln!(
                out,
                "  {model:<width$} {:>9} {:>12}",
                model_share.requests,
                usd(model_share.spend_usd)
            );
        }
    }
    out
}

/// The per-key breakdown on its own (`triage report --by key`): requests, refusals,
/// downshifts, spend, baseline spend and savings of each client key, most spend first.
pub fn render_keys(summary: &Summary) -> String {
    let mut out = String::new();
    let period = match &summary.since {
        Some(since) => format!("since {since}"),
        None => "all recorded requests".to_owned(),
    };
    let _ = writeln!(out, "triage report by client key: {period}\n");
    let mut keys: Vec<_> = summary.by_key.iter().collect();
    keys.sort_by(|a, b| b.1.spend_usd.cmp(&a.1.spend_usd).then(a.0.cmp(b.0)));
    let width = keys
        .iter()
        .map(|(key, _)| key.chars().count())
        .max()
        .unwrap_or(3)
        .max(3);
    let _ = writeln!(
        out,
        "  {:<width$} {:>9} {:>8} {:>8} {:>12} {:>12} {:>12}",
        "key", "requests", "refused", "cheaper", "spend", "baseline", "savings"
    );
    for (key, share) in keys {
        let _ = writeln!(
            out,
            "  {key:<width$} {:>9} {:>8} {:>8} {:>12} {:>12} {:>12}",
            share.requests,
            share.refused,
            share.downshifted,
            usd(share.spend_usd),
            usd(share.baseline_usd),
            usd(share.savings_usd)
        );
    }
    out
}

/// Which model the baseline spend was measured on, with the date of its prices; every
/// baseline when the period's records used more than one.
fn baseline_text(summary: &Summary) -> String {
    let dated = |model: &str, checked_on: Option<&str>| match checked_on {
        Some(day) => format!("{model}, prices of {day}"),
        None => format!("{model}, price date unknown"),
    };
    match summary.baselines.as_slice() {
        [] => "none recorded".to_owned(),
        [only] => dated(&only.model, only.price_checked_on.as_deref()),
        several => several
            .iter()
            .map(|share| {
                let plural = if share.requests == 1 { "" } else { "s" };
                format!(
                    "{} ({} request{plural})",
                    dated(&share.model, share.price_checked_on.as_deref()),
                    share.requests
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// The summary as a self-contained HTML page: figures, then charts of daily baseline versus
/// actual spend, spend by model and the class mix.
pub fn render_html(summary: &Summary, context: &ReportContext) -> String {
    let mut page = String::with_capacity(16 * 1024);
    let period = match &summary.since {
        Some(since) => format!("since {}", escape(since)),
        None => "all recorded requests".to_owned(),
    };
    let _ = write!(
        page,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>triage report</title>
<style>{STYLE}</style>
</head>
<body>
<header>
<h1>triage report</h1>
<p class="muted">{period} &middot; ledger <code>{ledger}</code> &middot; generated {generated}</p>
</header>
<section class="cards">
"#,
        ledger = escape(&context.ledger_path),
        generated = escape(&context.generated_at),
    );
    let savings_note = summary
        .savings_pct
        .map_or_else(String::new, |percent| format!("{percent}% of baseline"));
    let cards = [
        (
            "Requests",
            summary.requests.to_string(),
            format!("{} failed", summary.failed),
        ),
        (
            "Spend",
            usd(summary.spend_usd),
            "what routing paid".to_owned(),
        ),
        (
            "Baseline",
            usd(summary.baseline_usd),
            escape(&baseline_text(summary)),
        ),
        ("Savings", usd(summary.savings_usd), savings_note),
        (
            "Cost / request",
            summary
                .cost_per_request_usd
                .map_or_else(|| "-".to_owned(), usd),
            String::new(),
        ),
        (
            "Fallback rate",
            format!("{:.1}%", summary.fallback_rate * 100.0),
            format!("{} requests", summary.fallbacks),
        ),
        (
            "Prompt cache",
            format!("{:.1}%", summary.cache.hit_share * 100.0),
            summary.cache.saved_usd.map_or_else(
                || "of input from cache".to_owned(),
                |saved| format!("of input; saved {}", usd(saved)),
            ),
        ),
        (
            "Latency p50",
            format!("{:.1} ms", summary.latency_ms.p50),
            format!(
                "p95 {:.1} ms &middot; p99 {:.1} ms",
                summary.latency_ms.p95, summary.latency_ms.p99
            ),
        ),
    ];
    for (label, value, note) in cards {
        let _ = writeln!(
            page,
            r#"<div class="card"><div class="label">{label}</div><div class="value">{}</div><div class="note">{note}</div></div>"#,
            escape(&value)
        );
    }
    page.push_str("</section>\n");

    page.push_str("<section>\n<h2>Savings over time</h2>\n<p class=\"muted\">Daily spend (UTC days) against what the same requests would have cost on the baseline model.</p>\n");
    page.push_str(&daily_chart(summary));
    page.push_str("</section>\n<div class=\"row\">\n<section>\n<h2>Spend by model</h2>\n");
    page.push_str(&model_chart(summary));
    page.push_str("</section>\n<section>\n<h2>Class mix</h2>\n");
    page.push_str(&class_chart(summary));
    page.push_str("</section>\n</div>\n");

    page.push_str("<section>\n<h2>Models</h2>\n<table><thead><tr><th>model</th><th class=\"num\">requests</th><th class=\"num\">spend</th><th class=\"num\">share of spend</th></tr></thead><tbody>\n");
    for (model, model_share) in models_by_spend(summary) {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.1}%</td></tr>",
            escape(model),
            model_share.requests,
            usd(model_share.spend_usd),
            ratio(model_share.spend_usd, summary.spend_usd) * 100.0
        );
    }
    page.push_str("</tbody></table>\n</section>\n</body>\n</html>\n");
    page
}

const STYLE: &str = "
:root { --fg: #1d2433; --muted: #5c6577; --line: #dde2ea; --accent: #2f6fde; --base: #b8c0cc; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: var(--fg);
  margin: 0 auto; max-width: 1100px; padding: 24px; background: #f6f8fb; }
h1 { margin: 0 0 4px; font-size: 26px; }
h2 { font-size: 17px; margin: 0 0 6px; }
.muted, .note { color: var(--muted); font-size: 13px; }
code { font-size: 12px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 16px 18px; margin: 16px 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 10px; background: none; border: 0; padding: 0; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; min-width: 0; container-type: inline-size; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: clamp(13px, 13cqi, 20px); font-weight: 600; margin: 2px 0; white-space: nowrap; font-variant-numeric: tabular-nums; }
.card .note { overflow-wrap: anywhere; }
.row { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.row section { margin: 0; }
svg { display: block; max-width: 100%; height: auto; }
svg text { font: 11px system-ui, sans-serif; fill: var(--muted); }
svg .value-label { fill: var(--fg); }
.legend { display: flex; gap: 16px; font-size: 13px; margin: 4px 0 8px; flex-wrap: wrap; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 500; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.empty { color: var(--muted); padding: 24px 0; text-align: center; }
.num, th { white-space: nowrap; }
/* A phone: charts one under the other at full width, tighter margins. */
@media (max-width: 640px) {
  body { padding: 12px; }
  .row { grid-template-columns: 1fr; }
  section { padding: 12px; }
  table { font-size: 13px; }
  th, td { padding: 6px 4px; }
}
";

/// One color per routing class, in routing-table order.
const CLASS_COLORS: [&str; 6] = [
    "#4e9a6f", "#7cb3e8", "#e0b341", "#2f6fde", "#9a5fd0", "#d6544b",
];
const UNCLASSIFIED_COLOR: &str = "#b8c0cc";

fn daily_chart(summary: &Summary) -> String {
    if summary.daily.is_empty() {
        return "<p class=\"empty\">No requests in this period.</p>\n".to_owned();
    }
    let (width, height) = (1000.0_f64, 280.0_f64);
    let (left, right, top, bottom) = (72.0, 12.0, 12.0, 36.0);
    let plot_width = width - left - right;
    let plot_height = height - top - bottom;
    let max = summary
        .daily
        .iter()
        .map(|day| to_f64(day.baseline_usd).max(to_f64(day.spend_usd)))
        .fold(0.0_f64, f64::max);
    let top_value = nice_ceiling(max);
    let y = |value: f64| top + plot_height - value / top_value * plot_height;

    let mut svg = String::new();
    let _ = write!(
        svg,
        "<div class=\"legend\"><span><span class=\"swatch\" style=\"background:var(--base)\"></span>baseline</span><span><span class=\"swatch\" style=\"background:var(--accent)\"></span>actual spend</span></div>\n<svg viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"daily baseline versus actual spend\">\n"
    );
    for step in 0..=4 {
        let value = top_value * f64::from(step) / 4.0;
        let line_y = y(value);
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{line_y:.1}\" y2=\"{line_y:.1}\" stroke=\"#dde2ea\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            width - right,
            left - 6.0,
            line_y + 4.0,
            axis_usd(value)
        );
    }
    let days = summary.daily.len();
    let band = plot_width / days as f64;
    let bar = (band * 0.38).min(48.0);
    let label_every = days.div_ceil(12).max(1);
    for (index, day) in summary.daily.iter().enumerate() {
        let center = left + band * (index as f64 + 0.5);
        for (value, x, fill, name) in [
            (
                to_f64(day.baseline_usd),
                center - bar,
                "#b8c0cc",
                "baseline",
            ),
            (to_f64(day.spend_usd), center, "#2f6fde", "spend"),
        ] {
            let bar_top = y(value);
            let _ = writeln!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{bar_top:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"{fill}\"><title>{} {name}: {}</title></rect>",
                (top + plot_height - bar_top).max(0.0),
                day.date,
                usd(if name == "spend" {
                    day.spend_usd
                } else {
                    day.baseline_usd
                })
            );
        }
        if index % label_every == 0 {
            let _ = writeln!(
                svg,
                "<text x=\"{center:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                height - bottom + 16.0,
                escape(&day.date)
            );
        }
    }
    let _ = writeln!(
        svg,
        "<line x1=\"{left}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#5c6577\"/>\n</svg>",
        width - right,
        top + plot_height,
        top + plot_height
    );
    svg
}

fn model_chart(summary: &Summary) -> String {
    let models = models_by_spend(summary);
    if models.is_empty() {
        return "<p class=\"empty\">No answered requests in this period.</p>\n".to_owned();
    }
    let row_height = 30.0_f64;
    let (width, label_width, value_width) = (480.0_f64, 150.0_f64, 80.0_f64);
    let height = row_height * models.len() as f64 + 8.0;
    let max = models
        .iter()
        .map(|(_, model_share)| to_f64(model_share.spend_usd))
        .fold(0.0_f64, f64::max);
    let scale = if max > 0.0 {
        (width - label_width - value_width) / max
    } else {
        0.0
    };
    let mut svg = format!(
        "<svg viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"spend by model\">\n"
    );
    for (index, (model, model_share)) in models.iter().enumerate() {
        let row_y = 4.0 + row_height * index as f64;
        let bar_width = (to_f64(model_share.spend_usd) * scale).max(1.0);
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" class=\"value-label\">{}</text><rect x=\"{label_width}\" y=\"{:.1}\" width=\"{bar_width:.1}\" height=\"{:.1}\" rx=\"3\" fill=\"#2f6fde\"><title>{}: {} over {} requests</title></rect><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            label_width - 8.0,
            row_y + row_height / 2.0 + 4.0,
            escape(&shorten(model, 24)),
            row_y + 5.0,
            row_height - 10.0,
            escape(model),
            usd(model_share.spend_usd),
            model_share.requests,
            label_width + bar_width + 6.0,
            row_y + row_height / 2.0 + 4.0,
            usd(model_share.spend_usd)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn class_chart(summary: &Summary) -> String {
    if summary.requests == 0 {
        return "<p class=\"empty\">No requests in this period.</p>\n".to_owned();
    }
    let radius = 70.0_f64;
    let circumference = 2.0 * std::f64::consts::PI * radius;
    let mut svg = String::from(
        "<svg viewBox=\"0 0 480 200\" role=\"img\" aria-label=\"requests per routing class\">\n<g transform=\"translate(100 100) rotate(-90)\">\n",
    );
    let mut offset = 0.0_f64;
    let mut legend = String::new();
    let mut rows: Vec<(String, u64, &str)> = RouteClass::ALL
        .iter()
        .map(|class| {
            (
                class.as_str().to_owned(),
                summary.class_mix.get(*class),
                CLASS_COLORS[class.index()],
            )
        })
        .collect();
    if summary.class_mix.unclassified > 0 {
        rows.push((
            "unclassified".to_owned(),
            summary.class_mix.unclassified,
            UNCLASSIFIED_COLOR,
        ));
    }
    for (index, (name, count, color)) in rows.iter().enumerate() {
        let fraction = *count as f64 / summary.requests as f64;
        if *count > 0 {
            let length = fraction * circumference;
            let _ = writeln!(
                svg,
                "<circle r=\"{radius}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"34\" stroke-dasharray=\"{length:.2} {:.2}\" stroke-dashoffset=\"{:.2}\"><title>{name}: {count}</title></circle>",
                circumference - length,
                -offset
            );
            offset += length;
        }
        let legend_y = 30.0 + 22.0 * index as f64;
        let _ = writeln!(
            legend,
            "<rect x=\"220\" y=\"{:.1}\" width=\"11\" height=\"11\" rx=\"2\" fill=\"{color}\"/><text x=\"238\" y=\"{legend_y:.1}\" class=\"value-label\">{name}</text><text x=\"470\" y=\"{legend_y:.1}\" text-anchor=\"end\">{count} &middot; {:.1}%</text>",
            legend_y - 10.0,
            fraction * 100.0
        );
    }
    svg.push_str("</g>\n");
    let _ = writeln!(
        svg,
        "<text x=\"100\" y=\"98\" text-anchor=\"middle\" class=\"value-label\" style=\"font-size:20px;font-weight:600\">{}</text><text x=\"100\" y=\"116\" text-anchor=\"middle\">requests</text>",
        summary.requests
    );
    svg.push_str(&legend);
    svg.push_str("</svg>\n");
    svg
}

fn class_rows(summary: &Summary) -> Vec<(&'static str, u64)> {
    let mut rows: Vec<(&'static str, u64)> = RouteClass::ALL
        .iter()
        .map(|class| (class.as_str(), summary.class_mix.get(*class)))
        .collect();
    if summary.class_mix.unclassified > 0 {
        rows.push(("unclassified", summary.class_mix.unclassified));
    }
    rows
}

fn models_by_spend(summary: &Summary) -> Vec<(&String, &crate::ModelShare)> {
    let mut models: Vec<_> = summary.model_mix.iter().collect();
    models.sort_by(|a, b| b.1.spend_usd.cmp(&a.1.spend_usd).then_with(|| a.0.cmp(b.0)));
    models
}

/// Dollars for people: cents above a dollar, four significant figures below.
pub(crate) fn usd(amount: Decimal) -> String {
    let sign = if amount.is_sign_negative() && !amount.is_zero() {
        "-"
    } else {
        ""
    };
    let magnitude = amount.abs();
    let shown = if magnitude >= Decimal::ONE {
        magnitude.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
    } else {
        magnitude
            .round_sf_with_strategy(4, RoundingStrategy::MidpointAwayFromZero)
            .unwrap_or(magnitude)
            .normalize()
    };
    format!("{sign}${shown}")
}

fn axis_usd(value: f64) -> String {
    if value == 0.0 {
        return "$0".to_owned();
    }
    let decimals = if value >= 1.0 {
        2
    } else {
        ((-value.log10()).ceil() as usize + 2).min(10)
    };
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("${text}")
}

fn to_f64(amount: Decimal) -> f64 {
    amount.to_f64().unwrap_or(0.0)
}

fn ratio(part: Decimal, whole: Decimal) -> f64 {
    if whole.is_zero() {
        0.0
    } else {
        to_f64(part) / to_f64(whole)
    }
}

fn share(count: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        count as f64 * 100.0 / total as f64
    }
}

/// The smallest 1, 2, 2.5 or 5 times a power of ten at or above `value`, for axis tops.
fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(value.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * power >= value * (1.0 - 1e-9) {
            return step * power;
        }
    }
    10.0 * power
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max - 1).collect();
    short.push('…');
    short
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn dollars_read_naturally() {
        assert_eq!(usd(dec!(12.345)), "$12.35");
        assert_eq!(usd(dec!(0.000123456)), "$0.0001235");
        assert_eq!(usd(dec!(0)), "$0");
        assert_eq!(usd(dec!(-0.5)), "-$0.5");
    }

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_ceiling(0.0037), 0.005);
        assert_eq!(nice_ceiling(1.0), 1.0);
        assert_eq!(nice_ceiling(21.0), 25.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(axis_usd(0.0025), "$0.0025");
        assert_eq!(axis_usd(0.005), "$0.005");
        assert_eq!(axis_usd(0.0125), "$0.0125");
        assert_eq!(axis_usd(2.5), "$2.5");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
