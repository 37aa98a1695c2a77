//! Database migrations of the event store (`migrations/`), embedded in the binary.

use comics_common::{db, Settings};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Creates the database if needed and applies every pending migration.
pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    db::ensure_database(&settings.database_url).await?;
    for (_, url) in &settings.projection_database_urls {
        if *url != settings.database_url {
            db::ensure_database(url).await?;
        }
    }
    let pool = db::connect(&settings.database_url, 2).await?;
    MIGRATOR.run(&pool).await?;
    pool.close().await;
    Ok(())
}
