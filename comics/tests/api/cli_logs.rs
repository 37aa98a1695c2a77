//! The `comics` binary's logs: plain text without colour codes when stderr is
//! not a terminal, one JSON object per line with `COMICS_LOG_FORMAT=json`,
//! and a refused format named at start.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::TestEnv;

/// `comics serve` on `env`'s database and prefix, on a free port, its
/// stderr piped.
fn serve(env: &TestEnv, format: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_comics"))
        .arg("serve")
        .env("DATABASE_URL", &env.settings.database_url)
        .env("COMICS_NATS_PREFIX", &env.settings.nats_prefix)
        .env("COMICS_HTTP_ADDR", "127.0.0.1:0")
        .env("COMICS_JWT_SECRET", "test-secret")
        .env("COMICS_LOG_FORMAT", format)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("comics serve")
}

/// The lines `child` logs up to and including the one saying it listens.
async fn lines_until_listening(child: &mut Child) -> Vec<String> {
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let done = line.contains("comics is listening");
            seen.push(line);
            if done {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .unwrap_or_else(|_| panic!("never listened; logged: {seen:?}"));
    seen
}

#[tokio::test]
async fn logs_are_plain_text_off_a_terminal_and_json_lines_on_request() {
    let env = TestEnv::new().await;
    for format in ["text", "json"] {
        let mut child = serve(&env, format);
        let lines = lines_until_listening(&mut child).await;
        child.kill().await.unwrap();
        assert!(
            lines.iter().any(|l| l.contains("comics is listening")),
            "{lines:?}"
        );
        for line in &lines {
            assert!(!line.contains('\u{1b}'), "a colour code in {line:?}");
            if format == "json" {
                let parsed: serde_json::Value =
                    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                assert!(parsed["level"].is_string(), "{line}");
                assert!(parsed["fields"]["message"].is_string(), "{line}");
            }
        }
    }
    env.cleanup().await;
}

#[tokio::test]
async fn an_unknown_log_format_is_refused_at_start() {
    let output = Command::new(env!("CARGO_BIN_EXE_comics"))
        .arg("serve")
        .env("COMICS_LOG_FORMAT", "yaml")
        .output()
        .await
        .expect("comics");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("COMICS_LOG_FORMAT"), "{stderr}");
}

#[tokio::test]
async fn a_rebuild_off_a_terminal_prints_plain_progress_lines() {
    let app = crate::support::TestApp::spawn().await;
    let (_, token) = app.comic("Rebuilt").await;
    app.wait_for_all(&[token]).await;
    let settings = &app.env.settings;
    let output = Command::new(env!("CARGO_BIN_EXE_comics"))
        .args(["projections", "rebuild", "catalog"])
        .env("DATABASE_URL", &settings.database_url)
        .env("COMICS_NATS_PREFIX", &settings.nats_prefix)
        .env("RUST_LOG", "info")
        .output()
        .await
        .expect("comics projections rebuild");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("catalog: 1/1 events (100%)")),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}') && !stdout.contains('\u{1b}'),
        "{stderr}"
    );
    assert!(
        stdout.contains("catalog: rebuilt from 1 events"),
        "{stdout}"
    );
    app.stop().await;
}
