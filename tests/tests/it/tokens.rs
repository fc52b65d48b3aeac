//! Channel tokens that expire, rotate and are revoked: the sandboxes issue short-lived
//! tokens (Etsy also rotates its refresh tokens), the clients keep theirs in the table
//! (moto), refresh ahead of the end, and a new process (a cold start) carries on from
//! what was stored, not from the configured tokens.

use std::time::{Duration, Instant};

use onecount::Channel;
use onecount::channels::auth::TokenStore;
use onecount::channels::ebay::{EbayClient, EbayConfig};
use onecount::channels::etsy::{EtsyClient, EtsyConfig};
use onecount::channels::push::{ChannelApi, PushError, Target};
use onecount::channels::shopify::{ShopifyClient, ShopifyConfig};
use onecount::{ChannelRef, Sku};
use onecount_sim::{Sandboxes, SimConfig};
use onecount_tests::fresh_store;

const TTL: Duration = Duration::from_secs(1);
const RUN: Duration = Duration::from_millis(3_500);

async fn sandboxes() -> (Sandboxes, SimConfig) {
    let sim = SimConfig::random("http://127.0.0.1:9");
    (Sandboxes::start(sim.clone()).await, sim)
}

fn target(sku: &str, kind: &str, id: u64) -> Target {
    Target {
        sku: Sku::parse(sku).unwrap(),
        refs: vec![ChannelRef::new(kind, &id.to_string()).unwrap()],
    }
}

/// The instants of the reads made by [`keep_reading`].
struct Reads(Vec<Instant>);

/// Read `t` through `api` every 50 ms for [`RUN`]: every read must succeed.
async fn keep_reading(api: &dyn ChannelApi, t: &Target) -> Reads {
    let start = Instant::now();
    let mut at = Vec::new();
    while start.elapsed() < RUN {
        at.push(Instant::now());
        let r = api.read(std::slice::from_ref(t)).await.remove(0);
        assert!(r.is_ok(), "{r:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Reads(at)
}

/// Refreshes over the run: about one per token lifetime, never one per call. The bounds
/// come from when the reads really happened, so a slow machine (a read that stalls for a
/// second) moves them instead of failing the test:
/// - reads more than a lifetime apart cannot share a token, so there are at least that
///   many tokens, less the first (possibly the configured one);
/// - refreshing a fifth ahead of the end gives at most one per 0.8 lifetime, plus the
///   first; half a lifetime leaves room for a refresh that raced the clock.
fn about_one_per_expiry(n: u64, reads: &Reads, what: &str) {
    let (Some(first), Some(last)) = (reads.0.first(), reads.0.last()) else {
        panic!("{what}: no reads");
    };
    let mut tokens_needed = 1u64;
    let mut since = *first;
    for &r in &reads.0 {
        if r.duration_since(since) > TTL {
            tokens_needed += 1;
            since = r;
        }
    }
    let span = last.duration_since(*first).as_secs_f64();
    let most = (span / (TTL.as_secs_f64() / 2.0)).ceil() as u64 + 1;
    let calls = reads.0.len() as u64;
    assert!(
        (tokens_needed - 1..=most).contains(&n) && n * 3 < calls,
        "{what}: {n} refreshes for {calls} reads over {span:.1} s of {TTL:?} tokens \
         (expected {}..={most})",
        tokens_needed - 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etsy_tokens_expire_and_rotate_and_a_cold_start_carries_on_from_the_table() {
    let (sb, sim) = sandboxes().await;
    let store = fresh_store("tok-etsy").await;
    let cfg: EtsyConfig = sb
        .channels_config(&sim, "http://127.0.0.1:9")
        .section(Channel::Etsy)
        .unwrap();
    sb.etsy.add_listing(onecount_sim::etsy::SimListing {
        listing_id: 731,
        sku: "MUG-TOK".into(),
        qty: 4,
    });
    sb.etsy.tokens.set_ttl(Some(TTL));
    let t = target("MUG-TOK", "listing", 731);
    let client = EtsyClient::with_store(cfg.clone(), Some(store.tokens()));
    let reads = keep_reading(&client, &t).await;
    about_one_per_expiry(sb.etsy.tokens.issued(), &reads, "etsy");
    assert!(
        sb.etsy.tokens.refused() <= 1,
        "at most the configured token's first refusal (its end is not known): {}",
        sb.etsy.tokens.refused()
    );
    let (stored, version) = store.load_tokens(Channel::Etsy).await.unwrap().unwrap();
    assert_eq!(version, sb.etsy.tokens.issued(), "every rotation saved");
    assert_ne!(
        stored.refresh.as_ref().map(|r| r.expose().to_string()),
        Some(sim.etsy_refresh_token.clone()),
        "the configured refresh token was rotated away"
    );

    // A cold start: a new client with the same (now dead) configured tokens.
    let cold = EtsyClient::with_store(cfg.clone(), Some(store.tokens()));
    tokio::time::sleep(TTL).await;
    cold.read(std::slice::from_ref(&t)).await.remove(0).unwrap();
    // Without the table it would have to start from the configured refresh token, which
    // Etsy no longer takes.
    let forgetful = EtsyClient::new(cfg);
    let r = forgetful.read(std::slice::from_ref(&t)).await.remove(0);
    assert!(
        matches!(&r, Err(PushError::Unauthorized(m)) if m.contains("etsy token refresh")),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ebay_user_tokens_are_refreshed_ahead_of_their_end() {
    let (sb, sim) = sandboxes().await;
    let store = fresh_store("tok-ebay").await;
    let cfg: EbayConfig = sb
        .channels_config(&sim, "http://127.0.0.1:9")
        .section(Channel::Ebay)
        .unwrap();
    sb.ebay.add_listing(onecount_sim::ebay::SimListing {
        item_id: 732,
        sku: "MUG-TOK".into(),
        qty: 4,
    });
    sb.ebay.tokens.set_ttl(Some(TTL));
    let client = EbayClient::with_store(cfg, Some(store.tokens()));
    let t = Target {
        sku: Sku::parse("MUG-TOK").unwrap(),
        refs: vec![],
    };
    let reads = keep_reading(&client, &t).await;
    about_one_per_expiry(client.refreshes(), &reads, "ebay");
    assert_eq!(
        sb.ebay.tokens.refused(),
        0,
        "no call was made with a dead token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopify_dev_dashboard_tokens_come_from_the_client_credentials_grant() {
    let (sb, sim) = sandboxes().await;
    let store = fresh_store("tok-shop").await;
    let cfg = ShopifyConfig {
        access_token: Default::default(),
        client_id: Some(sim.shopify_client_id.clone()),
        client_secret: Some(onecount::channels::config::Secret::new(
            &sim.shopify_client_secret,
        )),
        ..sb.channels_config(&sim, "http://127.0.0.1:9")
            .section(Channel::Shopify)
            .unwrap()
    };
    sb.shopify.add_listing(onecount_sim::shopify::SimListing {
        variant_id: 733,
        sku: "MUG-TOK".into(),
        qty: 4,
        inventory_item_id: 0,
    });
    sb.shopify.tokens.set_ttl(Some(TTL));
    let client = ShopifyClient::with_store(cfg.clone(), Some(store.tokens()));
    let reads = keep_reading(&client, &target("MUG-TOK", "variant", 733)).await;
    about_one_per_expiry(sb.shopify.tokens.issued(), &reads, "shopify");
    assert_eq!(sb.shopify.tokens.refused(), 0);

    // A wrong client secret: refused with a clear word, not retried forever.
    let wrong = ShopifyClient::new(ShopifyConfig {
        client_secret: Some(onecount::channels::config::Secret::new("shpss_wrong")),
        ..cfg
    });
    let r = wrong
        .read(&[target("MUG-TOK", "variant", 733)])
        .await
        .remove(0);
    assert!(
        matches!(&r, Err(PushError::Unauthorized(m)) if m.contains("client credentials")),
        "{r:?}"
    );
}
