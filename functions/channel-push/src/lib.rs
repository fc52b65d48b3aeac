//! `channel-push`: brings one channel's listings up to the true count.
//!
//! One deployment per channel (`ONECOUNT_CHANNEL`), on that channel's push queue with
//! ReportBatchItemFailures. A push request carries no quantity; per batch the pusher
//!
//! 1. groups the requests by SKU (a burst of sales becomes one push per SKU),
//! 2. reads the stock items and listings in one batched read and skips what was already
//!    pushed at this version,
//! 3. reads what the channel shows (batched), and decides per listing: in sync, write,
//!    or hold (the channel fell further than the sales heard of: never re-inflate). A
//!    hold also records those units on the stock item as sold-unheard, and asks the other
//!    channels to list them as gone at once instead of when (or if) the order arrives,
//! 4. writes in the channel's batch size, zero and low quantities first,
//! 5. records each confirmed push with a condition that never lets it move backwards —
//!    a pusher that loses that race re-reads and pushes the newest state again.
//!
//! Transient failures back off through the message's visibility (Retry-After when the
//! channel gave one) and are reported as batch item failures; on the last receive before
//! the DLQ a `push_failing` alert goes out. A broken mapping is a `sku_mismatch` alert,
//! and the message completes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use onecount::alerts::Alert;
use onecount::channels::push::{ChannelApi, PushError, Seen, Target, Write};
use onecount::domain::push::{
    Decision, PushRecord, already_pushed, budget_gate, decide, listed_for, retry_delay_secs,
    revision_gate, sold_counted, unheard_sales, unheard_to_record, utc_day,
};
use onecount::domain::{EventKind, Millis, Unheard};
use onecount::ports::{AlertSink, PushQueue, PushRequest, PushStore, PushView, Visibility};
use onecount::telemetry::metrics;
use onecount::{Channel, Sku};
use serde_json::json;

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
    /// Global last-unit protection (off by default): at or below this count a SKU lists
    /// only on its primary channel. A SKU's own level wins.
    pub last_units: Option<u32>,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            max_receives: 5,
            backoff_base_ms: 1000,
            hold_receives: 3,
            max_rounds: 3,
            last_units: None,
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

fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

/// A channel call that failed transiently without saying when to come back (a 5xx, a
/// timeout) is made once more, after a moment, for the items that failed: such blips
/// usually clear at once, and the queue's backoff would cost seconds while the channel
/// keeps selling at the old quantity. Throttling (Retry-After) is left to the backoff.
/// Safe for writes: they set absolute quantities, and Shopify's compare-and-set answers a
/// repeat of a write that did land as stale, which re-reads. These are the items to retry.
fn blipped<R>(results: &[Result<R, PushError>]) -> Vec<usize> {
    results
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            matches!(
                r,
                Err(PushError::Transient {
                    retry_after: None,
                    ..
                })
            )
        })
        .map(|(i, _)| i)
        .collect()
}

/// Put the retried items' results in place of their first ones.
fn patch<R>(
    results: &mut [Result<R, PushError>],
    again: &[usize],
    retried: Vec<Result<R, PushError>>,
) {
    for (i, r) in again.iter().zip(retried) {
        results[*i] = r;
    }
}

const BLIP_RETRY_AFTER: std::time::Duration = std::time::Duration::from_millis(150);

/// The listing a view is about, as the channel API takes it.
fn target_of(v: &PushView) -> Target {
    Target {
        sku: v.stock.sku.clone(),
        refs: v.listing.refs.clone(),
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
}

impl<S, A, C, V, Q> Pusher<S, A, C, V, Q>
where
    S: PushStore,
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
            let receives = m
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
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
            });
            g.msgs.push(msg);
            g.receives = g.receives.max(receives);
            g.origin_at = match (g.origin_at, req.origin_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            g.force |= req.force;
            if req.requested_at >= g.last.requested_at {
                g.last = req;
            }
        }
        let started = std::time::Instant::now();
        let outcomes = self.push_all(&groups).await;
        tracing::debug!(
            channel = %ch,
            skus = groups.len(),
            retries = outcomes.values().filter(|o| **o != Outcome::Done).count(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "batch done"
        );
        let mut response = SqsBatchResponse::default();
        for (sku, g) in &groups {
            let outcome = outcomes.get(sku).cloned().unwrap_or(Outcome::Done);
            let Outcome::Retry {
                error,
                retry_after,
                quiet,
            } = outcome
            else {
                continue;
            };
            let jitter = (uuid::Uuid::new_v4().as_u128() % 1001) as u64;
            // An expected wait (held, coalescing) lasts as long as it asked for (1 s if it
            // did not say); a failure backs off.
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
                if !m.id.is_empty() {
                    let mut f = BatchItemFailure::default();
                    f.item_identifier = m.id.clone();
                    response.batch_item_failures.push(f);
                }
            }
            if quiet {
                continue;
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
            self.note(sku, EventKind::PushRetrying, json!({"channel": ch, "error": error, "retry_in_secs": secs, "attempt": g.receives}))
                .await;
            if g.receives >= self.cfg.max_receives {
                self.alert(Alert::push_failing(ch, sku, g.receives, &error))
                    .await;
            }
        }
        response
    }

    async fn note(&self, sku: &Sku, kind: EventKind, data: serde_json::Value) {
        if let Err(e) = self.store.note_push(sku, self.channel(), kind, data).await {
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
            EventKind::PushHeld,
            json!({"channel": ch, "shows": shows, "held_back": held}),
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
        let target = target_of(&v);
        Ok((v, Write { target, seen, qty }))
    }

    /// Of the listings just lowered, those whose channel had fallen further than the sales
    /// heard: the units to hold back, with the fresh view to record them on. Another
    /// pusher may have written what we read and not recorded it yet; by now (after our
    /// own write) its record is there, and a fall it explains is not sales.
    async fn unheard_while_lowering(
        &self,
        chunk: &[(PushView, Write)],
        results: &[Result<(), PushError>],
        lowered_over: &HashMap<Sku, i64>,
        read_at: Millis,
    ) -> Vec<(PushView, Unheard, i64)> {
        let ch = self.channel();
        let lowered: Vec<(&PushView, &Write, i64)> = chunk
            .iter()
            .zip(results)
            .filter(|(_, r)| r.is_ok())
            .filter_map(|((v, w), _)| lowered_over.get(&v.stock.sku).map(|u| (v, w, *u)))
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
            let explained = fresh
                .record
                .as_ref()
                .is_some_and(|f| Some(f) != v.record.as_ref() && i64::from(f.qty) == w.seen.qty);
            if explained {
                continue;
            }
            if let Some(u) =
                unheard_to_record(&fresh.stock, ch, v.record.as_ref(), unheard, read_at)
            {
                found.push((fresh, u, w.seen.qty));
            }
        }
        found
    }

    /// Read the channel, retrying a blip once (see [`blipped`]).
    async fn read(&self, targets: &[Target]) -> Vec<Result<Seen, PushError>> {
        let mut results = self.api.read(targets).await;
        let again = blipped(&results);
        if !again.is_empty() {
            tokio::time::sleep(BLIP_RETRY_AFTER).await;
            let retry: Vec<Target> = again.iter().map(|i| targets[*i].clone()).collect();
            patch(&mut results, &again, self.api.read(&retry).await);
        }
        results
    }

    /// Write to the channel, retrying a blip once (see [`blipped`]).
    async fn write(&self, writes: &[Write]) -> Vec<Result<(), PushError>> {
        let mut results = self.api.write(writes).await;
        let again = blipped(&results);
        if !again.is_empty() {
            tokio::time::sleep(BLIP_RETRY_AFTER).await;
            let retry: Vec<Write> = again.iter().map(|i| writes[*i].clone()).collect();
            patch(&mut results, &again, self.api.write(&retry).await);
        }
        results
    }

    /// A failure that retrying will not fix: say so on the timeline and to the owner.
    async fn give_up(&self, sku: &Sku, e: &PushError) -> Outcome {
        let ch = self.channel();
        match e {
            PushError::Transient {
                detail,
                retry_after,
            } => {
                return Outcome::Retry {
                    error: detail.clone(),
                    retry_after: *retry_after,
                    quiet: false,
                };
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
                    EventKind::PushFailed,
                    json!({"channel": ch, "error": m, "mismatch": true}),
                )
                .await;
                self.alert(Alert::sku_mismatch(ch, sku, m)).await;
            }
            PushError::Permanent(m) => {
                tracing::error!(channel = %ch, sku = %sku, error = %m, "push refused");
                self.note(
                    sku,
                    EventKind::PushFailed,
                    json!({"channel": ch, "error": m}),
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
    ) -> Result<bool, Outcome> {
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
        let data = json!({
            "channel": ch, "qty": qty, "from": from, "wrote": wrote, "version": v.stock.version,
            "latency_ms": latency, "cause": g.last.cause, "origin_channel": g.last.origin_channel,
            "origin_order": g.last.origin_order,
        });
        match self.store.record_push(&v.stock.sku, ch, &rec, data).await {
            Ok(true) => {
                tracing::info!(channel = %ch, sku = %v.stock.sku, qty, from, wrote, version = v.stock.version, latency_ms = latency, "pushed");
                let mut m = vec![(metrics::PUSHES, f64::from(u8::from(wrote)))];
                if let Some(l) = latency {
                    m.push((metrics::SYNC_LAG_MS, l as f64));
                }
                metrics::emit(Some(ch.as_str()), &m);
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(e) => Err(Outcome::Retry {
                error: format!("recording the push: {e}"),
                retry_after: None,
                quiet: false,
            }),
        }
    }

    /// Whether this view is a sell-out that needs no read: nothing is left anywhere, so
    /// the read could find nothing to change (see the partition in
    /// [`push_rounds`](Self::push_rounds)).
    fn blind_zero(v: &PushView, g: &Group, target: u32, now: Millis) -> bool {
        target == 0
            && v.stock.available(now) == 0
            && !g.force
            && v.record.as_ref().is_none_or(|r| r.qty > 0)
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
        let (urgent, rest): (Vec<PushView>, Vec<PushView>) = views.into_iter().partition(|v| {
            let target = listed_for(&v.stock, &v.listing.policy, ch, self.cfg.last_units, now);
            v.broken.is_none()
                && Self::blind_zero(v, &groups[&v.stock.sku], target, now)
                && self.api.zero_without_read(&target_of(v)).is_some()
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
        let mut out = BTreeMap::new();
        let mut first = Some(first);
        let mut recheck: HashSet<Sku> = HashSet::new();
        // What we wrote on an older version than the one recorded meanwhile: if the
        // channel shows it, that fall is our own write, not sales to hold back for.
        let mut overwrote: HashMap<Sku, u32> = HashMap::new();
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
                        out.insert(sku, ledger_unreadable(&e));
                    }
                    break;
                }
            };
            // No stock item or no listing on this channel: nothing to push.
            for sku in &pending {
                out.insert(sku.clone(), Outcome::Done);
            }
            let mut to_read: Vec<(PushView, u32)> = Vec::new();
            let mut to_read_later: Vec<(PushView, u32)> = Vec::new();
            let mut next: Vec<Sku> = Vec::new();
            let now = now_ms();
            for v in views {
                let g = &groups[&v.stock.sku];
                if g.force && v.stock.unheard_on(ch, now) > 0 {
                    // The drift check reconciled this channel's orders before forcing: a
                    // fall still unexplained is an edit there, not sales. Stop holding it
                    // back everywhere, then push on the new version.
                    if self.set_unheard(&v, None, None).await.decide_again() {
                        next.push(v.stock.sku.clone());
                        continue;
                    }
                }
                if let Some(problem) = &v.broken {
                    // The drift check found the mapping broken and said so; pushing to it
                    // again would only fail again. `listings set` clears it.
                    tracing::info!(channel = %ch, sku = %v.stock.sku, problem = %problem, "mapping broken; not pushed");
                    continue;
                }
                let target = listed_for(&v.stock, &v.listing.policy, ch, self.cfg.last_units, now);
                if !g.force
                    && !recheck.contains(&v.stock.sku)
                    && already_pushed(v.record.as_ref(), &v.stock, target)
                {
                    continue;
                }
                to_read.push((v, target));
            }
            let mut seen: Vec<(PushView, u32, Seen)> = Vec::new();
            // Sell-outs: where the channel takes a zero without a read, write it at once,
            // stating the last confirmed quantity as what it showed (a zero is never a
            // raise). Only when nothing is left anywhere: while another channel still
            // lists units (last-unit protection, a pause here), the read is what finds
            // units this channel sold unheard, and those must come off the others.
            // Forced pushes and re-checks after a race read as usual.
            let (blind, to_read): (Vec<_>, Vec<_>) = to_read.into_iter().partition(|(v, t)| {
                !recheck.contains(&v.stock.sku)
                    && Self::blind_zero(v, &groups[&v.stock.sku], *t, now)
            });
            for (v, target) in blind {
                match self.api.zero_without_read(&target_of(&v)) {
                    Some(mut s) => {
                        s.qty = v.record.as_ref().map_or(1, |r| i64::from(r.qty));
                        seen.push((v, target, s));
                    }
                    None => to_read_later.push((v, target)),
                }
            }
            let mut to_read = to_read;
            to_read.append(&mut to_read_later);
            for chunk in to_read.chunks(self.api.read_batch().max(1)) {
                let targets: Vec<Target> = chunk.iter().map(|(v, _)| target_of(v)).collect();
                let results = self.read(&targets).await;
                for ((v, target), r) in chunk.iter().zip(results) {
                    match r {
                        Ok(s) => seen.push((v.clone(), *target, s)),
                        Err(e) => {
                            let o = self.give_up(&v.stock.sku, &e).await;
                            out.insert(v.stock.sku.clone(), o);
                        }
                    }
                }
            }
            let mut writes: Vec<(PushView, Write)> = Vec::new();
            // Listings being lowered that also fell further than the sales heard: units
            // sold there that no order has told us of (checked again after the write).
            let mut lowered_over: HashMap<Sku, i64> = HashMap::new();
            let (day, to_midnight) = utc_day(now_ms());
            // Units found unheard are dated from before the channel was read: an order
            // placed after that is a new sale, not one of them (see `hear_sale`).
            let read_at = now;
            for (v, target, s) in seen {
                let sku = v.stock.sku.clone();
                let g = &groups[&sku];
                let now = now_ms();
                let sold = sold_counted(&v.stock, ch, now);
                let ours = overwrote.get(&sku).is_some_and(|q| i64::from(*q) == s.qty);
                match decide(target, s.qty, v.record.as_ref(), sold, g.force || ours) {
                    Decision::InSync => match self.confirm(&v, g, target, s.qty, false).await {
                        Ok(true) => {}
                        Ok(false) => {
                            recheck.insert(sku.clone());
                            next.push(sku);
                        }
                        Err(o) => {
                            out.insert(sku, o);
                        }
                    },
                    Decision::Unexplained { unheard, shows } => {
                        // Another pusher of this listing may have just written this very
                        // number and not recorded it yet: look again (after the pause
                        // between rounds) before taking the fall for sales.
                        if recheck.insert(sku.clone()) {
                            next.push(sku);
                            continue;
                        }
                        match unheard_to_record(&v.stock, ch, v.record.as_ref(), unheard, read_at) {
                            // Recorded: decide again on the lower target (or the stock
                            // changed meanwhile: decide again on that).
                            Some(u)
                                if self
                                    .set_unheard(&v, Some(u), Some(shows))
                                    .await
                                    .decide_again() =>
                            {
                                next.push(sku);
                            }
                            _ => {
                                out.insert(
                                    sku,
                                    Outcome::Retry {
                                        error: "could not record unheard sales".into(),
                                        retry_after: Some(1),
                                        quiet: false,
                                    },
                                );
                            }
                        }
                    }
                    Decision::Hold { unheard, shows } => {
                        // Sales the channel made that we have not heard of: list them as
                        // gone everywhere now rather than after the order arrives.
                        if let Some(u) =
                            unheard_to_record(&v.stock, ch, v.record.as_ref(), unheard, read_at)
                        {
                            match self.set_unheard(&v, Some(u), Some(shows)).await {
                                Noted::Recorded => {
                                    // Decide again at once on what is known: the same stock
                                    // less the units found (one version on), against what
                                    // the channel just showed. Usually that lowers it, with
                                    // no second read of a rate-limited channel.
                                    let mut now_known = v.clone();
                                    now_known.stock.unheard.insert(ch, u);
                                    now_known.stock.version += 1;
                                    let lower = listed_for(
                                        &now_known.stock,
                                        &now_known.listing.policy,
                                        ch,
                                        self.cfg.last_units,
                                        read_at,
                                    );
                                    if i64::from(lower) < shows {
                                        match self.gated_write(
                                            now_known,
                                            s,
                                            lower,
                                            g,
                                            (day, to_midnight),
                                        ) {
                                            Ok(w) => writes.push(w),
                                            Err(o) => {
                                                out.insert(sku, o);
                                            }
                                        }
                                    } else {
                                        next.push(sku);
                                    }
                                    continue;
                                }
                                Noted::Stale => {
                                    next.push(sku);
                                    continue;
                                }
                                Noted::Failed => {}
                            }
                        }
                        // Never wait so often that a held push reaches the DLQ.
                        let waits = self
                            .cfg
                            .hold_receives
                            .min(self.cfg.max_receives.saturating_sub(1));
                        if g.receives <= 1 || g.receives >= waits {
                            let left = g.receives >= waits;
                            self.note(&sku, EventKind::PushHeld, json!({
                                "channel": ch, "shows": shows, "unheard": unheard, "target": target,
                                "left_to_drift_check": left,
                            }))
                            .await;
                        }
                        if g.receives < waits {
                            out.insert(
                                sku,
                                Outcome::Retry {
                                    error: "held".into(),
                                    retry_after: Some(1),
                                    quiet: true,
                                },
                            );
                        }
                    }
                    Decision::Write { qty, from } => {
                        if let Some(r) = v.record.as_ref().filter(|_| !g.force && !ours) {
                            let unheard = unheard_sales(r, from, sold);
                            if unheard > 0 && i64::from(qty) < from {
                                lowered_over.insert(sku.clone(), unheard);
                            }
                        }
                        match self.gated_write(v, s, qty, g, (day, to_midnight)) {
                            Ok(w) => writes.push(w),
                            Err(o) => {
                                out.insert(sku, o);
                            }
                        }
                    }
                }
            }
            // Zero and low quantities first: they are the ones that prevent oversells.
            writes.sort_by_key(|(_, w)| w.qty);
            for chunk in writes.chunks(self.api.write_batch().max(1)) {
                // Near the channel's rate limit the budget goes to the last units (these
                // come first); a listing with plenty left waits and coalesces.
                let budget = self.api.budget_left();
                let waits: Vec<Option<u32>> = chunk
                    .iter()
                    .map(|(v, w)| {
                        let g = &groups[&v.stock.sku];
                        let last_chance = g.receives + 1 >= self.cfg.max_receives;
                        budget_gate(w.qty, v.stock.low_stock_threshold, budget, last_chance)
                    })
                    .collect();
                if waits.iter().all(Option::is_some) {
                    for ((v, _), wait) in chunk.iter().zip(waits) {
                        out.insert(
                            v.stock.sku.clone(),
                            Outcome::Retry {
                                error: "the channel is near its rate limit; waiting to coalesce"
                                    .into(),
                                retry_after: wait.map(u64::from),
                                quiet: true,
                            },
                        );
                    }
                    continue;
                }
                let ws: Vec<Write> = chunk.iter().map(|(_, w)| w.clone()).collect();
                let results = self.write(&ws).await;
                let found = self
                    .unheard_while_lowering(chunk, &results, &lowered_over, read_at)
                    .await;
                // Record the confirmations of the chunk together (different items): a
                // batch's pushes are not held up behind each other's ledger writes. Units
                // found unheard are held back everywhere at the same time (stock items,
                // not listings): the other channels' requests leave one ledger round trip
                // sooner, and this one lists the lower count in the next round.
                let confirms =
                    futures::future::join_all(chunk.iter().zip(&results).map(|((v, w), r)| {
                        let g = &groups[&v.stock.sku];
                        async move {
                            match r {
                                Ok(()) => Some(self.confirm(v, g, w.qty, w.seen.qty, true).await),
                                Err(_) => None,
                            }
                        }
                    }));
                let holds =
                    futures::future::join_all(found.iter().map(|(fresh, u, shows)| async move {
                        let noted = self.set_unheard(fresh, Some(*u), Some(*shows)).await;
                        (fresh.stock.sku.clone(), noted)
                    }));
                let (confirmed, held) = futures::join!(confirms, holds);
                for (((v, w), r), c) in chunk.iter().zip(results).zip(confirmed) {
                    let sku = v.stock.sku.clone();
                    match r {
                        Ok(()) => match c.expect("confirmed above") {
                            Ok(true) => {}
                            Ok(false) => {
                                // A newer push was recorded while we wrote: ours may have
                                // overwritten it. Read again and push the newest state.
                                overwrote.insert(sku.clone(), w.qty);
                                recheck.insert(sku.clone());
                                next.push(sku);
                            }
                            Err(o) => {
                                out.insert(sku, o);
                            }
                        },
                        // A sale raced in between our read and our write: re-read the
                        // ledger and the channel (the order path catches up meanwhile).
                        Err(PushError::Stale) => next.push(sku),
                        Err(e) => {
                            let o = self.give_up(&sku, &e).await;
                            out.insert(sku, o);
                        }
                    }
                }
                // Units held back: list the lower count here in the next round.
                for (sku, noted) in held {
                    if noted.decide_again() && !next.contains(&sku) {
                        next.push(sku);
                    }
                }
            }
            if !next.is_empty() {
                // Give the order path a moment to record the sale that raced in.
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            pending = next;
        }
        for sku in pending {
            out.insert(
                sku,
                Outcome::Retry {
                    error: "the quantity kept changing while pushing".into(),
                    retry_after: Some(1),
                    quiet: false,
                },
            );
        }
        out
    }
}
