//! In-memory ports for the handler tests.
#![allow(dead_code)]

use std::sync::Mutex;

use async_trait::async_trait;
use onecount::Channel;
use onecount::alerts::Alert;
use onecount::channels::config::Secret;
use onecount::channels::ebay::{EbayConfig, EbayKeys, PublicKey};
use onecount::channels::etsy::EtsyConfig;
use onecount::channels::shopify::ShopifyConfig;
use onecount::channels::{ChannelsConfig, HttpError, OrderEvent};
use onecount::ports::{AlertSink, Inbox, LedgerError, OrderQueue, Quarantined, SendError};
use onecount_webhook_ingest::Ingest;

#[derive(Default)]
pub struct Queue(
    pub Mutex<Vec<OrderEvent>>,
    pub std::sync::atomic::AtomicBool,
);
#[async_trait]
impl OrderQueue for Queue {
    async fn enqueue(&self, e: &OrderEvent) -> Result<(), SendError> {
        if self.1.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(SendError("SQS is down".into()));
        }
        self.0.lock().unwrap().push(e.clone());
        Ok(())
    }
}

#[derive(Default)]
pub struct Box_(pub Mutex<(Vec<String>, Vec<Quarantined>)>);
#[async_trait]
impl Inbox for Box_ {
    async fn delivery_seen(&self, c: Channel, id: &str) -> Result<bool, LedgerError> {
        Ok(self.0.lock().unwrap().0.contains(&format!("{c}{id}")))
    }
    async fn mark_delivery(&self, c: Channel, id: &str) -> Result<(), LedgerError> {
        self.0.lock().unwrap().0.push(format!("{c}{id}"));
        Ok(())
    }
    async fn quarantine(&self, q: &Quarantined) -> Result<String, LedgerError> {
        self.0.lock().unwrap().1.push(q.clone());
        Ok(q.id.clone())
    }
    async fn quarantined(&self, _: u32) -> Result<Vec<Quarantined>, LedgerError> {
        Ok(self.0.lock().unwrap().1.clone())
    }
}

#[derive(Default)]
pub struct Alerts(pub Mutex<Vec<Alert>>);
#[async_trait]
impl AlertSink for Alerts {
    async fn publish(&self, a: &Alert) -> Result<(), SendError> {
        self.0.lock().unwrap().push(a.clone());
        Ok(())
    }
}

pub struct Keys;
#[async_trait]
impl EbayKeys for Keys {
    async fn key(&self, kid: &str) -> Result<PublicKey, HttpError> {
        if kid.len().is_multiple_of(2) {
            Err(HttpError::Permanent {
                what: "key".into(),
                status: 404,
                detail: "no".into(),
            })
        } else {
            Ok(PublicKey {
                algorithm: "ECDSA".into(),
                digest: "SHA1".into(),
                key: "-----BEGIN PUBLIC KEY-----garbage".into(),
            })
        }
    }
}

pub const SHOPIFY_SECRET: &str = "shpss_fixture_secret";

pub fn ingest() -> Ingest<Queue, Box_, Alerts> {
    ingest_with(kits())
}

/// The three channels' kits, eBay's public keys from the fake above.
pub fn kits() -> onecount::channels::Registry {
    let ebay = EbayConfig {
        api_base: "http://127.0.0.1:9".into(),
        client_id: "c".into(),
        client_secret: Secret::new("s"),
        refresh_token: Secret::new("r"),
        verification_token: Secret::new("v"),
        endpoint_url: "https://x/webhooks/ebay".into(),
        site_id: 0,
    };
    let cfg = ChannelsConfig::default()
        .with(
            Channel::Shopify,
            &ShopifyConfig {
                shop_domain: "x.myshopify.com".into(),
                webhook_secret: Secret::new(SHOPIFY_SECRET),
                previous_webhook_secret: None,
                api_base: "http://127.0.0.1:9".into(),
                access_token: Secret::default(),
                client_id: None,
                client_secret: None,
                api_version: "2026-04".into(),
                location_id: None,
                process_test_orders: false,
            },
        )
        .with(
            Channel::Etsy,
            &EtsyConfig {
                shop_id: "1".into(),
                webhook_secret: Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                api_base: "http://127.0.0.1:9".into(),
                keystring: "k".into(),
                shared_secret: Secret::new("s"),
                access_token: Secret::new("1.t"),
                refresh_token: Secret::default(),
                renew_sold_out: true,
            },
        )
        .with(Channel::Ebay, &ebay);
    let mut channels = onecount::channels::build(&cfg).unwrap();
    // eBay's public keys from the fake above, not the network.
    channels.insert(onecount::channels::ebay::kit_with_keys(
        ebay,
        std::sync::Arc::new(Keys),
    ));
    channels
}

/// The handler over these kits, with in-memory queue, inbox and alerts.
pub fn ingest_with(channels: onecount::channels::Registry) -> Ingest<Queue, Box_, Alerts> {
    Ingest {
        channels: onecount::channels::live::LiveChannels::fixed(channels),
        queue: Queue::default(),
        inbox: Box_::default(),
        alerts: Alerts::default(),
    }
}
