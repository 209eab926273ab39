//! The latency-versus-throughput plot of a sweep, as a hand-written SVG
//! (a few dozen elements; no plotting crate needed). X: achieved msg/s,
//! linear from 0. Y: end-to-end latency in microseconds, log scale, one
//! line per percentile. Saturated steps are drawn as hollow markers.

use std::fmt::Write;

/// One step of the sweep as the plot sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Achieved rate, msg/s.
    pub rate: f64,
    /// Latency percentiles in us, in the order of [`SERIES`].
    pub latency_us: [f64; 4],
    /// The step fell under 95% of its target.
    pub saturated: bool,
}

/// Names and colours of the plotted percentiles.
pub const SERIES: [(&str, &str); 4] = [
    ("p50", "#1f77b4"),
    ("p99", "#ff7f0e"),
    ("p99.9", "#d62728"),
    ("max", "#7f7f7f"),
];

const W: f64 = 760.0;
const H: f64 = 460.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 130.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

/// A "nice" step (1, 2 or 5 times a power of ten) giving about `n` ticks.
pub fn nice_step(max: f64, n: usize) -> f64 {
    if max <= 0.0 || n == 0 {
        return 1.0;
    }
    let raw = max / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let m = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// Short label: 1500 -> "1.5k", 2000000 -> "2M".
pub fn si(v: f64) -> String {
    let (x, unit) = if v >= 1e6 {
        (v / 1e6, "M")
    } else if v >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = format!("{x:.1}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{unit}")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Render the plot. `title` goes on top (escaped).
pub fn plot(points: &[Point], title: &str) -> String {
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let xmax_data = points.iter().map(|p| p.rate).fold(0.0, f64::max);
    let xstep = nice_step(xmax_data.max(1.0), 6);
    let xmax = (xmax_data / xstep).ceil().max(1.0) * xstep;
    let ys = points
        .iter()
        .flat_map(|p| p.latency_us)
        .filter(|v| *v > 0.0);
    let ymin_data = ys.clone().fold(f64::INFINITY, f64::min);
    let ymax_data = ys.fold(0.0, f64::max);
    let (lo, hi) = if ymax_data > 0.0 {
        (
            ymin_data.log10().floor(),
            ymax_data
                .log10()
                .ceil()
                .max(ymin_data.log10().floor() + 1.0),
        )
    } else {
        (0.0, 1.0)
    };
    let x = |v: f64| LEFT + v / xmax * pw;
    let y = |v: f64| TOP + ph - (v.max(1e-9).log10() - lo) / (hi - lo) * ph;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    // Grid and ticks.
    let mut v = 0.0;
    while v <= xmax + xstep / 2.0 {
        let px = x(v);
        let _ = writeln!(
            s,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#e0e0e0"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            TOP + ph,
            TOP + ph + 16.0,
            si(v)
        );
        v += xstep;
    }
    for d in (lo as i32)..=(hi as i32) {
        let val = 10f64.powi(d);
        let py = y(val);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#e0e0e0"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + pw,
            LEFT - 6.0,
            py + 4.0,
            si(val)
        );
    }
    let _ = writeln!(
        s,
        r#"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="black"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">achieved throughput (msg/s)</text>"#,
        LEFT + pw / 2.0,
        H - 16.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">end-to-end latency (us, log scale)</text>"#,
        TOP + ph / 2.0
    );
    // Series.
    for (i, (name, colour)) in SERIES.iter().enumerate() {
        let pts: Vec<String> = points
            .iter()
            .filter(|p| p.latency_us[i] > 0.0)
            .map(|p| format!("{:.1},{:.1}", x(p.rate), y(p.latency_us[i])))
            .collect();
        if pts.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            r#"<polyline class="series" data-name="{name}" fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            pts.join(" ")
        );
        for p in points.iter().filter(|p| p.latency_us[i] > 0.0) {
            let fill = if p.saturated { "white" } else { colour };
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{fill}" stroke="{colour}"><title>{name} {:.0} us at {:.0} msg/s{}</title></circle>"#,
                x(p.rate),
                y(p.latency_us[i]),
                p.latency_us[i],
                p.rate,
                if p.saturated { " (saturated)" } else { "" }
            );
        }
        let ly = TOP + 10.0 + i as f64 * 20.0;
        let lx = LEFT + pw + 14.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="2"/><text x="{}" y="{}">{name}</text>"#,
            lx + 24.0,
            lx + 30.0,
            ly + 4.0
        );
    }
    let ly = TOP + 10.0 + SERIES.len() as f64 * 20.0;
    let _ = writeln!(
        s,
        r#"<circle cx="{}" cy="{ly}" r="4" fill="white" stroke="black"/><text x="{}" y="{}">saturated</text>"#,
        LEFT + pw + 26.0,
        LEFT + pw + 44.0,
        ly + 4.0
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts() -> Vec<Point> {
        vec![
            Point {
                rate: 10_000.0,
                latency_us: [100.0, 300.0, 900.0, 2000.0],
                saturated: false,
            },
            Point {
                rate: 95_000.0,
                latency_us: [400.0, 3000.0, 9000.0, 40000.0],
                saturated: true,
            },
        ]
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(100.0, 5), 20.0);
        assert_eq!(nice_step(95_000.0, 6), 20_000.0);
        assert_eq!(nice_step(1.0, 10), 0.1);
        assert_eq!(nice_step(0.0, 5), 1.0);
    }

    #[test]
    fn si_labels() {
        assert_eq!(si(0.0), "0");
        assert_eq!(si(1500.0), "1.5k");
        assert_eq!(si(2_000_000.0), "2M");
        assert_eq!(si(100.0), "100");
    }

    #[test]
    fn svg_has_one_line_per_series_and_hollow_saturated_points() {
        let s = plot(&pts(), "a <b> & c");
        assert!(s.starts_with("<svg"));
        assert!(s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches("<polyline").count(), 4);
        assert_eq!(s.matches("<circle").count(), 9); // 2 x 4 + legend
        assert!(s.contains("(saturated)"));
        assert!(s.contains("a &lt;b&gt; &amp; c"));
        // Well-formed enough: every element that opens also closes.
        assert_eq!(s.matches("<text").count(), s.matches("</text>").count());
    }

    #[test]
    fn points_stay_inside_the_frame() {
        let s = plot(&pts(), "t");
        for cap in s.split("cx=\"").skip(1) {
            let v: f64 = cap.split('"').next().unwrap().parse().unwrap();
            assert!((LEFT..=W).contains(&v), "{v}");
        }
        for cap in s.split("cy=\"").skip(1) {
            let v: f64 = cap.split('"').next().unwrap().parse().unwrap();
            assert!((0.0..=H).contains(&v), "{v}");
        }
    }

    #[test]
    fn empty_plot_is_valid() {
        let s = plot(&[], "none");
        assert!(s.contains("</svg>"));
        assert_eq!(s.matches("<polyline").count(), 0);
    }
}
