//! eBay's public keys by `kid`, as webhook ingest looks them up.
//!
//! The `kid` comes from the `X-EBAY-SIGNATURE` header of a request not yet verified, so
//! anyone can send any. The cache keeps that from costing eBay calls: a malformed `kid` is
//! refused without a call, a `kid` eBay does not know is remembered as unknown for
//! [`MISS_TTL`], one lookup per `kid` runs at a time (a burst of notifications signed with
//! a new key makes one call, the others find it cached; a slow lookup of one `kid` holds
//! up no other), and at most [`LOOKUPS_PER_MINUTE`] calls a minute are made; past that a
//! lookup answers "try later" (eBay sends again).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::super::http::HttpError;
use super::{KEY_TTL, PublicKey};

/// How long a `kid` eBay answered "not found" for is not asked again.
pub const MISS_TTL: Duration = Duration::from_secs(600);
/// `getPublicKey` calls a process makes per minute, at most.
pub const LOOKUPS_PER_MINUTE: u32 = 20;
/// Unknown `kid`s remembered, at most (junk traffic cannot grow the cache without end).
const MISSES_KEPT: usize = 10_000;

/// A `kid` as eBay issues them: 1–128 characters of letters, digits, `-`, `_`, `.`,
/// starting with a letter or digit (so never `.` or `..` in a URL path).
pub fn valid_kid(kid: &str) -> bool {
    (1..=128).contains(&kid.len())
        && kid.as_bytes()[0].is_ascii_alphanumeric()
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn unknown(kid: &str, why: &str) -> HttpError {
    HttpError::Permanent {
        what: "ebay getPublicKey".into(),
        status: 404,
        detail: format!("{why} (key id {} characters)", kid.len()),
    }
}

/// Whether eBay's answer says the key does not exist (as opposed to our own credentials
/// or eBay being unwell).
pub fn is_unknown_key(e: &HttpError) -> bool {
    matches!(
        e,
        HttpError::Permanent {
            status: 400 | 404,
            ..
        }
    )
}

#[derive(Default)]
pub struct KeyCache {
    found: Mutex<HashMap<String, (PublicKey, Instant)>>,
    missing: Mutex<HashMap<String, Instant>>,
    /// One lock per `kid` being looked up: one call per `kid` at a time.
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The current minute's start and the calls made in it.
    window: Mutex<Option<(Instant, u32)>>,
}

impl KeyCache {
    fn cached(&self, kid: &str) -> Option<Result<PublicKey, HttpError>> {
        if let Some((k, at)) = self
            .found
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(kid)
            && at.elapsed() < KEY_TTL
        {
            return Some(Ok(k.clone()));
        }
        if let Some(at) = self
            .missing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(kid)
            && at.elapsed() < MISS_TTL
        {
            return Some(Err(unknown(kid, "eBay did not know this key a moment ago")));
        }
        None
    }

    /// Counts a call against this minute's cap; `Err` with the seconds left when it is spent.
    fn spend(&self) -> Result<(), u64> {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let (start, used) = match *w {
            Some((start, used)) if now.duration_since(start) < Duration::from_secs(60) => {
                (start, used)
            }
            _ => (now, 0),
        };
        if used >= LOOKUPS_PER_MINUTE {
            return Err(60u64
                .saturating_sub(now.duration_since(start).as_secs())
                .max(1));
        }
        *w = Some((start, used + 1));
        Ok(())
    }

    /// The key for `kid`: from the cache, else from `fetch` (eBay's `getPublicKey`).
    pub async fn get<F, Fut>(&self, kid: &str, fetch: F) -> Result<PublicKey, HttpError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<PublicKey, HttpError>>,
    {
        if !valid_kid(kid) {
            return Err(unknown(kid, "malformed key id, not looked up"));
        }
        if let Some(r) = self.cached(kid) {
            return r;
        }
        let lock = self
            .fetching
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(kid.to_string())
            .or_default()
            .clone();
        let result = {
            let _one = lock.lock().await;
            self.fetch_once(kid, fetch).await
        };
        let mut locks = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        // The last one out forgets the lock (junk kids must not pile up).
        if Arc::strong_count(&lock) <= 2 {
            locks.remove(kid);
        }
        result
    }

    /// The lookup itself, holding `kid`'s lock.
    async fn fetch_once<F, Fut>(&self, kid: &str, fetch: F) -> Result<PublicKey, HttpError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<PublicKey, HttpError>>,
    {
        // Another lookup may have fetched it while this one waited.
        if let Some(r) = self.cached(kid) {
            return r;
        }
        if let Err(secs) = self.spend() {
            return Err(HttpError::Transient {
                what: "ebay getPublicKey".into(),
                status: None,
                detail: format!("more than {LOOKUPS_PER_MINUTE} key lookups this minute"),
                retry_after: Some(secs),
            });
        }
        match fetch().await {
            Ok(key) => {
                self.found
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(kid.to_string(), (key.clone(), Instant::now()));
                Ok(key)
            }
            Err(e) => {
                if is_unknown_key(&e) {
                    let mut m = self.missing.lock().unwrap_or_else(|p| p.into_inner());
                    if m.len() >= MISSES_KEPT {
                        m.retain(|_, at| at.elapsed() < MISS_TTL);
                        if m.len() >= MISSES_KEPT {
                            m.clear();
                        }
                    }
                    m.insert(kid.to_string(), Instant::now());
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn key() -> PublicKey {
        PublicKey {
            algorithm: "ECDSA".into(),
            digest: "SHA1".into(),
            key: "-----BEGIN PUBLIC KEY-----x-----END PUBLIC KEY-----".into(),
        }
    }

    fn not_found() -> HttpError {
        HttpError::Permanent {
            what: "ebay getPublicKey".into(),
            status: 404,
            detail: "not found".into(),
        }
    }

    #[test]
    fn a_kid_is_checked_before_it_reaches_a_url() {
        assert!(valid_kid("99345d38-5a6f-4b2c-a4d7-0c5e1c2a3b4d"));
        for bad in [
            "",
            "..",
            ".x",
            "../../oauth",
            "a/b",
            "a b",
            "k%2F",
            "é",
            &"x".repeat(129),
        ] {
            assert!(!valid_kid(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn junk_kids_cost_no_calls_and_a_miss_is_remembered() {
        let cache = KeyCache::default();
        let calls = AtomicU32::new(0);
        let fetch = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<PublicKey, _>(not_found())
        };
        assert!(cache.get("../x", fetch).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 0, "malformed: no call");
        for _ in 0..5 {
            let e = cache.get("unknown-kid", fetch).await.unwrap_err();
            assert!(is_unknown_key(&e));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a miss is asked once");
    }

    #[tokio::test]
    async fn concurrent_lookups_of_a_new_key_make_one_call() {
        let cache = Arc::new(KeyCache::default());
        let calls = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, calls) = (cache.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get("new-key", || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok(key())
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), key());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_slow_lookup_holds_up_no_other_kid() {
        let cache = Arc::new(KeyCache::default());
        let slow = {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get("slow-key", || async {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        Ok(key())
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        cache.get("fast-key", || async { Ok(key()) }).await.unwrap();
        assert!(
            !slow.is_finished(),
            "the other kid's lookup did not wait for the slow one"
        );
        slow.await.unwrap().unwrap();
        assert!(cache.fetching.lock().unwrap().is_empty(), "locks forgotten");
    }

    #[tokio::test]
    async fn lookups_past_the_cap_wait_and_failures_of_ours_are_not_cached() {
        let cache = KeyCache::default();
        let calls = AtomicU32::new(0);
        for i in 0..LOOKUPS_PER_MINUTE {
            let _ = cache
                .get(&format!("k{i}"), || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err::<PublicKey, _>(not_found())
                })
                .await;
        }
        let over = cache.get("one-more", || async { Ok(key()) }).await;
        assert!(
            matches!(
                over,
                Err(HttpError::Transient {
                    retry_after: Some(_),
                    ..
                })
            ),
            "{over:?}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), LOOKUPS_PER_MINUTE);
        // Our own app token refused (401) says nothing about the key: not remembered.
        let cache = KeyCache::default();
        let refused = || async {
            Err::<PublicKey, _>(HttpError::Permanent {
                what: "ebay getPublicKey".into(),
                status: 401,
                detail: "invalid token".into(),
            })
        };
        let e = cache.get("real-key", refused).await.unwrap_err();
        assert!(!is_unknown_key(&e));
        assert_eq!(
            cache.get("real-key", || async { Ok(key()) }).await.unwrap(),
            key()
        );
    }
}
