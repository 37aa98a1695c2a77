//! An OIDC provider's key set (`COMICS_JWT_JWKS_URL`): RS256 and ES256
//! public keys by `kid`, fetched at start and again when a token names a
//! `kid` the set does not hold — at most once per minute, so a flood of
//! tokens with made-up `kid`s cannot make us flood the provider.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};

/// The shortest time between two fetches after a successful one.
pub const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(60);
/// The shortest time between two fetches while none has succeeded yet.
const RETRY_FAILED_EVERY: Duration = Duration::from_secs(5);
/// A key set larger than this is refused.
const MAX_BODY: usize = 1024 * 1024;

/// A key the set holds, and the one algorithm it verifies.
#[derive(Clone)]
pub struct Key {
    pub decoding: DecodingKey,
    pub algorithm: Algorithm,
}

#[derive(Default)]
struct State {
    keys: HashMap<String, Key>,
    /// When a fetch last succeeded, and when one was last tried.
    fetched: Option<Instant>,
    tried: Option<Instant>,
}

pub struct KeySet {
    url: String,
    refresh_every: Duration,
    http: reqwest::Client,
    state: RwLock<State>,
    /// One fetch at a time; the others wait for its keys.
    fetching: tokio::sync::Mutex<()>,
}

/// What looking a `kid` up found.
pub enum Lookup {
    Found(Key),
    /// The set (fetched) does not hold it.
    Unknown,
    /// The set could never be fetched: the provider is unreachable.
    Unavailable,
}

impl KeySet {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_string(),
            refresh_every: REFRESH_AT_MOST_EVERY,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            state: RwLock::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The same set, fetched again at most every `every` (tests).
    pub fn refreshing_at_most_every(mut self, every: Duration) -> Self {
        self.refresh_every = every;
        self
    }

    /// Fetches the set now (at start); a failure is logged and retried on
    /// the first token that needs it.
    pub async fn prefetch(&self) {
        let _turn = self.fetching.lock().await;
        self.fetch().await;
    }

    /// The key named `kid`, fetching the set again if it is unknown and the
    /// last fetch is old enough.
    pub async fn key(&self, kid: &str) -> Lookup {
        if let Some(key) = self.held(kid) {
            return Lookup::Found(key);
        }
        {
            let _turn = self.fetching.lock().await;
            // Another request may have fetched while this one waited.
            if let Some(key) = self.held(kid) {
                return Lookup::Found(key);
            }
            if self.due() {
                self.fetch().await;
            }
        }
        match self.held(kid) {
            Some(key) => Lookup::Found(key),
            None if self.read().fetched.is_none() => Lookup::Unavailable,
            None => Lookup::Unknown,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn held(&self, kid: &str) -> Option<Key> {
        self.read().keys.get(kid).cloned()
    }

    fn due(&self) -> bool {
        let state = self.read();
        let wait = match state.fetched {
            Some(_) => self.refresh_every,
            None => RETRY_FAILED_EVERY.min(self.refresh_every),
        };
        state.tried.is_none_or(|t| t.elapsed() >= wait)
    }

    async fn fetch(&self) {
        let result = self.download().await;
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        state.tried = Some(Instant::now());
        match result {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), url = %self.url, "fetched the JWT key set");
                state.keys = keys;
                state.fetched = state.tried;
            }
            Err(e) => {
                tracing::warn!(url = %self.url, error = format!("{e:#}"), "cannot fetch the JWT key set")
            }
        }
    }

    async fn download(&self) -> anyhow::Result<HashMap<String, Key>> {
        let response = self
            .http
            .get(&self.url)
            .send()
            .await
            .context("no answer")?
            .error_for_status()?;
        if response
            .content_length()
            .is_some_and(|n| n as usize > MAX_BODY)
        {
            bail!("the key set is over {MAX_BODY} bytes");
        }
        let body = response.bytes().await.context("the key set was cut")?;
        if body.len() > MAX_BODY {
            bail!("the key set is over {MAX_BODY} bytes");
        }
        let set: JwkSet = serde_json::from_slice(&body).context("not a JWK set")?;
        Ok(keys_of(&set))
    }
}

/// The signing keys of `set` that verify RS256 or ES256, by `kid`; keys
/// without a `kid`, for encryption, or of other kinds are left out.
pub fn keys_of(set: &JwkSet) -> HashMap<String, Key> {
    set.keys
        .iter()
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                return None;
            }
            let algorithm = algorithm_of(jwk)?;
            let decoding = DecodingKey::from_jwk(jwk).ok()?;
            Some((
                kid,
                Key {
                    decoding,
                    algorithm,
                },
            ))
        })
        .collect()
}

/// RS256 for an RSA key, ES256 for a P-256 key; a stated `alg` must agree.
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(algorithm),
        Some(KeyAlgorithm::RS256) if algorithm == Algorithm::RS256 => Some(algorithm),
        Some(KeyAlgorithm::ES256) if algorithm == Algorithm::ES256 => Some(algorithm),
        Some(_) => None,
    }
}
