//! The report's plot (`report.svg`): two bar charts, the packet rate per flow
//! count and the latency percentiles at the common offered load, one group of
//! bars per datapath.

use super::Figures;
use super::packets::flows_key;
use super::report::short_n;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Width of the plot.
const W: f64 = 900.0;
/// Height of one panel.
const PH: f64 = 300.0;
/// Colours of the bars of a group, in turn.
const COLORS: [&str; 4] = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759"];

/// A chart: title, (figure key, legend label) per bar of a group, divisor.
type Panel = (String, Vec<(String, String)>, f64);

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Two bar charts: packet rate per flow count, and latency percentiles at the
/// common offered load, one group per datapath.
pub fn svg(
    names: &[String],
    med: &BTreeMap<String, Figures>,
    flows: &[u64],
    common: f64,
) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{}" font-family="sans-serif" font-size="12">"#,
        2.0 * PH + 120.0
    );
    let _ = writeln!(o, r#"<rect width="100%" height="100%" fill="white"/>"#);
    for (pi, panel) in panels(flows, common).iter().enumerate() {
        plot_panel(&mut o, pi, panel, names, med);
    }
    o.push_str("</svg>\n");
    o
}

/// The two charts: packet rate per flow count, latency percentiles at the
/// common offered load `common`.
fn panels(flows: &[u64], common: f64) -> [Panel; 2] {
    [
        (
            "Forwarded packets per second, 64-byte frames (kpps, median)".into(),
            flows
                .iter()
                .map(|&n| (flows_key(n), format!("{} flows", short_n(n))))
                .collect(),
            1000.0,
        ),
        (
            format!(
                "Latency at the same offered load, {:.0} kpps, 1k flows (µs, median)",
                common / 1000.0
            ),
            vec![
                ("p50_us_common".into(), "p50".into()),
                ("p99_us_common".into(), "p99".into()),
                ("p999_us_common".into(), "p99.9".into()),
            ],
            1.0,
        ),
    ]
}

/// Chart `pi` (from the top): title, axis and grid, one group of bars per
/// datapath in `names`, legend.
fn plot_panel(
    o: &mut String,
    pi: usize,
    (title, series, div): &Panel,
    names: &[String],
    med: &BTreeMap<String, Figures>,
) {
    let top = 30.0 + pi as f64 * (PH + 60.0);
    let (left, plot_w, plot_h) = (60.0, W - 80.0, PH - 60.0);
    let base = top + 30.0 + plot_h;
    let max = names
        .iter()
        .filter_map(|n| med.get(n))
        .flat_map(|f| series.iter().filter_map(|(k, _)| f.get(k)))
        .fold(0.0f64, |m, v| m.max(v / div));
    let max = if max > 0.0 { max * 1.1 } else { 1.0 };
    let _ = writeln!(
        o,
        r#"<text x="{left}" y="{}" font-size="14" font-weight="bold">{}</text>"#,
        top + 15.0,
        esc(title)
    );
    let _ = writeln!(
        o,
        r#"<line x1="{left}" y1="{base}" x2="{}" y2="{base}" stroke="black"/>"#,
        left + plot_w
    );
    for i in 0..=4 {
        let v = max * i as f64 / 4.0;
        let y = base - plot_h * i as f64 / 4.0;
        let _ = writeln!(
            o,
            r##"<line x1="{left}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{v:.0}</text>"##,
            left + plot_w,
            left - 5.0,
            y + 4.0
        );
    }
    let group_w = plot_w / names.len().max(1) as f64;
    let bar_w = (group_w - 20.0) / series.len().max(1) as f64;
    for (gi, n) in names.iter().enumerate() {
        let gx = left + gi as f64 * group_w + 10.0;
        let f = med.get(n);
        for (si, (k, _)) in series.iter().enumerate() {
            let Some(v) = f.and_then(|f| f.get(k)).map(|v| v / div) else {
                continue;
            };
            let h = plot_h * v / max;
            let x = gx + si as f64 * bar_w;
            let _ = writeln!(
                o,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{}"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{v:.0}</text>"#,
                base - h,
                bar_w - 2.0,
                COLORS[si % COLORS.len()],
                x + bar_w / 2.0 - 1.0,
                base - h - 3.0
            );
        }
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            gx + (group_w - 20.0) / 2.0,
            base + 16.0,
            esc(n)
        );
    }
    for (si, (_, label)) in series.iter().enumerate() {
        let x = left + plot_w - 110.0;
        let y = top + 30.0 + si as f64 * 16.0;
        let _ = writeln!(
            o,
            r#"<rect x="{x}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{y}">{}</text>"#,
            y - 9.0,
            COLORS[si % COLORS.len()],
            x + 14.0,
            esc(label)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_renders() {
        let names = vec!["kernel-nft".to_string()];
        let med = BTreeMap::from([(
            "kernel-nft".to_string(),
            Figures::from([("pps_64b_1k_flows".to_string(), 1000.0)]),
        )]);
        let svg = svg(&names, &med, &[1000], 500.0);
        assert!(svg.starts_with("<svg") && svg.contains("kernel-nft"));
    }
}
