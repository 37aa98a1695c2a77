//! `comics storage gc`: removes stored images that no event and no
//! projection (the catalog, the thumbnails) names, once older than a grace period (bytes are stored
//! before the event that names them is appended, so a young unnamed object
//! may be an upload whose event is on its way).

use std::collections::HashSet;

use comics_common::Settings;
use comics_storage::gc::GcReport;
use comics_storage::Storage;
use sqlx::PgPool;

use crate::pools::Pools;

/// Collects the images of the configured store unnamed for `older_than`.
pub async fn collect(
    settings: &Settings,
    older_than: chrono::Duration,
) -> anyhow::Result<GcReport> {
    let storage = Storage::from_url(settings.storage_url.as_deref(), &settings.storage_options)?;
    let mut pools = Pools::default();
    let events = pools.get(&settings.database_url).await?;
    let catalog = pools
        .projection(settings, comics_common::projections::CATALOG.name)
        .await?;
    let thumbnails = pools
        .projection(settings, comics_common::projections::THUMBNAILS.name)
        .await?;
    // A store no projector has run on yet has its (empty) tables made.
    for (projector, pool) in [
        (comics_projections::by_name("catalog", &storage), &catalog),
        (
            comics_projections::by_name("thumbnails", &storage),
            &thumbnails,
        ),
    ] {
        let projector = projector.expect("a registered projection");
        let schema = projector.info().schema;
        comics_projections::runtime::ensure_schema(pool, projector.as_ref(), schema).await?;
    }
    // Named keys are read before the listing starts: an object written
    // after this read is younger than the cutoff.
    let cutoff = chrono::Utc::now() - older_than;
    let named = named_keys(&events, &catalog, &thumbnails).await?;
    Ok(storage.gc(&named, cutoff).await?)
}

/// Every key an event of the log names (pages and covers, whatever
/// happened to them since), every key the catalog shows, and every
/// thumbnail the thumbnails projection names.
pub async fn named_keys(
    events: &PgPool,
    catalog: &PgPool,
    thumbnails: &PgPool,
) -> anyhow::Result<HashSet<String>> {
    let mut named: HashSet<String> = sqlx::query_scalar(
        "SELECT DISTINCT k #>> '{}' FROM events, jsonb_path_query(payload::jsonb, '$.*.image.key') AS k \
         WHERE aggregate_type IN ('Page', 'Comic')",
    )
    .fetch_all(events)
    .await?
    .into_iter()
    .collect();
    let shown: Vec<String> = sqlx::query_scalar(
        "SELECT key FROM catalog.pages \
         UNION SELECT cover ->> 'key' FROM catalog.comics WHERE cover IS NOT NULL",
    )
    .fetch_all(catalog)
    .await?;
    named.extend(shown);
    // A rebuild in progress names its thumbnails in its own schema.
    let rebuilding: bool =
        sqlx::query_scalar("SELECT to_regclass('thumbnails_rebuild.thumbnails') IS NOT NULL")
            .fetch_one(thumbnails)
            .await?;
    let made: Vec<String> = match rebuilding {
        true => sqlx::query_scalar(
            "SELECT key FROM thumbnails.thumbnails UNION SELECT key FROM thumbnails_rebuild.thumbnails",
        ),
        false => sqlx::query_scalar("SELECT key FROM thumbnails.thumbnails"),
    }
    .fetch_all(thumbnails)
    .await?;
    named.extend(made);
    Ok(named)
}
