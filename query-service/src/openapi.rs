//! The OpenAPI description of this crate's routes, from the annotations on
//! their handlers. Every read here but the audit log honours
//! `X-Consistency-Token` (see [`crate::router`]), so the header is added to
//! each of them in one place.

use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, OpenApi as Document, Required, Type};
use utoipa::OpenApi;

use crate::{audit, bookmarks, chapters, comics, genres, pages, plans, popularity, ratings};

#[derive(OpenApi)]
#[openapi(paths(
    comics::list_comics,
    comics::get_comic,
    comics::stats::comic_stats,
    chapters::list_chapters,
    chapters::get_chapter,
    pages::list_pages,
    pages::page_bytes,
    pages::cover_bytes,
    pages::image_bytes,
    genres::list_genres,
    ratings::my_ratings,
    ratings::top_rated,
    popularity::popular,
    bookmarks::my_bookmarks,
    plans::list_plans,
    plans::get_plan,
))]
struct Reads;

#[derive(OpenApi)]
#[openapi(paths(audit::events))]
struct Audit;

/// The read side's paths and schemas.
pub fn document() -> Document {
    let mut reads = Reads::openapi();
    let token = consistency_token();
    for item in reads.paths.paths.values_mut() {
        if let Some(get) = item.get.as_mut() {
            get.parameters
                .get_or_insert_with(Vec::new)
                .push(token.clone());
        }
    }
    reads.merge(Audit::openapi());
    reads
}

fn consistency_token() -> Parameter {
    ParameterBuilder::new()
        .name("X-Consistency-Token")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "The `X-Consistency-Token` of a write: the answer waits (at most 5 s, then 503) \
             until every projection this read uses reflects that write.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[A-Za-z0-9_-]{1,4096}$")),
        ))
        .build()
}
