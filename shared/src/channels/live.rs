//! The channels configuration, read again on a TTL.
//!
//! A Lambda execution environment lives for hours, and the channels secret changes under
//! it: a webhook secret rotated, a shop connected for the first time, an app secret
//! replaced. [`LiveChannels`] re-reads the configuration at most every [`RELOAD_EVERY`]
//! (on the first use after it) and rebuilds the kits only when it changed, so the kits'
//! caches and rate budgets survive an unchanged read. A failed read keeps what it had
//! (logged) and is tried again after the TTL.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::auth::TokenStore;
use super::config::ChannelsConfig;
use super::kit::{OrderFetcher, Registry};
use super::{Action, FetchError};
use crate::domain::Channel;

/// How often the configuration is read again.
pub const RELOAD_EVERY: Duration = Duration::from_secs(300);

/// Reads the configuration (Secrets Manager, or the local channels file).
pub type Loader = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<ChannelsConfig, String>> + Send>> + Send + Sync,
>;

struct State {
    registry: Arc<Registry>,
    config: ChannelsConfig,
    read_at: Instant,
}

/// How to read the configuration again: the loader, the token store the kits use, the TTL.
struct Reload {
    load: Loader,
    tokens: Option<Arc<dyn TokenStore>>,
    ttl: Duration,
}

/// The current kits; see the module doc.
pub struct LiveChannels {
    state: tokio::sync::RwLock<State>,
    reload: Option<Reload>,
    /// Held by the one caller reading the configuration again.
    reloading: tokio::sync::Mutex<()>,
    reloads: std::sync::atomic::AtomicU64,
}

impl LiveChannels {
    /// Kits that never change (tests, tools).
    pub fn fixed(registry: Registry) -> Self {
        LiveChannels {
            state: tokio::sync::RwLock::new(State {
                registry: Arc::new(registry),
                config: ChannelsConfig::default(),
                read_at: Instant::now(),
            }),
            reload: None,
            reloading: Default::default(),
            reloads: Default::default(),
        }
    }

    /// The kits `registry`, built from `config` (already read), read again with `load`
    /// every `ttl` and rebuilt (with `tokens`) when it changed.
    pub fn reloading(
        (config, registry): (ChannelsConfig, Registry),
        tokens: Option<Arc<dyn TokenStore>>,
        load: Loader,
        ttl: Duration,
    ) -> Self {
        LiveChannels {
            state: tokio::sync::RwLock::new(State {
                registry: Arc::new(registry),
                config,
                read_at: Instant::now(),
            }),
            reload: Some(Reload { load, tokens, ttl }),
            reloading: Default::default(),
            reloads: Default::default(),
        }
    }

    /// Times the kits were rebuilt from a changed configuration.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The kits now. When the TTL has passed, one caller reads the configuration again
    /// (holding no lock meanwhile: the others go on with the kits they have) and swaps
    /// in new kits if it changed.
    pub async fn current(&self) -> Arc<Registry> {
        let (registry, read_at) = {
            let s = self.state.read().await;
            (s.registry.clone(), s.read_at)
        };
        let Some(Reload { load, tokens, ttl }) = &self.reload else {
            return registry;
        };
        if read_at.elapsed() < *ttl {
            return registry;
        }
        let Ok(_one) = self.reloading.try_lock() else {
            return registry;
        };
        if self.state.read().await.read_at != read_at {
            return self.state.read().await.registry.clone();
        }
        let loaded = load().await;
        let mut s = self.state.write().await;
        s.read_at = Instant::now();
        match loaded {
            Ok(config) if config == s.config => {}
            Ok(config) => match super::build_with(&config, tokens.clone()) {
                Ok(r) => {
                    tracing::info!(channels = ?config, "channels configuration changed; kits rebuilt");
                    s.registry = Arc::new(r);
                    s.config = config;
                    self.reloads
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Err(e) => tracing::error!(
                    error = %unquoted(&e),
                    "the changed channels configuration is not usable; keeping the last one"
                ),
            },
            Err(e) => tracing::warn!(
                error = %unquoted(&e),
                "channels configuration not read again; keeping the last one"
            ),
        }
        s.registry.clone()
    }
}

/// `e` without the values it quotes: a parse error of the configuration can quote a
/// field's value (``invalid type: integer `12345`, expected a string``), and that value
/// may be a secret.
fn unquoted(e: &str) -> String {
    e.split('`')
        .enumerate()
        .map(|(i, part)| if i % 2 == 1 { "…" } else { part })
        .collect()
}

#[async_trait]
impl OrderFetcher for LiveChannels {
    async fn fetch(&self, channel: Channel, pointer: &str) -> Result<Action, FetchError> {
        self.current().await.fetch(channel, pointer).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn cfg(secret: &str) -> ChannelsConfig {
        ChannelsConfig::parse(
            &serde_json::json!({"shopify": {
                "shop_domain": "a.myshopify.com", "api_base": "http://127.0.0.1:9",
                "access_token": "shpat_x", "webhook_secret": secret, "location_id": "1"
            }})
            .to_string(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_changed_secret_is_used_after_the_ttl_and_an_unchanged_one_keeps_the_kits() {
        let served = Arc::new(Mutex::new(Ok(cfg("old"))));
        let reads = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let (s2, r2) = (served.clone(), reads.clone());
        let load: Loader = Arc::new(move || {
            r2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let v = s2.lock().unwrap().clone();
            Box::pin(async move { v })
        });
        let kits = super::super::build(&cfg("old")).unwrap();
        let live =
            LiveChannels::reloading((cfg("old"), kits), None, load, Duration::from_millis(50));
        let first = live.current().await;
        assert!(
            Arc::ptr_eq(&first, &live.current().await),
            "within the TTL: no read"
        );
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 0);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(
            Arc::ptr_eq(&first, &live.current().await),
            "read, unchanged: same kits"
        );
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 1);
        *served.lock().unwrap() = Ok(cfg("rotated"));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(
            !Arc::ptr_eq(&first, &live.current().await),
            "changed: new kits"
        );
        assert_eq!(live.reloads(), 1);
        // A failed read keeps the kits it had.
        *served.lock().unwrap() = Err("AccessDenied".into());
        tokio::time::sleep(Duration::from_millis(60)).await;
        let kept = live.current().await;
        assert!(kept.get(Channel::Shopify).is_some());
        assert_eq!(live.reloads(), 1);
        assert_eq!(
            unquoted("invalid type: integer `12345`, expected a string"),
            "invalid type: integer …, expected a string"
        );
    }
}
