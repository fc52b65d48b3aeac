//! The narrow traits that functions and the CLI depend on. One trait per capability;
//! the DynamoDB adapter implements them all, [`memory::MemoryStore`] is the test fake.

pub mod episodes;
pub mod memory;

use async_trait::async_trait;

use serde::{Deserialize, Serialize};

use crate::alerts::Alert;
use crate::channels::OrderEvent;
use crate::domain::push::{Listed, PushRecord, allotting};
use crate::domain::{
    Channel, ChannelRef, Event, LineId, LineRecord, Listing, Millis, NewStock, OrderId, OrderLine,
    RestockOutcome, RestockRequest, SaleOutcome, Sku, StockChange, StockItem, TimelineEntry,
    Unheard,
};

/// Why a ledger operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("unknown SKU '{0}': create it first with `onecount stock create {0} --on-hand N`")]
    UnknownSku(Sku),
    #[error("SKU '{0}' already exists")]
    AlreadyExists(Sku),
    #[error("{0}")]
    Invalid(String),
    #[error("{channel} id {reference} is already mapped to SKU '{sku}'")]
    RefTaken {
        channel: Channel,
        reference: ChannelRef,
        sku: Sku,
    },
    /// Contention did not clear within the retry budget; safe to retry later.
    #[error("gave up after {attempts} attempts under contention on {what}")]
    Contention { what: String, attempts: u32 },
    /// The store failed or could not be reached; retrying may help.
    #[error("{0}")]
    Store(String),
}

impl LedgerError {
    /// Whether retrying the same request later may succeed (SQS redelivery, CLI retry).
    pub fn is_transient(&self) -> bool {
        matches!(self, LedgerError::Contention { .. } | LedgerError::Store(_))
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back to get the next page; `None` on the last page.
    pub next: Option<String>,
}

/// The one true count: exactly-once sales, restocks and manual changes.
#[async_trait]
pub trait StockLedger: Send + Sync {
    async fn create_stock(&self, new: &NewStock) -> Result<StockItem, LedgerError>;
    async fn get_stock(&self, sku: &Sku) -> Result<Option<StockItem>, LedgerError>;
    /// Stock items in SKU order, `limit` at a time.
    async fn list_stock(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<StockItem>, LedgerError>;
    /// Apply an order line exactly once.
    async fn record_sale(&self, line: &OrderLine) -> Result<SaleOutcome, LedgerError>;
    /// Give back what a line took (cancel) or part of it (refund with restock), once.
    async fn restock(&self, req: &RestockRequest) -> Result<RestockOutcome, LedgerError>;
    /// Set the absolute count (a stock take, the containment reset).
    async fn set_on_hand(
        &self,
        sku: &Sku,
        on_hand: u32,
        reason: &str,
        actor: &str,
    ) -> Result<StockChange, LedgerError>;
    /// The stored state of one order line.
    async fn line(
        &self,
        channel: Channel,
        order: &OrderId,
        line: &LineId,
    ) -> Result<Option<LineRecord>, LedgerError>;
    /// Change the count by `delta` (+received, −shrinkage); never below zero.
    async fn adjust(
        &self,
        sku: &Sku,
        delta: i64,
        reason: &str,
        actor: &str,
    ) -> Result<StockChange, LedgerError>;
}

/// Listings per SKU per channel, and the reverse lookup from a channel's own ids.
#[async_trait]
pub trait ListingStore: Send + Sync {
    async fn put_listing(&self, listing: &Listing) -> Result<(), LedgerError>;
    async fn get_listing(
        &self,
        sku: &Sku,
        channel: Channel,
    ) -> Result<Option<Listing>, LedgerError>;
    async fn listings_for_sku(&self, sku: &Sku) -> Result<Vec<Listing>, LedgerError>;
    /// The SKU a channel's id (variant, listing, item…) belongs to.
    async fn resolve(
        &self,
        channel: Channel,
        reference: &ChannelRef,
    ) -> Result<Option<Sku>, LedgerError>;
}

/// A SKU's history.
#[async_trait]
pub trait TimelineStore: Send + Sync {
    /// Entries in time order, oldest first; at most `limit`, the most recent ones.
    async fn timeline(&self, sku: &Sku, limit: u32) -> Result<Vec<TimelineEntry>, LedgerError>;
}

/// A queue or topic could not take a message; the caller should fail so it is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SendError(pub String);

/// Verified, normalised webhooks on their way to the decrement step.
#[async_trait]
pub trait OrderQueue: Send + Sync {
    async fn enqueue(&self, event: &OrderEvent) -> Result<(), SendError>;
}

/// "Bring this SKU's listing on this channel up to date." Carries no quantity: the pusher
/// reads the current count, so a stale request can never push an old value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRequest {
    pub sku: Sku,
    pub channel: Channel,
    /// What caused it, for the timeline and the sale-to-listed latency.
    pub cause: String,
    pub origin_channel: Option<Channel>,
    pub origin_order: Option<OrderId>,
    pub requested_at: Millis,
    /// When the originating sale reached onecount (for the sale-to-listed latency).
    #[serde(default)]
    pub origin_at: Option<Millis>,
    /// Raise the channel even over a fall not explained by heard sales (the drift checker
    /// sets it after reconciling the channel's orders).
    #[serde(default)]
    pub force: bool,
    /// How many times it was sent again to wait for its channel to come back (the next
    /// wait is longer).
    #[serde(default)]
    pub waits: u32,
    /// A forced push releases the units held back on the channel as sold unheard that
    /// were found at or before this instant (the drift check: its reconciliation listed
    /// every order placed by then); `None`: those found before the request.
    #[serde(default)]
    pub release_before: Option<Millis>,
}

impl PushRequest {
    /// A request with no originating sale (an operator, the drift check): asked now.
    pub fn unprompted(sku: Sku, channel: Channel, cause: &str, force: bool) -> PushRequest {
        PushRequest {
            sku,
            channel,
            cause: cause.to_string(),
            origin_channel: None,
            origin_order: None,
            requested_at: crate::clock::now_ms(),
            origin_at: None,
            force,
            waits: 0,
            release_before: None,
        }
    }
}

impl PushView {
    /// The listing as the channel API takes it: our SKU and the channel's ids.
    pub fn target(&self) -> crate::channels::push::Target {
        crate::channels::push::Target {
            sku: self.stock.sku.clone(),
            refs: self.listing.refs.clone(),
        }
    }
}

/// What [`PushStore::record_push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded over the record the pusher read before its write.
    Over,
    /// Recorded over a push another pusher confirmed since that read. No channel orders
    /// two writes by the versions they carry: the other's write, though older, may have
    /// landed after this one, so the pusher reads the channel again. (The record is kept
    /// all the same: it explains this write to whichever pusher reads the channel next.)
    OverAnother,
    /// A newer version was recorded meanwhile: nothing written.
    Newer,
}

impl Recorded {
    /// A push recorded over `replaced`, when its pusher had read `read`.
    pub fn over(replaced: Option<&PushRecord>, read: Option<&PushRecord>) -> Self {
        if replaced == read {
            Recorded::Over
        } else {
            Recorded::OverAnother
        }
    }
}

/// Everything a push needs about one listing, read together.
#[derive(Debug, Clone, PartialEq)]
pub struct PushView {
    pub stock: StockItem,
    pub listing: Listing,
    /// The last confirmed push, if any.
    pub record: Option<PushRecord>,
    /// Set by the drift check when the listing cannot be pushed as mapped; pushes to it
    /// stop until `listings set` saves the listing again.
    pub broken: Option<String>,
    /// A `sync_lagging` alert went out for the current episode.
    pub lag_alerted: bool,
}

/// The pusher's state: the last confirmed push per listing, which never moves backwards.
#[async_trait]
pub trait PushStore: Send + Sync {
    /// Mark the listing's mapping broken (`problem`): pushes to it stop until `listings
    /// set`, `connect` or a drift check that finds it in sync clears it. `true` when it was
    /// not marked yet (say so once).
    async fn mark_broken(
        &self,
        sku: &Sku,
        channel: Channel,
        problem: &str,
    ) -> Result<bool, LedgerError>;
    /// Stock item, listing and last push for each SKU on `channel`, in one batched read.
    /// SKUs with no stock item or no listing on `channel` are left out.
    async fn push_views(
        &self,
        skus: &[Sku],
        channel: Channel,
    ) -> Result<Vec<PushView>, LedgerError>;
    /// Record a confirmed push and its timeline entry (`event`), unless a newer version
    /// was recorded meanwhile. `read` is the record the pusher read before its write
    /// (`None`: none yet): the answer says whether the push went over that one or over
    /// a push another pusher confirmed since.
    async fn record_push(
        &self,
        sku: &Sku,
        channel: Channel,
        rec: &PushRecord,
        read: Option<&PushRecord>,
        event: Event,
    ) -> Result<Recorded, LedgerError>;
    /// Remember (`Some`) or forget (`None`) units `channel` sold that the ledger has not
    /// heard of, if the stock item is still at `version`; the version then rises by one, so
    /// a push computed without them cannot be recorded over one computed with them.
    /// `false`: the stock changed meanwhile and nothing was written.
    async fn set_unheard(
        &self,
        sku: &Sku,
        channel: Channel,
        unheard: Option<&Unheard>,
        version: u64,
    ) -> Result<bool, LedgerError>;
    /// A timeline entry about a push that did not complete (retry, hold, failure); the
    /// listing keeps the error as its last one.
    async fn note_push(&self, sku: &Sku, channel: Channel, event: Event)
    -> Result<(), LedgerError>;
    /// Take the write lease on a listing (`key`: the channel object several SKUs share,
    /// e.g. a listing with variations, else one SKU's listing on one channel) for
    /// `holder` until `until` (ms): `true` when it was free, had run out, or was
    /// `holder`'s already. A pusher holds it from its read to its write, so two pushers
    /// never write one listing from two reads.
    async fn take_lease(&self, key: &str, holder: &str, until: Millis)
    -> Result<bool, LedgerError>;
    /// Give the lease back, if it is still `holder`'s.
    async fn drop_lease(&self, key: &str, holder: &str) -> Result<(), LedgerError>;
}

/// A SKU flag the drift check flips, at most once per change of state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardFlag {
    AutoPaused,
    LowAlerted,
}

impl GuardFlag {
    pub fn attribute(self) -> &'static str {
        match self {
            GuardFlag::AutoPaused => "auto_paused",
            GuardFlag::LowAlerted => "low_alerted",
        }
    }

    /// Whether flipping it changes what the channels should list. Such a change bumps the
    /// stock version like a count change does, so pushes computed before and after it are
    /// ordered: a pusher still holding the old version cannot overwrite the new target.
    pub fn changes_targets(self) -> bool {
        matches!(self, GuardFlag::AutoPaused)
    }
}

/// A listing flag the drift check sets and clears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListingFlag {
    /// The mapping is broken (the problem); pushes to the listing stop.
    Mismatch,
    /// A `sync_lagging` alert went out; cleared when the listing is in sync again.
    LagAlerted,
}

impl ListingFlag {
    pub fn attribute(self) -> &'static str {
        match self {
            ListingFlag::Mismatch => "mismatch",
            ListingFlag::LagAlerted => "lag_alerted",
        }
    }
}

/// A SKU's guard flags: set by the drift check, and by the order path for the low-stock
/// alert at the sale that crosses the threshold.
#[async_trait]
pub trait GuardFlags: Send + Sync {
    /// Flip a SKU flag to `value` and put `event` on its timeline, unless it already has
    /// that value (then nothing is written and `false` returned): a change of state is
    /// acted on once, however many checkers race.
    async fn set_guard_flag(
        &self,
        sku: &Sku,
        flag: GuardFlag,
        value: bool,
        event: Event,
    ) -> Result<bool, LedgerError>;
}

/// What the drift checker reads and remembers.
#[async_trait]
pub trait DriftStore: Send + Sync {
    /// Every listing on `channel` with its stock item and last push, in SKU order,
    /// `limit` at a time; pass back `next` to continue.
    async fn listing_views(
        &self,
        channel: Channel,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<PushView>, LedgerError>;
    async fn checkpoint(&self, name: &str) -> Result<Option<String>, LedgerError>;
    async fn set_checkpoint(&self, name: &str, value: &str) -> Result<(), LedgerError>;
    /// Count consecutive runs that found the listing drifted (0 resets); the new count.
    async fn drift_runs(
        &self,
        sku: &Sku,
        channel: Channel,
        drifted: bool,
    ) -> Result<u32, LedgerError>;
    /// Set (`Some(text)`) or clear (`None`) a listing flag; `true` when that changed it.
    async fn set_listing_flag(
        &self,
        sku: &Sku,
        channel: Channel,
        flag: ListingFlag,
        value: Option<&str>,
    ) -> Result<bool, LedgerError>;
    /// The stored records of these order lines on `channel` (those that exist), read
    /// together: reconciliation skips what the ledger already holds.
    async fn lines(
        &self,
        channel: Channel,
        keys: &[(OrderId, LineId)],
    ) -> Result<Vec<LineRecord>, LedgerError>;
    /// A timeline entry.
    async fn add_event(&self, sku: &Sku, event: Event) -> Result<(), LedgerError>;
}

/// One queue per channel, so one channel's trouble stays its own.
#[async_trait]
pub trait PushQueue: Send + Sync {
    async fn request_push(&self, req: &PushRequest) -> Result<(), SendError>;
    /// The same, delivered `secs` from now (at most 900: SQS's longest delay). A request
    /// sent again is a new message: it starts its receive count afresh, so a push waiting
    /// for a channel to come back never reaches the dead-letter queue.
    async fn request_push_later(&self, req: &PushRequest, secs: u32) -> Result<(), SendError> {
        let _ = secs;
        self.request_push(req).await
    }
}

/// Why a channel is unreachable for now: the subject of one alert, however many SKUs
/// and functions run into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EpisodeKind {
    /// 401/403 after a refresh and a retry: revoked, expired, or missing a scope.
    /// `onecount connect` ends it.
    Auth,
    /// 5xx, timeouts or throttling past every retry: the channel is down.
    Down,
}

impl EpisodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EpisodeKind::Auth => "auth",
            EpisodeKind::Down => "down",
        }
    }
}

/// A channel's open episode: since when, the last error, and the SKUs waiting on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Episode {
    pub channel: Channel,
    pub kind: EpisodeKind,
    pub since: Millis,
    pub error: String,
    /// SKUs whose pushes are waiting (pushed again when the episode ends).
    pub waiting: Vec<Sku>,
}

/// Each channel's health: at most one open episode per channel, shared by every function.
#[async_trait]
pub trait ChannelHealth: Send + Sync {
    /// Join or open `channel`'s episode of `kind` for `sku`. `true`: this call opened it
    /// (or turned a `Down` one into `Auth`): the one caller that alerts. An open `Auth`
    /// episode stays `Auth`.
    async fn open_episode(
        &self,
        channel: Channel,
        kind: EpisodeKind,
        sku: Option<&Sku>,
        error: &str,
    ) -> Result<bool, LedgerError>;
    /// End `channel`'s episode: `Some` for the one caller that ended it.
    async fn close_episode(&self, channel: Channel) -> Result<Option<Episode>, LedgerError>;
    /// The open episode, if any.
    async fn episode(&self, channel: Channel) -> Result<Option<Episode>, LedgerError>;
    /// Keep an order event that needs a read from `channel` until the channel is back
    /// (idempotent per delivery).
    async fn park_order(&self, event: &OrderEvent) -> Result<(), LedgerError>;
    /// Up to `limit` parked order events of `channel`, oldest first.
    async fn parked_orders(
        &self,
        channel: Channel,
        limit: u32,
    ) -> Result<Vec<OrderEvent>, LedgerError>;
    /// Forget a parked event once it was applied.
    async fn unpark_order(&self, event: &OrderEvent) -> Result<(), LedgerError>;
}

/// Backoff for a received queue message: it reappears after `secs`.
#[async_trait]
pub trait Visibility: Send + Sync {
    async fn delay(&self, receipt_handle: &str, secs: u32) -> Result<(), SendError>;
}

#[async_trait]
pub trait AlertSink: Send + Sync {
    async fn publish(&self, alert: &Alert) -> Result<(), SendError>;
}

/// What is kept of a webhook (or order line) onecount could not use: a redacted copy
/// ([`crate::domain::redact`]): its ids, SKUs and quantities, sizes and a SHA-256 of the
/// whole, never the customer's data or the signature, for [`QUARANTINE_TTL_SECS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    pub id: String,
    pub channel: Channel,
    pub reason: String,
    pub received_at: Millis,
    /// Header names, with the values of [`crate::domain::redact::KEPT_HEADERS`] only.
    pub headers: Vec<(String, String)>,
    /// The summary ([`crate::domain::redact::summary`]) as JSON.
    pub body: Vec<u8>,
}

/// How long a quarantine record is kept: 14 days.
pub const QUARANTINE_TTL_SECS: i64 = 14 * 86_400;

impl Quarantined {
    /// A new record, received now, with a time-ordered unique id: the redacted copy of
    /// `headers` and `body`.
    pub fn new(
        channel: Channel,
        reason: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Quarantined {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as Millis);
        Quarantined {
            id: format!("{now}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            channel,
            reason: reason.to_string(),
            received_at: now,
            headers: crate::domain::redact::headers(&headers),
            body: crate::domain::redact::summary(&body)
                .to_string()
                .into_bytes(),
        }
    }
}

/// What arrives before it is queued: delivery de-duplication and the quarantine.
#[async_trait]
pub trait Inbox: Send + Sync {
    /// Whether this delivery was already queued.
    async fn delivery_seen(&self, channel: Channel, delivery_id: &str)
    -> Result<bool, LedgerError>;
    /// Remember a queued delivery (for a week).
    async fn mark_delivery(&self, channel: Channel, delivery_id: &str) -> Result<(), LedgerError>;
    /// Keep `q` whole; returns its id.
    async fn quarantine(&self, q: &Quarantined) -> Result<String, LedgerError>;
    /// The most recent quarantined items, newest first.
    async fn quarantined(&self, limit: u32) -> Result<Vec<Quarantined>, LedgerError>;
}

/// For the SKUs among `stocks` whose last units are dealt out between channels at `now`
/// (see `domain::push::allotting`): what every channel listing them may show, from each
/// channel's confirmed push (one batched ledger read per channel, only for those SKUs).
/// A failed read fails the whole: a share computed without one channel's listing would
/// differ from what the other channels' pushers compute.
pub async fn listed_where_allotted<'a, S: PushStore + ?Sized>(
    store: &S,
    stocks: impl IntoIterator<Item = &'a StockItem>,
    global_last_units: Option<u32>,
    now: Millis,
) -> Result<std::collections::HashMap<Sku, Listed>, LedgerError> {
    let zone: std::collections::BTreeMap<Sku, &StockItem> = stocks
        .into_iter()
        .filter(|s| allotting(s, global_last_units, now))
        .map(|s| (s.sku.clone(), s))
        .collect();
    if zone.is_empty() {
        return Ok(Default::default());
    }
    let skus: Vec<Sku> = zone.keys().cloned().collect();
    let read = futures::future::join_all(
        Channel::CONNECTED
            .into_iter()
            .map(|c| store.push_views(&skus, c)),
    )
    .await;
    let mut records: std::collections::BTreeMap<Sku, Vec<(Channel, Option<PushRecord>)>> =
        Default::default();
    for (c, r) in Channel::CONNECTED.into_iter().zip(read) {
        for v in r? {
            records
                .entry(v.stock.sku.clone())
                .or_default()
                .push((c, v.record));
        }
    }
    Ok(zone
        .into_iter()
        .map(|(sku, stock)| {
            let all = records.remove(&sku).unwrap_or_default();
            let l = Listed::of(stock, all.iter().map(|(c, r)| (*c, r.as_ref())), now);
            (sku, l)
        })
        .collect())
}
