//! One leader per task across every running instance: a Postgres session
//! advisory lock, held as long as the returned connection lives (a process
//! that dies loses it with its connection).

use std::time::Duration;

use sqlx::{Connection, PgConnection, PgPool};

/// Waits until this process holds the lock named `key`.
pub async fn acquire(pool: &PgPool, key: &str) -> anyhow::Result<PgConnection> {
    let options = pool.connect_options();
    let mut conn = PgConnection::connect_with(&options).await?;
    loop {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
            .bind(key)
            .fetch_one(&mut conn)
            .await?;
        if got {
            return Ok(conn);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
