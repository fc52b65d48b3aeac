//! Channel credentials that outlive a process. An access token is refreshed ahead of its
//! expiry, not after a 401; a refresh token the channel rotates (a new one on every
//! refresh, the old one dead) is saved before anything else happens;
//! one refresher at a time across every Lambda (a lease in the [`TokenStore`]), so twenty
//! pushers waking to an expired token refresh once. Tokens are [`Secret`]s: their debug
//! form is `***`, and nothing here logs one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::config::Secret;
use super::http::HttpError;
use crate::domain::{Channel, Millis};

/// A channel's credentials at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    pub access: Secret,
    /// When the access token ends (ms); `None`: it does not (a static Shopify token).
    #[serde(default)]
    pub access_expires_at: Option<Millis>,
    /// How long the access token was given for (ms): the refresh comes a fifth of that,
    /// at most a minute, before the end.
    #[serde(default)]
    pub access_lifetime_ms: Option<i64>,
    #[serde(default)]
    pub refresh: Option<Secret>,
    /// When the refresh token ends (ms), where the channel says.
    #[serde(default)]
    pub refresh_expires_at: Option<Millis>,
    /// The fingerprint of the configured tokens these descend from (set when stored).
    #[serde(default)]
    pub origin: Option<String>,
}

impl Tokens {
    /// A token that never expires (or whose expiry is not known yet).
    pub fn fixed(access: &Secret, refresh: Option<&Secret>) -> Tokens {
        Tokens {
            access: access.clone(),
            access_expires_at: None,
            access_lifetime_ms: None,
            refresh: refresh.filter(|r| !r.is_empty()).cloned(),
            refresh_expires_at: None,
            origin: None,
        }
    }

    /// Whether the access token is still good for a call made at `now`.
    pub fn fresh_at(&self, now: Millis) -> bool {
        if self.access.is_empty() {
            return false;
        }
        let Some(end) = self.access_expires_at else {
            return true;
        };
        let ahead = self
            .access_lifetime_ms
            .map_or(60_000, |l| (l / 5).min(60_000));
        now < end - ahead
    }
}

/// The `origin` of tokens `onecount connect` stored: they win over tokens written in the
/// configuration by hand, whatever their fingerprint (connecting is the newer consent).
pub const CONNECTED: &str = "connect";

/// Where tokens live between processes (a DynamoDB item per channel in a deployment).
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// The stored tokens and their version (`None`: nothing stored yet).
    async fn load_tokens(&self, channel: Channel) -> Result<Option<(Tokens, u64)>, String>;
    /// Store `t` as version `expected + 1` if the stored version is still `expected` (0:
    /// none stored). `false`: another refresher saved first.
    async fn save_tokens(
        &self,
        channel: Channel,
        t: &Tokens,
        expected: u64,
    ) -> Result<bool, String>;
    /// Take the channel's refresh lease until `until` (ms): `true` when it was free, had
    /// run out, or was `holder`'s.
    async fn lease_refresh(
        &self,
        channel: Channel,
        holder: &str,
        until: Millis,
    ) -> Result<bool, String>;
    async fn release_refresh(&self, channel: Channel, holder: &str);
}

/// How a channel turns the credentials it has into a new access token.
#[async_trait]
pub trait Refresher: Send + Sync {
    async fn refresh(&self, current: &Tokens) -> Result<Tokens, HttpError>;
}

/// How long one refresh may hold the lease (a token call, its timeout and one retry fit
/// well inside), and how long a second refresher waits for the first before giving up
/// for now (a transient error: the call is tried again later).
const LEASE_MS: i64 = 30_000;

/// The tokens one process holds.
#[derive(Clone)]
struct Held {
    tokens: Tokens,
    /// The stored version they are (0: not from the store).
    version: u64,
    /// Refreshed here but not yet saved (the store failed): they are the only live copy.
    unsaved: bool,
}

/// One channel's access token, as every call of its client asks for it.
pub struct Credentials {
    channel: Channel,
    configured: Tokens,
    /// Which configuration the stored tokens must descend from: a new refresh token or
    /// app in the configuration (re-authorised by hand) wins over what is stored.
    origin: String,
    store: Option<Arc<dyn TokenStore>>,
    refresher: Arc<dyn Refresher>,
    cache: tokio::sync::Mutex<Option<Held>>,
    holder: String,
    refreshes: AtomicU64,
}

/// A short fingerprint of the configured tokens (never the tokens themselves).
fn fingerprint(t: &Tokens) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(t.access.expose().as_bytes());
    h.update([0]);
    h.update(t.refresh.as_ref().map_or("", |r| r.expose()).as_bytes());
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Credentials {
    pub fn new(
        channel: Channel,
        configured: Tokens,
        store: Option<Arc<dyn TokenStore>>,
        refresher: Arc<dyn Refresher>,
    ) -> Self {
        Credentials {
            channel,
            origin: fingerprint(&configured),
            configured,
            store,
            refresher,
            cache: tokio::sync::Mutex::new(None),
            holder: uuid::Uuid::new_v4().to_string(),
            refreshes: AtomicU64::new(0),
        }
    }

    /// Refreshes this process made.
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    /// A good access token: the one in use, a newer stored one, or a new one.
    pub async fn bearer(&self) -> Result<Secret, HttpError> {
        let mut cache = self.cache.lock().await;
        let now = crate::clock::now_ms();
        if let Some(h) = cache.as_mut().filter(|h| h.tokens.fresh_at(now)) {
            if h.unsaved {
                self.save_again(h).await;
            }
            return Ok(h.tokens.access.clone());
        }
        let current = match (cache.clone(), &self.store) {
            // Without a store, or with tokens the store never got, this process holds the
            // only live copy (a rotated refresh token lives only here).
            (Some(h), None) => h,
            (Some(h), Some(_)) if h.unsaved => h,
            (held, Some(_)) => match self.current().await {
                Ok(c) => c,
                // The store blinked: the token held still works until its very end.
                Err(e) => {
                    match held.filter(|h| h.tokens.access_expires_at.is_some_and(|end| now < end)) {
                        Some(h) => return Ok(h.tokens.access),
                        None => return Err(e),
                    }
                }
            },
            (None, None) => self.current().await?,
        };
        if current.tokens.fresh_at(now) {
            let access = current.tokens.access.clone();
            *cache = Some(current);
            return Ok(access);
        }
        let next = self.refresh_from(current, None).await?;
        let access = next.tokens.access.clone();
        *cache = Some(next);
        Ok(access)
    }

    /// The channel refused `used` (401): a new token, unless another call already got one.
    pub async fn refused(&self, used: &Secret) -> Result<Secret, HttpError> {
        let mut cache = self.cache.lock().await;
        let current = match cache.clone() {
            Some(h) if &h.tokens.access != used => return Ok(h.tokens.access),
            Some(h) => h,
            None => self.current().await?,
        };
        // Whatever its stated expiry, this token no longer works.
        let mut stale = current;
        stale.tokens.access_expires_at = Some(0);
        let next = self.refresh_from(stale, Some(used)).await?;
        let access = next.tokens.access.clone();
        *cache = Some(next);
        Ok(access)
    }

    /// What is stored (when it descends from the configuration), else what was configured.
    async fn current(&self) -> Result<Held, HttpError> {
        let configured = |version| Held {
            tokens: self.configured.clone(),
            version,
            unsaved: false,
        };
        let Some(store) = &self.store else {
            return Ok(configured(0));
        };
        let stored = store
            .load_tokens(self.channel)
            .await
            .map_err(|e| self.store_error(e))?;
        Ok(match stored {
            Some((t, v))
                if t.origin.as_deref() == Some(self.origin.as_str())
                    || t.origin.as_deref() == Some(CONNECTED) =>
            {
                Held {
                    tokens: t,
                    version: v,
                    unsaved: false,
                }
            }
            // Re-authorised in the configuration since: start from there (the next save
            // replaces the stored tokens).
            Some((_, v)) => configured(v),
            None => configured(0),
        })
    }

    /// Refresh under the lease. A refresher finding the lease taken waits for the
    /// holder's save: a stored token newer than the one it started from (and not the one
    /// just refused) is used; after [`LEASE_MS`] it gives up for now.
    async fn refresh_from(
        &self,
        current: Held,
        refused: Option<&Secret>,
    ) -> Result<Held, HttpError> {
        let Some(store) = self.store.clone() else {
            let t = self.call_refresher(&current.tokens).await?;
            return Ok(Held {
                tokens: t,
                version: 0,
                unsaved: false,
            });
        };
        let deadline = crate::clock::now_ms() + LEASE_MS;
        let started = current.version;
        loop {
            let until = crate::clock::now_ms() + LEASE_MS;
            let leased = store
                .lease_refresh(self.channel, &self.holder, until)
                .await
                .map_err(|e| self.store_error(e))?;
            if leased {
                let r = self.refresh_and_save(&current, refused).await;
                store.release_refresh(self.channel, &self.holder).await;
                return r;
            }
            if crate::clock::now_ms() > deadline {
                return Err(HttpError::Transient {
                    what: format!("{} token refresh", self.channel),
                    status: None,
                    detail: "another function is refreshing the token".into(),
                    retry_after: Some(1),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            let seen = self.current().await?;
            let newer = seen.version > started && Some(&seen.tokens.access) != refused;
            if newer && seen.tokens.fresh_at(crate::clock::now_ms()) {
                return Ok(seen);
            }
        }
    }

    /// With the lease: read again (the last holder may have saved), refresh, save.
    async fn refresh_and_save(
        &self,
        held: &Held,
        refused: Option<&Secret>,
    ) -> Result<Held, HttpError> {
        // Tokens refreshed here but never saved are the live ones, not the store's.
        let latest = if held.unsaved {
            held.clone()
        } else {
            self.current().await?
        };
        let newer = latest.version != held.version && Some(&latest.tokens.access) != refused;
        if newer && latest.tokens.fresh_at(crate::clock::now_ms()) {
            return Ok(latest);
        }
        let mut next = Held {
            tokens: self.call_refresher(&latest.tokens).await?,
            version: latest.version,
            unsaved: true,
        };
        // The chain keeps its origin: the configuration's fingerprint, or `connect`.
        next.tokens.origin = latest
            .tokens
            .origin
            .clone()
            .filter(|o| o == CONNECTED)
            .or(Some(self.origin.clone()));
        // A rotated refresh token is kept before the access token is used: the old one
        // stops working now. A store that fails keeps it in this process until it saves.
        self.save_again(&mut next).await;
        Ok(next)
    }

    /// Try to store tokens only this process holds (a few times, briefly).
    async fn save_again(&self, h: &mut Held) {
        let Some(store) = &self.store else {
            h.unsaved = false;
            return;
        };
        for attempt in 0..3u64 {
            match store.save_tokens(self.channel, &h.tokens, h.version).await {
                Ok(true) => {
                    h.version += 1;
                    h.unsaved = false;
                    return;
                }
                // Someone saved meanwhile; ours is the newest rotation: save over theirs.
                Ok(false) => match store.load_tokens(self.channel).await {
                    Ok(Some((_, v))) => h.version = v,
                    Ok(None) => h.version = 0,
                    Err(_) => {}
                },
                Err(e) => {
                    tracing::error!(channel = %self.channel, attempt, error = %e, "refreshed tokens not saved yet; this process keeps them and tries again");
                }
            }
            tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await;
        }
    }

    async fn call_refresher(&self, current: &Tokens) -> Result<Tokens, HttpError> {
        // A token endpoint that refuses (400 invalid_grant, 401) means the grant is gone:
        // revoked, expired, or its app changed. The channel is disconnected.
        let t = self.refresher.refresh(current).await.map_err(|e| match e {
            HttpError::Permanent {
                what,
                status,
                detail,
            } if status < 500 => HttpError::Permanent {
                what,
                status: 401,
                detail: format!("the refresh was refused (HTTP {status}): {detail}"),
            },
            e => e,
        })?;
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        tracing::info!(channel = %self.channel, "access token refreshed");
        Ok(t)
    }

    fn store_error(&self, e: String) -> HttpError {
        HttpError::Transient {
            what: format!("{} token store", self.channel),
            status: None,
            detail: e,
            retry_after: None,
        }
    }
}

/// Tokens kept in memory only (tests).
#[derive(Default)]
pub struct MemoryTokens {
    tokens: std::sync::Mutex<std::collections::BTreeMap<Channel, (Tokens, u64)>>,
    leases: std::sync::Mutex<std::collections::BTreeMap<Channel, (String, Millis)>>,
}

#[async_trait]
impl TokenStore for MemoryTokens {
    async fn load_tokens(&self, channel: Channel) -> Result<Option<(Tokens, u64)>, String> {
        Ok(self
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&channel)
            .cloned())
    }

    async fn save_tokens(
        &self,
        channel: Channel,
        t: &Tokens,
        expected: u64,
    ) -> Result<bool, String> {
        let mut all = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let version = all.get(&channel).map_or(0, |(_, v)| *v);
        if version != expected {
            return Ok(false);
        }
        all.insert(channel, (t.clone(), expected + 1));
        Ok(true)
    }

    async fn lease_refresh(
        &self,
        channel: Channel,
        holder: &str,
        until: Millis,
    ) -> Result<bool, String> {
        let mut all = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        let now = crate::clock::now_ms();
        let free = all
            .get(&channel)
            .is_none_or(|(h, u)| *u < now || h == holder);
        if free {
            all.insert(channel, (holder.to_string(), until));
        }
        Ok(free)
    }

    async fn release_refresh(&self, channel: Channel, holder: &str) {
        let mut all = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        if all.get(&channel).is_some_and(|(h, _)| h == holder) {
            all.remove(&channel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A channel that rotates refresh tokens: each refresh must present the last one it
    /// gave, and answers a token for `lifetime_ms`.
    struct Rotating {
        lifetime_ms: i64,
        calls: AtomicU64,
        live_refresh: std::sync::Mutex<String>,
    }

    impl Rotating {
        fn new(lifetime_ms: i64) -> Arc<Self> {
            Arc::new(Rotating {
                lifetime_ms,
                calls: AtomicU64::new(0),
                live_refresh: std::sync::Mutex::new("r0".into()),
            })
        }
    }

    #[async_trait]
    impl Refresher for Rotating {
        async fn refresh(&self, current: &Tokens) -> Result<Tokens, HttpError> {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let mut live = self.live_refresh.lock().unwrap();
            if current.refresh.as_ref().map(Secret::expose) != Some(live.as_str()) {
                return Err(HttpError::Permanent {
                    what: "refresh".into(),
                    status: 400,
                    detail: "invalid_grant".into(),
                });
            }
            let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
            *live = format!("r{n}");
            let now = crate::clock::now_ms();
            Ok(Tokens {
                access: Secret::new(format!("a{n}")),
                access_expires_at: Some(now + self.lifetime_ms),
                access_lifetime_ms: Some(self.lifetime_ms),
                refresh: Some(Secret::new(format!("r{n}"))),
                refresh_expires_at: None,
                origin: None,
            })
        }
    }

    fn configured() -> Tokens {
        Tokens::fixed(&Secret::new("a0"), Some(&Secret::new("r0")))
    }

    fn creds(store: &Arc<MemoryTokens>, ch: &Arc<Rotating>) -> Credentials {
        Credentials::new(
            Channel::Shopify,
            configured(),
            Some(store.clone() as Arc<dyn TokenStore>),
            ch.clone() as Arc<dyn Refresher>,
        )
    }

    #[tokio::test]
    async fn a_live_token_is_used_until_close_to_its_end_then_refreshed_once_and_saved() {
        let (store, ch) = (Arc::new(MemoryTokens::default()), Rotating::new(60_000));
        let c = creds(&store, &ch);
        // The configured token has no known end: used as it is.
        assert_eq!(c.bearer().await.unwrap().expose(), "a0");
        let first = c.refused(&Secret::new("a0")).await.unwrap();
        assert_eq!(first.expose(), "a1");
        let (saved, v) = store.load_tokens(Channel::Shopify).await.unwrap().unwrap();
        assert_eq!(
            saved.refresh.unwrap().expose(),
            "r1",
            "the rotated refresh token is kept"
        );
        assert_eq!(v, 1);
        for _ in 0..5 {
            assert_eq!(c.bearer().await.unwrap().expose(), "a1");
        }
        assert_eq!(ch.calls.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn twenty_functions_with_an_expired_token_refresh_once() {
        let (store, ch) = (Arc::new(MemoryTokens::default()), Rotating::new(60_000));
        let expired = Tokens {
            access_expires_at: Some(0),
            access_lifetime_ms: Some(60_000),
            origin: Some(fingerprint(&configured())),
            ..configured()
        };
        store
            .save_tokens(Channel::Shopify, &expired, 0)
            .await
            .unwrap();
        let all: Vec<Credentials> = (0..20).map(|_| creds(&store, &ch)).collect();
        let got = futures::future::join_all(all.iter().map(|c| c.bearer())).await;
        assert!(
            got.iter().all(|t| t.as_ref().unwrap().expose() == "a1"),
            "{got:?}"
        );
        assert_eq!(
            ch.calls.load(Ordering::Relaxed),
            1,
            "one refresh for twenty"
        );
        // A refusal of a token another function already replaced refreshes nothing.
        let t = all[3].refused(&Secret::new("a0")).await.unwrap();
        assert_eq!(t.expose(), "a1");
        assert_eq!(ch.calls.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_short_lived_token_is_refreshed_ahead_of_its_end_about_once_per_lifetime() {
        let (store, ch) = (Arc::new(MemoryTokens::default()), Rotating::new(500));
        let c = creds(&store, &ch);
        c.refused(&Secret::new("a0")).await.unwrap();
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(1600) {
            c.bearer().await.unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let n = ch.calls.load(Ordering::Relaxed);
        // One at the start, then one every ~400 ms (a fifth of 500 ms ahead).
        assert!(
            (3..=7).contains(&n),
            "{n} refreshes in 1.6 s of 500 ms tokens"
        );
    }

    /// Refreshes slowly (a real token endpoint takes hundreds of ms).
    struct Slow(Arc<Rotating>);

    #[async_trait]
    impl Refresher for Slow {
        async fn refresh(&self, current: &Tokens) -> Result<Tokens, HttpError> {
            tokio::time::sleep(Duration::from_millis(400)).await;
            self.0.refresh(current).await
        }
    }

    #[tokio::test]
    async fn functions_refused_the_configured_token_wait_for_the_new_one_not_the_old() {
        let (store, ch) = (Arc::new(MemoryTokens::default()), Rotating::new(60_000));
        let all: Vec<Credentials> = (0..5)
            .map(|_| {
                Credentials::new(
                    Channel::Shopify,
                    configured(),
                    Some(store.clone() as Arc<dyn TokenStore>),
                    Arc::new(Slow(ch.clone())) as Arc<dyn Refresher>,
                )
            })
            .collect();
        for c in &all {
            assert_eq!(c.bearer().await.unwrap().expose(), "a0");
        }
        let a0 = Secret::new("a0");
        let got = futures::future::join_all(all.iter().map(|c| c.refused(&a0))).await;
        assert!(
            got.iter().all(|t| t.as_ref().unwrap().expose() == "a1"),
            "{got:?}"
        );
        assert_eq!(ch.calls.load(Ordering::Relaxed), 1);
    }

    /// A store that takes nothing.
    struct Failing;

    #[async_trait]
    impl TokenStore for Failing {
        async fn load_tokens(&self, _: Channel) -> Result<Option<(Tokens, u64)>, String> {
            Ok(None)
        }
        async fn save_tokens(&self, _: Channel, _: &Tokens, _: u64) -> Result<bool, String> {
            Err("throttled".into())
        }
        async fn lease_refresh(&self, _: Channel, _: &str, _: Millis) -> Result<bool, String> {
            Ok(true)
        }
        async fn release_refresh(&self, _: Channel, _: &str) {}
    }

    #[tokio::test]
    async fn a_rotated_refresh_token_the_store_would_not_take_stays_in_the_process() {
        let ch = Rotating::new(200);
        let c = Credentials::new(
            Channel::Shopify,
            configured(),
            Some(Arc::new(Failing) as Arc<dyn TokenStore>),
            ch.clone() as Arc<dyn Refresher>,
        );
        c.refused(&Secret::new("a0")).await.unwrap();
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            c.bearer().await.unwrap();
        }
        assert!(
            ch.calls.load(Ordering::Relaxed) >= 3,
            "each refresh used the last rotation"
        );
    }

    #[tokio::test]
    async fn a_refresh_token_put_in_the_configuration_wins_over_the_stored_chain() {
        let (store, ch) = (Arc::new(MemoryTokens::default()), Rotating::new(60_000));
        let old = Tokens::fixed(&Secret::new("old"), Some(&Secret::new("gone")));
        store.save_tokens(Channel::Shopify, &old, 0).await.unwrap();
        let c = creds(&store, &ch);
        assert_eq!(
            c.bearer().await.unwrap().expose(),
            "a0",
            "the configured token, not 'old'"
        );
        c.refused(&Secret::new("a0")).await.unwrap();
        let (t, v) = store.load_tokens(Channel::Shopify).await.unwrap().unwrap();
        assert_eq!(
            (t.access.expose(), v),
            ("a1", 2),
            "the stored chain replaced"
        );
    }

    #[tokio::test]
    async fn without_a_store_the_rotated_refresh_token_in_memory_is_the_one_used() {
        let ch = Rotating::new(200);
        let c = Credentials::new(
            Channel::Shopify,
            configured(),
            None,
            ch.clone() as Arc<dyn Refresher>,
        );
        c.refused(&Secret::new("a0")).await.unwrap();
        for _ in 0..30 {
            c.bearer().await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            ch.calls.load(Ordering::Relaxed) >= 3,
            "refreshed again and again, never refused"
        );
    }

    #[test]
    fn tokens_never_print() {
        let t = Tokens {
            access: Secret::new("shpca_secret"),
            access_expires_at: Some(1),
            access_lifetime_ms: None,
            refresh: Some(Secret::new("refresh-secret")),
            refresh_expires_at: None,
            origin: None,
        };
        let shown = format!("{t:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}
