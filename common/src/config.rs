//! Typed configuration, read once from the environment (API.md's table).
//! Secrets are never logged: `Debug` redacts them.

use std::net::SocketAddr;

use anyhow::{bail, Context};

use crate::client::TrustedProxies;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/comics";
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";
/// `COMICS_IMAGE_CACHE_BYTES` when unset: 64 MiB.
pub const DEFAULT_IMAGE_CACHE_BYTES: u64 = 64 * 1024 * 1024;
pub const DEV_JWT_SECRET: &str = "comics-development-secret-do-not-use-in-production";

#[derive(Clone)]
pub struct Settings {
    /// The event store (write side).
    pub database_url: String,
    /// The catalog projection's query store (defaults to `database_url`).
    pub catalog_database_url: String,
    /// Every projection's query store, by projection name
    /// (`COMICS_<NAME>_DATABASE_URL`, defaulting to `database_url`).
    pub projection_database_urls: Vec<(&'static str, String)>,
    pub nats_url: String,
    pub http_addr: SocketAddr,
    pub nats_prefix: String,
    /// Copies of each JetStream stream (`COMICS_NATS_REPLICAS`, 1–5; 3 on a
    /// three-node cluster).
    pub nats_replicas: usize,
    pub jwt: JwtSettings,
    pub read_cache: ReadCacheSettings,
    /// How many bytes of images (pages, covers, thumbnails) the query
    /// service keeps in memory, by sha256 (`COMICS_IMAGE_CACHE_BYTES`,
    /// [`DEFAULT_IMAGE_CACHE_BYTES`]; 0 = none).
    pub image_cache_bytes: u64,
    /// Proxies whose `Forwarded`/`X-Forwarded-For` name the client
    /// (`COMICS_TRUSTED_PROXIES`, CIDR list; none by default).
    pub trusted_proxies: TrustedProxies,
    /// Write limits (`COMICS_RATE_LIMIT_*`).
    pub rate_limits: RateLimitSettings,
    /// Where image bytes are stored (`COMICS_STORAGE_URL`: `file:///abs/path`
    /// or `s3://bucket/prefix`; unset: a folder under the working directory).
    pub storage_url: Option<String>,
    /// S3 options (object_store's `AmazonS3ConfigKey` names, such as
    /// `aws_endpoint`) applied over the `AWS_*` variables; never read from
    /// the environment (tests point a store at their own server with it).
    pub storage_options: Vec<(String, String)>,
}

/// The query service's hot-read cache (`COMICS_READ_CACHE_MB`,
/// `COMICS_READ_MAX_AGE_MS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadCacheSettings {
    /// How much memory cached answers may take (keys and bodies); 0 = no cache.
    pub bytes: u64,
    /// The oldest a collection answer (rankings, lists, genres) or a shared
    /// figure (the ratings' global mean) is ever served while writes change it.
    pub max_age: std::time::Duration,
}

impl Default for ReadCacheSettings {
    fn default() -> Self {
        Self {
            bytes: 128 * 1024 * 1024,
            max_age: std::time::Duration::from_millis(1000),
        }
    }
}

#[derive(Clone)]
pub struct JwtSettings {
    pub secret: String,
    /// True when no `COMICS_JWT_SECRET` was set and the development secret is used.
    pub is_development_secret: bool,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// An OIDC provider's key set (`COMICS_JWT_JWKS_URL`): tokens are then
    /// RS256/ES256, verified against it, and HS256 is refused.
    pub jwks_url: Option<String>,
    /// Where the roles are in the claims (`COMICS_JWT_ROLES_CLAIM`, a dotted
    /// path; default `roles`).
    pub roles_claim: String,
}

impl JwtSettings {
    /// HS256 with `secret`, nothing else checked (tools and tests).
    pub fn hs256(secret: &str) -> Self {
        Self {
            secret: secret.to_string(),
            is_development_secret: false,
            issuer: None,
            audience: None,
            jwks_url: None,
            roles_claim: "roles".into(),
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &redact_url(&self.database_url))
            .field(
                "catalog_database_url",
                &redact_url(&self.catalog_database_url),
            )
            .field("nats_url", &redact_url(&self.nats_url))
            .field("http_addr", &self.http_addr)
            .field("nats_prefix", &self.nats_prefix)
            .field("nats_replicas", &self.nats_replicas)
            .field("jwt_secret", &"<redacted>")
            .field("jwt_issuer", &self.jwt.issuer)
            .field("jwt_audience", &self.jwt.audience)
            .field("jwt_jwks_url", &self.jwt.jwks_url)
            .field("jwt_roles_claim", &self.jwt.roles_claim)
            .field("read_cache", &self.read_cache)
            .field("image_cache_bytes", &self.image_cache_bytes)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("rate_limits", &self.rate_limits)
            .finish()
    }
}

/// Hides the password of a URL such as `postgres://user:secret@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

impl Settings {
    /// The database URL of a projection's query store.
    pub fn projection_database_url(&self, name: &str) -> &str {
        self.projection_database_urls
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, url)| url.as_str())
            .unwrap_or(&self.database_url)
    }

    /// Reads the settings from the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the settings through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let vars = Vars(get);
        let database_url = vars.or("DATABASE_URL", DEFAULT_DATABASE_URL);
        let http_addr = vars.or("COMICS_HTTP_ADDR", DEFAULT_HTTP_ADDR);
        let http_addr = http_addr
            .parse()
            .with_context(|| format!("COMICS_HTTP_ADDR={http_addr:?} is not a socket address"))?;
        let nats_prefix = vars.or("COMICS_NATS_PREFIX", "comics");
        validate_prefix(&nats_prefix)?;
        let projection_database_urls = vars.projection_database_urls(&database_url);
        let read_cache = vars.read_cache()?;
        let image_cache_bytes =
            vars.number("COMICS_IMAGE_CACHE_BYTES", DEFAULT_IMAGE_CACHE_BYTES)?;
        let nats_replicas = vars.number("COMICS_NATS_REPLICAS", 1u64)?;
        if !(1..=5).contains(&nats_replicas) {
            bail!("COMICS_NATS_REPLICAS={nats_replicas} must be 1 to 5");
        }
        let trusted_proxies =
            TrustedProxies::parse(&vars.get("COMICS_TRUSTED_PROXIES").unwrap_or_default())
                .context("COMICS_TRUSTED_PROXIES")?;
        let rate_limits = vars.rate_limits()?;
        Ok(Self {
            trusted_proxies,
            rate_limits,
            read_cache,
            image_cache_bytes,
            storage_url: vars.get("COMICS_STORAGE_URL"),
            storage_options: Vec::new(),
            projection_database_urls,
            catalog_database_url: vars.or("COMICS_CATALOG_DATABASE_URL", &database_url),
            database_url,
            nats_url: vars.or("NATS_URL", DEFAULT_NATS_URL),
            http_addr,
            nats_prefix,
            nats_replicas: nats_replicas as usize,
            jwt: vars.jwt(),
        })
    }
}

/// The settings' variables, read through a lookup; a blank value is unset.
struct Vars<F>(F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    fn get(&self, k: &str) -> Option<String> {
        (self.0)(k).filter(|v| !v.trim().is_empty())
    }

    fn or(&self, k: &str, default: &str) -> String {
        self.get(k).unwrap_or_else(|| default.into())
    }

    fn number<T>(&self, k: &str, default: T) -> anyhow::Result<T>
    where
        T: std::str::FromStr,
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        self.get(k).map_or(Ok(default), |v| {
            v.trim()
                .parse()
                .with_context(|| format!("{k}={v:?} is not a whole number"))
        })
    }

    /// `COMICS_<NAME>_DATABASE_URL` of every projection, defaulting to
    /// `database_url`.
    fn projection_database_urls(&self, database_url: &str) -> Vec<(&'static str, String)> {
        crate::projections::ALL
            .iter()
            .map(|p| {
                let var = format!("COMICS_{}_DATABASE_URL", p.name.to_uppercase());
                (p.name, self.or(&var, database_url))
            })
            .collect()
    }

    fn read_cache(&self) -> anyhow::Result<ReadCacheSettings> {
        let defaults = ReadCacheSettings::default();
        let max_age_ms = self.number(
            "COMICS_READ_MAX_AGE_MS",
            defaults.max_age.as_millis() as u64,
        )?;
        if max_age_ms < 10 {
            bail!("COMICS_READ_MAX_AGE_MS={max_age_ms} must be at least 10");
        }
        Ok(ReadCacheSettings {
            bytes: self
                .number("COMICS_READ_CACHE_MB", defaults.bytes >> 20)?
                .saturating_mul(1 << 20),
            max_age: std::time::Duration::from_millis(max_age_ms),
        })
    }

    fn rate_limits(&self) -> anyhow::Result<RateLimitSettings> {
        let limits = RateLimitSettings::default();
        Ok(RateLimitSettings {
            user: self.rate("USER", limits.user)?,
            anonymous: self.rate("ANONYMOUS", limits.anonymous)?,
        })
    }

    /// `COMICS_RATE_LIMIT_<what>_PER_MINUTE` and `_BURST`.
    fn rate(&self, what: &str, default: Rate) -> anyhow::Result<Rate> {
        let number = |part: &str, default: u32| {
            self.number(&format!("COMICS_RATE_LIMIT_{what}_{part}"), default)
        };
        Rate {
            per_minute: number("PER_MINUTE", default.per_minute)?,
            burst: number("BURST", default.burst)?,
        }
        .validated(what)
    }

    fn jwt(&self) -> JwtSettings {
        let secret = self.get("COMICS_JWT_SECRET");
        JwtSettings {
            is_development_secret: secret.is_none(),
            secret: secret.unwrap_or_else(|| DEV_JWT_SECRET.into()),
            issuer: self.get("COMICS_JWT_ISSUER"),
            audience: self.get("COMICS_JWT_AUDIENCE"),
            jwks_url: self.get("COMICS_JWT_JWKS_URL"),
            roles_claim: self.or("COMICS_JWT_ROLES_CLAIM", "roles"),
        }
    }
}

/// A prefix becomes part of NATS subjects, stream and consumer names.
fn validate_prefix(prefix: &str) -> anyhow::Result<()> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 32
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !ok {
        bail!("COMICS_NATS_PREFIX={prefix:?} must be 1-32 characters from a-z, 0-9, _ and -");
    }
    Ok(())
}

/// One limit: `per_minute` sustained (0 = no limit), `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_minute: u32,
    pub burst: u32,
}

impl Rate {
    pub const OFF: Rate = Rate {
        per_minute: 0,
        burst: 0,
    };

    /// Checks a limit read from `COMICS_RATE_LIMIT_*` (named `what`).
    pub fn validated(self, what: &str) -> anyhow::Result<Self> {
        if self.per_minute > 0 && self.burst == 0 {
            bail!("COMICS_RATE_LIMIT_{what}_BURST must be at least 1 when the limit is on");
        }
        Ok(self)
    }
}

/// The write limits (`COMICS_RATE_LIMIT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Per token `sub`, on every write it sends.
    pub user: Rate,
    /// Per client address, on writes sent without a token.
    pub anonymous: Rate,
}

impl Default for RateLimitSettings {
    /// Far above what a reader does (a rating, a bookmark or a page view
    /// every few seconds), low enough to stop one client flooding.
    fn default() -> Self {
        Self {
            user: Rate {
                per_minute: 600,
                burst: 120,
            },
            anonymous: Rate {
                per_minute: 600,
                burst: 120,
            },
        }
    }
}

impl RateLimitSettings {
    pub const OFF: RateLimitSettings = RateLimitSettings {
        user: Rate::OFF,
        anonymous: Rate::OFF,
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_contract() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.nats_url, "nats://127.0.0.1:4222");
        assert_eq!(s.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(s.nats_prefix, "comics");
        assert_eq!(s.catalog_database_url, s.database_url);
        assert!(s.jwt.is_development_secret);
    }

    #[test]
    fn rate_limits_and_trusted_proxies_are_read_and_checked() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.rate_limits, RateLimitSettings::default());
        assert_eq!(s.trusted_proxies, TrustedProxies::default());
        let s = settings(&[
            ("COMICS_RATE_LIMIT_USER_PER_MINUTE", "0"),
            ("COMICS_RATE_LIMIT_ANONYMOUS_PER_MINUTE", "30"),
            ("COMICS_RATE_LIMIT_ANONYMOUS_BURST", "5"),
            ("COMICS_TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
        ])
        .unwrap();
        assert_eq!(s.rate_limits.user.per_minute, 0);
        assert_eq!(
            s.rate_limits.anonymous,
            Rate {
                per_minute: 30,
                burst: 5
            }
        );
        assert!(s.trusted_proxies.trusts("10.2.3.4".parse().unwrap()));
        assert!(settings(&[("COMICS_RATE_LIMIT_USER_BURST", "0")]).is_err());
        assert!(settings(&[("COMICS_RATE_LIMIT_USER_PER_MINUTE", "lots")]).is_err());
        assert!(settings(&[("COMICS_TRUSTED_PROXIES", "10.0.0.0/40")]).is_err());
        assert_eq!(settings(&[]).unwrap().nats_replicas, 1);
        assert_eq!(
            settings(&[("COMICS_NATS_REPLICAS", "3")])
                .unwrap()
                .nats_replicas,
            3
        );
        assert!(settings(&[("COMICS_NATS_REPLICAS", "0")]).is_err());
    }

    #[test]
    fn the_read_cache_is_sized_and_bounded_from_the_environment() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.read_cache, ReadCacheSettings::default());
        let s = settings(&[
            ("COMICS_READ_CACHE_MB", "64"),
            ("COMICS_READ_MAX_AGE_MS", "250"),
        ])
        .unwrap();
        assert_eq!(s.read_cache.bytes, 64 << 20);
        assert_eq!(s.read_cache.max_age.as_millis(), 250);
        assert!(settings(&[("COMICS_READ_CACHE_MB", "lots")]).is_err());
        assert!(settings(&[("COMICS_READ_MAX_AGE_MS", "1")]).is_err());
    }

    #[test]
    fn the_image_cache_is_sized_in_bytes_and_zero_turns_it_off() {
        assert_eq!(settings(&[]).unwrap().image_cache_bytes, 64 << 20);
        let sized = |v: &str| settings(&[("COMICS_IMAGE_CACHE_BYTES", v)]);
        assert_eq!(sized("1048576").unwrap().image_cache_bytes, 1 << 20);
        assert_eq!(sized(" 0 ").unwrap().image_cache_bytes, 0);
        for bad in ["64MiB", "-1", "1.5", "lots"] {
            let e = sized(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("COMICS_IMAGE_CACHE_BYTES"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn a_bad_prefix_or_address_is_refused() {
        assert!(settings(&[("COMICS_NATS_PREFIX", "a.b")]).is_err());
        assert!(settings(&[("COMICS_HTTP_ADDR", "nowhere")]).is_err());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = settings(&[
            ("COMICS_JWT_SECRET", "s3cret"),
            ("DATABASE_URL", "postgres://u:pw@h/db"),
        ])
        .unwrap();
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("pw@"),
            "{shown}"
        );
    }
}
