//! Black-box tests of the read API: each test gets fresh databases with the
//! catalog, ratings, bookmarks and popularity query stores, fills them
//! directly as the projectors would, and calls the real router over HTTP.

mod bookmarks;
mod chapters;
mod comic_filters;
mod comic_sorts;
mod comics;
mod consistency;
mod genres;
mod helpers;
mod popularity;
mod rankings;
mod ratings;
mod search;
mod search_plan;
mod seeds;
mod stats;
mod windows;
