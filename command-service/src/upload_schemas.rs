//! The bodies of the image upload answers, as the OpenAPI document shows
//! them (the handlers build them as JSON; `comics/tests/api/openapi.rs` and
//! the contract test check that the two agree).

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A stored image, as [`crate::images::describe`] describes it.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoredImage {
    /// Where the bytes are read: `/api/v1/images/<sha256>` (immutable).
    pub url: String,
    /// `image/png`, `image/jpeg`, `image/webp` or `image/gif`.
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub size: u64,
    /// The bytes' SHA-256, hex.
    pub sha256: String,
}

/// `PUT /comics/{id}/cover`: the comic's new version and its cover.
#[derive(Debug, Serialize, ToSchema)]
pub struct CoverSet {
    pub id: Uuid,
    pub version: i64,
    pub cover_url: String,
    #[serde(flatten)]
    pub image: StoredImage,
}

/// `PUT /chapters/{id}/pages/{n}`: the chapter, its new version, the page.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageWritten {
    /// The chapter.
    pub id: Uuid,
    pub version: i64,
    pub number: u32,
    #[serde(flatten)]
    pub image: StoredImage,
}

/// One appended page.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppendedPage {
    pub number: u32,
    #[serde(flatten)]
    pub image: StoredImage,
}

/// `POST /chapters/{id}/pages`: the chapter, its new version, the pages.
#[derive(Debug, Serialize, ToSchema)]
pub struct PagesAppended {
    /// The chapter.
    pub id: Uuid,
    pub version: i64,
    pub items: Vec<AppendedPage>,
}

/// A multipart upload of pages: every part is named `file`. Only a schema:
/// `pages::append` reads the parts one by one as they stream in.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PageFiles {
    /// The images, in page order (each ≤ 20 MiB, at most 200).
    #[schema(content_media_type = "application/octet-stream")]
    pub file: Vec<Vec<u8>>,
}
