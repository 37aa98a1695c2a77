//! The OpenAPI description of this crate's routes, from the annotations on
//! their handlers, and the shapes of the bodies the image commands build.

use utoipa::openapi::OpenApi as Document;
use utoipa::OpenApi;

use crate::{bookmarks, chapters, comics, pages, plans, popularity, ratings};

#[derive(OpenApi)]
#[openapi(paths(
    comics::create,
    comics::change,
    comics::delete,
    comics::cover::put_cover,
    comics::cover::remove_cover,
    chapters::create,
    chapters::change,
    chapters::delete,
    pages::put_page,
    pages::append,
    pages::remove,
    pages::remove_all,
    ratings::rate,
    ratings::unrate,
    bookmarks::bookmark,
    bookmarks::unbookmark,
    plans::create,
    plans::change,
    plans::retire,
    popularity::routes::record_view,
))]
struct Commands;

/// The write side's paths and schemas.
pub fn document() -> Document {
    Commands::openapi()
}
