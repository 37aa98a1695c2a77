//! How many live comics there are in all, per status and per type (the
//! `counts` table), moved around each Comic event so list totals need not
//! count rows.

use sqlx::PgConnection;
use uuid::Uuid;

/// A comic's status and type, if the catalog has it.
pub(super) type Kind = Option<(String, String)>;

pub(super) async fn kind_of(db: &mut PgConnection, s: &str, comic: Uuid) -> anyhow::Result<Kind> {
    Ok(sqlx::query_as(&format!(
        "SELECT status, type FROM {s}.comics WHERE id = $1"
    ))
    .bind(comic)
    .fetch_optional(&mut *db)
    .await?)
}

/// Moves the counts from the comic's kind `before` an event to `after` it.
pub(super) async fn moved(
    db: &mut PgConnection,
    s: &str,
    before: Kind,
    after: Kind,
) -> anyhow::Result<()> {
    if before == after {
        return Ok(());
    }
    let mut keys: Vec<String> = Vec::new();
    let mut deltas: Vec<i64> = Vec::new();
    for (kind, delta) in [(before, -1), (after, 1)] {
        if let Some((status, kind)) = kind {
            for key in [
                "all".to_string(),
                format!("status:{status}"),
                format!("type:{kind}"),
            ] {
                keys.push(key);
                deltas.push(delta);
            }
        }
    }
    sqlx::query(&format!(
        "INSERT INTO {s}.counts AS c (key, comics) \
         SELECT key, sum(delta) FROM unnest($1::text[], $2::bigint[]) AS d(key, delta) GROUP BY key \
         ON CONFLICT (key) DO UPDATE SET comics = c.comics + EXCLUDED.comics"
    ))
    .bind(&keys)
    .bind(&deltas)
    .execute(&mut *db)
    .await?;
    Ok(())
}
