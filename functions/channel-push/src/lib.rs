//! `channel-push`: brings one channel's listings up to the true count.
//!
//! One deployment per channel (`ONECOUNT_CHANNEL`), on that channel's push queue with
//! ReportBatchItemFailures. A push request carries no quantity; per batch the pusher
//!
//! 1. groups the requests by SKU (a burst of sales becomes one push per SKU),
//! 2. reads the stock items and listings in one batched read and skips what was already
//!    pushed at this version, and takes each listing's write lease (one pusher at a time
//!    per listing; the others wait a second),
//! 3. reads what the channel shows (batched), and decides per listing: in sync, write,
//!    or hold (the channel fell further than the sales heard of: never re-inflate). A
//!    hold also records those units on the stock item as sold-unheard, and asks the other
//!    channels to list them as gone at once instead of when (or if) the order arrives,
//! 4. writes in the channel's batch size, zero and low quantities first,
//! 5. records each confirmed push with a condition that never lets it move backwards; a
//!    pusher that loses that race, or finds it recorded over a push another pusher
//!    confirmed since its read (that write may have landed after its own), reads the
//!    channel again and pushes the newest state.
//!
//! Transient failures back off through the message's visibility (Retry-After when the
//! channel gave one) and are reported as batch item failures; on the last receive before
//! the DLQ a `push_failing` alert goes out. A broken mapping is a `sku_mismatch` alert,
//! and the message completes.

use onecount::clock::now_ms;
use std::collections::{BTreeMap, HashMap, HashSet};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use onecount::alerts::Alert;
use onecount::channels::push::{ChannelApi, PushError, Seen, Target, Write, write_calls};
use onecount::domain::plan::{
    Facts, Prep, Step, before_read, blind_zero, hold_wait, known_after_hold, plan,
};
use onecount::domain::push::{
    Listed, PushRecord, allotting, budget_gate, delay_secs_until, listed_for, retry_delay_secs,
    revision_gate, sold_counted, unheard_sales, unheard_to_record, utc_day, wait_delay_secs,
};
use onecount::domain::{Event, Held, Millis, Unheard};
use onecount::ports::episodes;
use onecount::ports::{
    AlertSink, ChannelHealth, EpisodeKind, PushQueue, PushRequest, PushStore, PushView, Recorded,
    Visibility, listed_where_allotted,
};
use onecount::telemetry::metrics;
use onecount::{Channel, Sku};

/// Tuning, from the environment in Lambda.
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// The queue's maxReceiveCount: the receive after which a failure lands in the DLQ.
    pub max_receives: u32,
    /// First backoff step; doubles per receive (capped), plus jitter.
    pub backoff_base_ms: u64,
    /// Receives a held push waits for the order path before leaving it to the drift check.
    pub hold_receives: u32,
    /// Re-read-and-retry rounds per invocation (stale writes, lost record races).
    pub max_rounds: u32,
    /// Global last-unit protection (off by default): at or below this count a SKU's units
    /// are dealt out between its channels, the primary first. A SKU's own level wins.
    pub last_units: Option<u32>,
    /// How long a write lease on a shared channel object lasts (ms) unless extended: a
    /// round extends its leases while it runs (up to the invocation's timeout); one left
    /// by a pusher that died delays that listing by at most this.
    pub shared_lease_ms: Millis,
    /// How long a listing's own write lease lasts (ms) unless extended (as above).
    pub own_lease_ms: Millis,
    /// A round older than this (ms) reads the ledger again before it writes
    /// ([`Pusher::freshen`]).
    pub freshen_after_ms: Millis,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            max_receives: 5,
            backoff_base_ms: 1000,
            hold_receives: 3,
            max_rounds: 3,
            last_units: None,
            shared_lease_ms: 15_000,
            own_lease_ms: 10_000,
            freshen_after_ms: 500,
        }
    }
}

impl PushConfig {
    /// `ONECOUNT_PUSH_MAX_RECEIVES`, `ONECOUNT_PUSH_BACKOFF_BASE_MS`,
    /// `ONECOUNT_LAST_UNIT_LEVEL`.
    pub fn from_env() -> Result<Self, String> {
        let mut c = PushConfig::default();
        let num = onecount::config::env_number::<u64>;
        if let Some(v) = num("ONECOUNT_PUSH_MAX_RECEIVES")? {
            c.max_receives = v.max(1) as u32;
        }
        if let Some(v) = num("ONECOUNT_PUSH_BACKOFF_BASE_MS")? {
            c.backoff_base_ms = v.max(1);
        }
        c.last_units = num("ONECOUNT_LAST_UNIT_LEVEL")?.map(|v| v as u32);
        Ok(c)
    }
}

pub struct Pusher<S, A, C, V, Q> {
    pub store: S,
    pub alerts: A,
    pub api: C,
    pub visibility: V,
    /// The other channels' push queues: units this channel sold unheard change what they
    /// should list.
    pub queue: Q,
    pub cfg: PushConfig,
}

/// A name for the leases one invocation holds, unique to it.
fn holder() -> String {
    format!("pusher-{}", uuid::Uuid::new_v4())
}

/// How soon an order is usually heard after it was placed (a channel's webhook): one
/// heard within this of a read's answer is taken as placed before it.
const HEARD_WITHIN_MS: Millis = 1_000;

/// Stopped at a crash point: the messages come back (after the retry delay, where a real
/// crash waits out the queue's visibility timeout; only the wait differs).
fn crash_outcome(c: &onecount::crash::Crashed) -> Outcome {
    Outcome::Retry {
        error: c.to_string(),
        retry_after: None,
        quiet: false,
    }
}

/// The ledger could not be read: every SKU of the batch tries again.
fn ledger_unreadable(e: &impl std::fmt::Display) -> Outcome {
    Outcome::Retry {
        error: format!("reading the ledger: {e}"),
        retry_after: None,
        quiet: false,
    }
}

struct Msg {
    id: String,
    receipt: Option<String>,
}

/// All requests for one SKU in this batch.
struct Group {
    msgs: Vec<Msg>,
    /// Highest receive count among them.
    receives: u32,
    /// Earliest originating sale.
    origin_at: Option<Millis>,
    last: PushRequest,
    force: bool,
    /// Units held back as sold unheard that were found at or before this instant are
    /// released by a forced request (the latest cutoff among them,
    /// [`PushRequest::release_before`]); those found later wait for their orders.
    release_before: Millis,
}

/// A batch's push requests for `ch`, by SKU (a burst of sales becomes one push per SKU).
fn group(ch: Channel, event: SqsEvent) -> BTreeMap<Sku, Group> {
    let mut groups: BTreeMap<Sku, Group> = BTreeMap::new();
    for m in event.records {
        let id = m.message_id.clone().unwrap_or_default();
        let req = match m.body.as_deref().map(serde_json::from_str::<PushRequest>) {
            Some(Ok(r)) => r,
            other => {
                // Push requests are derived data: the next change or the drift check
                // asks again. Dropping a malformed one loses nothing.
                let why = match other {
                    Some(Err(e)) => e.to_string(),
                    _ => "empty body".into(),
                };
                tracing::error!(message_id = %id, error = %why, "not a push request; dropped");
                continue;
            }
        };
        if req.channel != ch {
            tracing::error!(message_id = %id, channel = %req.channel, "push request for another channel; dropped");
            continue;
        }
        let receives = onecount::aws::sqs::receive_count(&m.attributes);
        let msg = Msg {
            id,
            receipt: m.receipt_handle.clone(),
        };
        let g = groups.entry(req.sku.clone()).or_insert_with(|| Group {
            msgs: Vec::new(),
            receives,
            origin_at: req.origin_at,
            last: req.clone(),
            force: false,
            release_before: 0,
        });
        g.msgs.push(msg);
        g.receives = g.receives.max(receives);
        g.origin_at = match (g.origin_at, req.origin_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        g.force |= req.force;
        if req.force {
            let cutoff = req.release_before.unwrap_or(req.requested_at);
            g.release_before = g.release_before.max(cutoff);
        }
        if req.requested_at >= g.last.requested_at {
            g.last = req;
        }
    }
    groups
}

/// A group's request, to send again as one new message: forced if any of its requests
/// was (with the latest release cutoff among them), dated from its earliest sale.
fn resent(g: &Group) -> PushRequest {
    let mut again = g.last.clone();
    again.force = g.force;
    again.origin_at = g.origin_at;
    if g.force {
        again.release_before = Some(g.release_before);
    }
    again
}

/// What recording unheard units on the stock item did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Noted {
    Recorded,
    /// The stock changed meanwhile: nothing written; decide again on the new version.
    Stale,
    Failed,
}

impl Noted {
    fn decide_again(self) -> bool {
        self != Noted::Failed
    }
}

/// How a SKU's push ended in this invocation.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Done,
    /// Try again later. `quiet`: a hold, not a failure (no retry note, no alert).
    Retry {
        error: String,
        retry_after: Option<u64>,
        quiet: bool,
    },
    /// The channel failed the call (throttled, 5xx, timed out): retry with backoff; past
    /// the last receive the channel is in a `Down` episode and the push waits.
    ChannelFailed {
        error: String,
        retry_after: Option<u64>,
    },
    /// The channel refused the credentials: the push waits for its episode to end.
    Unauthorized {
        error: String,
    },
}

impl<S, A, C, V, Q> Pusher<S, A, C, V, Q>
where
    S: PushStore + ChannelHealth,
    A: AlertSink,
    C: ChannelApi,
    V: Visibility,
    Q: PushQueue,
{
    fn channel(&self) -> Channel {
        self.api.channel()
    }

    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        let ch = self.channel();
        let groups = group(ch, event);
        let started = std::time::Instant::now();
        let calls_before = self.api.calls();
        let mut outcomes = self.push_all(&groups).await;
        if let Err(c) = onecount::crash::at(onecount::crash::PUSH_AFTER_CONFIRM) {
            outcomes = groups
                .keys()
                .map(|s| (s.clone(), crash_outcome(&c)))
                .collect();
        }
        // The channel answered and a push completed: it is reachable and takes our
        // credentials, so any episode it was in is over.
        let reached =
            self.api.calls() > calls_before && outcomes.values().any(|o| *o == Outcome::Done);
        tracing::debug!(
            channel = %ch,
            skus = groups.len(),
            retries = outcomes.values().filter(|o| **o != Outcome::Done).count(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "batch done"
        );
        let mut response = SqsBatchResponse::default();
        for (sku, g) in &groups {
            let r = &mut response;
            match outcomes.get(sku).cloned() {
                // A wait, not a failure, on the message's last receive: another retry
                // would dead-letter it (and raise the DLQ alarm) with the push undone.
                Some(Outcome::Retry {
                    retry_after,
                    quiet: true,
                    ..
                }) if g.receives >= self.cfg.max_receives => {
                    self.wait_anew(sku, g, retry_after, r).await
                }
                Some(Outcome::Retry {
                    error,
                    retry_after,
                    quiet,
                }) => {
                    self.retry_later(sku, g, &error, retry_after, quiet, r)
                        .await
                }
                Some(Outcome::ChannelFailed { error, .. })
                    if g.receives >= self.cfg.max_receives =>
                {
                    self.wait_for_channel(sku, g, EpisodeKind::Down, &error, r)
                        .await
                }
                Some(Outcome::ChannelFailed { error, retry_after }) => {
                    self.retry_later(sku, g, &error, retry_after, false, r)
                        .await
                }
                Some(Outcome::Unauthorized { error }) => {
                    self.wait_for_channel(sku, g, EpisodeKind::Auth, &error, r)
                        .await
                }
                Some(Outcome::Done) | None => {}
            }
        }
        if reached {
            self.channel_reached().await;
        }
        response
    }

    /// The channel is unreachable for now (refused credentials, or down past every
    /// retry): join its episode (the one pusher that opens it alerts, once per channel),
    /// and send the request again to wait, with a longer delay each time. The new message
    /// starts its receive count afresh: nothing waiting for a channel is dead-lettered.
    async fn wait_for_channel(
        &self,
        sku: &Sku,
        g: &Group,
        kind: EpisodeKind,
        error: &str,
        response: &mut SqsBatchResponse,
    ) {
        let ch = self.channel();
        episodes::mark(ch, true);
        match self.store.open_episode(ch, kind, Some(sku), error).await {
            Ok(true) => {
                tracing::error!(channel = %ch, kind = kind.as_str(), error = %error, "channel unreachable; pushes wait until it is back");
                let alert = match kind {
                    EpisodeKind::Auth => Alert::channel_auth_failed(ch, error),
                    EpisodeKind::Down => Alert::channel_down(ch, error),
                };
                self.alert(alert).await;
            }
            Ok(false) => {}
            // The episode could not be recorded: the message's own retry keeps it.
            Err(e) => {
                tracing::warn!(channel = %ch, error = %e, "could not record the channel's episode");
                return self.retry_later(sku, g, error, None, false, response).await;
            }
        }
        let mut again = resent(g);
        again.waits = again.waits.saturating_add(1);
        let secs = wait_delay_secs(again.waits, self.cfg.backoff_base_ms);
        if !self.send_again(sku, g, &again, secs, error, response).await {
            return;
        }
        metrics::emit(Some(ch.as_str()), &[(metrics::PUSH_FAILURES, 1.0)]);
        self.note(
            sku,
            Event::PushRetrying {
                channel: ch,
                error: format!("waiting for {ch} ({} episode): {error}", kind.as_str()),
                retry_in_secs: secs,
                attempt: again.waits,
            },
        )
        .await;
    }

    /// A quiet wait (a listing another pusher is writing, coalescing near the rate limit)
    /// outlived the message's receives: the request goes back on the queue as a new
    /// message after the wait, and this one completes.
    async fn wait_anew(
        &self,
        sku: &Sku,
        g: &Group,
        retry_after: Option<u64>,
        response: &mut SqsBatchResponse,
    ) {
        let secs = retry_after.unwrap_or(1).clamp(1, 900) as u32;
        let error = "waiting; the push could not be sent again";
        if self
            .send_again(sku, g, &resent(g), secs, error, response)
            .await
        {
            tracing::debug!(channel = %self.channel(), sku = %sku, secs, "still waiting; sent again");
        }
    }

    /// Send `again` to be delivered in `secs` (this message then completes); when that
    /// fails, the message itself retries (`false`), as a failure saying `error`.
    async fn send_again(
        &self,
        sku: &Sku,
        g: &Group,
        again: &PushRequest,
        secs: u32,
        error: &str,
        response: &mut SqsBatchResponse,
    ) -> bool {
        let Err(e) = self.queue.request_push_later(again, secs).await else {
            return true;
        };
        tracing::warn!(sku = %sku, error = %e, "could not send the waiting push again; the message retries instead");
        self.retry_later(sku, g, error, None, false, response).await;
        false
    }

    /// A call to the channel succeeded: end its episode if one is open (checked at most
    /// every few seconds per process), and push every SKU that waited, now.
    async fn channel_reached(&self) {
        let ch = self.channel();
        if !episodes::may_be_open(ch) {
            return;
        }
        match self.store.close_episode(ch).await {
            Ok(Some(ep)) => {
                tracing::info!(channel = %ch, kind = ep.kind.as_str(), waiting = ep.waiting.len(), "channel back; catching up");
                for sku in ep.waiting {
                    let req = PushRequest::unprompted(sku, ch, "channel back", false);
                    if let Err(e) = self.queue.request_push(&req).await {
                        tracing::warn!(error = %e, "catch-up push not sent; the waiting one still comes");
                    }
                }
                episodes::mark(ch, false);
            }
            Ok(None) => episodes::mark(ch, false),
            Err(e) => {
                tracing::warn!(channel = %ch, error = %e, "could not end the channel's episode")
            }
        }
    }

    /// Leave a SKU's messages on the queue for later: an expected wait (held, coalescing)
    /// lasts as long as it asked for (1 s if it did not say); a failure backs off, goes on
    /// the timeline and, on the last receive before the DLQ, alerts.
    async fn retry_later(
        &self,
        sku: &Sku,
        g: &Group,
        error: &str,
        retry_after: Option<u64>,
        quiet: bool,
        response: &mut SqsBatchResponse,
    ) {
        let ch = self.channel();
        let jitter = onecount::aws::sqs::backoff_jitter();
        let retry_after = if quiet {
            Some(retry_after.unwrap_or(1))
        } else {
            retry_after
        };
        let secs = retry_delay_secs(g.receives, retry_after, self.cfg.backoff_base_ms, jitter);
        for m in &g.msgs {
            if let Some(r) = &m.receipt
                && let Err(e) = self.visibility.delay(r, secs).await
            {
                tracing::warn!(error = %e, "could not set the retry delay; the queue's visibility timeout applies");
            }
            // Never report an empty id: Lambda would fail the whole batch.
            if !m.id.is_empty() {
                let mut f = BatchItemFailure::default();
                f.item_identifier = m.id.clone();
                response.batch_item_failures.push(f);
            }
        }
        if quiet {
            return;
        }
        tracing::warn!(channel = %ch, sku = %sku, receives = g.receives, retry_in_secs = secs, error = %error, "push failed; will retry");
        let throttled = error.contains("429") || error.contains("THROTTLED");
        metrics::emit(
            Some(ch.as_str()),
            &[
                (metrics::PUSH_FAILURES, 1.0),
                (metrics::THROTTLES, f64::from(u8::from(throttled))),
            ],
        );
        self.note(
            sku,
            Event::PushRetrying {
                channel: ch,
                error: error.to_string(),
                retry_in_secs: secs,
                attempt: g.receives,
            },
        )
        .await;
        if g.receives >= self.cfg.max_receives {
            self.alert(Alert::push_failing(ch, sku, g.receives, error))
                .await;
        }
    }

    async fn note(&self, sku: &Sku, event: Event) {
        if let Err(e) = self.store.note_push(sku, self.channel(), event).await {
            tracing::warn!(sku = %sku, error = %e, "could not write the timeline entry");
        }
    }

    async fn alert(&self, a: Alert) {
        if let Err(e) = self.alerts.publish(&a).await {
            tracing::error!(kind = a.kind.as_str(), error = %e, "alert not published");
        }
    }

    /// Remember (or forget) units this channel sold that the ledger has not heard of, and
    /// ask every other channel to list the result. `true` when the stock item took it (the
    /// caller then decides again on the new version).
    async fn set_unheard(
        &self,
        v: &PushView,
        unheard: Option<Unheard>,
        shows: Option<i64>,
    ) -> Noted {
        let ch = self.channel();
        let sku = &v.stock.sku;
        match self
            .store
            .set_unheard(sku, ch, unheard.as_ref(), v.stock.version)
            .await
        {
            Ok(true) => {}
            Ok(false) => return Noted::Stale,
            Err(e) => {
                tracing::warn!(channel = %ch, sku = %sku, error = %e, "could not record unheard sales");
                return Noted::Failed;
            }
        }
        let held = unheard.map_or(0, |u| u.units);
        tracing::info!(channel = %ch, sku = %sku, shows = ?shows, held_back = held, "unheard sales recorded");
        // The other channels first, all at once: while they list the units, they can be
        // sold again. The timeline entry can wait for them.
        let now = now_ms();
        let reqs: Vec<PushRequest> = Channel::ALL
            .into_iter()
            .filter(|other| *other != ch && *other != Channel::Offline)
            .map(|other| PushRequest {
                sku: sku.clone(),
                channel: other,
                cause: format!("unheard_sales_on_{ch}"),
                origin_channel: Some(ch),
                origin_order: None,
                requested_at: now,
                origin_at: None,
                force: false,
                waits: 0,
                release_before: None,
            })
            .collect();
        let sent = futures::future::join_all(reqs.iter().map(|r| self.queue.request_push(r))).await;
        for (req, r) in reqs.iter().zip(sent) {
            if let Err(e) = r {
                // The next sale or the drift check asks again; the units stay recorded.
                tracing::warn!(channel = %req.channel, sku = %sku, error = %e, "could not request a push");
            }
        }
        self.note(
            sku,
            Event::PushHeld {
                channel: ch,
                shows,
                held: Held::Recorded { held_back: held },
            },
        )
        .await;
        Noted::Recorded
    }

    /// A write of `qty` to queue for this batch, or, near the listing's daily revision
    /// cap, the wait that lets it coalesce with what comes next.
    fn gated_write(
        &self,
        v: PushView,
        seen: Seen,
        qty: u32,
        g: &Group,
        (day, to_midnight): (i64, u32),
    ) -> Result<(PushView, Write), Outcome> {
        let used = v.record.as_ref().map_or(0, |r| r.revisions_on(day));
        let last_chance = g.receives + 1 >= self.cfg.max_receives;
        if let Some(wait) = revision_gate(
            self.channel(),
            used,
            qty,
            v.stock.low_stock_threshold,
            last_chance,
            to_midnight,
        ) {
            return Err(Outcome::Retry {
                error: format!("{used} revisions used today on this listing; waiting to coalesce"),
                retry_after: Some(u64::from(wait)),
                quiet: true,
            });
        }
        let target = v.target();
        Ok((v, Write { target, seen, qty }))
    }

    /// Of the listings just lowered, those whose channel had fallen further than the sales
    /// heard: the units to hold back, with the fresh view to record them on. Another
    /// pusher may have written what we read and not recorded it yet, and the channel's
    /// own orders may have arrived while we read; by now (after our own write) both are
    /// in the ledger, and a fall they explain is not held as sales.
    async fn unheard_while_lowering(
        &self,
        chunk: &[(PushView, Write)],
        results: &[Result<(), PushError>],
        writes: &Writes,
    ) -> Vec<(PushView, Unheard, i64)> {
        let ch = self.channel();
        let lowered: Vec<(&PushView, &Write, i64)> = chunk
            .iter()
            .zip(results)
            .filter(|(_, r)| r.is_ok())
            .filter_map(|((v, w), _)| {
                let over = writes.lowered_over.get(&v.stock.sku);
                over.map(|u| (v, w, *u))
            })
            .collect();
        if lowered.is_empty() {
            return Vec::new();
        }
        // One batched ledger read for all of them.
        let skus: Vec<Sku> = lowered
            .iter()
            .map(|(v, _, _)| v.stock.sku.clone())
            .collect();
        let Ok(views) = self.store.push_views(&skus, ch).await else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for (v, w, unheard) in lowered {
            let Some(fresh) = views.iter().find(|f| f.stock.sku == v.stock.sku).cloned() else {
                continue;
            };
            let read_at = writes.read_at(&v.stock.sku);
            // Judged again on the fresh view where it can explain part of the fall:
            // - another pusher confirmed a push since our view (it wrote what we read,
            //   or we read after its write but judged from the record before it);
            // - every change to the count since our view was heard by the time the
            //   channel answered our read, or within a webhook's usual delay after: those
            //   orders were placed before the answer, so the channel's count had them
            //   gone. (Judged on the old view, such an order was held back as sold
            //   unheard, on the fresh version, until the drift check: a 28 s hold of an
            //   eBay order heard 130 ms after eBay answered. One heard later may be a new
            //   sale, and would explain away a real unheard one: not used.)
            // Only what the fresh view leaves unexplained too is held.
            let sold = sold_counted(&fresh.stock, ch, read_at);
            let heard_by = read_at + HEARD_WITHIN_MS;
            let unheard = match fresh.record.as_ref() {
                Some(f) if Some(f) != v.record.as_ref() || fresh.stock.updated_at <= heard_by => {
                    unheard.min(unheard_sales(f, w.seen.qty, sold))
                }
                _ => unheard,
            };
            if let Some(u) =
                unheard_to_record(&fresh.stock, ch, v.record.as_ref(), unheard, read_at)
            {
                found.push((fresh, u, w.seen.qty));
            }
        }
        found
    }

    /// A failure that retrying will not fix: say so on the timeline and to the owner.
    async fn give_up(&self, sku: &Sku, e: &PushError) -> Outcome {
        let ch = self.channel();
        match e {
            PushError::Transient {
                detail,
                retry_after,
            } => {
                return Outcome::ChannelFailed {
                    error: detail.clone(),
                    retry_after: *retry_after,
                };
            }
            PushError::Unauthorized(m) => {
                return Outcome::Unauthorized { error: m.clone() };
            }
            PushError::Stale => {
                return Outcome::Retry {
                    error: "the quantity kept changing under the write".into(),
                    retry_after: Some(1),
                    quiet: false,
                };
            }
            PushError::Mismatch(m) => {
                tracing::warn!(channel = %ch, sku = %sku, problem = %m, "listing mapping broken");
                self.note(
                    sku,
                    Event::PushFailed {
                        channel: ch,
                        error: m.to_string(),
                        mismatch: true,
                    },
                )
                .await;
                // Pushes to it stop until it is fixed; the owner hears once (a store
                // error: tell them anyway).
                if self.store.mark_broken(sku, ch, m).await.unwrap_or(true) {
                    self.alert(Alert::sku_mismatch(ch, sku, m)).await;
                }
            }
            PushError::Permanent(m) => {
                tracing::error!(channel = %ch, sku = %sku, error = %m, "push refused");
                self.note(
                    sku,
                    Event::PushFailed {
                        channel: ch,
                        error: m.to_string(),
                        mismatch: false,
                    },
                )
                .await;
                self.alert(Alert::push_failing(ch, sku, 1, m)).await;
            }
        }
        Outcome::Done
    }

    /// Record a confirmed push. `Ok(false)`: a newer version was recorded meanwhile.
    async fn confirm(
        &self,
        v: &PushView,
        g: &Group,
        qty: u32,
        from: i64,
        wrote: bool,
    ) -> Result<Recorded, Outcome> {
        let ch = self.channel();
        let now = now_ms();
        let (day, _) = utc_day(now);
        let used = v.record.as_ref().map_or(0, |r| r.revisions_on(day));
        let rec = PushRecord {
            version: v.stock.version,
            qty,
            at: now,
            sold: sold_counted(&v.stock, ch, now),
            rev_day: day,
            revisions: used + u32::from(wrote),
        };
        let latency = g.origin_at.map(|o| (now - o).max(0));
        let event = Event::Pushed {
            channel: ch,
            qty,
            from,
            wrote,
            version: v.stock.version,
            latency_ms: latency,
            cause: g.last.cause.clone(),
            origin_channel: g.last.origin_channel,
            origin_order: g.last.origin_order.clone(),
        };
        let read = v.record.as_ref();
        match self
            .store
            .record_push(&v.stock.sku, ch, &rec, read, event)
            .await
        {
            Ok(Recorded::Newer) => Ok(Recorded::Newer),
            Ok(recorded) => {
                tracing::info!(channel = %ch, sku = %v.stock.sku, qty, from, wrote, version = v.stock.version, latency_ms = latency, "pushed");
                let mut m = vec![(metrics::PUSHES, f64::from(u8::from(wrote)))];
                if let Some(l) = latency {
                    m.push((metrics::SYNC_LAG_MS, l as f64));
                }
                metrics::emit(Some(ch.as_str()), &m);
                if wrote {
                    self.hand_over(v, now).await;
                }
                self.when_it_stops_selling(v, qty, now).await;
                Ok(recorded)
            }
            Err(e) => Err(Outcome::Retry {
                error: format!("recording the push: {e}"),
                retry_after: None,
                quiet: false,
            }),
        }
    }

    /// A channel other than the primary just confirmed a new quantity while the SKU's
    /// last units are dealt out: the primary lists what the others do not, so ask for
    /// its push (a pause, buffer or new listing here changes what is left for it).
    async fn hand_over(&self, v: &PushView, now: Millis) {
        let primary = v.stock.guard.primary();
        if self.channel() == primary || !allotting(&v.stock, self.cfg.last_units, now) {
            return;
        }
        let cause = "last_units_dealt_out";
        let req = PushRequest::unprompted(v.stock.sku.clone(), primary, cause, false);
        if let Err(e) = self.queue.request_push(&req).await {
            // The next sale or the drift check asks again.
            tracing::warn!(channel = %primary, sku = %v.stock.sku, error = %e, "could not request a push");
        }
    }

    /// The SKU's last units are dealt out only while it sells: once it has sold nothing
    /// for [`onecount::domain::SELLING_MS`], every channel lists them again, and no sale
    /// will ask for that push. When this listing will list other than `qty` (just
    /// confirmed) then, ask for its push for just after (each sale's push asks for its
    /// own; one asked for by an earlier sale finds the SKU still selling and changes
    /// nothing). Judged on what the listing will list, not on whether the units are dealt
    /// out now: a round that started while the SKU sold may confirm after it stopped.
    async fn when_it_stops_selling(&self, v: &PushView, qty: u32, now: Millis) {
        let Some(stops) = v.stock.stops_selling_at() else {
            return;
        };
        let level = self.cfg.last_units;
        // Only the last units are dealt out: above the level nothing changes then.
        let within = v.stock.last_units_level(level);
        if within.is_none_or(|l| v.stock.available(stops) > l) {
            return;
        }
        let (policy, ch) = (&v.listing.policy, self.channel());
        // Not dealt out then: what the other channels list does not matter.
        let after = listed_for(&v.stock, policy, ch, level, stops, &Listed::default());
        if after == qty {
            return;
        }
        let secs = delay_secs_until(stops, now);
        let req = PushRequest::unprompted(v.stock.sku.clone(), ch, "stopped selling", false);
        if let Err(e) = self.queue.request_push_later(&req, secs).await {
            // The next sale asks again; the drift check finds the listing lagging.
            tracing::warn!(sku = %v.stock.sku, error = %e, "could not ask for the push for when the SKU stops selling");
        }
    }

    /// Sell-outs first: a batch's zeros that need no read go out beside the rest of the
    /// batch instead of after its reads (on some channels each call takes hundreds of ms;
    /// on others the reads queue for a per-second budget). Each part then runs every round of
    /// its own; they touch different SKUs.
    async fn push_all(&self, groups: &BTreeMap<Sku, Group>) -> BTreeMap<Sku, Outcome> {
        let ch = self.channel();
        let pending: Vec<Sku> = groups.keys().cloned().collect();
        let views = match self.store.push_views(&pending, ch).await {
            Ok(v) => v,
            Err(e) => {
                return pending
                    .into_iter()
                    .map(|sku| (sku, ledger_unreadable(&e)))
                    .collect();
            }
        };
        let now = now_ms();
        // A blind zero needs nothing left anywhere, where every allotment of the last
        // units is zero too: what the other channels show does not matter.
        let nothing = Listed::default();
        let (urgent, rest): (Vec<PushView>, Vec<PushView>) = views.into_iter().partition(|v| {
            let policy = &v.listing.policy;
            let target = listed_for(&v.stock, policy, ch, self.cfg.last_units, now, &nothing);
            v.broken.is_none()
                && blind_zero(
                    &v.stock,
                    v.record.as_ref(),
                    target,
                    groups[&v.stock.sku].force,
                    now,
                )
                && self.api.zero_without_read(&v.target()).is_some()
        });
        if urgent.is_empty() || rest.is_empty() {
            let mut views = urgent;
            views.extend(rest);
            return self.push_rounds(groups, pending, views).await;
        }
        let zeros: Vec<Sku> = urgent.iter().map(|v| v.stock.sku.clone()).collect();
        let others: Vec<Sku> = pending.into_iter().filter(|s| !zeros.contains(s)).collect();
        tracing::debug!(channel = %ch, zeros = ?zeros, "sell-outs go first");
        let (mut out, rest) = futures::join!(
            self.push_rounds(groups, zeros, urgent),
            self.push_rounds(groups, others, rest)
        );
        out.extend(rest);
        out
    }

    /// Push `pending` (round 0 on `first`, its ledger views) in up to `max_rounds` rounds.
    async fn push_rounds(
        &self,
        groups: &BTreeMap<Sku, Group>,
        mut pending: Vec<Sku>,
        first: Vec<PushView>,
    ) -> BTreeMap<Sku, Outcome> {
        let ch = self.channel();
        let mut work = Work {
            holder: holder(),
            ..Work::default()
        };
        let mut first = Some(first);
        for round in 0..self.cfg.max_rounds {
            if pending.is_empty() {
                break;
            }
            if round > 0 {
                tracing::debug!(channel = %ch, round, skus = ?pending, "another round");
            }
            let read = match first.take() {
                Some(v) => Ok(v),
                None => self.store.push_views(&pending, ch).await,
            };
            let views = match read {
                Ok(v) => v,
                Err(e) => {
                    for sku in pending.drain(..) {
                        work.out.insert(sku, ledger_unreadable(&e));
                    }
                    break;
                }
            };
            // No stock item or no listing on this channel: nothing to push.
            for sku in &pending {
                work.out.insert(sku.clone(), Outcome::Done);
            }
            self.round(groups, views, &mut work).await;
            pending = std::mem::take(&mut work.next);
            if !pending.is_empty() {
                // Give the order path a moment to record the sale that raced in.
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
        for sku in pending {
            work.out.insert(
                sku,
                Outcome::Retry {
                    error: "the quantity kept changing while pushing".into(),
                    retry_after: Some(1),
                    quiet: false,
                },
            );
        }
        work.out
    }

    /// One round: decide what needs a read, read, execute each listing's [`plan`], write.
    async fn round(&self, groups: &BTreeMap<Sku, Group>, views: Vec<PushView>, work: &mut Work) {
        let now = now_ms();
        let stocks = views.iter().map(|v| &v.stock);
        let listed =
            match listed_where_allotted(&self.store, stocks, self.cfg.last_units, now).await {
                Ok(l) => l,
                Err(e) => {
                    for v in views {
                        work.end(v.stock.sku.clone(), ledger_unreadable(&e));
                    }
                    return;
                }
            };
        let (to_read, seen) = self.prepare(groups, views, work, now, &listed).await;
        let (to_read, mut seen, mut leased) = self.lease(to_read, seen, work).await;
        let holder = work.holder.clone();
        let mut lost = HashSet::new();
        let reading = self.read_all(to_read, work);
        let (read, read_at) = self.holding(&mut leased, &mut lost, &holder, reading).await;
        seen.extend(read);
        let seen = self.still_held(seen, &lost, work);
        let lost_reading = lost.len();
        let mut writes = Writes {
            read_at,
            started: now,
            listed,
            day: utc_day(now_ms()),
            ..Writes::default()
        };
        let write = async {
            for (v, target, s) in seen {
                let g = &groups[&v.stock.sku];
                self.execute(g, v, target, s, work, &mut writes).await;
            }
            self.freshen(&mut writes).await;
            self.write_all(groups, writes, work).await;
        };
        self.holding(&mut leased, &mut lost, &holder, write).await;
        if lost.len() > lost_reading {
            // Written already: another pusher that took one since confirms over ours,
            // and the push records tell the two apart.
            tracing::warn!(keys = ?lost, "a write lease ran out while writing");
        }
        if !work.crashed {
            self.release(leased, &work.holder).await;
        }
    }

    /// Keep this round's leases while `work` runs (reads queued behind a rate limit, a
    /// slow channel: a round can outlast them): each is extended shortly before it would
    /// run out. The keys of those that could not be extended go into `lost`: another
    /// pusher may have taken one since, and what this round read of its listings may be
    /// that pusher's write, judged against the push record before it (a fall no sale
    /// explains: a phantom hold).
    async fn holding<T>(
        &self,
        leased: &mut [Lease],
        lost: &mut HashSet<String>,
        holder: &str,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        tokio::pin!(work);
        loop {
            let due = leased
                .iter()
                .filter(|l| !lost.contains(&l.key))
                .map(Lease::due)
                .min();
            let Some(due) = due else {
                return work.await;
            };
            let wait = std::time::Duration::from_millis((due - now_ms()).max(0) as u64);
            let out = tokio::select! {
                out = &mut work => Some(out),
                () = tokio::time::sleep(wait) => None,
            };
            // Also once the work is done: a result that came in after a lease ran out
            // (a stalled process) is only taken once the lease is known to be ours.
            self.extend_due(leased, lost, holder).await;
            if let Some(out) = out {
                return out;
            }
        }
    }

    /// Just before the writes of a round that has taken a while: a sale heard (or units
    /// found unheard) since the round's views lowers what the channel should list, and
    /// each queued write is lowered to the fresh count. A channel is then never written
    /// a count the ledger already knows is too high: eBay's read and write take a second
    /// or more, a round behind a rate limit longer, and the sale's own push waits for
    /// this round's lease meanwhile. A higher fresh count (a restock, units released) is
    /// left to the push its change asked for. Best effort: if the ledger does not answer,
    /// the writes go as planned.
    async fn freshen(&self, writes: &mut Writes) {
        let ch = self.channel();
        if now_ms() - writes.started < self.cfg.freshen_after_ms {
            return;
        }
        let skus: Vec<Sku> = writes
            .list
            .iter()
            .filter(|(_, w)| w.qty > 0)
            .map(|(v, _)| v.stock.sku.clone())
            .collect();
        if skus.is_empty() {
            return;
        }
        let Ok(fresh) = self.store.push_views(&skus, ch).await else {
            return;
        };
        let now = now_ms();
        for (v, w) in &mut writes.list {
            let Some(f) = fresh.iter().find(|f| f.stock.sku == v.stock.sku) else {
                continue;
            };
            if f.stock.version == v.stock.version {
                continue;
            }
            let listed = writes.listed.get(&v.stock.sku).cloned().unwrap_or_default();
            let policy = &f.listing.policy;
            let target = listed_for(&f.stock, policy, ch, self.cfg.last_units, now, &listed);
            if target < w.qty {
                tracing::info!(channel = %ch, sku = %v.stock.sku, planned = w.qty, qty = target, "the count fell during the round; written lower");
                w.qty = target;
                // Confirmed at the version and sales baseline the count came from: with
                // the old view's baseline, this channel's sales heard in between would
                // later explain away as many units it sells unheard.
                if f.record == v.record {
                    *v = f.clone();
                }
            }
        }
    }

    /// Extend the leases that are due. One that had run out by the time the store
    /// answered is lost even if the store gave it to us again: another pusher may have
    /// taken it, written and given it back meanwhile.
    async fn extend_due(&self, leased: &mut [Lease], lost: &mut HashSet<String>, holder: &str) {
        let asked = now_ms();
        let due: Vec<&mut Lease> = leased
            .iter_mut()
            .filter(|l| l.due() <= asked && !lost.contains(&l.key))
            .collect();
        let answers = futures::future::join_all(
            due.iter()
                .map(|l| self.store.take_lease(&l.key, holder, asked + l.ttl)),
        )
        .await;
        let answered = now_ms();
        for (l, r) in due.into_iter().zip(answers) {
            match r {
                Ok(true) if l.until > answered => l.until = asked + l.ttl,
                r => {
                    tracing::info!(key = %l.key, answer = ?r.map_err(|e| e.to_string()), "write lease not extended");
                    lost.insert(l.key.clone());
                }
            }
        }
    }

    /// The listings read while their lease was lost ([`holding`](Self::holding)) are
    /// neither judged nor written: they wait, quietly, to be pushed again.
    fn still_held(
        &self,
        seen: Vec<(PushView, u32, Seen)>,
        lost: &HashSet<String>,
        work: &mut Work,
    ) -> Vec<(PushView, u32, Seen)> {
        let (keep, stop): (Vec<_>, Vec<_>) = seen
            .into_iter()
            .partition(|(v, _, _)| !lost.contains(&self.lease_of(v).0));
        for (v, _, _) in stop {
            work.end(
                v.stock.sku.clone(),
                Outcome::Retry {
                    error: "the listing's write lease ran out while it was read".into(),
                    retry_after: Some(1),
                    quiet: true,
                },
            );
        }
        keep
    }

    /// Take the write lease of every listing this round reads and may write (of the
    /// shared channel object, for a listing with several SKUs), before reading it: one
    /// pusher at a time per listing. A listing another pusher is on waits a second
    /// (quietly) instead of being written from an older read: two writes in flight can
    /// land in either order, and each pusher would read the other's as a fall no sale
    /// explains (a phantom hold). The SKUs of one listing in this batch share its lease
    /// (and one write call).
    async fn lease(
        &self,
        to_read: Vec<(PushView, u32)>,
        seen: Vec<(PushView, u32, Seen)>,
        work: &mut Work,
    ) -> (Vec<(PushView, u32)>, Vec<(PushView, u32, Seen)>, Vec<Lease>) {
        let keys: BTreeMap<String, Millis> = to_read
            .iter()
            .map(|(v, _)| v)
            .chain(seen.iter().map(|(v, _, _)| v))
            .map(|v| self.lease_of(v))
            .collect();
        if keys.is_empty() {
            return (to_read, seen, Vec::new());
        }
        let now = now_ms();
        let holder = work.holder.as_str();
        let taken = futures::future::join_all(
            keys.iter()
                .map(|(k, ttl)| async move { self.store.take_lease(k, holder, now + ttl).await }),
        )
        .await;
        let mut held = Vec::new();
        // Busy: another pusher holds it (a quiet wait). Failed: the store did not answer
        // (a failure, retried with backoff, alerted and dead-lettered like any other).
        let mut not_free: HashMap<String, Outcome> = HashMap::new();
        for ((k, ttl), t) in keys.into_iter().zip(taken) {
            let (error, quiet) = match t {
                Ok(true) => {
                    held.push(Lease {
                        key: k,
                        ttl,
                        until: now + ttl,
                    });
                    continue;
                }
                Ok(false) => ("another pusher is writing this listing".to_string(), true),
                Err(e) => (format!("taking the listing's write lease: {e}"), false),
            };
            let retry_after = quiet.then_some(1);
            not_free.insert(
                k,
                Outcome::Retry {
                    error,
                    retry_after,
                    quiet,
                },
            );
        }
        let free = |v: &PushView, work: &mut Work| {
            let (key, _) = self.lease_of(v);
            let Some(o) = not_free.get(&key) else {
                return true;
            };
            tracing::debug!(sku = %v.stock.sku, key = %key, outcome = ?o, "listing not free");
            work.end(v.stock.sku.clone(), o.clone());
            false
        };
        let to_read = to_read.into_iter().filter(|(v, _)| free(v, work)).collect();
        let seen = seen.into_iter().filter(|(v, _, _)| free(v, work)).collect();
        (to_read, seen, held)
    }

    /// The write lease a push of `v` takes, and for how long: the shared channel
    /// object's, else the listing's own (one SKU on one channel).
    fn lease_of(&self, v: &PushView) -> (String, Millis) {
        match self.api.write_key(&v.target()) {
            Some(k) => (k, self.cfg.shared_lease_ms),
            None => (
                format!("{}-sku:{}", self.channel(), v.stock.sku),
                self.cfg.own_lease_ms,
            ),
        }
    }

    async fn release(&self, leased: Vec<Lease>, holder: &str) {
        let dropped =
            futures::future::join_all(leased.iter().map(|l| self.store.drop_lease(&l.key, holder)))
                .await;
        for (l, r) in leased.iter().zip(dropped) {
            if let Err(e) = r {
                // It runs out by itself.
                tracing::warn!(key = %l.key, error = %e, "could not give the write lease back");
            }
        }
    }

    /// The listings to read, and the sell-outs that go without a read (stating the last
    /// confirmed quantity as what the channel showed: a zero is never a raise). A forced
    /// push first stops holding back this channel's unheard units found before its
    /// cutoff: the drift check reconciled its orders up to then, so a fall still
    /// unexplained is an edit, not sales.
    async fn prepare(
        &self,
        groups: &BTreeMap<Sku, Group>,
        views: Vec<PushView>,
        work: &mut Work,
        now: Millis,
        listed: &HashMap<Sku, Listed>,
    ) -> (Vec<(PushView, u32)>, Vec<(PushView, u32, Seen)>) {
        let ch = self.channel();
        let (mut to_read, mut later, mut seen) = (Vec::new(), Vec::new(), Vec::new());
        for v in views {
            let g = &groups[&v.stock.sku];
            let held_before = v
                .stock
                .unheard
                .get(&ch)
                .is_some_and(|u| u.at <= g.release_before);
            if g.force
                && held_before
                && v.stock.unheard_on(ch, now) > 0
                && self.set_unheard(&v, None, None).await.decide_again()
            {
                work.next.push(v.stock.sku.clone());
                continue;
            }
            let seen_elsewhere = listed.get(&v.stock.sku).cloned().unwrap_or_default();
            let policy = &v.listing.policy;
            let target = listed_for(
                &v.stock,
                policy,
                ch,
                self.cfg.last_units,
                now,
                &seen_elsewhere,
            );
            let rechecked = work.recheck.contains(&v.stock.sku);
            let broken = v.broken.is_some();
            match before_read(
                &v.stock,
                v.record.as_ref(),
                broken,
                target,
                g.force,
                rechecked,
                now,
            ) {
                // `listings set` clears a broken mapping.
                Prep::Broken => {
                    tracing::info!(channel = %ch, sku = %v.stock.sku, problem = v.broken.as_deref().unwrap_or(""), "mapping broken; not pushed");
                }
                Prep::UpToDate => {}
                Prep::BlindZero => match self.api.zero_without_read(&v.target()) {
                    Some(mut s) => {
                        s.qty = v.record.as_ref().map_or(1, |r| i64::from(r.qty));
                        seen.push((v, target, s));
                    }
                    None => later.push((v, target)),
                },
                Prep::Read => to_read.push((v, target)),
            }
        }
        to_read.append(&mut later);
        (to_read, seen)
    }

    /// Read what the channel shows, in its batch size; a failed read ends that SKU's push.
    /// Each listing read comes with when its answer arrived (see [`Writes::read_at`]).
    async fn read_all(
        &self,
        to_read: Vec<(PushView, u32)>,
        work: &mut Work,
    ) -> (Vec<(PushView, u32, Seen)>, HashMap<Sku, Millis>) {
        let mut seen = Vec::new();
        let mut read_at = HashMap::new();
        for chunk in to_read.chunks(self.api.read_batch().max(1)) {
            let targets: Vec<Target> = chunk.iter().map(|(v, _)| v.target()).collect();
            let results = self.api.read(&targets).await;
            let answered = now_ms();
            for ((v, target), r) in chunk.iter().zip(results) {
                match r {
                    Ok(s) => {
                        read_at.insert(v.stock.sku.clone(), answered);
                        seen.push((v.clone(), *target, s));
                    }
                    Err(e) => {
                        let o = self.give_up(&v.stock.sku, &e).await;
                        work.out.insert(v.stock.sku.clone(), o);
                    }
                }
            }
        }
        (seen, read_at)
    }

    /// Carry out one listing's [`plan`] (writes are queued for [`write_all`](Self::write_all)).
    async fn execute(
        &self,
        g: &Group,
        v: PushView,
        target: u32,
        s: Seen,
        work: &mut Work,
        writes: &mut Writes,
    ) {
        let sku = v.stock.sku.clone();
        let step = plan(&Facts {
            channel: self.channel(),
            stock: &v.stock,
            policy: &v.listing.policy,
            record: v.record.as_ref(),
            target,
            shows: s.qty,
            force: g.force,
            ours: work
                .overwrote
                .get(&sku)
                .is_some_and(|q| i64::from(*q) == s.qty),
            rechecked: work.recheck.contains(&sku),
            read_at: writes.read_at(&sku),
            now: now_ms(),
            last_units: self.cfg.last_units,
            listed: &writes.listed.get(&sku).cloned().unwrap_or_default(),
        });
        match step {
            Step::Confirm => match self.confirm(&v, g, target, s.qty, false).await {
                Ok(Recorded::Over) => {}
                // Another pusher's write may have landed after our read.
                Ok(_) => work.look_again(sku),
                Err(o) => work.end(sku, o),
            },
            Step::Recheck => work.look_again(sku),
            Step::RecordUnheard { unheard, shows } => {
                match self.set_unheard(&v, Some(unheard), Some(shows)).await {
                    n if n.decide_again() => work.next.push(sku),
                    _ => work.end(sku, unrecordable()),
                }
            }
            Step::Unrecordable => work.end(sku, unrecordable()),
            Step::Hold {
                unheard,
                found,
                shows,
                lower,
            } => match self.set_unheard(&v, Some(unheard), Some(shows)).await {
                Noted::Recorded => {
                    let mut known = v;
                    known.stock = known_after_hold(&known.stock, self.channel(), unheard);
                    match lower {
                        Some(q) => {
                            let w = self.gated_write(known, s, q, g, writes.day);
                            writes.gated(sku, w, work);
                        }
                        None => work.next.push(sku),
                    }
                }
                Noted::Stale => work.next.push(sku),
                Noted::Failed => self.wait(g, &sku, found, shows, target, work).await,
            },
            Step::Wait { unheard, shows } => self.wait(g, &sku, unheard, shows, target, work).await,
            Step::Write {
                qty, lowered_over, ..
            } => {
                if let Some(u) = lowered_over {
                    writes.lowered_over.insert(sku.clone(), u);
                }
                let w = self.gated_write(v, s, qty, g, writes.day);
                writes.gated(sku, w, work);
            }
        }
    }

    /// A held push that could not record its units: wait for the order path a few
    /// receives (see [`hold_wait`]), then leave it to the drift check.
    async fn wait(
        &self,
        g: &Group,
        sku: &Sku,
        unheard: i64,
        shows: i64,
        target: u32,
        work: &mut Work,
    ) {
        let w = hold_wait(g.receives, self.cfg.hold_receives, self.cfg.max_receives);
        if w.note {
            let held = Held::Waiting {
                unheard,
                target,
                left_to_drift_check: w.left_to_drift_check,
            };
            let event = Event::PushHeld {
                channel: self.channel(),
                shows: Some(shows),
                held,
            };
            self.note(sku, event).await;
        }
        if w.retry {
            work.end(
                sku.clone(),
                Outcome::Retry {
                    error: "held".into(),
                    retry_after: Some(1),
                    quiet: true,
                },
            );
        }
    }

    /// Write the round's writes in the channel's batch size, zero and low quantities
    /// first: they are the ones that prevent oversells. Writes sharing a
    /// [`write_key`](ChannelApi::write_key) (one listing several SKUs share) stay in one call.
    async fn write_all(&self, groups: &BTreeMap<Sku, Group>, mut writes: Writes, work: &mut Work) {
        let list = std::mem::take(&mut writes.list);
        let calls = write_calls(
            list,
            self.api.write_batch(),
            |(_, w)| self.api.write_key(&w.target),
            |(_, w)| w.qty,
        );
        for chunk in calls {
            if !self.coalesce(groups, &chunk, work) {
                self.write_chunk(groups, &chunk, &writes, work).await;
            }
        }
    }

    /// Near the channel's rate limit the budget goes to the last units (these come
    /// first); a chunk of listings that all have plenty left waits and coalesces.
    fn coalesce(
        &self,
        groups: &BTreeMap<Sku, Group>,
        chunk: &[(PushView, Write)],
        work: &mut Work,
    ) -> bool {
        let budget = self.api.budget_left();
        let waits: Vec<Option<u32>> = chunk
            .iter()
            .map(|(v, w)| {
                let last_chance = groups[&v.stock.sku].receives + 1 >= self.cfg.max_receives;
                budget_gate(w.qty, v.stock.low_stock_threshold, budget, last_chance)
            })
            .collect();
        if !waits.iter().all(Option::is_some) {
            return false;
        }
        for ((v, _), wait) in chunk.iter().zip(waits) {
            work.end(
                v.stock.sku.clone(),
                Outcome::Retry {
                    error: "the channel is near its rate limit; waiting to coalesce".into(),
                    retry_after: wait.map(u64::from),
                    quiet: true,
                },
            );
        }
        true
    }

    /// One write call, then its confirmations recorded together (different items: a
    /// batch's pushes are not held up behind each other's ledger writes). Units found
    /// unheard while lowering are held back everywhere at the same time (stock items, not
    /// listings): the other channels' requests leave one ledger round trip sooner, and
    /// this one lists the lower count in the next round.
    async fn write_chunk(
        &self,
        groups: &BTreeMap<Sku, Group>,
        chunk: &[(PushView, Write)],
        writes: &Writes,
        work: &mut Work,
    ) {
        let ws: Vec<Write> = chunk.iter().map(|(_, w)| w.clone()).collect();
        if work.crashed_at(onecount::crash::PUSH_BEFORE_WRITE, chunk) {
            return;
        }
        let results = self.api.write(&ws).await;
        if work.crashed_at(onecount::crash::PUSH_AFTER_WRITE, chunk) {
            return;
        }
        let found = self.unheard_while_lowering(chunk, &results, writes).await;
        let confirms = futures::future::join_all(chunk.iter().zip(&results).map(|((v, w), r)| {
            let g = &groups[&v.stock.sku];
            async move {
                match r {
                    Ok(()) => Some(self.confirm(v, g, w.qty, w.seen.qty, true).await),
                    Err(_) => None,
                }
            }
        }));
        let holds = futures::future::join_all(found.iter().map(|(fresh, u, shows)| async move {
            let noted = self.set_unheard(fresh, Some(*u), Some(*shows)).await;
            (fresh.stock.sku.clone(), noted)
        }));
        let (confirmed, held) = futures::join!(confirms, holds);
        for (((v, w), r), c) in chunk.iter().zip(results).zip(confirmed) {
            self.after_write(&v.stock.sku, w, r, c, work).await;
        }
        // Units held back: list the lower count here in the next round.
        for (sku, noted) in held {
            if noted.decide_again() && !work.next.contains(&sku) {
                work.next.push(sku);
            }
        }
    }

    /// What a write's answer and its confirmation mean for the SKU.
    async fn after_write(
        &self,
        sku: &Sku,
        w: &Write,
        written: Result<(), PushError>,
        confirmed: Option<Result<Recorded, Outcome>>,
        work: &mut Work,
    ) {
        let sku = sku.clone();
        match (written, confirmed) {
            (Ok(()), Some(Ok(Recorded::Over)) | None) => {}
            // Another pusher confirmed a push while we wrote: either write may have
            // landed last (a newer one under ours, or an older one over ours). Read
            // again and push the newest state.
            (Ok(()), Some(Ok(Recorded::OverAnother | Recorded::Newer))) => {
                work.overwrote.insert(sku.clone(), w.qty);
                work.look_again(sku);
            }
            (Ok(()), Some(Err(o))) => work.end(sku, o),
            // A sale raced in between our read and our write: re-read the ledger and the
            // channel (the order path catches up meanwhile).
            (Err(PushError::Stale), _) => work.next.push(sku),
            (Err(e), _) => {
                let o = self.give_up(&sku, &e).await;
                work.end(sku, o);
            }
        }
    }
}

/// A write lease this round holds: taken for `ttl`, held until `until`.
struct Lease {
    key: String,
    ttl: Millis,
    until: Millis,
}

impl Lease {
    /// When to extend it: with a third of its time left, for the call to land in.
    fn due(&self) -> Millis {
        self.until - self.ttl / 3
    }
}

/// What one invocation carries from round to round.
#[derive(Default)]
struct Work {
    out: BTreeMap<Sku, Outcome>,
    /// Listings looked at again after a race: they read, and a fall unexplained twice is
    /// taken for sales.
    recheck: HashSet<Sku>,
    /// What we wrote while another pusher confirmed a push of the listing: if the channel
    /// shows it, that fall is our own write, not sales to hold back for.
    overwrote: HashMap<Sku, u32>,
    /// SKUs for the next round.
    next: Vec<Sku>,
    /// The name this invocation's write leases are held under.
    holder: String,
    /// A crash point stopped this invocation ([`onecount::crash`]): like a process that
    /// died, it gives back no lease.
    crashed: bool,
}

impl Work {
    fn end(&mut self, sku: Sku, outcome: Outcome) {
        self.out.insert(sku, outcome);
    }
    /// Stop at crash point `point` if it is armed: every SKU of `chunk` is left
    /// unacknowledged (SQS delivers it again).
    fn crashed_at(&mut self, point: &'static str, chunk: &[(PushView, Write)]) -> bool {
        let Err(c) = onecount::crash::at(point) else {
            return false;
        };
        self.crashed = true;
        for (v, _) in chunk {
            self.end(v.stock.sku.clone(), crash_outcome(&c));
        }
        true
    }
    fn look_again(&mut self, sku: Sku) {
        self.recheck.insert(sku.clone());
        self.next.push(sku);
    }
}

/// One round's writes.
#[derive(Default)]
struct Writes {
    list: Vec<(PushView, Write)>,
    /// Listings being lowered that also fell further than the sales heard: units sold
    /// there that no order has told us of (checked again after the write).
    lowered_over: HashMap<Sku, i64>,
    /// When each listing's read was answered. Units found unheard are dated from then:
    /// an order placed later is a new sale, not one of them (see `hear_sale`). Dating
    /// them from when the round started instead took an order placed during a slow read
    /// (eBay's take ~400 ms), and so counted in it, for a new sale, and its unit stayed
    /// held back until the hold expired. The other way round, an order placed during
    /// the read but not counted in it releases a unit early, and the next read finds
    /// it again.
    read_at: HashMap<Sku, Millis>,
    /// When the round started (listings not read: a sell-out written blind).
    started: Millis,
    /// For SKUs whose last units are allotted: what each channel listing them may show.
    listed: HashMap<Sku, Listed>,
    /// The UTC day and the seconds to its end (revision caps).
    day: (i64, u32),
}

impl Writes {
    fn read_at(&self, sku: &Sku) -> Millis {
        self.read_at.get(sku).copied().unwrap_or(self.started)
    }

    /// Queue a write, or end the SKU's push where its gate said wait.
    fn gated(&mut self, sku: Sku, w: Result<(PushView, Write), Outcome>, work: &mut Work) {
        match w {
            Ok(w) => self.list.push(w),
            Err(o) => work.end(sku, o),
        }
    }
}

fn unrecordable() -> Outcome {
    Outcome::Retry {
        error: "could not record unheard sales".into(),
        retry_after: Some(1),
        quiet: false,
    }
}
