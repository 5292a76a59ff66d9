//! A door's lock battery over the history the server keeps, drawn as an
//! SVG on the server: geometry in presentation attributes, colours from
//! the stylesheet (classes), so the policy needs no inline style.

use maud::{html, Markup};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;
/// The battery check warns at or below this level (`monitoring::BatteryParams`).
const WARN_PERCENT: i64 = 30;

fn x_of(t: i64, from: i64, to: i64) -> f64 {
    let span = (to - from).max(1) as f64;
    LEFT + (t - from).clamp(0, to - from) as f64 / span * (WIDTH - LEFT - RIGHT)
}

fn y_of(percent: i64) -> f64 {
    TOP + (100 - percent.clamp(0, 100)) as f64 / 100.0 * (HEIGHT - TOP - BOTTOM)
}

/// The `points` of the line: one `x,y` pair per reading.
pub fn points(readings: &[(i64, i64)], from: i64, to: i64) -> String {
    readings
        .iter()
        .map(|(t, p)| format!("{:.1},{:.1}", x_of(*t, from, to), y_of(*p)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `readings` are (unix time, percent), oldest first, between `from` and
/// `to`, one per `bucket_secs` at most.
pub fn battery_svg(readings: &[(i64, i64)], from: i64, to: i64, bucket_secs: i64) -> Markup {
    let per = match bucket_secs {
        3600 => "hour".to_owned(),
        s if s % 3600 == 0 => format!("{} hours", s / 3600),
        s => format!("{} minutes", s / 60),
    };
    let days = ((to - from) / 86_400).max(1);
    let date = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%d %b").to_string())
            .unwrap_or_default()
    };
    let lowest = readings.iter().map(|(_, p)| *p).min();
    let last = readings.last();
    html! {
        @if readings.is_empty() {
            p.muted { "No battery readings in the last " (days) " days." }
        } @else {
            figure.battery {
                div.chart-wrap {
                svg.battery-chart viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img"
                    aria-labelledby="battery-title" xmlns="http://www.w3.org/2000/svg" {
                    title id="battery-title" { "Lock battery over the last " (days) " days" }
                    @for p in [0, 25, 50, 75, 100] {
                        line.bat-grid x1=(LEFT) x2=(WIDTH - RIGHT)
                            y1=(format!("{:.1}", y_of(p))) y2=(format!("{:.1}", y_of(p))) {}
                        text.bat-label x=(LEFT - 4.0) y=(format!("{:.1}", y_of(p) + 4.0)) text-anchor="end" { (p) "%" }
                    }
                    line.bat-warn x1=(LEFT) x2=(WIDTH - RIGHT)
                        y1=(format!("{:.1}", y_of(WARN_PERCENT))) y2=(format!("{:.1}", y_of(WARN_PERCENT))) {}
                    text.bat-label x=(LEFT) y=(HEIGHT - 6.0) text-anchor="start" { (date(from)) }
                    text.bat-label x=(WIDTH - RIGHT) y=(HEIGHT - 6.0) text-anchor="end" { (date(to)) }
                    polyline.bat-line fill="none" points=(points(readings, from, to)) {}
                    @if let Some((t, p)) = last {
                        circle.bat-now cx=(format!("{:.1}", x_of(*t, from, to))) cy=(format!("{:.1}", y_of(*p))) r="3.5" {
                            title { (p) "% at " (super::layout::fmt_time(*t)) }
                        }
                    }
                }
                }
                figcaption {
                    @if let Some((_, p)) = last { "Last reading " (p) "%" }
                    @if let Some(l) = lowest { ", lowest " (l) "%" }
                    " over " (days) " days (the last heartbeat of every " (per) "; dashed line: the "
                    (WARN_PERCENT) "% warning level)."
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_map_onto_the_plot_area() {
        let p = points(&[(0, 100), (50, 50), (100, 0)], 0, 100);
        let pairs: Vec<&str> = p.split(' ').collect();
        assert_eq!(pairs.len(), 3);
        assert_eq!(pairs[0], format!("{LEFT:.1},{TOP:.1}"));
        assert_eq!(
            pairs[2],
            format!("{:.1},{:.1}", WIDTH - RIGHT, HEIGHT - BOTTOM)
        );
    }
}
