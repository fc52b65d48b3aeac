//! The outbound side every channel implements: read what listings show, set what they
//! should show. The pusher depends on [`ChannelApi`] only, so a new channel is a new
//! implementation, not a change to the pusher.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::http::HttpError;
use crate::domain::discover::Found;
use crate::domain::{Channel, ChannelRef, Sku};

/// One listing to read or write: our SKU and the channel's ids for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub sku: Sku,
    pub refs: Vec<ChannelRef>,
}

impl Target {
    /// The id of `kind` among the refs (`variant`, `listing`, `offer`, `sku`…).
    pub fn reference(&self, kind: &str) -> Option<&str> {
        self.refs
            .iter()
            .find(|r| r.kind == kind)
            .map(|r| r.id.as_str())
    }
    /// Every id of `kind`.
    pub fn references<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.refs
            .iter()
            .filter(move |r| r.kind == kind)
            .map(|r| r.id.as_str())
    }
}

/// What a listing shows now, and what the channel needs to write it back (Shopify's
/// inventory item, a listing's whole products tree, offer ids).
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// What buyers can buy now (0 for an inactive listing).
    pub qty: i64,
    pub state: Value,
}

/// One write: set `target` to `qty`; it showed `seen` when read.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub target: Target,
    pub seen: Seen,
    pub qty: u32,
}

/// Why a read or write did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// Throttled, 5xx, timed out: try again later (after `retry_after` seconds if given).
    #[error("{detail}")]
    Transient {
        detail: String,
        retry_after: Option<u64>,
    },
    /// The quantity changed between our read and our write (a sale raced in): re-read.
    #[error("the quantity changed since it was read")]
    Stale,
    /// The mapping is wrong: listing gone, not tracked, SKU not on it. No retry helps.
    #[error("{0}")]
    Mismatch(String),
    /// The channel refused our credentials (401/403) after a refresh and a retry:
    /// revoked, expired, or short of a scope. Nothing about this listing is wrong; the
    /// whole channel waits until it is connected again.
    #[error("{0}")]
    Unauthorized(String),
    /// Anything else retrying will not fix (validation).
    #[error("{0}")]
    Permanent(String),
}

impl From<HttpError> for PushError {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::Transient {
                what,
                detail,
                retry_after,
                ..
            } => PushError::Transient {
                detail: format!("{what}: {detail}"),
                retry_after,
            },
            HttpError::Permanent {
                status: 404,
                what,
                detail,
            } => PushError::Mismatch(format!("{what}: not found ({detail})")),
            e if e.is_unauthorized() => PushError::Unauthorized(e.to_string()),
            e @ HttpError::Permanent { .. } => PushError::Permanent(e.to_string()),
        }
    }
}

/// A channel's inventory API, batched the way the channel allows.
#[async_trait]
pub trait ChannelApi: Send + Sync {
    fn channel(&self) -> Channel;
    /// Listings per read call.
    fn read_batch(&self) -> usize;
    /// Listings per write call (from 1 to a few hundred, by channel).
    fn write_batch(&self) -> usize;
    /// What each target shows now; one answer per target, in order. At most
    /// [`read_batch`](Self::read_batch) targets.
    async fn read(&self, targets: &[Target]) -> Vec<Result<Seen, PushError>>;
    /// Set each; one answer per write, in order. At most
    /// [`write_batch`](Self::write_batch) writes.
    async fn write(&self, writes: &[Write]) -> Vec<Result<(), PushError>>;
    /// What a write of **zero** to `target` needs, when the channel can take it without a
    /// read first (the mapping names everything the write call wants). A sell-out then
    /// costs one call, not two, at the moment it matters most. Zero can never re-inflate,
    /// so skipping the read loses no protection. `None`: read first.
    fn zero_without_read(&self, _target: &Target) -> Option<Seen> {
        None
    }
    /// The key of the channel object a write to `target` rewrites as a whole (a
    /// listing's whole inventory, every SKU of it), when other targets may share it. Writes with
    /// one key go in one [`write`](Self::write) call and never run in two pushers at once.
    /// `None`: the write touches this target alone.
    fn write_key(&self, _target: &Target) -> Option<String> {
        None
    }
    /// API calls made so far (for benchmarks and the drift report).
    fn calls(&self) -> u64;
    /// The share (0..=1) of the channel's short-term rate budget left, as its last answer
    /// said; `None` when the channel does not say or the window has passed. Pushes spend
    /// a scarce budget on the listings nearest to selling out first.
    fn budget_left(&self) -> Option<f64> {
        None
    }
    /// What in the seller's account changes what pushes to `targets` do (a preference
    /// that decides what a listing at 0 becomes, say), one line each with what to do; for
    /// `onecount listings verify`. Empty: nothing to say.
    async fn cautions(&self, _targets: &[Target]) -> Vec<String> {
        Vec::new()
    }
    /// Every listing the seller has on the channel, as discovery sees it
    /// (`onecount listings discover`): read page by page within the channel's rate limit,
    /// `progress` hearing the listings read so far.
    async fn catalog(&self, _progress: &Progress<'_>) -> Result<Vec<Found>, PushError> {
        Err(PushError::Permanent(format!(
            "{} has no catalog onecount can read",
            self.channel()
        )))
    }
}

/// Hears how many listings a catalog read has found so far.
pub type Progress<'a> = dyn Fn(usize) + Send + Sync + 'a;

/// One page of a catalog read, tried again while the channel says "later" (throttled, 5xx),
/// waiting what it asks or a growing delay, up to 8 tries: a catalog of thousands should
/// not fail on one throttled page.
pub(crate) async fn patiently<T, F, Fut>(mut call: F) -> Result<T, PushError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, PushError>>,
{
    let mut wait_ms = 250u64;
    for _ in 0..7 {
        match call().await {
            Err(PushError::Transient { retry_after, .. }) => {
                let ms = retry_after.map_or(wait_ms, |s| s.saturating_mul(1000).max(250));
                tokio::time::sleep(std::time::Duration::from_millis(ms.min(30_000))).await;
                wait_ms = (wait_ms * 2).min(8_000);
            }
            other => return other,
        }
    }
    call().await
}

/// Writes as write calls of up to `batch` writes each, lowest `order` first (the pusher
/// puts zero and low quantities first), writes with one [`ChannelApi::write_key`] always
/// together in one call (even past `batch`: the channel makes them one request).
pub fn write_calls<T>(
    items: Vec<T>,
    batch: usize,
    key: impl Fn(&T) -> Option<String>,
    order: impl Fn(&T) -> u32,
) -> Vec<Vec<T>> {
    let mut units: Vec<Vec<T>> = Vec::new();
    let mut at: std::collections::HashMap<String, usize> = Default::default();
    for item in items {
        match key(&item) {
            Some(k) if at.contains_key(&k) => units[at[&k]].push(item),
            k => {
                if let Some(k) = k {
                    at.insert(k, units.len());
                }
                units.push(vec![item]);
            }
        }
    }
    units.sort_by_key(|u| u.iter().map(&order).min());
    let mut out: Vec<Vec<T>> = Vec::new();
    for u in units {
        match out.last_mut() {
            Some(c) if c.len() + u.len() <= batch.max(1) => c.extend(u),
            _ => out.push(u),
        }
    }
    out
}

/// The same failure for every item of a call that failed as a whole.
pub(crate) fn all<T>(n: usize, e: impl Into<PushError>) -> Vec<Result<T, PushError>> {
    let e = e.into();
    (0..n).map(|_| Err(e.clone())).collect()
}

macro_rules! delegate_channel_api {
    ($wrapper:ident) => {
        #[async_trait]
        impl<T: ChannelApi + ?Sized> ChannelApi for $wrapper<T> {
            fn channel(&self) -> Channel {
                (**self).channel()
            }
            fn read_batch(&self) -> usize {
                (**self).read_batch()
            }
            fn write_batch(&self) -> usize {
                (**self).write_batch()
            }
            async fn read(&self, targets: &[Target]) -> Vec<Result<Seen, PushError>> {
                (**self).read(targets).await
            }
            async fn write(&self, writes: &[Write]) -> Vec<Result<(), PushError>> {
                (**self).write(writes).await
            }
            fn zero_without_read(&self, target: &Target) -> Option<Seen> {
                (**self).zero_without_read(target)
            }
            fn write_key(&self, target: &Target) -> Option<String> {
                (**self).write_key(target)
            }
            fn calls(&self) -> u64 {
                (**self).calls()
            }
            fn budget_left(&self) -> Option<f64> {
                (**self).budget_left()
            }
            async fn cautions(&self, targets: &[Target]) -> Vec<String> {
                (**self).cautions(targets).await
            }
            async fn catalog(&self, progress: &Progress<'_>) -> Result<Vec<Found>, PushError> {
                (**self).catalog(progress).await
            }
        }
    };
}

delegate_channel_api!(Box);
delegate_channel_api!(Arc);

/// An order as reconciliation found it: what its webhook would have asked for, and when
/// the channel last changed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundOrder {
    pub actions: Vec<super::Action>,
    pub updated_at: crate::domain::Millis,
}

/// A channel's recent orders, for reconciliation: the orders whose webhooks never came
/// (or never will: some channels send none for cancellations, some apps have no webhook
/// access).
#[async_trait]
pub trait OrderSource: Send + Sync {
    fn channel(&self) -> Channel;
    /// Orders created or changed at or after `since` (ms since the epoch), every page.
    async fn orders_since(
        &self,
        since: crate::domain::Millis,
    ) -> Result<Vec<FoundOrder>, HttpError>;
}

/// RFC 3339 (UTC) for a time in ms, as the channels' filters want it.
pub fn rfc3339(ms: crate::domain::Millis) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// Ms since the epoch of an RFC 3339 time.
pub fn parse_rfc3339(s: &str) -> Option<crate::domain::Millis> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as crate::domain::Millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_to_one_listing_share_a_call_and_low_quantities_go_first() {
        // (listing, qty): listing 7 carries two SKUs.
        let items = vec![
            (Some(7), 5),
            (None, 0),
            (Some(7), 9),
            (Some(8), 1),
            (None, 3),
        ];
        let key = |(l, _): &(Option<u32>, u32)| l.map(|l| l.to_string());
        let calls = write_calls(items.clone(), 1, key, |(_, q)| *q);
        assert_eq!(
            calls,
            vec![
                vec![(None, 0)],
                vec![(Some(8), 1)],
                vec![(None, 3)],
                vec![(Some(7), 5), (Some(7), 9)]
            ]
        );
        let calls = write_calls(items, 3, key, |(_, q)| *q);
        assert_eq!(calls.len(), 2);
        assert!(calls.iter().all(|c| c.len() <= 3));
    }
}
