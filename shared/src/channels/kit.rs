//! What a channel is to the functions: one [`ChannelKit`] per channel module, holding
//! both directions (webhooks in; quantities, orders and pointer fetches out), and the
//! [`Registry`] of the configured ones. Functions depend on these, never on a channel's
//! module, so a new channel is a new module and one line in [`super::build`].

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::http::HttpError;
use super::push::{ChannelApi, OrderSource};
use super::{Action, Parsed, SigError};
use crate::domain::{Channel, Millis};

/// A webhook delivery whose signature held: what to deduplicate on and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub delivery_id: String,
    pub topic: String,
}

/// Why a delivery was not verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The signature is missing, malformed or wrong (401: nothing is read).
    Unauthorized(SigError),
    /// It cannot be checked now (a signing key could not be fetched): the channel retries.
    Unavailable(String),
}

/// Why a pointer payload's order could not be read.
#[derive(Debug)]
pub enum FetchError {
    /// Throttled, 5xx, timed out (a blip was already tried again once, in the HTTP
    /// layer): the message's retry handles it.
    Transient(String),
    /// The channel refused onecount's credentials (after a refresh and a retry): the
    /// order waits for the channel to be connected again.
    Unauthorized(String),
    /// Not configured, not found, unreadable: keep the event and alert.
    Permanent(String),
}

impl From<HttpError> for FetchError {
    fn from(e: HttpError) -> Self {
        match &e {
            HttpError::Transient { .. } => FetchError::Transient(e.to_string()),
            _ if e.is_unauthorized() => FetchError::Unauthorized(e.to_string()),
            HttpError::Permanent { .. } => FetchError::Permanent(e.to_string()),
        }
    }
}

/// An answer to a GET on a channel's webhook route (eBay's endpoint challenge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub status: u16,
    pub body: serde_json::Value,
}

/// Everything onecount does with one channel.
#[async_trait]
pub trait ChannelKit: Send + Sync {
    fn channel(&self) -> Channel;

    // ----- inbound -----
    /// Check a delivery's signature on the exact bytes received.
    async fn verify(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        now: Millis,
    ) -> Result<Verified, Refusal>;
    /// What a verified body asks of the ledger.
    fn parse(&self, topic: &str, body: &[u8]) -> Parsed;
    /// A GET on the webhook route; `None` where the channel sends none.
    fn challenge(&self, _query: Option<&str>) -> Option<Challenge> {
        None
    }
    /// The order a pointer payload ([`Action::Fetch`]) points at.
    async fn fetch(&self, pointer: &str) -> Result<Action, FetchError>;

    // ----- outbound -----
    /// The inventory API (one client per kit: its rate budget and caches are shared by
    /// everything this process does with the channel).
    fn api(&self) -> Arc<dyn ChannelApi>;
    /// Recent orders, for reconciliation.
    fn orders(&self) -> Arc<dyn OrderSource>;
}

/// The configured channels' kits, by channel.
#[derive(Clone, Default)]
pub struct Registry {
    kits: BTreeMap<Channel, Arc<dyn ChannelKit>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.kits.keys()).finish()
    }
}

impl Registry {
    /// Add (or replace) a kit.
    pub fn insert(&mut self, kit: Arc<dyn ChannelKit>) {
        self.kits.insert(kit.channel(), kit);
    }
    /// Forget a channel (as if it were not configured).
    pub fn remove(&mut self, channel: Channel) {
        self.kits.remove(&channel);
    }
    pub fn get(&self, channel: Channel) -> Option<&Arc<dyn ChannelKit>> {
        self.kits.get(&channel)
    }
    /// The kit, or the one-line error a person can act on.
    pub fn kit(&self, channel: Channel) -> Result<&Arc<dyn ChannelKit>, super::NotConfigured> {
        self.get(channel).ok_or(super::NotConfigured(channel))
    }
    /// The configured channels, in channel order.
    pub fn channels(&self) -> impl Iterator<Item = Channel> + '_ {
        self.kits.keys().copied()
    }
    pub fn kits(&self) -> impl Iterator<Item = &Arc<dyn ChannelKit>> + '_ {
        self.kits.values()
    }
    pub fn is_empty(&self) -> bool {
        self.kits.is_empty()
    }
}

/// The decrement's view of pointer fetches: the registry in production, a fake in tests.
#[async_trait]
pub trait OrderFetcher: Send + Sync {
    async fn fetch(&self, channel: Channel, pointer: &str) -> Result<Action, FetchError>;
}

#[async_trait]
impl OrderFetcher for Registry {
    async fn fetch(&self, channel: Channel, pointer: &str) -> Result<Action, FetchError> {
        let kit = self
            .kit(channel)
            .map_err(|e| FetchError::Permanent(e.to_string()))?;
        kit.fetch(pointer).await
    }
}
