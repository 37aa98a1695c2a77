//! Applying to a fresh copy that only a rebuild writes, reading each event
//! once: the per-aggregate sequences are kept in memory and stored once at
//! the end.

use std::collections::HashMap;

use comics_eventlog::EventRecord;
use sqlx::PgConnection;

use super::Projector;

/// The last sequence applied per aggregate, kept in memory by a rebuild
/// while it fills a fresh copy (see [`apply_fresh`]).
pub type Sequences = HashMap<(String, String), i64>;

/// Applies `events`, read once in commit order, to a fresh copy that only
/// this caller writes: what is applied is known from `applied` in memory, so
/// no per-aggregate sequence is read or written per batch (and no change is
/// announced); [`write_applied`] stores them once at the end.
pub async fn apply_fresh(
    db: &mut PgConnection,
    projector: &dyn Projector,
    schema: &str,
    events: &[(Option<u64>, EventRecord)],
    applied: &mut Sequences,
) -> anyhow::Result<()> {
    let types = projector.info().aggregate_types;
    let mut fresh = Vec::with_capacity(events.len());
    for (_, event) in events {
        if !types.contains(&event.aggregate_type.as_str()) {
            continue;
        }
        let key = (event.aggregate_type.clone(), event.aggregate_id.clone());
        match applied.get_mut(&key) {
            Some(seq) if *seq >= event.sequence => continue,
            Some(seq) => *seq = event.sequence,
            None => {
                applied.insert(key, event.sequence);
            }
        }
        fresh.push(event);
    }
    if !fresh.is_empty() {
        projector.apply_all(db, schema, &fresh).await?;
    }
    Ok(())
}

/// Stores the sequences [`apply_fresh`] kept, into a fresh copy's empty
/// `applied` table (in chunks, one statement each).
pub async fn write_applied(
    db: &mut PgConnection,
    schema: &str,
    applied: &Sequences,
) -> sqlx::Result<()> {
    let rows: Vec<(&(String, String), &i64)> = applied.iter().collect();
    for chunk in rows.chunks(20_000) {
        let (mut kinds, mut ids, mut seqs) = (vec![], vec![], vec![]);
        for ((kind, id), seq) in chunk {
            kinds.push(kind.as_str());
            ids.push(id.as_str());
            seqs.push(**seq);
        }
        sqlx::query(&format!(
            "INSERT INTO {schema}.applied (aggregate_type, aggregate_id, sequence) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])"
        ))
        .bind(&kinds)
        .bind(&ids)
        .bind(&seqs)
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}
