//! OIDC tokens (`COMICS_JWT_JWKS_URL`): RS256 and ES256 tokens verified
//! against a provider's key set served on loopback, key rotation picked up,
//! every forged or foreign token refused with 401, and an unreachable
//! provider a 503.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use comics_common::auth::Jwt;
use comics_common::config::JwtSettings;
use comics_common::jwks::KeySet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const ISSUER: &str = "https://id.example/realms/comics";
const AUDIENCE: &str = "comics-api";
const REFRESH: Duration = Duration::from_millis(400);

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn public_jwk(kid: &str) -> Value {
    serde_json::from_str(&fixture(&format!("{kid}.jwk.json"))).unwrap()
}

/// A token signed by the fixture key `kid` with `alg`, holding `claims`.
fn sign(kid: &str, alg: Algorithm, claims: &Value) -> String {
    let pem = fixture(&format!("{kid}.pem"));
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
        other => panic!("no fixture for {other:?}"),
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// Keycloak-shaped claims: the roles under `realm_access.roles`.
fn claims(sub: &str, roles: &[&str]) -> Value {
    json!({
        "sub": sub,
        "exp": chrono::Utc::now().timestamp() + 3600,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "realm_access": {"roles": roles},
    })
}

/// A key set served on loopback; `keys` can change, `fetches` counts.
struct Provider {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

async fn provider(kids: &[&str]) -> Provider {
    let keys: Arc<Mutex<Vec<Value>>> =
        Arc::new(Mutex::new(kids.iter().map(|k| public_jwk(k)).collect()));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (served, counted) = (keys.clone(), fetches.clone());
    let app = Router::new().route(
        "/certs",
        get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            let keys = served.lock().unwrap().clone();
            async move { Json(json!({ "keys": keys })) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/certs", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Provider { url, keys, fetches }
}

async fn verifier(url: &str) -> Arc<Jwt> {
    let settings = JwtSettings {
        issuer: Some(ISSUER.into()),
        audience: Some(AUDIENCE.into()),
        jwks_url: Some(url.into()),
        roles_claim: "realm_access.roles".into(),
        ..JwtSettings::hs256("the-shared-secret")
    };
    let jwt = Jwt::with_key_set(
        &settings,
        KeySet::new(url).refreshing_at_most_every(REFRESH),
    );
    jwt.prefetch().await;
    jwt
}

#[tokio::test]
async fn rs256_and_es256_tokens_of_the_key_set_are_accepted_with_their_roles() {
    let idp = provider(&["rsa-1", "ec-1"]).await;
    let jwt = verifier(&idp.url).await;
    let admin = jwt
        .verify(&sign(
            "rsa-1",
            Algorithm::RS256,
            &claims("alice", &["admin"]),
        ))
        .await
        .unwrap();
    assert_eq!((admin.sub.as_str(), admin.is_admin), ("alice", true));
    let reader = jwt
        .verify(&sign("ec-1", Algorithm::ES256, &claims("bob", &["reader"])))
        .await
        .unwrap();
    assert_eq!((reader.sub.as_str(), reader.is_admin), ("bob", false));
    assert_eq!(
        idp.fetches.load(Ordering::SeqCst),
        1,
        "fetched once, at start"
    );
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_and_unknown_kids_refetch_at_most_once_per_interval() {
    let idp = provider(&["rsa-1"]).await;
    let jwt = verifier(&idp.url).await;
    // The provider rotates to a new key.
    idp.keys.lock().unwrap().push(public_jwk("rsa-2"));
    let rotated = sign("rsa-2", Algorithm::RS256, &claims("carol", &[]));
    // Within the interval after the start's fetch: not fetched again.
    assert_eq!(jwt.verify(&rotated).await.unwrap_err().status, 401);
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1);
    tokio::time::sleep(REFRESH).await;
    assert_eq!(jwt.verify(&rotated).await.unwrap().sub, "carol");
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 2);
    // A flood of made-up kids costs at most one fetch per interval.
    let made_up: Vec<String> = (0..50)
        .map(|n| sign_as("rsa-1", &format!("made-up-{n}"), Algorithm::RS256))
        .collect();
    let (before, started) = (
        idp.fetches.load(Ordering::SeqCst),
        std::time::Instant::now(),
    );
    for token in &made_up {
        assert_eq!(jwt.verify(token).await.unwrap_err().status, 401);
    }
    let intervals = (started.elapsed().as_millis() / REFRESH.as_millis()) as usize;
    let fetched = idp.fetches.load(Ordering::SeqCst) - before;
    assert!(
        fetched <= intervals + 1,
        "{fetched} fetches in {intervals} intervals"
    );
}

/// `token` with its payload replaced by `claims` (the signature kept).
fn with_payload(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

#[tokio::test]
async fn forged_foreign_and_malformed_tokens_are_401() {
    let idp = provider(&["rsa-1", "ec-1"]).await;
    let jwt = verifier(&idp.url).await;
    let good = sign("rsa-1", Algorithm::RS256, &claims("alice", &[]));
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"rsa-1"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims("alice", &["admin"]).to_string());
    let mut cases = vec![
        ("alg none", format!("{none_header}.{body}.")),
        (
            "an edited payload",
            with_payload(&good, &claims("alice", &["admin"])),
        ),
        (
            "an unknown kid",
            sign_as("rsa-1", "nobody", Algorithm::RS256),
        ),
        // The header says RS256 but names the EC key.
        (
            "a key of the wrong type",
            sign_as("rsa-1", "ec-1", Algorithm::RS256),
        ),
        (
            "HS256 with the shared secret",
            Jwt::new(&JwtSettings::hs256("the-shared-secret"))
                .mint("alice", &["admin"], chrono::Duration::hours(1))
                .unwrap(),
        ),
        ("not a token", "not.a.token".to_string()),
    ];
    for (what, mut changed) in [
        ("expired", claims("alice", &[])),
        ("another issuer", claims("alice", &[])),
        ("another audience", claims("alice", &[])),
    ] {
        match what {
            "expired" => changed["exp"] = json!(chrono::Utc::now().timestamp() - 3600),
            "another issuer" => changed["iss"] = json!("https://evil.example"),
            _ => changed["aud"] = json!("someone-else"),
        }
        cases.push((what, sign("rsa-1", Algorithm::RS256, &changed)));
    }
    for (what, token) in cases {
        let refused = jwt.verify(&token).await.expect_err(what);
        assert_eq!(refused.status, 401, "{what}: {refused}");
    }
}

/// Signed by fixture key `signer` with `alg`, naming `kid` in its header.
fn sign_as(signer: &str, kid: &str, alg: Algorithm) -> String {
    let pem = fixture(&format!("{signer}.pem"));
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(
        &header,
        &claims("alice", &["admin"]),
        &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn an_unreachable_provider_is_503_not_401() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let jwt = verifier(&format!("http://127.0.0.1:{port}/certs")).await;
    let token = sign("rsa-1", Algorithm::RS256, &claims("alice", &[]));
    let refused = jwt.verify(&token).await.unwrap_err();
    assert_eq!(refused.status, 503, "{refused}");
    assert_eq!(refused.retry_after, Some(1));
}
