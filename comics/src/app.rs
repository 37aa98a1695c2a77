//! The application: what runs in this process, and its lifecycle.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use comics_command::popularity::recorder::ViewRecorder;
use comics_common::auth::Jwt;
use comics_common::{client, http, rate_limit, Settings};
use comics_nats::relay::Relay;
use comics_nats::Names;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::health::{self, Dependencies};
use crate::pools::Pools;

/// Which parts of the system this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub commands: bool,
    pub queries: bool,
    pub relay: bool,
    pub projectors: bool,
}

impl Roles {
    /// Everything in one process (`comics serve`).
    pub const ALL: Roles = Roles {
        commands: true,
        queries: true,
        relay: true,
        projectors: true,
    };
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    tasks: Vec<(&'static str, JoinHandle<anyhow::Result<()>>)>,
    shutdown: CancellationToken,
}

impl Application {
    /// Migrates (when it runs the write side or the relay), connects, and
    /// binds `settings.http_addr` (port 0 picks a free port).
    pub async fn build(settings: &Settings, roles: Roles) -> anyhow::Result<Self> {
        if roles.commands || roles.relay {
            crate::migrate::run(settings)
                .await
                .context("migrations failed")?;
        }
        if settings.jwt.is_development_secret {
            tracing::warn!(
                "COMICS_JWT_SECRET is not set: using the development secret; set it in production"
            );
        }
        comics_common::metrics::install();
        let mut pools = Pools::default();
        let events = pools.get(&settings.database_url).await?;
        // Image bytes: the write side stores uploads, the read side serves
        // them, the thumbnails projector stores what it makes of covers.
        let storage = match roles.commands || roles.queries || roles.projectors {
            true => Some(comics_storage::Storage::from_url(
                settings.storage_url.as_deref(),
                &settings.storage_options,
            )?),
            false => None,
        };
        let mut stores = Vec::new();
        let projectors = match &storage {
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
        let nats = comics_nats::connect(&settings.nats_url, "comics").await?;
        let names = Names::new(&settings.nats_prefix).with_replicas(settings.nats_replicas);
        let js = async_nats::jetstream::new(nats.clone());
        comics_nats::stream::ensure_stream(&js, &names).await?;
        let jwt = Jwt::new(&settings.jwt);
        jwt.prefetch().await;
        let shutdown = CancellationToken::new();

        if let Some(storage) = &storage {
            tracing::info!(storage = ?storage, "images are stored in object storage");
        }
        let mut tasks = Vec::new();
        let mut router = health::routes(Dependencies {
            pools: pools.all(),
            nats: nats.clone(),
            storage: storage.clone(),
        })
        .merge(crate::docs::routes(&crate::openapi::document()));
        if roles.commands {
            comics_nats::stream::ensure_views_stream(&js, &names).await?;
            let mut state = comics_command::CommandState::new(events.clone(), jwt.clone())
                .with_views(js.clone(), names.clone());
            if let Some(storage) = storage.clone() {
                state = state.with_storage(storage);
            }
            let recorder = ViewRecorder {
                js: js.clone(),
                names: names.clone(),
                stores: state.stores.clone(),
                pool: events.clone(),
            };
            tasks.push((
                "view recorder",
                tokio::spawn(recorder.run(shutdown.clone())),
            ));
            let limits = rate_limit::WriteLimits::new(settings.rate_limits, jwt.clone());
            router = router.merge(comics_command::router(state).layer(
                axum::middleware::from_fn_with_state(limits, rate_limit::limit_writes),
            ));
        }
        let mut hot = None;
        if roles.queries {
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
                jwt.clone(),
            )
            .with_plans(store("plans"))
            .with_thumbnails(store("thumbnails"))
            .with_views(events.clone(), names.views_stream())
            .with_cache(settings.read_cache)
            .with_image_cache(settings.image_cache_bytes);
            let state = match storage.clone() {
                Some(storage) => state.with_storage(storage),
                None => state,
            };
            hot = state.cache.clone();
            router = router.merge(comics_query::router(state));
            router = router.merge(comics_query::audit::router(
                comics_query::audit::AuditState {
                    events: events.clone(),
                    jwt: jwt.clone(),
                },
            ));
        }
        let router = outer_layers(router, hot, settings);

        if roles.relay {
            let relay = Relay::new(events.clone(), nats.clone(), names.clone());
            tasks.push(("relay", tokio::spawn(relay.run(shutdown.clone()))));
        }
        if roles.projectors {
            let workers = Workers {
                events: &events,
                js: &js,
                names: &names,
                shutdown: &shutdown,
            };
            tasks.extend(workers.spawn(stores));
        }
        let listener = TcpListener::bind(settings.http_addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.http_addr))?;
        Ok(Self {
            listener,
            router,
            tasks,
            shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Cancelling this token stops the process as a signal would.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled: then HTTP drains, the
    /// relay finishes its batch and projectors stop between batches.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let shutdown = self.shutdown.clone();
        tracing::info!(addr = %self.listener.local_addr()?, "comics is listening");
        let server = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.cancelled().await });
        let result = server.await.context("HTTP server failed");
        self.shutdown.cancel();
        for (name, task) in self.tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(task = name, error = format!("{e:#}"), "task failed"),
                Err(e) => tracing::error!(task = name, error = %e, "task panicked"),
            }
        }
        result
    }
}

type Task = (&'static str, JoinHandle<anyhow::Result<()>>);

/// The layers around every route: `/metrics`, the fallback, problem bodies
/// for plain errors, the request id and trace, the client address; fresh
/// cached reads in front of routing; request metrics outside everything.
fn outer_layers(
    router: Router,
    hot: Option<Arc<comics_query::cache::ResponseCache>>,
    settings: &Settings,
) -> Router {
    let router = router
        .route(
            "/metrics",
            axum::routing::get(comics_common::metrics::render),
        )
        .fallback(http::not_found)
        .layer(axum::middleware::from_fn(
            comics_common::metrics::mark_route,
        ))
        .layer(axum::middleware::from_fn(http::problem_for_plain_errors))
        .layer(axum::middleware::from_fn(http::request_id))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(settings.trusted_proxies.clone()),
            client::client_address,
        ));
    match hot {
        Some(cache) => comics_query::cache::in_front(cache, router),
        None => router,
    }
    .layer(axum::middleware::from_fn(comics_common::metrics::http))
}

/// What the projectors role runs: the projectors (grouped by database, one
/// stream consumer and one transaction per batch for each group, see
/// `comics_projections::runtime::group`), the popularity windows' ager
/// beside its projector, and the audit sealer.
struct Workers<'a> {
    events: &'a sqlx::PgPool,
    js: &'a async_nats::jetstream::Context,
    names: &'a Names,
    shutdown: &'a CancellationToken,
}

impl Workers<'_> {
    fn spawn(
        &self,
        stores: Vec<(
            Arc<dyn comics_projections::runtime::Projector>,
            String,
            sqlx::PgPool,
        )>,
    ) -> Vec<Task> {
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

/// Cancels `token` on SIGINT or SIGTERM.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            if let Ok(mut s) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                s.recv().await;
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! { _ = ctrl_c => {}, _ = term => {} }
        tracing::info!("shutting down");
        token.cancel();
    });
}

pub type SharedJwt = Arc<Jwt>;
