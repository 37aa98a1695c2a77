//! What each role of the process is made of: the query stores, the write
//! and read routes, and the background workers.

use std::sync::Arc;

use axum::Router;
use comics_command::popularity::recorder::ViewRecorder;
use comics_common::{rate_limit, Settings};
use comics_nats::Names;
use tokio_util::sync::CancellationToken;

use super::{Roles, SharedJwt, Task};
use crate::pools::Pools;

/// Each projector with its query store's database URL and pool.
pub(super) type Stores = Vec<(
    Arc<dyn comics_projections::runtime::Projector>,
    String,
    sqlx::PgPool,
)>;

/// Image bytes: the write side stores uploads, the read side serves them,
/// the thumbnails projector stores what it makes of covers.
pub(super) fn storage(
    settings: &Settings,
    roles: Roles,
) -> anyhow::Result<Option<comics_storage::Storage>> {
    Ok(match roles.commands || roles.queries || roles.projectors {
        true => Some(comics_storage::Storage::from_url(
            settings.storage_url.as_deref(),
            &settings.storage_options,
        )?),
        false => None,
    })
}

/// Every projector with its query store; their schemas are made when this
/// process reads or projects them.
pub(super) async fn projection_stores(
    settings: &Settings,
    roles: Roles,
    pools: &mut Pools,
    storage: Option<&comics_storage::Storage>,
) -> anyhow::Result<Stores> {
    let mut stores = Vec::new();
    let projectors = match storage {
        Some(storage) => comics_projections::all(storage),
        None => Vec::new(),
    };
    for projector in projectors {
        let info = projector.info();
        let store = pools.projection(settings, info.name).await?;
        if roles.queries || roles.projectors {
            // Reads must find the query stores even before the first event.
            comics_projections::runtime::ensure_schema(&store, projector.as_ref(), info.schema)
                .await?;
        }
        let url = settings.projection_database_url(info.name).to_string();
        stores.push((projector, url, store));
    }
    Ok(stores)
}

/// What the commands and queries roles are built from.
pub(super) struct Shared<'a> {
    pub(super) settings: &'a Settings,
    pub(super) events: &'a sqlx::PgPool,
    pub(super) js: &'a async_nats::jetstream::Context,
    pub(super) names: &'a Names,
    pub(super) jwt: &'a SharedJwt,
    pub(super) storage: Option<&'a comics_storage::Storage>,
}

impl Shared<'_> {
    /// The commands role: the write routes behind the write rate limits,
    /// and the view recorder's task.
    pub(super) async fn commands(
        &self,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<(Router, Task)> {
        comics_nats::stream::ensure_views_stream(self.js, self.names).await?;
        let mut state = comics_command::CommandState::new(self.events.clone(), self.jwt.clone())
            .with_views(self.js.clone(), self.names.clone());
        if let Some(storage) = self.storage.cloned() {
            state = state.with_storage(storage);
        }
        let recorder = ViewRecorder {
            js: self.js.clone(),
            names: self.names.clone(),
            stores: state.stores.clone(),
            pool: self.events.clone(),
        };
        let task = (
            "view recorder",
            tokio::spawn(recorder.run(shutdown.clone())),
        );
        let limits = rate_limit::WriteLimits::new(self.settings.rate_limits, self.jwt.clone());
        let router = comics_command::router(state).layer(axum::middleware::from_fn_with_state(
            limits,
            rate_limit::limit_writes,
        ));
        Ok((router, task))
    }

    /// The queries role: the read routes and the audit endpoint, and the
    /// hot-read cache when there is one.
    pub(super) fn queries(
        &self,
        stores: &Stores,
    ) -> (Router, Option<Arc<comics_query::cache::ResponseCache>>) {
        let store = |name: &str| {
            stores
                .iter()
                .find(|(p, _, _)| p.info().name == name)
                .map(|(_, _, s)| s.clone())
                .expect("registered projection")
        };
        let state = comics_query::QueryState::new(
            store("catalog"),
            store("ratings"),
            store("bookmarks"),
            store("popularity"),
            self.jwt.clone(),
        )
        .with_plans(store("plans"))
        .with_thumbnails(store("thumbnails"))
        .with_views(self.events.clone(), self.names.views_stream())
        .with_cache(self.settings.read_cache)
        .with_image_cache(self.settings.image_cache_bytes);
        let state = match self.storage.cloned() {
            Some(storage) => state.with_storage(storage),
            None => state,
        };
        let hot = state.cache.clone();
        let router = comics_query::router(state).merge(comics_query::audit::router(
            comics_query::audit::AuditState {
                events: self.events.clone(),
                jwt: self.jwt.clone(),
            },
        ));
        (router, hot)
    }
}

/// What the projectors role runs: the projectors (grouped by database, one
/// stream consumer and one transaction per batch for each group, see
/// `comics_projections::runtime::group`), the popularity windows' ager
/// beside its projector, and the audit sealer.
pub(super) struct Workers<'a> {
    pub(super) events: &'a sqlx::PgPool,
    pub(super) js: &'a async_nats::jetstream::Context,
    pub(super) names: &'a Names,
    pub(super) shutdown: &'a CancellationToken,
}

impl Workers<'_> {
    pub(super) fn spawn(&self, stores: Stores) -> Vec<Task> {
        let mut tasks = Vec::new();
        // Seals the log into the audit hash chain (one active, advisory lock).
        let sealer = comics_nats::audit::sealer::Sealer {
            pool: self.events.clone(),
            js: self.js.clone(),
            names: self.names.clone(),
        };
        tasks.push((
            "audit sealer",
            tokio::spawn(sealer.run(self.shutdown.clone())),
        ));
        for (projector, _, pool) in &stores {
            let info = projector.info();
            if info.name == comics_common::projections::POPULARITY.name {
                // Ages the rolling view windows beside their projector.
                let ager = comics_projections::popularity::ager::Ager {
                    pool: pool.clone(),
                    schema: info.schema,
                };
                tasks.push((
                    "popularity ager",
                    tokio::spawn(ager.run(self.shutdown.clone())),
                ));
            }
        }
        for runner in comics_projections::runtime::group(stores, self.js, self.names) {
            tasks.push(("projector", tokio::spawn(runner.run(self.shutdown.clone()))));
        }
        tasks
    }
}
