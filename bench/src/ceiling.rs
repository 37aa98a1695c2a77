//! The ceiling: what axum on this machine serves when the handler does
//! nothing but return a fixed body of the same size as a real response.

use std::net::SocketAddr;

use axum::http::header;
use axum::response::IntoResponse;
use axum::Router;

#[derive(clap::Args)]
pub struct Args {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:18901")]
    addr: SocketAddr,
    /// The body's size in bytes (at least 16).
    #[arg(long, default_value_t = 600)]
    size: usize,
    /// Wrap the handler in the service's request-metrics layers, to measure
    /// what they cost per request against the bare ceiling.
    #[arg(long)]
    metered: bool,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let body: &'static str = Box::leak(body_of(args.size).into_boxed_str());
    let mut app = Router::new().route(
        "/{*any}",
        axum::routing::get(move || async move {
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }),
    );
    if args.metered {
        comics_common::metrics::install();
        app = app
            .layer(axum::middleware::from_fn(
                comics_common::metrics::mark_route,
            ))
            .layer(axum::middleware::from_fn(comics_common::metrics::http));
    }
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    eprintln!(
        "ceiling: serving a {}-byte JSON body on http://{}",
        body.len(),
        args.addr
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// A JSON object of exactly `size` bytes (16 at least): `{"pad":"xxx…"}`.
pub fn body_of(size: usize) -> String {
    let frame = r#"{"pad":""}"#.len();
    let pad = size.max(16) - frame;
    format!(r#"{{"pad":"{}"}}"#, "x".repeat(pad))
}

#[cfg(test)]
mod tests {
    use super::body_of;

    #[test]
    fn body_has_the_asked_size_and_is_json() {
        for size in [16, 17, 600, 1234] {
            let body = body_of(size);
            assert_eq!(body.len(), size);
            serde_json::from_str::<serde_json::Value>(&body).unwrap();
        }
        assert_eq!(body_of(3).len(), 16);
    }
}
