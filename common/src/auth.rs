//! JWT bearer authentication (HS256 with `COMICS_JWT_SECRET`) and the axum
//! extractors that enforce API.md's rules: no or bad token → 401, valid
//! token without the needed role → 403.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::{header, request::Parts};
use chrono::{Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::JwtSettings;
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

/// Verifies and mints tokens with the configured key.
pub struct Jwt {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    settings: JwtSettings,
}

impl Jwt {
    pub fn new(settings: &JwtSettings) -> Arc<Self> {
        let mut validation = Validation::new(Algorithm::HS256);
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
        Arc::new(Self {
            encoding: EncodingKey::from_secret(settings.secret.as_bytes()),
            decoding: DecodingKey::from_secret(settings.secret.as_bytes()),
            validation,
            settings: settings.clone(),
        })
    }

    pub fn verify(&self, token: &str) -> Result<User, Problem> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
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
            })?;
        let claims = data.claims;
        if claims.sub.trim().is_empty() || claims.sub.len() > 255 {
            return Err(Problem::unauthorized(
                "the token's subject is empty or too long",
            ));
        }
        Ok(User {
            is_admin: claims.roles.iter().any(|r| r == ADMIN_ROLE),
            sub: claims.sub,
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
            Some(token) => Ok(MaybeUser(Some(Arc::<Jwt>::from_ref(state).verify(token)?))),
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
        Jwt::new(&JwtSettings {
            secret: secret.into(),
            is_development_secret: false,
            issuer: None,
            audience: None,
        })
    }

    #[test]
    fn a_minted_token_verifies_with_its_roles() {
        let j = jwt("k");
        let user = j
            .verify(&j.mint("u1", &["admin"], Duration::hours(1)).unwrap())
            .unwrap();
        assert_eq!(user.sub, "u1");
        assert!(user.is_admin);
    }

    #[test]
    fn expired_or_foreign_tokens_are_refused() {
        let j = jwt("k");
        let expired = j.mint("u1", &[], Duration::hours(-1)).unwrap();
        assert_eq!(j.verify(&expired).unwrap_err().status, 401);
        let foreign = jwt("other").mint("u1", &[], Duration::hours(1)).unwrap();
        assert_eq!(j.verify(&foreign).unwrap_err().status, 401);
    }
}
