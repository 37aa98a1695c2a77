//! Building command responses: version body, `Location`, and the
//! `X-Consistency-Token` that lets a following read wait for this write.

use std::collections::HashMap;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use comics_common::auth::User;
use comics_common::consistency::{ConsistencyToken, HEADER};
use comics_common::http::RequestId;
use comics_common::Problem;
use serde::Serialize;
use uuid::Uuid;

/// The metadata every event records: who caused it, in which request, and
/// the request's trace context.
pub fn metadata(user: &User, request: &RequestId) -> HashMap<String, String> {
    HashMap::from([
        ("actor".to_string(), user.sub.clone()),
        ("request_id".to_string(), request.id.clone()),
        ("traceparent".to_string(), request.traceparent.clone()),
    ])
}

/// `response` with the `X-Consistency-Token` of `token`.
pub fn with_token(mut response: Response, token: &ConsistencyToken) -> Response {
    if let Ok(v) = HeaderValue::from_str(&token.encode()) {
        response.headers_mut().insert(HEADER, v);
    }
    response
}

/// The body of a successful create or change: the aggregate and its new version.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Versioned {
    pub id: Uuid,
    pub version: i64,
}

pub fn created(location: String, id: Uuid, version: i64, token: &ConsistencyToken) -> Response {
    let mut response = (StatusCode::CREATED, Json(Versioned { id, version })).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    with_token(response, token)
}

pub fn ok(id: Uuid, version: i64, token: &ConsistencyToken) -> Response {
    let mut response = Json(Versioned { id, version }).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, v);
    }
    with_token(response, token)
}

pub fn accepted(token: &ConsistencyToken) -> Response {
    with_token(StatusCode::ACCEPTED.into_response(), token)
}

pub fn no_content(token: &ConsistencyToken) -> Response {
    with_token(StatusCode::NO_CONTENT.into_response(), token)
}

/// Reads `If-Match: "<version>"` (quotes optional; `*` means any version).
pub fn if_match(headers: &HeaderMap) -> Result<Option<i64>, Problem> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    if text == "*" {
        return Ok(None);
    }
    let bare = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    bare.parse::<i64>()
        .map(Some)
        .map_err(|_| Problem::bad_request("If-Match must be a version in quotes, such as \"3\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_accepts_quoted_and_bare_versions() {
        let mut h = HeaderMap::new();
        assert_eq!(if_match(&h).unwrap(), None);
        h.insert(header::IF_MATCH, HeaderValue::from_static("\"3\""));
        assert_eq!(if_match(&h).unwrap(), Some(3));
        h.insert(header::IF_MATCH, HeaderValue::from_static("4"));
        assert_eq!(if_match(&h).unwrap(), Some(4));
        h.insert(header::IF_MATCH, HeaderValue::from_static("\"x\""));
        assert_eq!(if_match(&h).unwrap_err().status, 400);
    }
}
