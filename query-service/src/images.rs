//! Serving stored image bytes: `Content-Type`, `ETag` (the sha256),
//! `If-None-Match` → 304, one `Range` → 206 (an unsatisfiable one → 416),
//! from object storage. Content-addressed URLs (`/images/{sha256}`) never
//! change their bytes and are cacheable for a year; the named ones (page
//! `n`, a comic's cover) are revalidated.
//!
//! Images up to [`ImageCache::max_entry`] are kept in memory by sha256
//! ([`ImageCache`], `COMICS_IMAGE_CACHE_BYTES`): bytes with a given sha256
//! never change, so a kept image is never out of date, and whole reads and
//! ranges are both answered from it. Larger images stream from storage.
//! Whether an image may be read at all (its page or cover still shown) is
//! decided by the caller before, from the catalog, never by this cache.

use std::sync::Arc;

use axum::body::{to_bytes, Body, Bytes};
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

/// The largest image ever kept (a page is rarely more than a few hundred
/// KiB; a 20 MiB upload streams).
const MAX_ENTRY: u64 = 4 * 1024 * 1024;
/// What an entry costs beyond its bytes and key (the entry, the map's slot).
const ENTRY_OVERHEAD: usize = 128;

#[derive(Clone)]
struct ByLength;

impl quick_cache::Weighter<String, Bytes> for ByLength {
    fn weight(&self, sha256: &String, bytes: &Bytes) -> u64 {
        (sha256.len() + bytes.len() + ENTRY_OVERHEAD) as u64
    }
}

/// Image bytes kept in memory by sha256, bounded by the bytes they take,
/// evicting the least recently (and least often) read.
pub struct ImageCache {
    entries: quick_cache::sync::Cache<String, Bytes, ByLength>,
    max_entry: u64,
    /// `comics_image_cache_total{outcome="hit"|"miss"}`.
    hits: metrics::Counter,
    misses: metrics::Counter,
}

impl ImageCache {
    /// A cache of `bytes` (keys and bytes counted); `None` for 0.
    pub fn new(bytes: u64) -> Option<Arc<Self>> {
        if bytes == 0 {
            return None;
        }
        // Shards of at least two of the largest entries where the budget
        // allows (quick_cache refuses an entry heavier than its shard's hot
        // part), at most 8; quick_cache wants 32 items per shard or more.
        let shards = (bytes / (2 * MAX_ENTRY)).clamp(1, 8);
        let shards = 1 << shards.ilog2();
        let items = (bytes / (64 * 1024)).clamp(32 * shards, 1 << 20) as usize;
        let options = quick_cache::OptionsBuilder::new()
            .shards(shards as usize)
            .estimated_items_capacity(items)
            .weight_capacity(bytes)
            .build()
            .expect("capacity and items are set");
        let entries = quick_cache::sync::Cache::with_options(
            options,
            ByLength,
            Default::default(),
            Default::default(),
        );
        let max_entry = MAX_ENTRY.min(entries.shard_capacity() / 2);
        Some(Arc::new(Self {
            entries,
            max_entry,
            hits: metrics::counter!("comics_image_cache_total", "outcome" => "hit"),
            misses: metrics::counter!("comics_image_cache_total", "outcome" => "miss"),
        }))
    }

    /// The largest image kept, in bytes.
    pub fn max_entry(&self) -> u64 {
        self.max_entry
    }

    /// Whether an image of `size` bytes is kept.
    fn keeps(&self, size: u64) -> bool {
        size <= self.max_entry
    }

    /// The whole bytes of `stored`: kept ones, or read from `storage` (one
    /// read per sha256 at a time; the others wait for it) and kept.
    async fn bytes(&self, storage: &Storage, stored: &Stored) -> Result<Bytes, Problem> {
        let guard = match self.entries.get_value_or_guard_async(&stored.sha256).await {
            Ok(bytes) => {
                self.hits.increment(1);
                return sized(bytes, stored);
            }
            Err(guard) => guard,
        };
        self.misses.increment(1);
        let fetched = storage.get(&stored.key, None).await.map_err(unreadable)?;
        let bytes = to_bytes(
            Body::from_stream(fetched.bytes),
            self.max_entry as usize + 1,
        )
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, key = stored.key, "cannot read stored bytes");
            Problem::unavailable("object storage is unavailable")
        })?;
        let bytes = sized(bytes, stored)?;
        let _ = guard.insert(bytes.clone());
        metrics::gauge!("comics_image_cache_bytes").set(self.entries.weight() as f64);
        Ok(bytes)
    }
}

/// `bytes`, if they are as long as the catalog says `stored` is (ranges are
/// cut by that size).
fn sized(bytes: Bytes, stored: &Stored) -> Result<Bytes, Problem> {
    match bytes.len() as i64 == stored.size {
        true => Ok(bytes),
        false => Err(Problem::internal(&format!(
            "stored bytes at {} are {} bytes, the catalog says {}",
            stored.key,
            bytes.len(),
            stored.size
        ))),
    }
}

/// The store bytes are read from, or 503 when this process has none.
pub fn storage(state: &crate::QueryState) -> Result<&Storage, Problem> {
    state
        .storage
        .as_ref()
        .ok_or_else(|| Problem::unavailable("object storage is not configured"))
}

/// Answers a `GET` of `stored` with its bytes (or 304, 206, 416), from
/// `cache` when it keeps them.
pub async fn serve(
    storage: &Storage,
    cache: Option<&ImageCache>,
    stored: &Stored,
    headers: &HeaderMap,
    cache_control: &'static str,
) -> Result<Response, Problem> {
    let mut response = if matches_etag(headers, &stored.sha256) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        bytes_answer(storage, cache, stored, headers).await?
    };
    set(
        &mut response,
        header::ETAG,
        &format!("\"{}\"", stored.sha256),
    );
    set(&mut response, header::CACHE_CONTROL, cache_control);
    set(&mut response, header::ACCEPT_RANGES, "bytes");
    Ok(response)
}

/// 200 with the bytes, 206 with the range asked for, or 416.
async fn bytes_answer(
    storage: &Storage,
    cache: Option<&ImageCache>,
    stored: &Stored,
    headers: &HeaderMap,
) -> Result<Response, Problem> {
    let size = stored.size.max(0) as u64;
    let range = match requested_range(headers, size) {
        Some(Err(())) => return Ok(unsatisfiable(size)),
        Some(Ok(range)) => Some(range),
        None => None,
    };
    let mut r = match cache.filter(|c| c.keeps(size)) {
        Some(cache) => {
            let bytes = cache.bytes(storage, stored).await?;
            let part = match range {
                Some((start, end)) => bytes.slice(start as usize..end as usize + 1),
                None => bytes,
            };
            let mut r = Body::from(part).into_response();
            set(&mut r, header::CONTENT_TYPE, &stored.content_type);
            r
        }
        None => {
            let range = range.map(|(start, end)| GetRange::Bounded(start..end + 1));
            streamed(storage, stored, range).await?
        }
    };
    match range {
        Some((start, end)) => {
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            let range = format!("bytes {start}-{end}/{size}");
            set(&mut r, header::CONTENT_RANGE, &range);
            set(
                &mut r,
                header::CONTENT_LENGTH,
                &(end + 1 - start).to_string(),
            );
        }
        None => set(&mut r, header::CONTENT_LENGTH, &size.to_string()),
    }
    Ok(r)
}

fn unreadable(e: StorageError) -> Problem {
    match e {
        StorageError::Missing(key) => Problem::internal(&format!("stored bytes missing at {key}")),
        StorageError::Unavailable(why) => {
            tracing::warn!(cause = why, "object storage unavailable");
            Problem::unavailable("object storage is unavailable")
        }
    }
}

/// The bytes (or the part `range` names) streamed from storage.
async fn streamed(
    storage: &Storage,
    stored: &Stored,
    range: Option<GetRange>,
) -> Result<Response, Problem> {
    let fetched = storage.get(&stored.key, range).await.map_err(unreadable)?;
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

    /// A local store under the temporary folder holding `images` (by their
    /// made-up sha256), and their `Stored`.
    fn store(images: &[&[u8]]) -> (std::path::PathBuf, Storage, Vec<Stored>) {
        let dir = std::env::temp_dir().join(format!("comics-images-{}", uuid::Uuid::now_v7()));
        let storage = Storage::from_url(Some(&format!("file://{}", dir.display())), &[]).unwrap();
        let stored = images
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                let sha256 = format!("{i:064x}");
                let key = Storage::key_of(&sha256);
                let path = dir.join(&key);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, bytes).unwrap();
                Stored {
                    content_type: "image/png".into(),
                    size: bytes.len() as i64,
                    sha256,
                    key,
                }
            })
            .collect();
        (dir, storage, stored)
    }

    async fn get(
        storage: &Storage,
        cache: Option<&ImageCache>,
        stored: &Stored,
        range: Option<&str>,
    ) -> (StatusCode, HeaderMap, Bytes) {
        let mut h = HeaderMap::new();
        if let Some(range) = range {
            h.insert(header::RANGE, HeaderValue::from_str(range).unwrap());
        }
        let r = serve(storage, cache, stored, &h, REVALIDATE).await.unwrap();
        let (parts, body) = r.into_parts();
        let body = to_bytes(body, usize::MAX).await.unwrap();
        (parts.status, parts.headers, body)
    }

    #[tokio::test]
    async fn kept_bytes_answer_whole_reads_and_ranges_without_storage() {
        let image: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let (dir, storage, stored) = store(&[&image]);
        let cache = ImageCache::new(1 << 20).unwrap();
        let (status, headers, body) = get(&storage, Some(&cache), &stored[0], None).await;
        assert_eq!((status, body.as_ref()), (StatusCode::OK, image.as_slice()));
        assert_eq!(headers[header::CONTENT_LENGTH], "5000");
        assert_eq!(headers[header::CONTENT_TYPE], "image/png");
        assert_eq!(cache.entries.len(), 1);
        // Gone from storage: still answered, whole and in part.
        std::fs::remove_dir_all(&dir).unwrap();
        let (status, _, body) = get(&storage, Some(&cache), &stored[0], None).await;
        assert_eq!((status, body.as_ref()), (StatusCode::OK, image.as_slice()));
        let (status, headers, body) =
            get(&storage, Some(&cache), &stored[0], Some("bytes=100-199")).await;
        assert_eq!(status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(body.as_ref(), &image[100..200]);
        assert_eq!(headers[header::CONTENT_RANGE], "bytes 100-199/5000");
        assert_eq!(headers[header::CONTENT_LENGTH], "100");
        let (_, _, body) = get(&storage, Some(&cache), &stored[0], Some("bytes=-10")).await;
        assert_eq!(body.as_ref(), &image[4990..]);
        let (status, _, _) = get(&storage, Some(&cache), &stored[0], Some("bytes=5000-")).await;
        assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
        // Without the cache the same read needs storage.
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_static("bytes=0-9"));
        assert!(serve(&storage, None, &stored[0], &h, REVALIDATE)
            .await
            .is_err());
    }

    #[tokio::test]
    async fn images_past_the_entry_limit_stream_and_are_not_kept() {
        let cache = ImageCache::new(256 * 1024).unwrap();
        let limit = cache.max_entry() as usize;
        assert!((16 * 1024..=128 * 1024).contains(&limit), "{limit}");
        let (small, big) = (vec![7u8; limit], vec![9u8; limit + 1]);
        let (dir, storage, stored) = store(&[&small, &big]);
        for stored in &stored {
            let (_, _, body) = get(&storage, Some(&cache), stored, None).await;
            assert_eq!(body.len() as i64, stored.size);
            let (status, _, body) = get(&storage, Some(&cache), stored, Some("bytes=1-2")).await;
            assert_eq!((status, body.len()), (StatusCode::PARTIAL_CONTENT, 2));
        }
        assert_eq!(cache.entries.len(), 1, "only the small one is kept");
        assert!(cache.entries.get(&stored[0].sha256).is_some());
        // A size the bytes do not have is refused, not cut.
        let mut wrong = stored[0].clone();
        wrong.size -= 1;
        assert!(serve(
            &storage,
            Some(&cache),
            &wrong,
            &HeaderMap::new(),
            REVALIDATE
        )
        .await
        .is_err());
        let _ = std::fs::remove_dir_all(dir);
        assert!(ImageCache::new(0).is_none());
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
