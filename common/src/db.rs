//! Postgres connection pools, and creating a missing database on first start.

use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool, Postgres};

use crate::config::redact_url;

/// Whether `e` means the database cannot be used right now (503, retry),
/// not that the statement is wrong (500): no connection, a connection the
/// server ended (a restart, an administrator: SQLSTATE 57P01–57P03, class
/// 08), too many connections (53300), or a broken protocol stream. Pools hand
/// out connections used within the last second without a ping, so the first
/// statement after a restart meets the ended connection.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// Whether `cause`, or an error it wraps, is a database being unavailable
/// (libraries such as postgres-es box the sqlx error as "unexpected").
pub fn is_unavailable_cause(cause: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(cause), |e| e.source())
        .any(|e| e.downcast_ref::<sqlx::Error>().is_some_and(is_unavailable))
}

/// How long a pooled connection may sit idle before it is pinged on acquire.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(url)
        .with_context(|| format!("bad database URL {}", redact_url(url)))?
        .log_statements(tracing::log::LevelFilter::Trace);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        // sqlx pings every connection it hands out by default, and again
        // when it takes it back (that one cannot be turned off: it also
        // cleans up after a cancelled query): two round trips on top of
        // each statement run on the pool. A connection used within the last
        // second is live enough to hand out; one idle for longer (a restart
        // may have cut it) is still pinged. Hot loops keep a connection
        // ([`Held`]) and pay neither.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_WHEN_IDLE_FOR {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_with(options)
        .await
        .with_context(|| {
            format!(
                "cannot connect to Postgres at {} (is PostgreSQL 15+ running? see README, Prerequisites)",
                redact_url(url)
            )
        })
}

/// Creates the database named in `url` if it does not exist yet.
pub async fn ensure_database(url: &str) -> anyhow::Result<()> {
    let options = PgConnectOptions::from_str(url)
        .with_context(|| format!("bad database URL {}", redact_url(url)))?;
    let Some(name) = options.get_database().map(str::to_string) else {
        return Ok(());
    };
    let admin = options.clone().database("postgres");
    let mut conn = sqlx::PgConnection::connect_with(&admin).await.with_context(|| {
        format!(
            "cannot connect to Postgres at {} (is PostgreSQL 15+ running? see README, Prerequisites)",
            redact_url(url)
        )
    })?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let quoted = name.replace('"', "\"\"");
        match sqlx::query(&format!("CREATE DATABASE \"{quoted}\""))
            .execute(&mut conn)
            .await
        {
            Ok(_) => tracing::info!(database = %name, "created database"),
            // Another process created it at the same moment.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e).context("cannot create the database"),
        }
    }
    conn.close().await.ok();
    Ok(())
}

/// A pooled connection kept across the iterations of a hot loop (a group
/// committer's rounds): sqlx pings a connection each time it goes back to
/// the pool, a round trip per use that a loop holding its connection does
/// not pay. One that sat unused for [`PING_WHEN_IDLE_FOR`] is pinged before
/// use, and [`Held::discard`] after an error makes the next use take a
/// fresh one.
#[derive(Debug)]
pub struct Held {
    pool: PgPool,
    conn: Option<(PoolConnection<Postgres>, Instant)>,
}

impl Held {
    pub fn new(pool: PgPool) -> Self {
        Self { pool, conn: None }
    }

    /// The connection, live as far as a ping can tell if it sat idle.
    pub async fn get(&mut self) -> sqlx::Result<&mut PgConnection> {
        if let Some((conn, used)) = &mut self.conn {
            if used.elapsed() >= PING_WHEN_IDLE_FOR && conn.ping().await.is_err() {
                self.conn = None;
            }
        }
        let (conn, used) = match self.conn.take() {
            Some(held) => held,
            None => (self.pool.acquire().await?, Instant::now()),
        };
        let (conn, used) = self.conn.insert((conn, used));
        *used = Instant::now();
        Ok(&mut **conn)
    }

    /// Gives the connection back to the pool (which tests it), e.g. after an
    /// error that may have left it in a bad state.
    pub fn discard(&mut self) {
        self.conn = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_and_io_failures_are_unavailable_and_a_missing_row_is_not() {
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::Io(std::io::Error::other(
            "reset"
        ))));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
    }

    /// Through the default test server (as every database test here).
    #[tokio::test]
    async fn a_connection_the_server_ended_is_unavailable_and_a_bad_statement_is_not() {
        let url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let mut conn = PgConnection::connect(&url).await.expect("the test server");
        let bad = sqlx::query("SELECT * FROM no_such_table")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(!is_unavailable(&bad), "{bad}");
        // What a restart does to every connection: 57P01.
        let ended = sqlx::query("SELECT pg_terminate_backend(pg_backend_pid())")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(is_unavailable(&ended), "{ended:?}");
    }
}
