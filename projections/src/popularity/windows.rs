//! Rolling window totals: for each window (`24h`, `7d`, `30d`) and comic,
//! `{schema}.windows` holds the sum of the comic's `minutes` rows from the
//! window's mark `{schema}.window_marks.aged_from` on. Views are added as
//! they are projected (a minute before the mark is not added: it has left
//! the window already, see [`record_views`](super::record_views)); the
//! [`ager`](super::ager) moves the marks forward
//! with time, subtracting the minutes that left. A read at any `now`
//! corrects the totals from the mark to the window's first minute at `now`
//! by the few minutes in between, so it is exact without summing history.

use chrono::{DateTime, TimeDelta, Utc};

/// The windows kept, by the name the API and `windows.win` use, with their
/// lengths in seconds.
pub const WINDOWS: [(&str, i64); 3] = [
    ("24h", 24 * 3600),
    ("7d", 7 * 24 * 3600),
    ("30d", 30 * 24 * 3600),
];

/// The first minute of the window `length` long at `now`: minute `M` is in
/// the window iff `M > now - length`, that is iff `M >=` the first whole
/// minute strictly after `now - length`.
pub fn first_minute(length: TimeDelta, now: DateTime<Utc>) -> DateTime<Utc> {
    let floor = (now - length).timestamp().div_euclid(60) * 60;
    DateTime::from_timestamp(floor + 60, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Every window's name and first minute at `now`.
pub fn first_minutes(now: DateTime<Utc>) -> (Vec<String>, Vec<DateTime<Utc>>) {
    WINDOWS
        .iter()
        .map(|(win, secs)| {
            (
                win.to_string(),
                first_minute(TimeDelta::seconds(*secs), now),
            )
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_first_minute_is_the_first_whole_minute_strictly_after_the_window_start() {
        let noon = Utc.with_ymd_and_hms(2024, 3, 10, 12, 0, 0).unwrap();
        let day = TimeDelta::hours(24);
        assert_eq!(first_minute(day, noon), noon - day + TimeDelta::minutes(1));
        let before = noon - TimeDelta::nanoseconds(1);
        assert_eq!(first_minute(day, before), noon - day);
        let (wins, firsts) = first_minutes(noon + TimeDelta::seconds(30));
        assert_eq!(wins, ["24h", "7d", "30d"]);
        assert_eq!(firsts[1], noon - TimeDelta::days(7) + TimeDelta::minutes(1));
    }
}
