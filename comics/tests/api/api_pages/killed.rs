//! `comics serve` killed with SIGKILL while pages upload: after a restart,
//! every page whose upload was acknowledged reads back byte for byte (its
//! bytes were flushed before its event was appended, and the event before
//! the answer).

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as Ttl;
use reqwest::StatusCode;
use serde_json::json;
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

use crate::support::{eventually, TestEnv};

use super::images::png;

/// A free loopback port (bound, then released for the server to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `comics serve` as its own process on `port`, ready.
async fn serve(env: &TestEnv, port: u16, http: &reqwest::Client) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_comics"))
        .arg("serve")
        .env("DATABASE_URL", &env.settings.database_url)
        .env("COMICS_NATS_PREFIX", &env.settings.nats_prefix)
        .env("COMICS_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("COMICS_JWT_SECRET", "test-secret")
        .env(
            "COMICS_STORAGE_URL",
            env.settings.storage_url.as_deref().unwrap(),
        )
        .env("COMICS_RATE_LIMIT_USER_PER_MINUTE", "0")
        .env("COMICS_RATE_LIMIT_ANONYMOUS_PER_MINUTE", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("comics serve");
    let ready = format!("http://127.0.0.1:{port}/health/ready");
    eventually(Duration::from_secs(60), || async {
        let r = http.get(&ready).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    child
}

/// The pages acknowledged so far: number and bytes.
type Acked = Arc<Mutex<Vec<(u32, Vec<u8>)>>>;

/// Uploads pages `first`, `first + step`, … of `chapter` until the server
/// stops answering; records each acknowledged one with its bytes.
async fn upload(
    http: reqwest::Client,
    base: String,
    admin: String,
    chapter: String,
    first: u32,
    step: u32,
    acked: Acked,
) {
    let mut n = first;
    loop {
        // Distinct bytes per page, 64 to 576 KiB.
        let len = 64 * 1024 + (n as usize * 37_813) % (512 * 1024);
        let mut bytes = png(800, 1200, len, (n % 251) as u8);
        bytes.extend(n.to_be_bytes());
        let r = http
            .put(format!("{base}/api/v1/chapters/{chapter}/pages/{n}"))
            .bearer_auth(&admin)
            .header("content-type", "image/png")
            .body(bytes.clone())
            .send()
            .await;
        match r {
            Ok(r) if r.status() == StatusCode::CREATED => acked.lock().await.push((n, bytes)),
            // The server died mid-request (or answered while dying).
            _ => return,
        }
        n += step;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_page_reads_back_after_a_kill_9() {
    let env = TestEnv::new().await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let admin = env
        .jwt()
        .mint("admin-1", &["admin"], Ttl::hours(1))
        .unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = serve(&env, port, &http).await;

    let r = http
        .post(format!("{base}/api/v1/comics"))
        .bearer_auth(&admin)
        .json(&json!({"title": "Killed", "type": "manga"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let comic = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = http
        .post(format!("{base}/api/v1/comics/{comic}/chapters"))
        .bearer_auth(&admin)
        .json(&json!({"number": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let chapter = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let acked = Arc::new(Mutex::new(Vec::new()));
    const UPLOADERS: u32 = 4;
    for round in 0..2u32 {
        let uploaders: Vec<_> = (0..UPLOADERS)
            .map(|u| {
                // Each round its own page numbers: every upload is a new page.
                let first = 1 + round * 100_000 + u;
                tokio::spawn(upload(
                    http.clone(),
                    base.clone(),
                    admin.clone(),
                    chapter.clone(),
                    first,
                    UPLOADERS,
                    acked.clone(),
                ))
            })
            .collect();
        // Let uploads be acknowledged, then kill the server mid-stream.
        let before = acked.lock().await.len();
        eventually(Duration::from_secs(60), || async {
            (acked.lock().await.len() >= before + 12).then_some(())
        })
        .await;
        server.start_kill().unwrap();
        server.wait().await.unwrap();
        for u in uploaders {
            u.await.unwrap();
        }
        server = serve(&env, port, &http).await;
    }

    let acked = acked.lock().await.clone();
    assert!(acked.len() >= 24, "{} uploads acknowledged", acked.len());
    for (n, bytes) in &acked {
        let url = format!("{base}/api/v1/chapters/{chapter}/pages/{n}");
        // The page shows once the projector has caught up after the restart.
        let read = eventually(Duration::from_secs(60), || async {
            let r = http.get(&url).send().await.ok()?;
            match r.status() {
                StatusCode::OK => Some(r.bytes().await.ok()?.to_vec()),
                _ => None,
            }
        })
        .await;
        assert!(read == *bytes, "page {n} reads back other bytes");
    }
    server.start_kill().unwrap();
    let _ = server.wait().await;
    env.cleanup().await;
}
