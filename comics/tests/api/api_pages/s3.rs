//! The S3 path of object storage against a real S3-compatible server:
//! moto's standalone server (`pip install "moto[server]"`), started by the
//! test on a free loopback port. Skipped, saying so, only when
//! `moto_server` is not installed.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::Method;

use crate::support::client::{consistency, json_with, TestApp};

use super::images::{jpeg, key_of, png};
use super::{comic_and_chapter, get_with, pages, post_pages, put_cover, put_page};

/// A moto S3 server, stopped when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts moto on a free port; `None` when it is not installed.
async fn moto() -> Option<Moto> {
    let port = TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("cannot start moto_server: {e}"),
    };
    let moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(moto);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("moto_server did not listen on port {port} within 20 s");
}

fn s3_options(endpoint: &str) -> Vec<(String, String)> {
    [
        ("aws_endpoint", endpoint),
        ("aws_allow_http", "true"),
        ("aws_region", "us-east-1"),
        ("aws_access_key_id", "test"),
        ("aws_secret_access_key", "test"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pages_and_covers_live_in_an_s3_bucket() {
    let Some(moto) = moto().await else {
        eprintln!("SKIPPED: moto_server is not installed (pip install \"moto[server]\")");
        return;
    };
    let bucket = "comics-pages";
    let r = reqwest::Client::new()
        .put(format!("{}/{bucket}", moto.endpoint))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "create bucket: {}", r.status());
    let url = format!("s3://{bucket}/site/images-root");
    let options = s3_options(&moto.endpoint);
    let app = TestApp::spawn_with(|s| {
        s.storage_url = Some(url.clone());
        s.storage_options = options.clone();
    })
    .await;
    let (comic, chapter) = comic_and_chapter(&app).await;

    // A page over the 5 MiB part size goes up in two parts.
    let big = png(1000, 1400, 6 * 1024 * 1024 + 123, 1);
    let small = jpeg(20, 20, 500, 2);
    json_with(
        put_page(&app, &chapter, "1", "image/png", big.clone()).await,
        201,
    )
    .await;
    let r = post_pages(&app, &chapter, &[("file", "image/jpeg", &small)]).await;
    let token = consistency(&r);
    json_with(r, 201).await;
    assert_eq!(pages(&app, &chapter, &token).await.len(), 2);
    let r = app
        .get(&format!("/api/v1/chapters/{chapter}/pages/1"))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), big.as_slice());
    let path = format!("/api/v1/chapters/{chapter}/pages/2");
    let r = get_with(&app, &path, &[("range", "bytes=100-199")]).await;
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &small[100..200]);

    let cover = jpeg(300, 400, 2000, 3);
    let r = put_cover(&app, &comic, "image/jpeg", cover.clone()).await;
    let token = consistency(&r);
    json_with(r, 200).await;
    let doc = json_with(app.get_comic(&comic, &token).await, 200).await;
    assert_eq!(
        doc["cover_url"],
        format!("/api/v1/comics/{comic}/cover").as_str()
    );
    let r = app.get(&format!("/api/v1/comics/{comic}/cover")).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), cover.as_slice());

    // The objects are in the bucket under the prefix, content-addressed;
    // gc removes an orphan there and keeps the named bytes.
    let orphan = png(5, 5, 100, 4);
    let bad = b"nope".to_vec();
    let parts: [(&str, &str, &[u8]); 2] =
        [("file", "image/png", &orphan), ("file", "image/png", &bad)];
    assert_eq!(post_pages(&app, &chapter, &parts).await.status(), 415);
    let storage = comics_storage::Storage::from_url(Some(&url), &options).unwrap();
    for bytes in [&big, &small, &cover, &orphan] {
        assert!(storage.exists(&key_of(bytes)).await.unwrap());
    }
    let listed = reqwest::Client::new()
        .get(format!(
            "{}/{bucket}?prefix=site/images-root/images/",
            moto.endpoint
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(listed.matches("<Key>").count(), 4, "{listed}");
    let report = comics::storage_gc::collect(&app.env.settings, chrono::Duration::zero())
        .await
        .unwrap();
    assert_eq!((report.named, report.removed), (3, 1));
    assert!(!storage.exists(&key_of(&orphan)).await.unwrap());
    assert!(storage.exists(&key_of(&big)).await.unwrap());

    let r = app
        .send(
            Method::DELETE,
            &format!("/api/v1/chapters/{chapter}/pages"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    app.stop().await;
    drop(moto);
}
