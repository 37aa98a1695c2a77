//! The application: what runs in this process, and its lifecycle.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use comics_common::auth::Jwt;
use comics_common::{client, http, Settings};
use comics_nats::relay::Relay;
use comics_nats::Names;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::health::{self, Dependencies};
use crate::pools::Pools;

mod roles;

use roles::{projection_stores, storage, Shared, Workers};

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
        prepare(settings, roles).await?;
        let mut pools = Pools::default();
        let events = pools.get(&settings.database_url).await?;
        let storage = storage(settings, roles)?;
        let stores = projection_stores(settings, roles, &mut pools, storage.as_ref()).await?;
        let (nats, names, js) = connect_nats(settings).await?;
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
        let shared = Shared {
            settings,
            events: &events,
            js: &js,
            names: &names,
            jwt: &jwt,
            storage: storage.as_ref(),
        };
        if roles.commands {
            let (routes, recorder) = shared.commands(&shutdown).await?;
            tasks.push(recorder);
            router = router.merge(routes);
        }
        let mut hot = None;
        if roles.queries {
            let (routes, cache) = shared.queries(&stores);
            hot = cache;
            router = router.merge(routes);
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

/// Migrates (when it runs the write side or the relay), warns of the
/// development secret, and installs the metrics recorder.
async fn prepare(settings: &Settings, roles: Roles) -> anyhow::Result<()> {
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
    Ok(())
}

/// Connects to NATS and makes sure the events stream exists.
async fn connect_nats(
    settings: &Settings,
) -> anyhow::Result<(async_nats::Client, Names, async_nats::jetstream::Context)> {
    let nats = comics_nats::connect(&settings.nats_url, "comics").await?;
    let names = Names::new(&settings.nats_prefix).with_replicas(settings.nats_replicas);
    let js = async_nats::jetstream::new(nats.clone());
    comics_nats::stream::ensure_stream(&js, &names).await?;
    Ok((nats, names, js))
}

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
