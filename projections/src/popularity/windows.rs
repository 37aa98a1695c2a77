//! Rolling window totals: for each window (`24h`, `7d`, `30d`) and comic,
//! `{schema}.windows` holds the sum of the comic's `minutes` rows from the
//! window's mark `{schema}.window_marks.aged_from` on. Views are added as
//! they are projected (a minute before the mark is not added: it has left
//! the window already); the [`ager`](super::ager) moves the marks forward
//! with time, subtracting the minutes that left. A read at any `now`
//! corrects the totals from the mark to the window's first minute at `now`
//! by the few minutes in between, so it is exact without summing history.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

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

/// Adds `counts[i]` views of `comic_id` in minute `minutes[i]` to every
/// window whose mark is at or before that minute. The projector calls it
/// with the rows it adds to `minutes`, in the same transaction.
pub async fn add(
    db: &mut PgConnection,
    s: &str,
    comic_id: Uuid,
    minutes: &[DateTime<Utc>],
    counts: &[i64],
) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO {s}.windows AS w (comic_id, win, views) \
         SELECT $1, k.win, sum(u.views)::int8 \
         FROM unnest($2::timestamptz[], $3::bigint[]) AS u(minute, views) \
         JOIN {s}.window_marks k ON u.minute >= k.aged_from \
         GROUP BY k.win \
         ON CONFLICT (comic_id, win) DO UPDATE SET views = w.views + EXCLUDED.views"
    ))
    .bind(comic_id)
    .bind(minutes)
    .bind(counts)
    .execute(db)
    .await?;
    Ok(())
}

/// Drops `comic_id`'s minutes before `before` (the history kept), taking
/// out of each window what it still counted of them.
pub async fn drop_minutes_before(
    db: &mut PgConnection,
    s: &str,
    comic_id: Uuid,
    before: DateTime<Utc>,
) -> sqlx::Result<()> {
    let lowered = sqlx::query(&format!(
        "WITH gone AS (DELETE FROM {s}.minutes WHERE comic_id = $1 AND minute < $2 \
                       RETURNING minute, views), \
              lost AS (SELECT k.win, sum(g.views)::int8 AS views \
                       FROM gone g JOIN {s}.window_marks k ON g.minute >= k.aged_from \
                       GROUP BY k.win) \
         UPDATE {s}.windows w SET views = w.views - lost.views FROM lost \
         WHERE w.comic_id = $1 AND w.win = lost.win"
    ))
    .bind(comic_id)
    .bind(before)
    .execute(&mut *db)
    .await?
    .rows_affected();
    if lowered > 0 {
        sqlx::query(&format!(
            "DELETE FROM {s}.windows WHERE comic_id = $1 AND views = 0"
        ))
        .bind(comic_id)
        .execute(&mut *db)
        .await?;
    }
    Ok(())
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
