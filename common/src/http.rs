//! HTTP plumbing shared by both services: request ids, JSON bodies and query
//! strings whose rejections are problem+json, and the common fallbacks.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{request::Parts, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::problem::{FieldProblem, Problem};

pub const REQUEST_ID: &str = "x-request-id";
/// The largest JSON command body accepted (1 MiB).
pub const MAX_JSON_BODY: usize = 1024 * 1024;

/// The request being served: its id (taken from `X-Request-Id` when the
/// client sent a sane one, else a fresh UUID) and its W3C trace context.
#[derive(Debug, Clone)]
pub struct RequestId {
    pub id: String,
    /// `00-<trace id>-<parent id>-<flags>`: the received `traceparent`, or
    /// one started here. Events record it; the relay sends it on as a NATS
    /// header.
    pub traceparent: String,
}

impl RequestId {
    fn fresh() -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            traceparent: traceparent_for(&axum::http::HeaderMap::new()),
        }
    }
}

pub const TRACEPARENT: &str = "traceparent";

/// The W3C trace context of a request with these headers: the received
/// `traceparent` when it is well-formed (the caller's span is the parent of
/// whatever the request causes), else a new trace, sampled, started here.
pub fn traceparent_for(headers: &axum::http::HeaderMap) -> String {
    received_traceparent(headers).map_or_else(
        || {
            // A UUIDv7's last 16 hex digits are random (its first ones a clock).
            let span = uuid::Uuid::now_v7().simple().to_string();
            format!("00-{}-{}-01", uuid::Uuid::now_v7().simple(), &span[16..])
        },
        str::to_string,
    )
}

/// The client's `traceparent`, when it is well-formed.
fn received_traceparent(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| parse_traceparent(v).is_some())
}

pub use crate::telemetry::parse_traceparent;

/// Middleware: assigns the request id and trace context, echoes the id on
/// the response and puts both on the tracing span.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id = request_id_for(req.headers());
    let client = req
        .extensions()
        .get::<crate::client::ClientAddr>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    let span = tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id, client = %client, traceparent = tracing::field::Empty);
    // Exported, the request's span is the parent of what it causes (a child
    // of the caller's span); else the received or started context is kept.
    crate::telemetry::follow(&span, received_traceparent(req.headers()));
    let traceparent =
        crate::telemetry::traceparent_of(&span).unwrap_or_else(|| traceparent_for(req.headers()));
    span.record("traceparent", traceparent.as_str());
    req.extensions_mut().insert(RequestId {
        id: id.clone(),
        traceparent,
    });
    let mut response = tracing::Instrument::instrument(next.run(req), span).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    response
}

/// The id of a request with these headers: the client's `X-Request-Id` when
/// it is a sane token, else a fresh UUID.
pub fn request_id_for(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::fresh))
    }
}

/// Whether `Content-Type` is JSON (`application/json` or `application/*+json`,
/// any case, any parameters).
pub fn is_json_content_type(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
}

/// A JSON body: malformed → 400, breaks the schema (unknown field, wrong
/// type) → 422, wrong media type → 415, too large → 413.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let is_json = is_json_content_type(req.headers());
        if !is_json {
            return Err(json_problem(JsonRejection::MissingJsonContentType(
                Default::default(),
            )));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(body_problem)?;
        json_object(&bytes).map(Self)
    }
}

/// A body that could not be read: too large → 413, else 400.
pub fn body_problem(e: axum::extract::rejection::BytesRejection) -> Problem {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(MAX_JSON_BODY)
    } else {
        Problem::bad_request(e.body_text())
    }
}

/// 413, naming the limit.
pub fn too_large(limit: usize) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        "Payload too large",
    )
    .with_detail(format!("the body must be at most {limit} bytes"))
}

/// A JSON object read into `T`: not an object → 422 naming `body`,
/// malformed → 400, breaks the schema → 422 naming the field.
pub fn json_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') && serde_json::from_slice::<serde_json::Value>(bytes).is_ok() {
        return Err(Problem::validation(vec![FieldProblem {
            field: "body".into(),
            message: "must be a JSON object".into(),
        }]));
    }
    match axum::Json::<T>::from_bytes(bytes) {
        Ok(axum::Json(v)) => Ok(v),
        Err(rejection) => Err(json_problem(rejection)),
    }
}

fn json_problem(rejection: JsonRejection) -> Problem {
    let text = rejection.body_text();
    match rejection {
        JsonRejection::JsonDataError(e) => {
            let message = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| text.clone());
            Problem::validation(vec![field_problem(&message)])
        }
        JsonRejection::JsonSyntaxError(_) => Problem::bad_request(text),
        JsonRejection::MissingJsonContentType(_) => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
        )
        .with_detail("expected Content-Type: application/json"),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(MAX_JSON_BODY),
        other => Problem::new(other.status(), "bad-request", "Bad request").with_detail(text),
    }
}

/// Turns serde's "path: message" or "unknown field `x`" into a field problem.
fn field_problem(message: &str) -> FieldProblem {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or("body");
        return FieldProblem {
            field: field.into(),
            message: "unknown field".into(),
        };
    }
    if let Some(rest) = message.split("missing field `").nth(1) {
        let field = rest.split('`').next().unwrap_or("body");
        return FieldProblem {
            field: field.into(),
            message: "is required".into(),
        };
    }
    match message.split_once(": ") {
        Some((path, msg)) if !path.contains(' ') && path != "." => FieldProblem {
            field: path.into(),
            message: msg.into(),
        },
        _ => FieldProblem {
            field: "body".into(),
            message: message.into(),
        },
    }
}

/// Query parameters: a bad value is a 400 problem.
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e: QueryRejection| Problem::bad_request(e.body_text()))
    }
}

/// Path parameters: anything that does not parse (an id that is not a UUID)
/// names nothing, so it is a 404.
pub struct PathParams<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParams<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e: PathRejection| Problem::not_found(e.body_text()))
    }
}

/// Fallback for unknown routes.
pub async fn not_found() -> Problem {
    Problem::not_found("no such endpoint")
}

/// Turns axum's plain-text 405 (and other bodiless errors) into problem+json.
pub async fn problem_for_plain_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if status == StatusCode::METHOD_NOT_ALLOWED && !is_problem {
        let allow = response.headers().get(axum::http::header::ALLOW).cloned();
        let mut p =
            Problem::new(status, "method-not-allowed", "Method not allowed").into_response();
        if let Some(allow) = allow {
            p.headers_mut().insert(axum::http::header::ALLOW, allow);
        }
        return p;
    }
    response
}

/// `GET /health/live`: the process answers.
#[utoipa::path(get, path = "/health/live", tag = "operations",
    responses((status = 200, description = "The process is up: `{\"status\": \"ok\"}`", body = Object)))]
pub async fn live() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(value: &str) -> Option<String> {
        parse_traceparent(value).map(|_| value.to_string())
    }

    #[test]
    fn only_a_well_formed_traceparent_is_kept() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(trace(good).as_deref(), Some(good));
        for bad in [
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "garbage",
        ] {
            assert_eq!(trace(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_received_traceparent_is_kept_and_a_missing_or_bad_one_starts_a_trace() {
        let mut headers = axum::http::HeaderMap::new();
        let theirs = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        headers.insert(TRACEPARENT, HeaderValue::from_static(theirs));
        assert_eq!(traceparent_for(&headers), theirs);
        for bad in [
            "garbage",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            headers.insert(TRACEPARENT, HeaderValue::from_static(bad));
            let fresh = traceparent_for(&headers);
            assert!(!fresh.contains("4bf92f35"), "{bad} → {fresh}");
            assert!(parse_traceparent(&fresh).is_some(), "{fresh}");
        }
        let fresh = traceparent_for(&axum::http::HeaderMap::new());
        assert!(parse_traceparent(&fresh).is_some(), "{fresh}");
        assert_ne!(fresh, traceparent_for(&axum::http::HeaderMap::new()));
    }

    #[test]
    fn serde_messages_name_the_field() {
        assert_eq!(
            field_problem("unknown field `titel`, expected one of `title`").field,
            "titel"
        );
        assert_eq!(
            field_problem("missing field `title` at line 1 column 2").field,
            "title"
        );
        assert_eq!(field_problem("score: invalid type: string").field, "score");
    }
}
