//! What page and cover uploads share: the declared kind (`Content-Type`),
//! the size limit checked on `Content-Length` before anything is read, the
//! streaming into object storage, the problems an upload can be refused
//! with (413, 415, 503), and the JSON that describes a stored image.

use axum::http::{header, HeaderMap, StatusCode};
use bytes::Bytes;
use comics_common::Problem;
use comics_domain::values::{Image, ImageType};
use comics_storage::{Storage, StorageError, UploadError};
use futures::Stream;
use serde_json::{json, Value};

use crate::state::CommandState;

/// The store uploads go to, or 503 when this process has none.
pub fn storage(state: &CommandState) -> Result<&Storage, Problem> {
    state
        .storage
        .as_ref()
        .ok_or_else(|| Problem::unavailable("object storage is not configured"))
}

pub fn unsupported(detail: impl Into<String>) -> Problem {
    Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        "Unsupported media type",
    )
    .with_detail(detail)
}

pub fn too_large(limit: u64) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        "Payload too large",
    )
    .with_detail(format!("an image may have at most {limit} bytes"))
}

/// The image kind a `Content-Type` value declares, or 415.
pub fn kind_of(content_type: Option<&str>) -> Result<ImageType, Problem> {
    let accepted = "image/png, image/jpeg, image/webp or image/gif";
    match content_type {
        None => Err(unsupported(format!(
            "declare the image's Content-Type: {accepted}"
        ))),
        Some(declared) => ImageType::parse(declared).ok_or_else(|| {
            unsupported(format!(
                "Content-Type {declared:?} is not accepted; send {accepted}"
            ))
        }),
    }
}

/// The declared kind of a raw image body; 413 when `Content-Length` says it
/// is over `limit` (checked before anything is read).
pub fn declared(headers: &HeaderMap, limit: u64) -> Result<ImageType, Problem> {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if length.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    kind_of(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    )
}

/// Streams `body` into storage as an image of `kind` of at most `limit` bytes.
pub async fn store<S, E>(
    storage: &Storage,
    kind: ImageType,
    body: S,
    limit: u64,
) -> Result<Image, Problem>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    storage
        .put_image(kind, body, limit)
        .await
        .map_err(upload_problem)
}

pub fn upload_problem(e: UploadError) -> Problem {
    match e {
        UploadError::TooLarge { limit } => too_large(limit),
        UploadError::Empty => unsupported("the body is empty, not an image"),
        UploadError::NotAnImage(why) => unsupported(why.to_string()),
        UploadError::Body(why) => Problem::bad_request(format!("the body broke off: {why}")),
        UploadError::Storage(e) => storage_problem(e),
    }
}

pub fn storage_problem(e: StorageError) -> Problem {
    tracing::warn!(error = %e, "object storage failed");
    Problem::unavailable("object storage is unavailable")
}

/// How a stored image is described: its metadata and where it is read.
pub fn describe(image: &Image) -> Value {
    json!({
        "url": format!("/api/v1/images/{}", image.sha256),
        "content_type": image.content_type.as_str(),
        "width": image.width,
        "height": image.height,
        "size": image.size,
        "sha256": image.sha256,
    })
}
