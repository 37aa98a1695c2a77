//! Black-box tests of the read API: each test gets a fresh database with the
//! catalog schema, fills it directly as the projector would, and calls the
//! real router over HTTP.

mod chapters;
mod comic_filters;
mod comic_sorts;
mod comics;
mod consistency;
mod genres;
mod helpers;
mod seeds;
