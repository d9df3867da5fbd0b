//! The cost-quality chart `eval --outcomes --plot` writes: an SVG scatter of single models,
//! each strategy's knob curve, the oracle and the Pareto frontier (SVG is text; `resvg`
//! rasterises it for PNG).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use rust_decimal::prelude::ToPrimitive;
use triage_strategies::outcomes::Point;

/// One series on the chart.
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) points: Vec<Point>,
    /// Join the points with a line (a knob curve) rather than label each (single models).
    pub(crate) line: bool,
}

const WIDTH: f64 = 880.0;
const HEIGHT: f64 = 560.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 250.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];

/// Writes the chart: as SVG text for `.svg`, rasterised (twice the SVG's size, on white, labels
/// in the system's sans-serif font) for `.png`.
pub(crate) fn write(path: &Path, svg: &str) -> anyhow::Result<()> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let bytes = match extension.as_str() {
        "svg" => svg.as_bytes().to_vec(),
        "png" => png(svg).with_context(|| format!("cannot draw {}", path.display()))?,
        _ => anyhow::bail!(
            "--plot {}: the chart is written as .svg or .png; name the file with one of them",
            path.display()
        ),
    };
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// The SVG chart as PNG bytes.
fn png(svg: &str) -> anyhow::Result<Vec<u8>> {
    use resvg::{tiny_skia, usvg};
    const SCALE: f32 = 2.0;
    let mut options = usvg::Options::default();
    let fonts = options.fontdb_mut();
    fonts.load_system_fonts();
    // The chart asks for `sans-serif`; fontdb maps it to Arial unless told otherwise.
    let family = ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"]
        .into_iter()
        .find(|wanted| {
            fonts
                .faces()
                .any(|face| face.families.iter().any(|(name, _)| name == wanted))
        })
        .map(str::to_owned)
        .or_else(|| {
            fonts
                .faces()
                .find_map(|face| face.families.first().map(|(name, _)| name.clone()))
        });
    match family {
        Some(family) => fonts.set_sans_serif_family(family),
        None => eprintln!(
            "warning: no system font found: the PNG chart has no labels (the .svg one does)"
        ),
    }
    let tree = usvg::Tree::from_str(svg, &options).context("the chart's SVG does not parse")?;
    let size = tree
        .size()
        .to_int_size()
        .scale_by(SCALE)
        .context("the chart is too large")?;
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .context("cannot allocate the chart's pixels")?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(SCALE, SCALE),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().context("cannot encode the PNG")
}

/// The chart as SVG text: cost (x, US dollars) against mean quality (y).
pub(crate) fn cost_quality_svg(title: &str, series: &[Series], frontier: &[Point]) -> String {
    let all: Vec<&Point> = series.iter().flat_map(|s| &s.points).collect();
    let cost = |p: &Point| p.cost.to_f64().unwrap_or(0.0);
    let max_cost = all.iter().map(|p| cost(p)).fold(0.0, f64::max).max(1e-9) * 1.05;
    let (mut low, mut high) = all.iter().fold((1.0_f64, 0.0_f64), |(lo, hi), p| {
        (lo.min(p.quality), hi.max(p.quality))
    });
    if high <= low {
        low = (low - 0.05).max(0.0);
        high = (high + 0.05).min(1.0);
    }
    let pad = (high - low) * 0.08;
    let (low, high) = ((low - pad).max(0.0), (high + pad).min(1.0));
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |c: f64| LEFT + c / max_cost * plot_w;
    let y = |q: f64| TOP + (high - q) / (high - low).max(1e-9) * plot_h;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="24" font-size="14" font-weight="bold">{}</text>"#,
        escape(title)
    );
    // Axes and grid.
    for i in 0..=5 {
        let c = max_cost * f64::from(i) / 5.0;
        let q = low + (high - low) * f64::from(i) / 5.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{0:.1}" y1="{TOP}" x2="{0:.1}" y2="{1:.1}" stroke="#eee"/><text x="{0:.1}" y="{2:.1}" text-anchor="middle">${3:.2}</text>"##,
            x(c),
            TOP + plot_h,
            TOP + plot_h + 18.0,
            c
        );
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}" stroke="#eee"/><text x="{2:.1}" y="{3:.1}" text-anchor="end">{4:.2}</text>"##,
            y(q),
            LEFT + plot_w,
            LEFT - 6.0,
            y(q) + 4.0,
            q
        );
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#888"/>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">total cost (US dollars)</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 14.0
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">mean quality</text>"#,
        TOP + plot_h / 2.0
    );
    // The frontier, dashed, under everything.
    if frontier.len() > 1 {
        let path: Vec<String> = frontier
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(cost(p)), y(p.quality)))
            .collect();
        let _ = writeln!(
            svg,
            r##"<polyline points="{}" fill="none" stroke="#999" stroke-dasharray="5 4"/>"##,
            path.join(" ")
        );
    }
    for (index, one) in series.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        if one.line && one.points.len() > 1 {
            let path: Vec<String> = one
                .points
                .iter()
                .map(|p| format!("{:.1},{:.1}", x(cost(p)), y(p.quality)))
                .collect();
            let _ = writeln!(
                svg,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
                path.join(" ")
            );
        }
        for point in &one.points {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{colour}"><title>{}: quality {:.3}, ${:.4}</title></circle>"#,
                x(cost(point)),
                y(point.quality),
                escape(&point.name),
                point.quality,
                cost(point)
            );
            if !one.line {
                let _ = writeln!(
                    svg,
                    r##"<text x="{:.1}" y="{:.1}" fill="#333">{}</text>"##,
                    x(cost(point)) + 6.0,
                    y(point.quality) - 6.0,
                    escape(point.name.trim_start_matches("always "))
                );
            }
        }
        let legend_y = TOP + 10.0 + 20.0 * index as f64;
        let _ = writeln!(
            svg,
            r#"<circle cx="{:.1}" cy="{legend_y:.1}" r="5" fill="{colour}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            WIDTH - RIGHT + 20.0,
            WIDTH - RIGHT + 30.0,
            legend_y + 4.0,
            escape(&one.name)
        );
    }
    let legend_y = TOP + 10.0 + 20.0 * series.len() as f64;
    let _ = writeln!(
        svg,
        r##"<line x1="{:.1}" y1="{legend_y:.1}" x2="{:.1}" y2="{legend_y:.1}" stroke="#999" stroke-dasharray="5 4"/><text x="{:.1}" y="{:.1}">Pareto frontier</text>"##,
        WIDTH - RIGHT + 14.0,
        WIDTH - RIGHT + 26.0,
        WIDTH - RIGHT + 30.0,
        legend_y + 4.0
    );
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
