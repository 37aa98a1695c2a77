//! `GET /api/v1/openapi.json` (the OpenAPI document, built from the code
//! once) and `GET /api/v1/docs`, a page that renders it with Swagger UI.
//! The page and its assets are compiled into the binary: it loads nothing
//! from another host.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use comics_common::http::PathParams;
use comics_common::Problem;

/// The routes of this module, serving `document` (the OpenAPI document,
/// which describes these routes too).
pub fn routes(document: &utoipa::openapi::OpenApi) -> Router {
    let spec = Bytes::from(serde_json::to_vec(document).expect("the document serialises"));
    Router::new()
        .route("/api/v1/openapi.json", get(openapi_json))
        .with_state(spec)
        .route("/api/v1/docs", get(page))
        .route("/api/v1/docs/{file}", get(asset))
}

/// One embedded file: its name under `/api/v1/docs/`, type and bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const PAGE: &str = include_str!("docs/index.html");

const ASSETS: &[Asset] = &[
    Asset {
        name: "swagger-ui-bundle.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../vendor/swagger-ui/swagger-ui-bundle.js"),
    },
    Asset {
        name: "swagger-ui.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../vendor/swagger-ui/swagger-ui.css"),
    },
    Asset {
        name: "init.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("docs/init.js"),
    },
    Asset {
        name: "LICENSE",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("../vendor/swagger-ui/LICENSE"),
    },
    Asset {
        name: "NOTICE",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("../vendor/swagger-ui/NOTICE"),
    },
];

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json",
        body = Object)))]
async fn openapi_json(State(spec): State<Bytes>) -> Response {
    with_type(spec, "application/json", "no-cache")
}

#[utoipa::path(get, path = "/api/v1/docs", tag = "operations",
    responses((status = 200, description = "A page that renders this document; everything it loads is served here",
        content_type = "text/html", body = String)))]
async fn page() -> Response {
    with_type(PAGE.as_bytes(), "text/html; charset=utf-8", "no-cache")
}

#[utoipa::path(get, path = "/api/v1/docs/{file}", tag = "operations",
    params(("file" = String, Path, description = "`swagger-ui-bundle.js`, `swagger-ui.css`, `init.js`, `LICENSE` or `NOTICE`")),
    responses(
        (status = 200, description = "A file of the docs page", content(("text/javascript"), ("text/css"), ("text/plain"))),
        (status = 404, description = "No such file"),
    ))]
async fn asset(PathParams(file): PathParams<String>) -> Result<Response, Problem> {
    let asset = ASSETS
        .iter()
        .find(|a| a.name == file)
        .ok_or_else(|| Problem::not_found(format!("the docs page has no file {file:?}")))?;
    Ok(with_type(
        asset.bytes,
        asset.content_type,
        "public, max-age=3600",
    ))
}

fn with_type(
    bytes: impl IntoResponse,
    content_type: &'static str,
    cache: &'static str,
) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}
