//! Rate limits on writes: per token `sub` for authenticated writes, per
//! client address ([`crate::client`]) for anonymous ones (views). Over the
//! limit → 429 problem+json with `Retry-After`. Reads are never limited here.
//!
//! Each key has a GCRA bucket (`governor`): `per_minute` sustained, `burst`
//! at once. Buckets of keys not seen for a while are dropped every minute,
//! so memory follows the active clients, not every client ever seen.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::auth::{bearer_token, Jwt, Verified};
use crate::client::ClientAddr;
pub use crate::config::{Rate, RateLimitSettings};
use crate::problem::Problem;

/// `rate` as a GCRA quota; `None` when the limit is off.
fn quota(rate: Rate) -> Option<Quota> {
    let per_minute = NonZeroU32::new(rate.per_minute)?;
    let burst = NonZeroU32::new(rate.burst.max(1))?;
    let period = Duration::from_secs(60) / per_minute.get();
    Quota::with_period(period.max(Duration::from_nanos(1))).map(|q| q.allow_burst(burst))
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Addr(IpAddr),
}

pub struct WriteLimits {
    jwt: Arc<Jwt>,
    user: Option<DefaultKeyedRateLimiter<Key>>,
    anonymous: Option<DefaultKeyedRateLimiter<Key>>,
    clock: DefaultClock,
}

impl WriteLimits {
    /// The limits, with a task that forgets idle clients every minute
    /// (it ends when the limits are dropped).
    pub fn new(settings: RateLimitSettings, jwt: Arc<Jwt>) -> Arc<Self> {
        let limits = Arc::new(Self {
            jwt,
            user: quota(settings.user).map(DefaultKeyedRateLimiter::dashmap),
            anonymous: quota(settings.anonymous).map(DefaultKeyedRateLimiter::dashmap),
            clock: DefaultClock::default(),
        });
        tokio::spawn(forget_idle(Arc::downgrade(&limits)));
        limits
    }

    /// How long `key` must wait, if it is over its limit.
    fn over(&self, key: &Key) -> Option<Duration> {
        let limiter = match key {
            Key::User(_) => self.user.as_ref(),
            Key::Addr(_) => self.anonymous.as_ref(),
        }?;
        limiter
            .check_key(key)
            .err()
            .map(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

async fn forget_idle(limits: Weak<WriteLimits>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(limits) = limits.upgrade() else {
            return;
        };
        for limiter in [&limits.user, &limits.anonymous].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// Middleware on the write routes: 429 with `Retry-After` over the limit.
/// A token that verifies is kept in the request, so the handler does not
/// verify it again; one that does not is the handler's to refuse (401), and
/// counts against the client address meanwhile.
pub async fn limit_writes(
    State(limits): State<Arc<WriteLimits>>,
    mut req: Request,
    next: Next,
) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let user = match bearer_token(req.headers()) {
        Some(token) => limits.jwt.verify(token).await.ok(),
        None => None,
    };
    let key = match &user {
        Some(user) => Key::User(user.sub.clone()),
        None => {
            let addr = req
                .extensions()
                .get::<ClientAddr>()
                .map_or(IpAddr::from([127, 0, 0, 1]), |a| a.0);
            Key::Addr(addr)
        }
    };
    if let Some(wait) = limits.over(&key) {
        return too_many(wait).into_response();
    }
    if let Some(user) = user {
        req.extensions_mut().insert(Verified(user));
    }
    next.run(req).await
}

fn too_many(wait: Duration) -> Problem {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut p = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate-limited",
        "Too many requests",
    )
    .with_detail(format!(
        "this client's write limit is reached; retry in {secs} s"
    ));
    p.retry_after = Some(secs.clamp(1, u64::from(u32::MAX)) as u32);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_over_its_burst_waits_and_another_key_does_not() {
        let settings = RateLimitSettings {
            user: Rate {
                per_minute: 60,
                burst: 3,
            },
            anonymous: Rate::OFF,
        };
        let jwt = Jwt::new(&crate::config::JwtSettings::hs256("s"));
        let limits = WriteLimits::new(settings, jwt);
        let greedy = Key::User("greedy".into());
        for _ in 0..3 {
            assert_eq!(limits.over(&greedy), None);
        }
        let wait = limits.over(&greedy).expect("over the burst");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert_eq!(limits.over(&Key::User("other".into())), None);
        // Anonymous writes are not limited when their limit is off.
        for _ in 0..100 {
            assert_eq!(limits.over(&Key::Addr(IpAddr::from([10, 0, 0, 1]))), None);
        }
        assert_eq!(too_many(wait).retry_after, Some(1));
        assert_eq!(too_many(Duration::from_millis(1500)).retry_after, Some(2));
    }
}
