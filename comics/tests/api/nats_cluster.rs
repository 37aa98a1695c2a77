//! Losing a NATS node: three `nats-server`s clustered on loopback, the
//! streams at three replicas, the stream leader killed with -9 under a
//! rating and view load. No acknowledged write or view is lost, the stream
//! ends equal to the log, and reads recover without restarting `comics`.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::support::client::TestApp;
use crate::support::eventually;

const NODES: usize = 3;
const LOAD_FOR: Duration = Duration::from_secs(8);
const KILL_AFTER: Duration = Duration::from_secs(2);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One `nats-server` of the cluster, stopped (and its folder removed) on drop.
struct Node {
    name: String,
    port: u16,
    dir: PathBuf,
    process: Option<Child>,
}

impl Node {
    fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts a three-node JetStream cluster on loopback.
fn cluster() -> Vec<Node> {
    let unique = uuid::Uuid::now_v7().simple().to_string();
    let routes: Vec<u16> = (0..NODES).map(|_| free_port()).collect();
    let all_routes = routes
        .iter()
        .map(|p| format!("nats://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    (0..NODES)
        .map(|i| {
            let name = format!("n{i}-{}", &unique[20..]);
            let port = free_port();
            let dir = std::env::temp_dir().join(format!("comics-nats-{name}"));
            std::fs::create_dir_all(&dir).unwrap();
            let process = Command::new("nats-server")
                .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js"])
                .arg("-sd")
                .arg(&dir)
                .args(["--server_name", &name])
                .args(["--cluster_name", &format!("ct-{}", &unique[24..])])
                .args(["--cluster", &format!("nats://127.0.0.1:{}", routes[i])])
                .args(["--routes", &all_routes])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nats-server (see README, Prerequisites)");
            Node {
                name,
                port,
                dir,
                process: Some(process),
            }
        })
        .collect()
}

/// Waits until the cluster can hold a stream of three replicas.
async fn wait_for_jetstream(url: &str) {
    eventually(Duration::from_secs(60), || async {
        let client = comics_nats::connect(url, "cluster-probe").await.ok()?;
        let js = async_nats::jetstream::new(client);
        let name = format!("PROBE_{}", uuid::Uuid::now_v7().simple());
        let config = async_nats::jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![format!("probe.{name}")],
            num_replicas: NODES,
            ..Default::default()
        };
        js.create_stream(config).await.ok()?;
        js.delete_stream(&name).await.ok()?;
        Some(())
    })
    .await;
}

#[derive(Default)]
struct Outcomes {
    /// Acknowledged (comic, user) ratings and views.
    rated: Vec<(String, String)>,
    viewed: Vec<(String, String)>,
    attempted_views: BTreeMap<String, usize>,
    statuses: BTreeMap<u16, usize>,
}

async fn load(
    app: Arc<TestApp>,
    n: usize,
    comics: Arc<Vec<String>>,
    out: Arc<Mutex<Outcomes>>,
    stop: CancellationToken,
) {
    let mut i = 0;
    while !stop.is_cancelled() {
        i += 1;
        let comic = comics[(n + i) % comics.len()].clone();
        let user = format!("cluster-{n}-{i}");
        let token = app.user(&user);
        let rate = i % 2 == 0;
        let r = if rate {
            let path = format!("/api/v1/comics/{comic}/rating");
            app.send(Method::PUT, &path, Some(&token), Some(json!({"score": 7})))
                .await
        } else {
            *out.lock()
                .unwrap()
                .attempted_views
                .entry(comic.clone())
                .or_default() += 1;
            app.view_comic(Some(&token), &comic, None).await
        };
        let status = r.status().as_u16();
        let mut out = out.lock().unwrap();
        *out.statuses.entry(status).or_default() += 1;
        match (rate, status) {
            (true, 200) => out.rated.push((comic, user)),
            (false, 202) => out.viewed.push((comic, user)),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn losing_the_stream_leader_under_load_loses_no_acknowledged_write_or_view() {
    let mut nodes = cluster();
    let url = nodes
        .iter()
        .map(|n| format!("nats://127.0.0.1:{}", n.port))
        .collect::<Vec<_>>()
        .join(",");
    wait_for_jetstream(&url).await;
    let app = TestApp::spawn_with(|s| {
        s.nats_url = url.clone();
        s.nats_replicas = NODES;
    })
    .await;
    let mut comics = Vec::new();
    for k in 0..4 {
        let (id, token) = app.comic(&format!("Clustered {k}")).await;
        app.wait_for_all(&[token]).await;
        comics.push(id);
    }
    let js = async_nats::jetstream::new(app.env.nats().await);
    let mut stream = js.get_stream(app.env.names().stream()).await.unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(info.config.num_replicas, NODES);
    let leader = info
        .cluster
        .as_ref()
        .and_then(|c| c.leader.clone())
        .expect("a stream leader");

    let app = Arc::new(app);
    let out = Arc::new(Mutex::new(Outcomes::default()));
    let stop = CancellationToken::new();
    let comics = Arc::new(comics);
    let workers: Vec<_> = (0..4)
        .map(|n| {
            tokio::spawn(load(
                app.clone(),
                n,
                comics.clone(),
                out.clone(),
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(KILL_AFTER).await;
    let victim = nodes
        .iter_mut()
        .find(|n| n.name == leader)
        .expect("leader node");
    victim.kill();
    tokio::time::sleep(LOAD_FOR - KILL_AFTER).await;
    stop.cancel();
    for w in workers {
        w.await.unwrap();
    }
    let out = Arc::try_unwrap(out).ok().unwrap().into_inner().unwrap();
    eprintln!("answers: {:?}", out.statuses);
    let wrong: Vec<_> = out
        .statuses
        .keys()
        .filter(|s| ![200, 202, 503].contains(*s))
        .collect();
    assert!(
        wrong.is_empty(),
        "answers other than 2xx and 503: {:?}",
        out.statuses
    );
    assert!(
        !out.rated.is_empty() && !out.viewed.is_empty(),
        "{:?}",
        out.statuses
    );

    // Every acknowledged rating is read back, and every acknowledged view
    // counted (a view answered 503 may or may not have been stored).
    for (comic, user) in &out.rated {
        let token = app.user(user);
        eventually(Duration::from_secs(60), || async {
            let mine: Value = app
                .my_ratings(Some(&token), "", None)
                .await
                .json()
                .await
                .ok()?;
            (mine["items"][0]["comic_id"] == json!(comic)).then_some(())
        })
        .await;
    }
    let mut acknowledged: BTreeMap<&str, usize> = BTreeMap::new();
    for (comic, _) in &out.viewed {
        *acknowledged.entry(comic).or_default() += 1;
    }
    for (comic, at_least) in acknowledged {
        let at_most = out.attempted_views[comic];
        eventually(Duration::from_secs(60), || async {
            let stats: Value = app
                .get(&format!("/api/v1/comics/{comic}/stats"))
                .await
                .json()
                .await
                .ok()?;
            let total = stats["views"]["total"].as_u64()? as usize;
            assert!(total <= at_most, "{total} views counted of {at_most} sent");
            (total >= at_least).then_some(())
        })
        .await;
    }
    // The stream holds exactly the log, in order.
    let pool = app.env.events_pool().await;
    let logged: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    let name = app.env.names().stream();
    eventually(Duration::from_secs(30), || async {
        let state = js.get_stream(&name).await.ok()?.cached_info().state.clone();
        (state.messages == logged as u64 && state.last_sequence == logged as u64).then_some(())
    })
    .await;
    // Reads recover without a restart.
    assert_eq!(
        app.get(&format!("/api/v1/comics/{}", comics[0]))
            .await
            .status(),
        200
    );
    Arc::try_unwrap(app).ok().unwrap().stop().await;
    drop(nodes);
}
