//! JWT bearer authentication (HS256 with `COMICS_JWT_SECRET`) and the axum
//! extractors that enforce API.md's rules: no or bad token → 401, valid
//! token without the needed role → 403.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::{header, request::Parts};
use chrono::{Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::JwtSettings;
use crate::jwks::{KeySet, Lookup};
use crate::problem::Problem;

pub const ADMIN_ROLE: &str = "admin";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: i64,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// Verifies tokens — HS256 with the configured secret, or RS256/ES256 with
/// an OIDC provider's key set when `COMICS_JWT_JWKS_URL` is set — and mints
/// HS256 ones (development and tests).
pub struct Jwt {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    settings: JwtSettings,
    jwks: Option<KeySet>,
}

impl Jwt {
    pub fn new(settings: &JwtSettings) -> Arc<Self> {
        Arc::new(Self {
            encoding: EncodingKey::from_secret(settings.secret.as_bytes()),
            decoding: DecodingKey::from_secret(settings.secret.as_bytes()),
            validation: validation(settings, Algorithm::HS256),
            settings: settings.clone(),
            jwks: settings.jwks_url.as_deref().map(KeySet::new),
        })
    }

    /// Verifies with `jwks` (whatever `settings.jwks_url` says).
    pub fn with_key_set(settings: &JwtSettings, jwks: KeySet) -> Arc<Self> {
        let mut jwt = Arc::into_inner(Self::new(settings)).expect("just made");
        jwt.jwks = Some(jwks);
        Arc::new(jwt)
    }

    /// Fetches the provider's key set, when one is configured.
    pub async fn prefetch(&self) {
        if let Some(jwks) = &self.jwks {
            jwks.prefetch().await;
        }
    }

    pub async fn verify(&self, token: &str) -> Result<User, Problem> {
        let claims = match &self.jwks {
            None => decode(token, &self.decoding, &self.validation)?,
            Some(jwks) => {
                let header = jsonwebtoken::decode_header(token)
                    .map_err(|_| Problem::unauthorized("the token is invalid"))?;
                if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
                    return Err(Problem::unauthorized(
                        "the token must be signed with RS256 or ES256",
                    ));
                }
                let kid = header
                    .kid
                    .ok_or_else(|| Problem::unauthorized("the token names no key (kid)"))?;
                let key = match jwks.key(&kid).await {
                    Lookup::Found(key) => key,
                    Lookup::Unknown => {
                        return Err(Problem::unauthorized("the token's key (kid) is unknown"))
                    }
                    Lookup::Unavailable => {
                        return Err(Problem::unavailable(
                            "the identity provider's key set cannot be fetched",
                        ))
                    }
                };
                if key.algorithm != header.alg {
                    return Err(Problem::unauthorized(
                        "the token's algorithm does not match its key",
                    ));
                }
                decode(
                    token,
                    &key.decoding,
                    &validation(&self.settings, key.algorithm),
                )?
            }
        };
        self.user(&claims)
    }

    /// The caller the verified `claims` name.
    fn user(&self, claims: &Value) -> Result<User, Problem> {
        let sub = claims["sub"].as_str().unwrap_or_default();
        if sub.trim().is_empty() || sub.len() > 255 {
            return Err(Problem::unauthorized(
                "the token's subject is empty or too long",
            ));
        }
        let roles = self
            .settings
            .roles_claim
            .split('.')
            .try_fold(claims, |at, part| at.get(part));
        let is_admin = match roles {
            Some(Value::Array(roles)) => roles.iter().any(|r| r.as_str() == Some(ADMIN_ROLE)),
            Some(Value::String(role)) => role.split(' ').any(|r| r == ADMIN_ROLE),
            _ => false,
        };
        Ok(User {
            sub: sub.to_string(),
            is_admin,
        })
    }

    /// Mints a token for `sub` valid for `ttl` (development and tests).
    pub fn mint(&self, sub: &str, roles: &[&str], ttl: Duration) -> anyhow::Result<String> {
        let claims = Claims {
            sub: sub.to_string(),
            exp: (Utc::now() + ttl).timestamp(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }
}

fn validation(settings: &JwtSettings, algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation.leeway = 5;
    match &settings.issuer {
        Some(iss) => validation.set_issuer(&[iss]),
        None => validation.iss = None,
    }
    match &settings.audience {
        Some(aud) => validation.set_audience(&[aud]),
        None => validation.validate_aud = false,
    }
    validation
}

/// The claims of `token` once its signature and `exp`/`iss`/`aud` check out.
fn decode(token: &str, key: &DecodingKey, validation: &Validation) -> Result<Value, Problem> {
    jsonwebtoken::decode::<Value>(token, key, validation)
        .map(|data| data.claims)
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            let why = match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired",
                ErrorKind::InvalidIssuer => "the token has the wrong issuer",
                ErrorKind::InvalidAudience => "the token has the wrong audience",
                ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
                _ => "the token is invalid",
            };
            Problem::unauthorized(why)
        })
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct User {
    pub sub: String,
    pub is_admin: bool,
}

/// A caller with the `admin` role.
#[derive(Debug, Clone)]
pub struct Admin(pub User);

/// A caller who may or may not have sent a token (a bad token is still 401).
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<User>);

/// A user whose token was verified earlier in this request (by the write
/// rate limiter), so the extractors do not verify it again.
#[derive(Debug, Clone)]
pub(crate) struct Verified(pub(crate) User);

/// The token of a well-formed `Authorization: Bearer <token>`, if any.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Some(token.trim())
        }
        _ => None,
    }
}

fn bearer(parts: &Parts) -> Result<Option<&str>, Problem> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| Problem::unauthorized("the Authorization header is not readable"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(Problem::unauthorized(
            "expected Authorization: Bearer <token>",
        )),
    }
}

impl<S> FromRequestParts<S> for MaybeUser
where
    Arc<Jwt>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        if let Some(Verified(user)) = parts.extensions.get::<Verified>() {
            return Ok(MaybeUser(Some(user.clone())));
        }
        match bearer(parts)? {
            None => Ok(MaybeUser(None)),
            Some(token) => Ok(MaybeUser(Some(
                Arc::<Jwt>::from_ref(state).verify(token).await?,
            ))),
        }
    }
}

impl<S> FromRequestParts<S> for User
where
    Arc<Jwt>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        MaybeUser::from_request_parts(parts, state)
            .await?
            .0
            .ok_or_else(|| Problem::unauthorized("this endpoint needs a bearer token"))
    }
}

impl<S> FromRequestParts<S> for Admin
where
    Arc<Jwt>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let user = User::from_request_parts(parts, state).await?;
        if !user.is_admin {
            return Err(Problem::forbidden("this endpoint needs the admin role"));
        }
        Ok(Admin(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(secret: &str) -> Arc<Jwt> {
        Jwt::new(&JwtSettings::hs256(secret))
    }

    #[tokio::test]
    async fn a_minted_token_verifies_with_its_roles() {
        let j = jwt("k");
        let user = j
            .verify(&j.mint("u1", &["admin"], Duration::hours(1)).unwrap())
            .await
            .unwrap();
        assert_eq!(user.sub, "u1");
        assert!(user.is_admin);
    }

    #[tokio::test]
    async fn expired_or_foreign_tokens_are_refused() {
        let j = jwt("k");
        let expired = j.mint("u1", &[], Duration::hours(-1)).unwrap();
        assert_eq!(j.verify(&expired).await.unwrap_err().status, 401);
        let foreign = jwt("other").mint("u1", &[], Duration::hours(1)).unwrap();
        assert_eq!(j.verify(&foreign).await.unwrap_err().status, 401);
    }
}
