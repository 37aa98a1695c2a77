//! The OpenAPI document and the docs page: the document lists every route
//! the code registers; the page and its assets are served from here and name
//! no other host; schemathesis, run against the live service with the
//! document, finds no 5xx and no answer that breaks the document.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::TestApp;

/// Every `(METHOD, path)` the router is built from, read from the code:
/// each `.route("path", get(..).delete(..))` call of the crates that build
/// it (the read side's routes nested under its `.nest("/api/v1", ..)`).
fn routes_in_code() -> BTreeSet<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut routes = BTreeSet::new();
    for (dir, nested) in [
        (
            "query-service/src",
            nest_prefix(&root.join("query-service/src/lib.rs")),
        ),
        ("command-service/src", String::new()),
        ("comics/src", String::new()),
    ] {
        for file in rust_files(&root.join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap();
            // Test modules build routers of their own.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for (path, methods) in route_calls(code) {
                let full = match path.starts_with("/api/")
                    || !file.starts_with(root.join("query-service"))
                {
                    true => path.clone(),
                    false => format!("{nested}{path}"),
                };
                for method in methods {
                    routes.insert((method, full.clone()));
                }
            }
        }
    }
    routes
}

fn nest_prefix(lib: &Path) -> String {
    let text = std::fs::read_to_string(lib).unwrap();
    let at = text
        .find(".nest(\"")
        .expect("the read side nests its routes")
        + 7;
    text[at..].split('"').next().unwrap().to_string()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if name.ends_with(".rs") && name != "tests.rs" && !name.ends_with("_tests.rs") {
            files.push(path);
        }
    }
    files
}

/// `(path, [METHOD])` of each `.route(` call: its string literal and the
/// method routers (`get(`, `.delete(`, `axum::routing::put(`) inside it.
fn route_calls(code: &str) -> Vec<(String, Vec<String>)> {
    let mut calls = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i)
            .expect("a closed .route(");
        let args = &rest[..end];
        let path = args.split('"').nth(1).expect("a path literal").to_string();
        let after_path = args.splitn(3, '"').nth(2).unwrap_or("");
        let mut methods = Vec::new();
        for method in ["get", "post", "put", "patch", "delete"] {
            let call = format!("{method}(");
            let mut from = 0;
            while let Some(i) = after_path[from..].find(&call) {
                let start = from + i;
                let before = after_path[..start].chars().last();
                // `get(` alone, after `.` or `::`, not inside another name.
                if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_')) {
                    methods.push(method.to_uppercase());
                }
                from = start + call.len();
            }
        }
        assert!(!methods.is_empty(), "no method router in .route({args})");
        calls.push((path, methods));
        rest = &rest[end..];
    }
    calls
}

fn routes_in_spec(spec: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

#[test]
fn the_document_lists_every_route_of_the_router_and_no_other() {
    let code = routes_in_code();
    // The parser found the routes (a broken parser must not pass vacuously).
    assert!(
        code.len() >= 40,
        "only {} routes found: {code:?}",
        code.len()
    );
    assert!(code.contains(&("GET".into(), "/api/v1/comics/{id}".into())));
    assert!(code.contains(&("DELETE".into(), "/api/v1/chapters/{id}/pages".into())));
    assert!(code.contains(&("GET".into(), "/metrics".into())));
    let spec = serde_json::to_value(comics::openapi::document()).unwrap();
    let listed = routes_in_spec(&spec);
    let missing: Vec<_> = code.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "routes the OpenAPI document misses: {missing:?}"
    );
    let stale: Vec<_> = listed.difference(&code).collect();
    assert!(
        stale.is_empty(),
        "documented routes the router lacks: {stale:?}"
    );
}

#[test]
fn every_operation_has_an_id_its_errors_and_the_right_security() {
    let spec = serde_json::to_value(comics::openapi::document()).unwrap();
    assert_eq!(spec["openapi"], json!("3.1.0"));
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        json!("bearer")
    );
    let mut ids = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_string()), "operationId {id} twice");
            let responses = op["responses"].as_object().unwrap();
            let unavailable = &responses["503"];
            assert!(
                unavailable["headers"]["Retry-After"].is_object(),
                "{method} {path}"
            );
            // Readiness answers its report, not a problem.
            assert!(
                path == "/health/ready"
                    || unavailable["content"]["application/problem+json"]["schema"]["$ref"]
                        .as_str()
                        .is_some_and(|r| r.ends_with("/Problem")),
                "{method} {path}"
            );
            let admin = path.starts_with("/api/v1/audit")
                || (method != "get"
                    && !path.contains("/rating")
                    && !path.contains("/me/")
                    && !path.ends_with("/views"));
            let roles = op["security"].to_string();
            assert_eq!(roles.contains("admin"), admin, "{method} {path}: {roles}");
            if admin {
                assert!(responses.contains_key("401") && responses.contains_key("403"));
            }
            if method != "get" {
                assert!(responses.contains_key("429"), "{method} {path}");
                let ok = responses
                    .iter()
                    .find(|(s, _)| s.starts_with('2'))
                    .unwrap()
                    .1;
                assert!(
                    ok["headers"]["X-Consistency-Token"].is_object(),
                    "{method} {path}"
                );
            }
        }
    }
    let if_match = &spec["paths"]["/api/v1/comics/{id}"]["patch"]["parameters"];
    assert!(if_match.to_string().contains("If-Match"));
    let token = &spec["paths"]["/api/v1/comics"]["get"]["parameters"];
    assert!(token.to_string().contains("X-Consistency-Token"));
}

#[tokio::test]
async fn the_docs_page_and_its_assets_are_served_from_here() {
    let app = TestApp::spawn().await;
    let r = app.get("/api/v1/openapi.json").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let spec: Value = r.json().await.unwrap();
    assert_eq!(spec["openapi"], json!("3.1.0"));
    assert!(spec["paths"]["/api/v1/comics"]["get"].is_object());

    let r = app.get("/api/v1/docs").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = r.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("//"),
        "the page names another host: {html}"
    );
    // Each asset the page loads, resolved as a browser resolves it against
    // /api/v1/docs, answers with its type.
    let mut assets = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for part in html.split(attr).skip(1) {
            assets.push(part.split('"').next().unwrap().to_string());
        }
    }
    assert_eq!(assets.len(), 3, "{assets:?}");
    for asset in assets {
        let r = app.get(&format!("/api/v1/{asset}")).await;
        assert_eq!(r.status(), 200, "{asset}");
        let kind = r.headers()["content-type"].to_str().unwrap().to_string();
        let expected = if asset.ends_with(".css") {
            "text/css"
        } else {
            "text/javascript"
        };
        assert!(kind.starts_with(expected), "{asset}: {kind}");
        assert!(r.bytes().await.unwrap().len() > 100, "{asset}");
    }
    // The script fetches the document next to the page, nothing else.
    let init = app.get("/api/v1/docs/init.js").await.text().await.unwrap();
    assert!(init.contains("url: \"openapi.json\"") && !init.contains("http"));
    let r = app.get("/api/v1/docs/LICENSE").await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Apache License"));
    let r = app.get("/api/v1/docs/nothing.js").await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    app.stop().await;
}

/// schemathesis's CLI, or a failure that says how to get it.
fn schemathesis() -> std::process::Command {
    let found = std::process::Command::new("st")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "the contract test needs schemathesis's `st` on PATH: pip install schemathesis"
    );
    std::process::Command::new("st")
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_off_the_document() {
    let st = schemathesis();
    let app = TestApp::spawn().await;
    let config =
        std::env::temp_dir().join(format!("comics-schemathesis-{}.toml", uuid::Uuid::now_v7()));
    std::fs::write(&config, fixtures(&app).await).unwrap();

    let mut st = tokio::process::Command::from(st);
    st.arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", app.base))
        .args(["--url", &app.base])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_headers_conformance,response_schema_conformance",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args([
            "--max-examples",
            "15",
            "--workers",
            "1",
            "--max-time",
            "120",
        ])
        .args([
            "--request-timeout",
            "15",
            "--no-color",
            "--generation-database",
            "none",
        ])
        .args([
            "--header",
            &format!("Authorization: Bearer {}", app.admin_token),
        ])
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let run = tokio::time::timeout(Duration::from_secs(300), st.output())
        .await
        .expect("schemathesis finished within 5 minutes")
        .expect("schemathesis ran");
    let out = String::from_utf8_lossy(&run.stdout);
    let err = String::from_utf8_lossy(&run.stderr);
    // Shown with --nocapture: what was tested, and schemathesis's warnings.
    println!("{out}");
    assert!(
        run.status.success(),
        "schemathesis found problems:\n{out}\n{err}"
    );
    // It did test the API (and not, say, fail to load the document).
    assert!(out.contains("passed"), "{out}\n{err}");
    let _ = std::fs::remove_file(&config);
    app.stop().await;
}

/// Things for the run to find, and a schemathesis configuration that sends
/// their ids: a comic with a cover and a chapter with a page, a second comic
/// and chapter and a second plan for the deletes (so reads keep finding the
/// first ones), and the page's image.
async fn fixtures(app: &TestApp) -> String {
    use crate::api_pages::images::{png, sha256_hex};
    use reqwest::Method;
    let (comic, _) = app.comic("Contract").await;
    let (chapter, _) = app.chapter(&comic, "1").await;
    let (doomed_comic, _) = app.comic("Doomed").await;
    let (doomed_chapter, _) = app.chapter(&doomed_comic, "1").await;
    let page = png(64, 96, 400, 7);
    let admin = Some(app.admin_token.as_str());
    let path = format!("/api/v1/chapters/{chapter}/pages/1");
    let r = app
        .send_raw(Method::PUT, &path, admin, Some("image/png"), page.clone())
        .await;
    assert_eq!(r.status(), 201);
    let path = format!("/api/v1/comics/{comic}/cover");
    let r = app
        .send_raw(
            Method::PUT,
            &path,
            admin,
            Some("image/png"),
            png(32, 48, 300, 9),
        )
        .await;
    assert_eq!(r.status(), 200);
    let mut plans = Vec::new();
    for name in ["Basic", "Doomed"] {
        let plan = json!({"name": name, "price_cents": 499, "currency": "USD", "interval": "month", "perks": []});
        let r = app
            .send(Method::POST, "/api/v1/plans", admin, Some(plan))
            .await;
        assert_eq!(r.status(), 201);
        plans.push(
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let image = sha256_hex(&page);
    let (plan, doomed_plan) = (&plans[0], &plans[1]);
    // Each operation by its id: the ids are unique (checked above).
    let ids = |ops: &[&str]| format!("{ops:?}");
    let entries = [
        (
            ids(&[
                "get_comic",
                "change_comic",
                "comic_stats",
                "list_chapters",
                "cover_bytes",
                "put_cover",
                "remove_cover",
                "create_chapter",
                "rate",
                "unrate",
                "record_view",
            ]),
            "id",
            comic.as_str(),
        ),
        (ids(&["bookmark", "unbookmark"]), "comic_id", comic.as_str()),
        (ids(&["delete_comic"]), "id", doomed_comic.as_str()),
        (
            ids(&[
                "get_chapter",
                "change_chapter",
                "list_pages",
                "page_bytes",
                "put_page",
                "append_pages",
            ]),
            "id",
            chapter.as_str(),
        ),
        (
            ids(&["delete_chapter", "remove_page", "remove_all_pages"]),
            "id",
            doomed_chapter.as_str(),
        ),
        (ids(&["get_plan", "change_plan"]), "id", plan.as_str()),
        (ids(&["retire_plan"]), "id", doomed_plan.as_str()),
        (ids(&["image_bytes"]), "sha256", image.as_str()),
    ];
    entries
        .iter()
        .map(|(ops, name, value)| {
            format!(
                "[[operations]]\ninclude-operation-id = {ops}\nparameters = {{ \"path.{name}\" = \"{value}\" }}\n\n"
            )
        })
        .collect()
}

/// Found by the contract test: `offset` near `i64::MAX` overflowed (a 500
/// from `/rankings/popular`). Every list refuses it as a 400 naming `offset`.
#[tokio::test]
async fn an_offset_past_any_list_is_a_400_naming_it() {
    let app = TestApp::spawn().await;
    let (comic, token) = app.comic("Offsets").await;
    let huge = "offset=9223372036854775806";
    for list in [
        "/api/v1/comics".to_string(),
        "/api/v1/rankings/popular".into(),
        "/api/v1/rankings/top-rated".into(),
        "/api/v1/plans".into(),
        format!("/api/v1/comics/{comic}/chapters"),
    ] {
        let r = app.get(&format!("{list}?{huge}")).await;
        assert_eq!(r.status(), 400, "{list}");
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], json!("offset"), "{list}");
        let r = app
            .get_after(&format!("{list}?offset=1000000000"), &token)
            .await;
        assert_eq!(r.status(), 200, "{list}");
    }
    app.stop().await;
}
