//! Serving stored image bytes: `Content-Type`, `ETag` (the sha256),
//! `If-None-Match` → 304, one `Range` → 206 (an unsatisfiable one → 416),
//! streamed from object storage. Content-addressed URLs
//! (`/images/{sha256}`) never change their bytes and are cacheable for a
//! year; the named ones (page `n`, a comic's cover) are revalidated.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use comics_common::Problem;
use comics_storage::{GetRange, Storage, StorageError};

/// For URLs whose bytes never change.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// For URLs that may name other bytes later: kept, but revalidated.
pub const REVALIDATE: &str = "public, no-cache";

/// Stored bytes as a read model names them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Stored {
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub key: String,
}

/// The store bytes are read from, or 503 when this process has none.
pub fn storage(state: &crate::QueryState) -> Result<&Storage, Problem> {
    state
        .storage
        .as_ref()
        .ok_or_else(|| Problem::unavailable("object storage is not configured"))
}

/// Answers a `GET` of `stored` with its bytes (or 304, 206, 416).
pub async fn serve(
    storage: &Storage,
    stored: &Stored,
    headers: &HeaderMap,
    cache_control: &'static str,
) -> Result<Response, Problem> {
    let etag = format!("\"{}\"", stored.sha256);
    let mut response = if matches_etag(headers, &stored.sha256) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let size = stored.size.max(0) as u64;
        match requested_range(headers, size) {
            Some(Err(())) => unsatisfiable(size),
            Some(Ok((start, end))) => {
                let mut r = bytes(storage, stored, Some(GetRange::Bounded(start..end + 1))).await?;
                *r.status_mut() = StatusCode::PARTIAL_CONTENT;
                let range = format!("bytes {start}-{end}/{size}");
                set(&mut r, header::CONTENT_RANGE, &range);
                set(
                    &mut r,
                    header::CONTENT_LENGTH,
                    &(end + 1 - start).to_string(),
                );
                r
            }
            None => {
                let mut r = bytes(storage, stored, None).await?;
                set(&mut r, header::CONTENT_LENGTH, &size.to_string());
                r
            }
        }
    };
    set(&mut response, header::ETAG, &etag);
    set(&mut response, header::CACHE_CONTROL, cache_control);
    set(&mut response, header::ACCEPT_RANGES, "bytes");
    Ok(response)
}

async fn bytes(
    storage: &Storage,
    stored: &Stored,
    range: Option<GetRange>,
) -> Result<Response, Problem> {
    let fetched = storage.get(&stored.key, range).await.map_err(|e| match e {
        StorageError::Missing(key) => Problem::internal(&format!("stored bytes missing at {key}")),
        StorageError::Unavailable(why) => {
            tracing::warn!(cause = why, "object storage unavailable");
            Problem::unavailable("object storage is unavailable")
        }
    })?;
    let mut response = Body::from_stream(fetched.bytes).into_response();
    set(&mut response, header::CONTENT_TYPE, &stored.content_type);
    Ok(response)
}

fn unsatisfiable(size: u64) -> Response {
    let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
    set(&mut r, header::CONTENT_RANGE, &format!("bytes */{size}"));
    r
}

fn set(response: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, v);
    }
}

/// Whether `If-None-Match` names these bytes (or `*`).
fn matches_etag(headers: &HeaderMap, sha256: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim())
        .any(|tag| {
            let tag = tag.strip_prefix("W/").unwrap_or(tag).trim_matches('"');
            tag == "*" || tag == sha256
        })
}

/// The one byte range `Range` asks for, end inclusive: `None` to send
/// everything (no header, or one this server does not honour: several
/// ranges, another unit, bad syntax), `Err` when it cannot be satisfied.
fn requested_range(headers: &HeaderMap, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = headers.get(header::RANGE)?.to_str().ok()?.trim();
    let spec = spec.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let range = if first.is_empty() {
        let suffix: u64 = last.parse().ok()?;
        if suffix == 0 || size == 0 {
            return Some(Err(()));
        }
        (size.saturating_sub(suffix), size - 1)
    } else {
        let start: u64 = first.parse().ok()?;
        let end = match last {
            "" => u64::MAX,
            l => l.parse().ok()?,
        };
        if end < start {
            return None;
        }
        if start >= size {
            return Some(Err(()));
        }
        (start, end.min(size - 1))
    };
    Some(Ok(range))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(value: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_str(value).unwrap());
        requested_range(&h, size)
    }

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(range("bytes=50-500", 100), Some(Ok((50, 99))));
        assert_eq!(range("bytes=-500", 100), Some(Ok((0, 99))));
        assert_eq!(range("bytes=100-", 100), Some(Err(())));
        assert_eq!(range("bytes=0-1,5-6", 100), None);
        assert_eq!(range("items=0-1", 100), None);
        assert_eq!(range("bytes=9-1", 100), None);
    }

    #[test]
    fn if_none_match_names_the_sha_or_anything() {
        let mut h = HeaderMap::new();
        assert!(!matches_etag(&h, "abc"));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"abc\""),
        );
        assert!(matches_etag(&h, "abc"));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(matches_etag(&h, "abc"));
    }
}
