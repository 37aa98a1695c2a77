//! The OpenAPI 3.1 document of every route this binary serves, assembled
//! from the annotations on the handlers (read side, write side, and the
//! operational routes here), plus what every route shares: the bearer
//! scheme, the problem+json body of each error, the statuses any request can
//! meet (400, 401/403, 404, 429, 503 with `Retry-After`, 500) and the
//! `X-Consistency-Token` a write answers with.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ObjectBuilder, OpenApi as Document, RefOr, Type};
use utoipa::OpenApi;

const PROBLEM: &str = "application/problem+json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Comics API",
        description = "The public HTTP API of the comics platform. What a schema cannot say \
            (consistency tokens, errors and retries, rate limits, authentication, paging) is in \
            `docs/api.md` of the repository. Every response carries `X-Request-Id` (the client's \
            when it sent a sane one).",
    ),
    paths(
        comics_common::http::live,
        crate::health::ready,
        comics_common::metrics::render,
        crate::docs::openapi_json,
        crate::docs::page,
        crate::docs::asset,
    ),
    components(schemas(comics_common::Problem, comics_common::problem::FieldProblem)),
    tags(
        (name = "comics", description = "The catalog: comics, their covers, stats and genres"),
        (name = "chapters", description = "A comic's chapters"),
        (name = "pages", description = "A chapter's page images"),
        (name = "ratings", description = "Scores 1–10 per user and comic"),
        (name = "bookmarks", description = "A user's library"),
        (name = "views", description = "Reading counts behind the popularity ranking"),
        (name = "rankings", description = "Popular and top-rated comics"),
        (name = "plans", description = "Premium plans"),
        (name = "audit", description = "The event log (admin)"),
        (name = "operations", description = "Health, metrics and this document"),
    ),
)]
struct Operations;

/// The whole document.
pub fn document() -> Document {
    let mut doc = Operations::openapi();
    doc.merge(comics_query::openapi());
    doc.merge(comics_command::openapi());
    let components = doc.components.get_or_insert_with(Default::default);
    components.security_schemes.insert(
        "bearer".into(),
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "A JWT with `sub` and `exp`: HS256 with the server's secret, or RS256/ES256 \
                     from the configured OIDC key set. A route that lists `admin` needs that \
                     role in the token's roles claim (403 without it).",
                ))
                .build(),
        ),
    );
    for (path, item) in doc.paths.paths.iter_mut() {
        for operation in operations(item) {
            shared_responses(path, operation.0, operation.1);
        }
    }
    doc
}

/// Each operation of a path item, and whether it is a read.
fn operations(item: &mut PathItem) -> Vec<(bool, &mut Operation)> {
    let reads = [item.get.as_mut()].into_iter().flatten().map(|o| (true, o));
    let writes = [
        item.put.as_mut(),
        item.post.as_mut(),
        item.patch.as_mut(),
        item.delete.as_mut(),
    ]
    .into_iter()
    .flatten()
    .map(|o| (false, o));
    reads.chain(writes).collect()
}

fn shared_responses(path: &str, read: bool, op: &mut Operation) {
    let api = path.starts_with("/api/v1/");
    let Security {
        roles,
        secured,
        anonymous_allowed,
    } = Security::of(op);
    let has_path_params = path.contains('{');
    let has_body = op.request_body.is_some();
    let responses = &mut op.responses.responses;
    let mut add = |status: &str, description: &str, retry_after: bool| {
        responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::T(problem(description, retry_after)));
    };
    if api {
        add(
            "400",
            "A malformed or out-of-range parameter or header, or malformed JSON",
            false,
        );
    }
    if has_path_params {
        add("404", "Not found", false);
    }
    if secured {
        let why = match anonymous_allowed {
            true => "A bearer token was sent but is invalid or expired",
            false => "No valid bearer token (missing, invalid or expired)",
        };
        add("401", why, false);
    }
    if roles.iter().any(|r| r == "admin") {
        add("403", "The token is valid but lacks the admin role", false);
    }
    if has_body {
        add("413", "The body is too large", false);
        add(
            "415",
            "The body's Content-Type is not one this route takes",
            false,
        );
        add(
            "422",
            "The body parses but breaks a rule (each field named in `errors`)",
            false,
        );
    }
    if !read && api {
        add(
            "429",
            "Over the rate limit: retry after `Retry-After` seconds",
            true,
        );
    }
    add(
        "500",
        "A bug of the server (logged); never a client mistake or an outage",
        false,
    );
    add(
        "503",
        "A dependency (Postgres, NATS, object storage) is unavailable, or a consistency token \
         was not reached within 5 s: retry after `Retry-After` seconds",
        true,
    );
    complete(responses, !read && api);
}

/// What an operation's security requirements say.
struct Security {
    /// The roles the bearer token must carry.
    roles: Vec<String>,
    /// A bearer token is read.
    secured: bool,
    /// It may also be left out.
    anonymous_allowed: bool,
}

impl Security {
    fn of(op: &Operation) -> Self {
        let roles: Vec<String> = op
            .security
            .iter()
            .flatten()
            .filter_map(|req| serde_json::to_value(req).ok())
            .filter_map(|v| v.get("bearer").cloned())
            .filter_map(|v| serde_json::from_value::<Vec<String>>(v).ok())
            .flatten()
            .collect();
        let secured = op
            .security
            .iter()
            .flatten()
            .any(|req| serde_json::to_value(req).is_ok_and(|v| v.get("bearer").is_some()));
        let anonymous_allowed = op.security.iter().flatten().any(|req| {
            serde_json::to_value(req).is_ok_and(|v| v.as_object().is_some_and(|o| o.is_empty()))
        });
        Self {
            roles,
            secured,
            anonymous_allowed,
        }
    }
}

/// Gives every error response without a body the problem body, and, when
/// `consistency_token` (an API write), every success its
/// `X-Consistency-Token` header.
fn complete(
    responses: &mut std::collections::BTreeMap<String, RefOr<Response>>,
    consistency_token: bool,
) {
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if status.starts_with('4') || status.starts_with('5') {
            // A problem without a body spelled out gets the problem body.
            if response.content.is_empty() {
                let retry = status == "429" || status == "503";
                *response = problem(&response.description, retry);
            }
        } else if status.starts_with('2') && consistency_token {
            response.headers.insert(
                "X-Consistency-Token".into(),
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::String))
                    .description(Some(
                        "Send it with a following GET to read this write's effects",
                    ))
                    .build(),
            );
        }
    }
}

/// A problem+json response, with `Retry-After` when the client should retry.
fn problem(description: &str, retry_after: bool) -> Response {
    let mut builder = ResponseBuilder::new().description(description).content(
        PROBLEM,
        ContentBuilder::new()
            .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                "Problem",
            ))))
            .build(),
    );
    if retry_after {
        builder = builder.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                )
                .description(Some("Seconds to wait before retrying"))
                .build(),
        );
    }
    builder.build()
}
