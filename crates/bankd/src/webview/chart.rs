//! The geometry of a balance curve, drawn as inline SVG (the webview's CSP allows no script): pure,
//! so that its corner cases are tested here rather than by looking at pages.

use chrono::NaiveDate;

/// The `points` of an SVG polyline through `(day, amount)` rows, oldest first, in a box of
/// `width` × `height`: x by date, so that gaps between syncs show; y scaled to the rows' own lowest
/// and highest amounts (SVG's y grows downward: the highest touches the top). A single day or a
/// flat history is a level line across the middle; no rows draw nothing.
pub fn polyline_points(rows: &[(NaiveDate, i64)], width: f64, height: f64) -> String {
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else { return String::new() };
    let point = |x: f64, y: f64| format!("{x:.1},{y:.1}");
    if rows.len() == 1 {
        return [point(0.0, height / 2.0), point(width, height / 2.0)].join(" ");
    }
    let span_days = (last.0 - first.0).num_days().max(1) as f64;
    let low = rows.iter().map(|(_, amount)| *amount).min().unwrap_or_default();
    let high = rows.iter().map(|(_, amount)| *amount).max().unwrap_or_default();
    let y = |amount: i64| match high - low {
        0 => height / 2.0,
        range => (high - amount) as f64 / range as f64 * height,
    };
    let points: Vec<String> = rows
        .iter()
        .map(|(date, amount)| point((*date - first.0).num_days() as f64 / span_days * width, y(*amount)))
        .collect();
    points.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    #[test]
    fn no_history_draws_nothing() {
        assert_eq!(polyline_points(&[], 100.0, 50.0), "");
    }

    #[test]
    fn one_day_is_a_level_line_across_the_middle() {
        assert_eq!(polyline_points(&[(day(3), 1_000_000)], 100.0, 50.0), "0.0,25.0 100.0,25.0");
    }

    #[test]
    fn a_flat_history_is_a_level_line_across_the_middle() {
        let rows = [(day(1), 5), (day(2), 5), (day(5), 5)];
        assert_eq!(polyline_points(&rows, 100.0, 50.0), "0.0,25.0 25.0,25.0 100.0,25.0");
    }

    #[test]
    fn the_lowest_amount_touches_the_bottom_and_the_highest_the_top() {
        let rows = [(day(1), 100), (day(3), 300), (day(5), 200)];
        assert_eq!(polyline_points(&rows, 100.0, 50.0), "0.0,50.0 50.0,0.0 100.0,25.0");
    }

    #[test]
    fn negative_balances_scale_like_any_other() {
        let rows = [(day(1), -400), (day(2), 0), (day(3), -100), (day(5), 400)];
        assert_eq!(polyline_points(&rows, 100.0, 80.0), "0.0,80.0 25.0,40.0 50.0,50.0 100.0,0.0");
    }
}
