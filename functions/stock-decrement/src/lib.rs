//! Stock decrement: each order event from the queue applied through the ledger.
//!
//! Per message, on its own: resolve the channel's ids to SKUs, fetch the orders that
//! pointer payloads point at (through the channel's kit), apply each line exactly once, alert on oversells and
//! unmapped items, and ask every listing of a touched SKU to be pushed — also when the
//! line was a duplicate, so a crash between the ledger commit and the queue send never
//! loses a push. Transient failures fail the message (SQS redelivers it); nothing fails
//! silently.

use onecount::clock::now_ms;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use onecount::alerts::Alert;
use onecount::channels::{Action, Candidate, InLine, OrderEvent};
pub use onecount::channels::{FetchError, OrderFetcher};
use onecount::crash;
use onecount::domain::drift::{LowStock, low_stock};
use onecount::domain::push::retry_delay_secs;
use onecount::domain::{
    Event, LineId, Millis, OrderId, RestockKind, RestockOutcome, RestockRequest, SaleOutcome,
};
use onecount::ports::{
    AlertSink, ChannelHealth, EpisodeKind, GuardFlag, GuardFlags, Inbox, LedgerError, ListingStore,
    PushQueue, PushRequest, Quarantined, StockLedger, Visibility, episodes,
};
use onecount::{Channel, OrderLine, Qty, Sku};

/// Why a message could not be processed now.
#[derive(Debug)]
pub enum Failure {
    /// Try again later (SQS redelivery): store, queue, or channel API trouble.
    Transient(String),
    /// The message itself is unusable; it will reach the DLQ.
    BadMessage(String),
    /// The channel refused onecount's credentials when the event needed a read from it:
    /// the event is parked until the channel is back.
    Unauthorized(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Transient(s) => write!(f, "transient: {s}"),
            Failure::BadMessage(s) => write!(f, "bad message: {s}"),
            Failure::Unauthorized(s) => write!(f, "channel refused the credentials: {s}"),
        }
    }
}

impl From<LedgerError> for Failure {
    fn from(e: LedgerError) -> Self {
        Failure::Transient(e.to_string())
    }
}

/// A crash point ([`onecount::crash`]): the message is not acknowledged, as if the
/// process had stopped here.
fn crash_at(point: &'static str) -> Result<(), Failure> {
    crash::at(point).map_err(|c| Failure::Transient(c.to_string()))
}

/// Quantity added to or removed from order lines by an edit.
type Deltas<'a> = &'a [(LineId, u32)];

pub struct Decrement<S, P, A, F> {
    pub store: S,
    pub pushes: P,
    pub alerts: A,
    pub fetcher: F,
    /// Backoff for messages that failed for now (a channel's order read throttled or
    /// down): without it a failed message waits out the queue's whole visibility timeout.
    pub retry: Option<OrderRetry>,
}

/// How a failed order message comes back: after [`retry_delay_secs`] of its receive count
/// (`base_ms` doubling, with jitter, like the pushers'), set on the message itself.
#[derive(Clone)]
pub struct OrderRetry {
    pub visibility: std::sync::Arc<dyn Visibility>,
    pub base_ms: u64,
}

/// The order path's backoff base in Lambda: 30 s, 60 s, 120 s, 240 s (+ up to 50%), then
/// the dead-letter queue after the 5th receive, about as long as the queue's own 180 s
/// visibility timeout took, with the first retries much sooner.
pub const ORDER_BACKOFF_BASE_MS: u64 = 30_000;

impl<S, P, A, F> Decrement<S, P, A, F>
where
    S: StockLedger + ListingStore + Inbox + ChannelHealth + GuardFlags,
    P: PushQueue,
    A: AlertSink,
    F: OrderFetcher,
{
    /// An SQS batch: every message on its own; failures reported by message id.
    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        let results = join_all(event.records.iter().map(|m| async move {
            let id = m.message_id.clone().unwrap_or_default();
            let outcome = match m.body.as_deref().map(serde_json::from_str::<OrderEvent>) {
                Some(Ok(ev)) => self.process(&ev).await,
                Some(Err(e)) => Err(Failure::BadMessage(format!("not an order event: {e}"))),
                None => Err(Failure::BadMessage("empty message".into())),
            };
            if let Err(Failure::Transient(_)) = &outcome {
                self.back_off(m).await;
            }
            (id, outcome)
        }))
        .await;
        let mut response = SqsBatchResponse::default();
        for (id, outcome) in results {
            if let Err(e) = outcome {
                tracing::warn!(message_id = %id, error = %e, "order event failed; it will be retried");
                // Never report an empty id: Lambda would fail the whole batch.
                if !id.is_empty() {
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = id;
                    response.batch_item_failures.push(failure);
                }
            }
        }
        response
    }

    /// A message that failed for now comes back after a growing delay instead of the
    /// queue's whole visibility timeout (best effort: if this fails, the timeout applies).
    async fn back_off(&self, m: &SqsMessage) {
        let (Some(retry), Some(receipt)) = (&self.retry, &m.receipt_handle) else {
            return;
        };
        let receives = onecount::aws::sqs::receive_count(&m.attributes);
        let jitter = onecount::aws::sqs::backoff_jitter();
        let secs = retry_delay_secs(receives, None, retry.base_ms, jitter);
        if let Err(e) = retry.visibility.delay(receipt, secs).await {
            tracing::warn!(error = %e, "order retry delay not set; the queue's visibility timeout applies");
        }
    }

    /// Apply one order event. One that needs a read from a channel that refuses
    /// onecount's credentials waits (parked, not quarantined) for the channel to be
    /// connected again; the first read that works ends the channel's episode and applies
    /// what waited.
    pub async fn process(&self, ev: &OrderEvent) -> Result<(), Failure> {
        match self.apply(ev).await {
            Err(Failure::Unauthorized(why)) => self.park(ev, &why).await,
            Ok(()) if matches!(ev.action, Action::Fetch { .. }) => {
                self.channel_back(ev.channel).await;
                Ok(())
            }
            r => r,
        }
    }

    async fn park(&self, ev: &OrderEvent, why: &str) -> Result<(), Failure> {
        let ch = ev.channel;
        episodes::mark(ch, true);
        self.store.park_order(ev).await?;
        if self
            .store
            .open_episode(ch, EpisodeKind::Auth, None, why)
            .await?
        {
            tracing::error!(channel = %ch, error = %why, "channel refuses the credentials; its orders wait");
            self.alert(Alert::channel_auth_failed(ch, why)).await;
        }
        tracing::warn!(channel = %ch, delivery = %ev.delivery_id, "order waits for the channel to be connected again");
        Ok(())
    }

    /// A read from `ch` worked: end its episode (pushing the SKUs that waited) and apply
    /// the orders that waited, a bounded number per call.
    async fn channel_back(&self, ch: Channel) {
        if episodes::may_be_open(ch) {
            self.catch_up(ch).await;
        }
    }

    /// `ch` answered: end its episode, push the SKUs that waited on it, and apply the
    /// orders that waited (up to 50 per call; the rest on the next).
    pub async fn catch_up(&self, ch: Channel) {
        match self.store.close_episode(ch).await {
            Ok(Some(ep)) => {
                tracing::info!(channel = %ch, waiting = ep.waiting.len(), "channel back; catching up");
                for sku in ep.waiting {
                    let req = PushRequest::unprompted(sku, ch, "channel back", false);
                    if let Err(e) = self.pushes.request_push(&req).await {
                        tracing::warn!(error = %e, "catch-up push not sent; the waiting one still comes");
                    }
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(channel = %ch, error = %e, "could not end the channel's episode");
                return;
            }
        }
        let parked = match self.store.parked_orders(ch, 50).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(channel = %ch, error = %e, "could not read the waiting orders");
                return;
            }
        };
        for ev in &parked {
            match self.apply(ev).await {
                Ok(()) => {
                    if let Err(e) = self.store.unpark_order(ev).await {
                        tracing::warn!(error = %e, "applied order still parked; applying it again changes nothing");
                    }
                }
                Err(e) => {
                    tracing::warn!(channel = %ch, delivery = %ev.delivery_id, error = %e, "a waiting order failed again; it stays parked");
                    return;
                }
            }
        }
        episodes::mark(ch, parked.len() >= 50);
    }

    async fn apply(&self, ev: &OrderEvent) -> Result<(), Failure> {
        // A blip was tried again once already, in the HTTP layer.
        let fetched = match &ev.action {
            Action::Fetch { pointer } => self.fetcher.fetch(ev.channel, pointer).await,
            other => Ok(other.clone()),
        };
        let action = match fetched {
            Ok(a) => a,
            Err(e) => return self.fetch_failed(ev, e).await,
        };
        if matches!(ev.action, Action::Fetch { .. }) {
            crash_at(crash::ORDER_AFTER_FETCH)?;
        }
        let ch = ev.channel;
        match &action {
            Action::Sale {
                order,
                lines,
                placed_at,
            } => {
                for l in lines {
                    self.sale(ch, order, l, *placed_at, ev.received_at).await?;
                }
            }
            Action::Cancel { order, lines } => {
                for l in lines {
                    let sku = self.resolve(ch, l).await?;
                    let req = RestockRequest {
                        channel: ch,
                        order: order.clone(),
                        line: l.line.clone(),
                        sku,
                        kind: RestockKind::Cancel,
                    };
                    self.restock(req, "cancel", ev.received_at).await?;
                }
            }
            Action::Restock { order, lines, .. } => {
                for l in lines {
                    let Ok(qty) = Qty::new(i64::from(l.qty)) else {
                        tracing::warn!(channel = %ch, order = %order, line = %l.line, qty = l.qty, "refund line with no quantity to restock skipped");
                        continue;
                    };
                    let kind = RestockKind::Refund {
                        id: l.refund_line_id.clone(),
                        qty,
                    };
                    let req = RestockRequest {
                        channel: ch,
                        order: order.clone(),
                        line: l.line.clone(),
                        sku: None,
                        kind,
                    };
                    self.restock(req, "refund", ev.received_at).await?;
                }
            }
            Action::Edit {
                order,
                edit_id,
                additions,
                removals,
            } => {
                self.edit(ch, order, edit_id, (additions, removals), ev.received_at)
                    .await?
            }
            Action::Fetch { .. } => {
                return Err(Failure::BadMessage(
                    "a fetched order pointed at another order".into(),
                ));
            }
        }
        Ok(())
    }

    /// Shopify `orders/edited`: removed quantity goes back once, added quantity is a sale
    /// of its own, keyed by the edit.
    async fn edit(
        &self,
        ch: Channel,
        order: &OrderId,
        edit_id: &str,
        (additions, removals): (Deltas<'_>, Deltas<'_>),
        received_at: Millis,
    ) -> Result<(), Failure> {
        for (line, delta) in removals {
            let Ok(qty) = Qty::new(i64::from(*delta)) else {
                tracing::warn!(channel = %ch, order = %order, line = %line, delta, "order edit removal with no quantity to restock skipped");
                continue;
            };
            let kind = RestockKind::Refund {
                id: format!("edit:{edit_id}"),
                qty,
            };
            self.restock(
                RestockRequest {
                    channel: ch,
                    order: order.clone(),
                    line: line.clone(),
                    sku: None,
                    kind,
                },
                "order edit",
                received_at,
            )
            .await?;
        }
        // The order as it is now, read once, for lines onecount has not seen (a product
        // the edit added: the webhook gives only the new line's id and delta).
        let mut now: Option<Vec<InLine>> = None;
        for (line, delta) in additions {
            // More of an existing line: a line of its own, keyed by the edit.
            let keyed = LineId::parse(format!("{line}+edit{edit_id}"))
                .map_err(|e| Failure::BadMessage(e.0))?;
            let sku = self.store.line(ch, order, line).await?.and_then(|r| r.sku);
            let (id, candidates) = match sku {
                Some(s) => (keyed, vec![Candidate::Sku(s.to_string())]),
                None => {
                    if now.is_none() {
                        now = Some(self.order_lines(ch, order).await?);
                    }
                    let found = now.iter().flatten().find(|l| &l.line == line);
                    // A product the edit added is a new line holding just the delta:
                    // recorded under its own id, so reconciling the order later (which
                    // finds that line) sees it as already sold.
                    let new_line = found.is_some_and(|l| l.qty == *delta);
                    let id = if new_line { line.clone() } else { keyed };
                    (id, found.map(|l| l.candidates.clone()).unwrap_or_default())
                }
            };
            let added = InLine {
                line: id,
                qty: *delta,
                candidates,
            };
            // When the edit was made is not said: heard as an arrival.
            self.sale(ch, order, &added, None, received_at).await?;
        }
        Ok(())
    }

    /// The lines of `order` as the channel shows it now. A blip is retried with the
    /// message; an order the channel will not give leaves the lines unresolved (they are
    /// kept and alerted as unmapped, with their ids).
    async fn order_lines(&self, ch: Channel, order: &OrderId) -> Result<Vec<InLine>, Failure> {
        match self.fetcher.fetch(ch, &format!("order:{order}")).await {
            Ok(Action::Sale { lines, .. }) => Ok(lines),
            Ok(_) => Ok(Vec::new()),
            Err(FetchError::Transient(why)) => Err(Failure::Transient(why)),
            Err(FetchError::Unauthorized(why)) => Err(Failure::Unauthorized(why)),
            Err(FetchError::Permanent(why)) => {
                tracing::warn!(channel = %ch, order = %order, error = %why, "order could not be read");
                Ok(Vec::new())
            }
        }
    }

    async fn fetch_failed(&self, ev: &OrderEvent, e: FetchError) -> Result<(), Failure> {
        match e {
            FetchError::Transient(why) => Err(Failure::Transient(why)),
            FetchError::Unauthorized(why) => Err(Failure::Unauthorized(why)),
            FetchError::Permanent(why) => {
                // Keep the event and say so; the message completes.
                let body = serde_json::to_vec(ev).unwrap_or_default();
                let id = self
                    .keep(
                        ev.channel,
                        &format!("could not fetch the order: {why}"),
                        body,
                    )
                    .await?;
                self.alert(Alert::quarantined_webhook(ev.channel, &why, &id))
                    .await;
                Ok(())
            }
        }
    }

    async fn keep(&self, channel: Channel, reason: &str, body: Vec<u8>) -> Result<String, Failure> {
        let q = Quarantined::new(channel, reason, Vec::new(), body);
        Ok(self.store.quarantine(&q).await?)
    }

    /// A line whose quantity the count cannot take: kept and alerted.
    async fn refuse_line(
        &self,
        ch: Channel,
        order: &OrderId,
        l: &InLine,
        error: &str,
    ) -> Result<(), Failure> {
        let why = format!("order line refused: {error}");
        if let Some(id) = self.keep_line(ch, order, l, &why).await? {
            tracing::warn!(channel = %ch, order = %order, line = %l.line, qty = l.qty, quarantine_id = %id, "order line quantity refused");
            self.alert(Alert::quarantined_webhook(ch, &why, &id)).await;
        }
        Ok(())
    }

    /// Keep an order line onecount could not apply (its ids, SKU and quantity), once:
    /// the line has no line record, so a redelivery or the drift check's reconciliation
    /// sees it again; `None` when it was kept (and alerted) before.
    async fn keep_line(
        &self,
        ch: Channel,
        order: &OrderId,
        l: &InLine,
        reason: &str,
    ) -> Result<Option<String>, Failure> {
        let key = format!(
            "kept:{}",
            onecount::domain::redact::digest(&format!("{order}\n{}\n{reason}", l.line))
        );
        if self.store.delivery_seen(ch, &key).await.unwrap_or(false) {
            return Ok(None);
        }
        let body =
            serde_json::to_vec(&serde_json::json!({"channel": ch, "order": order, "line": l}))
                .unwrap_or_default();
        let id = self.keep(ch, reason, body).await?;
        if let Err(e) = self.store.mark_delivery(ch, &key).await {
            tracing::warn!(error = %e, "kept line not marked; a redelivery keeps it again");
        }
        Ok(Some(id))
    }

    async fn alert(&self, alert: Alert) {
        if let Err(e) = self.alerts.publish(&alert).await {
            tracing::error!(alert = alert.kind.as_str(), error = %e, "alert could not be published");
        }
    }

    /// The SKU of a line: the channel's ids in the order the channel module gave them.
    async fn resolve(&self, channel: Channel, l: &InLine) -> Result<Option<Sku>, Failure> {
        for c in &l.candidates {
            match c {
                Candidate::Ref(r) => {
                    if let Some(sku) = self.store.resolve(channel, r).await? {
                        return Ok(Some(sku));
                    }
                }
                Candidate::Sku(s) => {
                    if let Ok(sku) = Sku::parse(s.as_str())
                        && self.store.get_stock(&sku).await?.is_some()
                    {
                        return Ok(Some(sku));
                    }
                }
            }
        }
        Ok(None)
    }

    async fn sale(
        &self,
        ch: Channel,
        order: &OrderId,
        l: &InLine,
        placed_at: Option<Millis>,
        received_at: Millis,
    ) -> Result<(), Failure> {
        // A quantity no sale has (0, or past Qty::MAX) is kept and told, not skipped:
        // the count cannot take it, and a person should look at the order.
        let qty = match Qty::new(i64::from(l.qty)) {
            Ok(q) => q,
            Err(e) => return self.refuse_line(ch, order, l, &e.0).await,
        };
        let Some(sku) = self.resolve(ch, l).await? else {
            let ids: Vec<String> = l
                .candidates
                .iter()
                .map(|c| match c {
                    Candidate::Ref(r) => r.to_string(),
                    Candidate::Sku(s) => format!("sku:{s}"),
                })
                .collect();
            if let Some(id) = self.keep_line(ch, order, l, "unmapped SKU").await? {
                tracing::warn!(channel = %ch, order = %order, line = %l.line, quarantine_id = %id, "unmapped item");
                self.alert(Alert::unmapped_sku(
                    ch,
                    order,
                    l.line.as_str(),
                    &ids.join(", "),
                ))
                .await;
            }
            return Ok(());
        };
        let line = OrderLine {
            channel: ch,
            order: order.clone(),
            line: l.line.clone(),
            sku: sku.clone(),
            qty,
            placed_at,
        };
        // Where to push does not depend on the sale: look it up while the sale is
        // recorded, so the push requests leave one ledger round trip sooner.
        crash_at(crash::ORDER_BEFORE_SALE)?;
        let (outcome, listings) = futures::join!(
            self.store.record_sale(&line),
            self.store.listings_for_sku(&sku)
        );
        let outcome = outcome.map_err(|e| match e {
            LedgerError::UnknownSku(_) | LedgerError::Invalid(_) => {
                Failure::BadMessage(e.to_string())
            }
            other => Failure::from(other),
        })?;
        tracing::info!(channel = %ch, order = %order, line = %l.line, sku = %sku, outcome = outcome.name(), "order line");
        if let SaleOutcome::Oversold { short } = outcome {
            onecount::telemetry::metrics::emit(
                Some(ch.as_str()),
                &[(
                    onecount::telemetry::metrics::OVERSOLD_UNITS,
                    f64::from(short),
                )],
            );
            self.alert(Alert::oversold(ch, order, &sku, short)).await;
        }
        crash_at(crash::ORDER_AFTER_SALE)?;
        let pushed = self
            .push_to(&listings?, &sku, "sale", Some(ch), Some(order), received_at)
            .await;
        // A duplicate too: the first delivery may have stopped before telling (the flag
        // keeps it to once per crossing).
        if !matches!(outcome, SaleOutcome::CancelledBeforeOrder) {
            self.low_stock_at(&sku, ch, order).await;
        }
        pushed?;
        crash_at(crash::ORDER_AFTER_PUSHES_QUEUED)
    }

    /// The sale that takes a SKU to or below its threshold sends `low_stock` at once
    /// (after its pushes are queued), once per crossing: the SKU's `low_alerted` flag,
    /// which the drift check clears when the count recovers, is set by whoever sees the
    /// crossing first.
    async fn low_stock_at(&self, sku: &Sku, ch: Channel, order: &OrderId) {
        let st = match self.store.get_stock(sku).await {
            Ok(Some(st)) => st,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(sku = %sku, error = %e, "low-stock check skipped; the drift check will make it");
                return;
            }
        };
        if low_stock(&st) != LowStock::Crossed {
            return;
        }
        let event = Event::LowStock {
            on_hand: st.on_hand,
            threshold: st.low_stock_threshold,
            recovered: false,
            listed: Vec::new(),
            sold_last_hour: None,
        };
        match self
            .store
            .set_guard_flag(sku, GuardFlag::LowAlerted, true, event)
            .await
        {
            Ok(true) => {
                self.alert(Alert::low_stock_at_sale(
                    sku,
                    st.on_hand,
                    st.low_stock_threshold,
                    ch,
                    order,
                ))
                .await
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(sku = %sku, error = %e, "low-stock flag not set; the drift check will alert")
            }
        }
    }

    async fn restock(
        &self,
        req: RestockRequest,
        cause: &str,
        received_at: Millis,
    ) -> Result<(), Failure> {
        let outcome = self.store.restock(&req).await?;
        tracing::info!(channel = %req.channel, order = %req.order, line = %req.line, outcome = ?outcome, "restock");
        if matches!(
            outcome,
            RestockOutcome::Restocked { .. } | RestockOutcome::Duplicate
        ) {
            let sku = match &req.sku {
                Some(s) => Some(s.clone()),
                None => self
                    .store
                    .line(req.channel, &req.order, &req.line)
                    .await?
                    .and_then(|r| r.sku),
            };
            if let Some(sku) = sku {
                let listings = self.store.listings_for_sku(&sku).await?;
                self.push_to(
                    &listings,
                    &sku,
                    cause,
                    Some(req.channel),
                    Some(&req.order),
                    received_at,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// One push request per listing of the SKU, on that listing's channel queue, sent
    /// together.
    async fn push_to(
        &self,
        listings: &[onecount::Listing],
        sku: &Sku,
        cause: &str,
        origin: Option<Channel>,
        order: Option<&OrderId>,
        origin_at: Millis,
    ) -> Result<(), Failure> {
        let requested_at = now_ms();
        let reqs: Vec<PushRequest> = listings
            .iter()
            .map(|listing| PushRequest {
                sku: sku.clone(),
                channel: listing.channel,
                cause: cause.to_string(),
                origin_channel: origin,
                origin_order: order.cloned(),
                requested_at,
                origin_at: Some(origin_at),
                force: false,
                waits: 0,
                release_before: None,
            })
            .collect();
        for sent in join_all(reqs.iter().map(|r| self.pushes.request_push(r))).await {
            sent.map_err(|e| Failure::Transient(e.0))?;
        }
        Ok(())
    }
}
