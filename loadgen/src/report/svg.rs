//! The latency percentile plot as a standalone SVG: percentile on a log scale of
//! `1 / (1 - p)` (50, 90, 99, 99.9, ...) against latency in milliseconds, one line per
//! histogram.

use std::fmt::Write as _;

use crate::histogram::LatencyHistogram;

const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 180.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
/// Nines shown on the x axis: up to 99.999%.
const MAX_NINES: f64 = 5.0;
/// Points per line.
const STEPS: usize = 200;
const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

/// Renders the plot of `series` (name and histogram); empty histograms are left out.
pub fn render(title: &str, series: &[(&str, &LatencyHistogram)]) -> String {
    let series: Vec<_> = series
        .iter()
        .filter(|(_, histogram)| histogram.count() > 0)
        .collect();
    let max_ms = series
        .iter()
        .map(|(_, histogram)| histogram.summary().max_ms)
        .fold(0.0, f64::max);
    let y_max = nice_ceiling(max_ms);

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="25" text-anchor="middle" font-size="16">{}</text>"#,
        LEFT + plot_width() / 2.0,
        escape(title)
    );
    write_axes(&mut svg, y_max);
    for (index, (name, histogram)) in series.iter().enumerate() {
        let color = COLORS[index % COLORS.len()];
        write_series(&mut svg, histogram, y_max, color);
        write_legend_entry(&mut svg, index, name, color);
    }
    svg.push_str("</svg>\n");
    svg
}

fn plot_width() -> f64 {
    WIDTH - LEFT - RIGHT
}

fn plot_height() -> f64 {
    HEIGHT - TOP - BOTTOM
}

fn x_of(nines: f64) -> f64 {
    LEFT + nines / MAX_NINES * plot_width()
}

fn y_of(ms: f64, y_max: f64) -> f64 {
    TOP + plot_height() * (1.0 - ms / y_max)
}

fn write_axes(svg: &mut String, y_max: f64) {
    let (bottom, right) = (TOP + plot_height(), LEFT + plot_width());
    let _ = writeln!(
        svg,
        r#"<path d="M{LEFT} {TOP} V{bottom} H{right}" fill="none" stroke="black"/>"#
    );
    let ticks = [
        (std::f64::consts::LOG10_2, "50%"),
        (1.0, "90%"),
        (2.0, "99%"),
        (3.0, "99.9%"),
        (4.0, "99.99%"),
        (5.0, "99.999%"),
    ];
    for (nines, label) in ticks {
        let x = x_of(nines);
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{bottom}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            bottom + 18.0
        );
    }
    for step in 0..=5 {
        let ms = y_max * f64::from(step) / 5.0;
        let y = y_of(ms, y_max);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT - 6.0,
            y + 4.0,
            format_ms(ms)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile</text>"#,
        LEFT + plot_width() / 2.0,
        HEIGHT - 15.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="20" y="{:.1}" text-anchor="middle" transform="rotate(-90 20 {:.1})">latency (ms)</text>"#,
        TOP + plot_height() / 2.0,
        TOP + plot_height() / 2.0
    );
}

fn write_series(svg: &mut String, histogram: &LatencyHistogram, y_max: f64, color: &str) {
    let mut points = String::new();
    for step in 0..=STEPS {
        let nines = MAX_NINES * step as f64 / STEPS as f64;
        let quantile = 1.0 - 10f64.powf(-nines);
        let ms = histogram.quantile_ms(quantile);
        let _ = write!(points, "{:.1},{:.1} ", x_of(nines), y_of(ms, y_max));
    }
    let _ = writeln!(
        svg,
        r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
        points.trim_end()
    );
}

fn write_legend_entry(svg: &mut String, index: usize, name: &str, color: &str) {
    let x = LEFT + plot_width() + 15.0;
    let y = TOP + 10.0 + 20.0 * index as f64;
    let _ = writeln!(
        svg,
        r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{color}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{}</text>"#,
        x + 20.0,
        x + 26.0,
        y + 4.0,
        escape(name)
    );
}

/// Rounds `value` up to 1, 2 or 5 times a power of ten; 1 for zero.
fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|step| step * magnitude)
        .find(|&ceiling| ceiling >= value)
        .unwrap_or(10.0 * magnitude)
}

fn format_ms(ms: f64) -> String {
    if ms >= 10.0 || ms == 0.0 {
        format!("{ms:.0}")
    } else if ms >= 1.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.3}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values: &[u64]) -> LatencyHistogram {
        let mut histogram = LatencyHistogram::new();
        for &value in values {
            histogram.record_micros(value);
        }
        histogram
    }

    #[test]
    fn plot_is_well_formed_svg() {
        let fast = histogram(&[100, 200, 300, 5_000]);
        let slow = histogram(&[10_000, 20_000, 90_000]);
        let svg = render(
            "chat <latency> & more",
            &[("send_to_ack", &fast), ("send_to_deliver", &slow)],
        );
        let document = roxmltree::Document::parse(&svg).expect("well-formed XML");
        let root = document.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        let lines = root
            .descendants()
            .filter(|node| node.has_tag_name("polyline"))
            .count();
        assert_eq!(lines, 2);
        let texts: Vec<_> = root.descendants().filter_map(|node| node.text()).collect();
        assert!(texts.contains(&"chat <latency> & more"));
        assert!(texts.contains(&"99.9%"));
        assert!(texts.contains(&"send_to_deliver"));
    }

    #[test]
    fn empty_histograms_left_out() {
        let empty = LatencyHistogram::new();
        let svg = render("empty", &[("nothing", &empty)]);
        let document = roxmltree::Document::parse(&svg).expect("well-formed XML");
        assert_eq!(
            document
                .descendants()
                .filter(|node| node.has_tag_name("polyline"))
                .count(),
            0
        );
    }

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(0.7), 1.0);
        assert_eq!(nice_ceiling(1.2), 2.0);
        assert_eq!(nice_ceiling(3.0), 5.0);
        assert_eq!(nice_ceiling(72.0), 100.0);
    }
}
