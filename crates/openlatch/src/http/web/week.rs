//! The week view: when a member can enter over the next seven days, drawn
//! as an SVG (inline in the page, colours from the stylesheet, so the
//! policy needs no exception).

use crate::app::ui::{Access, WeekView, QUARTERS};
use maud::{html, Markup};

const LABEL_W: f64 = 84.0;
const WIDTH: f64 = 640.0;
const ROW_H: f64 = 26.0;
const TOP: f64 = 22.0;

fn class(a: Access) -> &'static str {
    match a {
        Access::Granted => "wk-in",
        Access::Approval => "wk-ask",
        Access::Denied => "wk-out",
    }
}

/// Runs of equal access in one day: (first quarter, length, access).
fn runs(day: &[Access]) -> Vec<(usize, usize, Access)> {
    let mut out: Vec<(usize, usize, Access)> = Vec::new();
    for (q, a) in day.iter().enumerate() {
        match out.last_mut() {
            Some((_, len, last)) if *last == *a => *len += 1,
            _ => out.push((q, 1, *a)),
        }
    }
    out
}

fn hhmm(quarter: usize) -> String {
    format!("{:02}:{:02}", quarter / 4, (quarter % 4) * 15)
}

pub fn week_svg(view: &WeekView) -> Markup {
    let q_w = (WIDTH - LABEL_W) / QUARTERS as f64;
    let height = TOP + ROW_H * view.days.len() as f64 + 4.0;
    html! {
        figure.week {
            div.week-wrap {
            svg.week-view viewBox=(format!("0 0 {WIDTH} {height}")) role="img"
                aria-labelledby="week-title" xmlns="http://www.w3.org/2000/svg" {
                title id="week-title" { "When this member can enter, next 7 days (" (view.tz.name()) ")" }
                @for h in (0..=24).step_by(6) {
                    text.wk-hour x=(format!("{:.1}", LABEL_W + h as f64 * 4.0 * q_w)) y="14"
                        text-anchor=(match h { 0 => "start", 24 => "end", _ => "middle" }) { (format!("{h:02}:00")) }
                }
                @for (d, day) in view.days.iter().enumerate() {
                    @let y = TOP + ROW_H * d as f64;
                    @let date = view.first_day + chrono::Duration::days(d as i64);
                    text.wk-day x="0" y=(format!("{:.1}", y + ROW_H * 0.65)) { (date.format("%a %d %b")) }
                    @for (start, len, access) in runs(day) {
                        rect class=(class(access)) x=(format!("{:.2}", LABEL_W + start as f64 * q_w))
                            y=(format!("{:.1}", y + 3.0)) width=(format!("{:.2}", len as f64 * q_w))
                            height=(format!("{:.1}", ROW_H - 6.0)) {
                            title { (date.format("%a")) " " (hhmm(start)) "–" (hhmm(start + len)) ": "
                                (match access { Access::Granted => "can enter", Access::Approval => "needs approval", Access::Denied => "cannot enter" }) }
                        }
                    }
                }
            }
            }
            figcaption {
                span.wk-key.wk-in-key { "can enter" } " "
                span.wk-key.wk-ask-key { "needs approval at the door" } " "
                span.wk-key.wk-out-key { "cannot enter" }
                " · times in " (view.tz.name())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_merge_equal_quarters() {
        use Access::*;
        assert_eq!(
            runs(&[Denied, Denied, Granted, Granted, Granted, Approval]),
            [(0, 2, Denied), (2, 3, Granted), (5, 1, Approval)]
        );
        assert_eq!(hhmm(96), "24:00");
        assert_eq!(hhmm(69), "17:15");
    }
}
