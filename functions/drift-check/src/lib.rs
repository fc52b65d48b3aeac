//! `drift-check`: finds and heals drift and lag without anyone looking, and tells people
//! early, once, with the action to take.
//!
//! One run (EventBridge Scheduler, every 5 minutes by default):
//!
//! 1. **Reconcile orders**: each channel's orders since its checkpoint go through the
//!    same order path as webhooks (idempotent: lines already seen change nothing). This
//!    is how a lost webhook is found, how cancellations arrive from channels that send no
//!    webhook for them, and the order path itself for apps without webhook access.
//! 2. **Read every listing's quantity** from its channel, batched as the channel allows
//!    (`ChannelApi::read_batch`), page by page; a run that reaches its time budget saves a
//!    cursor and the next run resumes there.
//! 3. **Reconcile again**, so a sale made while the listings were being read is in the
//!    ledger before anything is judged (never re-inflate).
//! 4. **Classify and act**: in sync; pending (leave it); stuck (re-queue, `sync_lagging`
//!    once per episode); drift (correct through the push path — upward only now that the
//!    channel's orders are reconciled — and `drift_corrected` when large or repeated);
//!    mismatch (`sku_mismatch` once, and pushes to it stop). Every finding but "in sync"
//!    goes on the SKU's timeline.
//! 5. Per SKU: **low stock** (alert once per crossing, with each channel's listed
//!    quantity and the last hour's sales) and **auto-pause** (stock low and a channel
//!    stuck: list only on the primary channel until it catches up).

use onecount::clock::now_ms;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use onecount::alerts::Alert;
use onecount::channels::auth::TokenStore;
use onecount::channels::push::{ChannelApi, FoundOrder, OrderSource, PushError, Target};
use onecount::channels::{Action, OrderEvent};
use onecount::config::vars;
use onecount::domain::drift::{
    Finding, LowStock, auto_pause, classify, classify_unreadable, drift_worth_alerting,
    hold_outlived, low_stock, read_outdated,
};
use onecount::domain::push::{Listed, allotting, listed_for};
use onecount::domain::{Event, LineId, LineRecord, Millis, OrderId};
use onecount::ports::{
    AlertSink, ChannelHealth, DriftStore, EpisodeKind, GuardFlag, GuardFlags, ListingFlag,
    PushQueue, PushRequest, PushStore, PushView, TimelineStore, listed_where_allotted,
};
use onecount::{Channel, Sku};
use serde::Serialize;

/// Where reconciled orders go: the order path's own handler, in-process.
#[async_trait]
pub trait OrderSink: Send + Sync {
    async fn apply(&self, event: &OrderEvent) -> Result<(), String>;
    /// `channel` answered: end its episode and apply the orders that waited on it.
    async fn catch_up(&self, channel: Channel);
}

#[async_trait]
impl<S, P, A, F> OrderSink for onecount_stock_decrement::Decrement<S, P, A, F>
where
    S: onecount::StockLedger
        + onecount::ListingStore
        + onecount::ports::Inbox
        + onecount::ports::ChannelHealth
        + GuardFlags,
    P: PushQueue,
    A: AlertSink,
    F: onecount::channels::OrderFetcher,
{
    async fn apply(&self, event: &OrderEvent) -> Result<(), String> {
        self.process(event).await.map_err(|e| e.to_string())
    }
    async fn catch_up(&self, channel: Channel) {
        onecount_stock_decrement::Decrement::catch_up(self, channel).await
    }
}

#[async_trait]
impl<T: OrderSink + ?Sized> OrderSink for Arc<T> {
    async fn apply(&self, event: &OrderEvent) -> Result<(), String> {
        (**self).apply(event).await
    }
    async fn catch_up(&self, channel: Channel) {
        (**self).catch_up(channel).await
    }
}

/// How long before a refresh token ends its `credential_expiring` alert goes out.
pub const EXPIRY_WARNING_MS: Millis = 14 * 86_400_000;

/// Tuning; `from_env` reads the `ONECOUNT_DRIFT_*` variables.
#[derive(Debug, Clone)]
pub struct DriftConfig {
    /// A push pending longer than this is stuck.
    pub lag_threshold_ms: i64,
    /// A drift of at least this many units alerts even the first time.
    pub drift_alert_units: u32,
    /// Pause risky listings automatically (on by default).
    pub auto_pause: bool,
    /// Global last-unit protection level (off by default).
    pub last_units: Option<u32>,
    /// How far back the first reconciliation looks.
    pub first_lookback_ms: i64,
    /// Each reconciliation re-reads this much before its checkpoint (clock skew, late
    /// updates); idempotent, so overlap costs only reads.
    pub overlap_ms: i64,
    /// How soon after an order is placed its channel's order list shows it. Units held
    /// back as sold unheard, found this long before a reconciliation that did not bring
    /// their orders, were no sale and are listed again.
    pub orders_listed_within_ms: i64,
    /// Minimum time between reconciliations per channel (absent or 0 = every run). Run
    /// the schedule as often as the most frequent one needs.
    pub reconcile_every_ms: BTreeMap<Channel, i64>,
    /// Listings per page.
    pub page: u32,
    /// Time budget for one run (a Lambda's timeout less a margin).
    pub budget: Duration,
}

impl Default for DriftConfig {
    fn default() -> Self {
        DriftConfig {
            lag_threshold_ms: 120_000,
            drift_alert_units: 3,
            auto_pause: true,
            last_units: None,
            first_lookback_ms: 24 * 3_600_000,
            overlap_ms: 600_000,
            orders_listed_within_ms: 120_000,
            reconcile_every_ms: BTreeMap::new(),
            page: 100,
            budget: Duration::from_secs(240),
        }
    }
}

impl DriftConfig {
    pub fn from_env() -> Result<Self, String> {
        let mut c = DriftConfig::default();
        let num = onecount::config::env_number::<i64>;
        if let Some(v) = num("ONECOUNT_DRIFT_LAG_THRESHOLD_SECS")? {
            c.lag_threshold_ms = v * 1000;
        }
        if let Some(v) = num("ONECOUNT_DRIFT_ALERT_UNITS")? {
            c.drift_alert_units = v.max(1) as u32;
        }
        if let Some(v) = num("ONECOUNT_LAST_UNIT_LEVEL")? {
            c.last_units = Some(v.max(0) as u32);
        }
        if let Some(v) = num("ONECOUNT_DRIFT_BUDGET_SECS")? {
            c.budget = Duration::from_secs(v.max(10) as u64);
        }
        if let Some(v) = num(vars::DRIFT_ORDERS_LISTED_WITHIN_SECS)? {
            c.orders_listed_within_ms = v.max(0) * 1000;
        }
        for ch in Channel::CONNECTED {
            let k = vars::per_channel(vars::RECONCILE_EVERY_SECS_, ch);
            if let Some(v) = num(&k)? {
                c.reconcile_every_ms.insert(ch, v * 1000);
            }
        }
        c.auto_pause = !matches!(
            std::env::var("ONECOUNT_AUTO_PAUSE")
                .as_deref()
                .map(str::trim),
            Ok("off" | "false" | "0")
        );
        Ok(c)
    }
}

/// One channel as the drift check sees it.
pub struct ChannelLink {
    pub api: Arc<dyn ChannelApi>,
    pub orders: Option<Arc<dyn OrderSource>>,
}

/// A link for every configured channel.
pub fn links(channels: &onecount::channels::Registry) -> Vec<ChannelLink> {
    channels
        .kits()
        .map(|k| ChannelLink {
            api: k.api(),
            orders: Some(k.orders()),
        })
        .collect()
}

/// Read one page of listings from the channel, in its batch size.
async fn read_page(link: &ChannelLink, items: &[PushView]) -> Vec<(Channel, Observed)> {
    let ch = link.api.channel();
    let mut out = Vec::new();
    for chunk in items.chunks(link.api.read_batch().max(1)) {
        let targets: Vec<Target> = chunk.iter().map(PushView::target).collect();
        let sent_at = now_ms();
        let reads = link.api.read(&targets).await;
        for (v, r) in chunk.iter().zip(reads) {
            out.push((
                ch,
                Observed {
                    view: v.clone(),
                    read: r.map(|s| s.qty),
                    sent_at,
                },
            ));
        }
    }
    out
}

pub struct DriftCheck<S, P, A, O> {
    pub store: S,
    pub pushes: P,
    pub alerts: A,
    pub orders: O,
    pub channels: Vec<ChannelLink>,
    pub cfg: DriftConfig,
}

/// What one run found and did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Report {
    pub orders_reconciled: usize,
    /// Of the reconciled orders, those the ledger already held whole (not re-applied).
    pub orders_already_recorded: usize,
    pub listings: usize,
    pub in_sync: usize,
    /// Listings with a push on its way (younger than the lag threshold).
    pub pending: usize,
    pub stuck: usize,
    pub drift: usize,
    pub mismatch: usize,
    pub low_stock_alerts: usize,
    pub auto_paused: usize,
    pub auto_released: usize,
    pub alerts: usize,
    /// Channel API calls made (reads, order lists).
    pub channel_calls: u64,
    /// False when the time budget ran out; the next run resumes from a cursor.
    pub complete: bool,
    pub errors: Vec<String>,
    pub millis: u64,
    /// Channels whose orders were reconciled in this run (their drops are explained).
    #[serde(skip)]
    pub reconciled: BTreeSet<Channel>,
    /// When each reconciled channel's orders were listed up to.
    #[serde(skip)]
    pub reconciled_at: BTreeMap<Channel, Millis>,
    /// Listings whose held-back units were released (their orders never came).
    pub holds_released: usize,
    /// Channels that refused onecount's credentials in this run, with the error.
    #[serde(skip)]
    pub refused: BTreeMap<Channel, String>,
}

/// Errors a run logs one by one.
const LOGGED_ERRORS: usize = 20;
/// Runs in a row with errors before the `drift_check_failing` alert.
pub const FAILING_RUNS: u32 = 3;
/// The checkpoint counting those runs.
const ERROR_RUNS: &str = "error-runs";

/// One SKU across its channels: a view, what each channel shows, which are stuck.
type SkuSeen = (PushView, Vec<(Channel, Option<i64>)>, BTreeSet<Channel>);

/// One listing read in this run.
struct Observed {
    view: PushView,
    read: Result<i64, PushError>,
    /// When the read was sent (see [`read_outdated`]).
    sent_at: Millis,
}

impl Report {
    /// The run's metrics: listings stuck, drifted, mismatched, and its errors.
    pub fn metrics(&self) -> [(&'static str, f64); 4] {
        use onecount::telemetry::metrics;
        [
            (metrics::STUCK_LISTINGS, self.stuck as f64),
            (metrics::DRIFTED_LISTINGS, self.drift as f64),
            (metrics::MISMATCHED_LISTINGS, self.mismatch as f64),
            (metrics::DRIFT_CHECK_ERRORS, self.errors.len() as f64),
        ]
    }

    /// The run's counts as metrics and one log line; each error at level ERROR.
    pub fn publish(&self) {
        onecount::telemetry::metrics::emit(None, &self.metrics());
        // One line per error, at error level (a run with hundreds of failed reads logs
        // the first ones and how many more).
        for e in self.errors.iter().take(LOGGED_ERRORS) {
            tracing::error!(error = %e, "drift check error");
        }
        if self.errors.len() > LOGGED_ERRORS {
            tracing::error!(
                more = self.errors.len() - LOGGED_ERRORS,
                "drift check errors not logged one by one"
            );
        }
        tracing::info!(
            errors = self.errors.len(),
            listings = self.listings,
            in_sync = self.in_sync,
            pending = self.pending,
            stuck = self.stuck,
            drift = self.drift,
            mismatch = self.mismatch,
            orders_reconciled = self.orders_reconciled,
            orders_already_recorded = self.orders_already_recorded,
            channel_calls = self.channel_calls,
            complete = self.complete,
            millis = self.millis,
            "drift check done"
        );
    }
}

impl<S, P, A, O> DriftCheck<S, P, A, O>
where
    S: DriftStore + GuardFlags + PushStore + TimelineStore + ChannelHealth + TokenStore,
    P: PushQueue,
    A: AlertSink,
    O: OrderSink,
{
    /// One run within the configured time budget.
    pub async fn run(&self) -> Report {
        self.run_within(self.cfg.budget).await
    }

    /// One run that stops reading listings after `budget` (and resumes there next run).
    pub async fn run_within(&self, budget: Duration) -> Report {
        let started = Instant::now();
        let deadline = started + budget;
        let calls_before: u64 = self.channels.iter().map(|c| c.api.calls()).sum();
        let mut report = Report {
            complete: true,
            ..Report::default()
        };
        self.reconcile(&mut report, true).await;
        let mut observed: Vec<(Channel, Observed)> = Vec::new();
        for link in &self.channels {
            if !self
                .observe(link, deadline, &mut observed, &mut report)
                .await
            {
                break;
            }
        }
        // Orders that landed while we read: in the ledger before anything is judged.
        self.reconcile(&mut report, false).await;
        self.health(&observed, &mut report).await;
        self.expiring(&mut report).await;
        self.judge(observed, &mut report).await;
        let calls_after: u64 = self.channels.iter().map(|c| c.api.calls()).sum();
        report.channel_calls = calls_after - calls_before;
        self.error_streak(&mut report).await;
        report.millis = started.elapsed().as_millis() as u64;
        report.publish();
        report
    }

    /// Read every listing of `link`'s channel, page by page from its cursor. `false`
    /// when the deadline came first: the cursor is saved and the run reads no further.
    async fn observe(
        &self,
        link: &ChannelLink,
        deadline: Instant,
        observed: &mut Vec<(Channel, Observed)>,
        report: &mut Report,
    ) -> bool {
        let ch = link.api.channel();
        let cursor = format!("cursor#{ch}");
        let mut after = match self.store.checkpoint(&cursor).await {
            Ok(c) => c.filter(|c| !c.is_empty()),
            Err(e) => {
                report.errors.push(format!("{ch}: reading the cursor: {e}"));
                return true;
            }
        };
        loop {
            if Instant::now() >= deadline {
                // Resume here next run.
                let _ = self
                    .store
                    .set_checkpoint(&cursor, after.as_deref().unwrap_or(""))
                    .await;
                report.complete = false;
                return false;
            }
            let page = match self
                .store
                .listing_views(ch, after.as_deref(), self.cfg.page)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    report
                        .errors
                        .push(format!("{ch}: listing the listings: {e}"));
                    return true;
                }
            };
            observed.extend(read_page(link, &page.items).await);
            match page.next {
                Some(n) => after = Some(n),
                None => {
                    if let Err(e) = self.store.set_checkpoint(&cursor, "").await {
                        report.errors.push(format!("{ch}: saving the cursor: {e}"));
                    }
                    return true;
                }
            }
        }
    }

    /// Each channel's episode, from what this run's calls found: one that answered ends
    /// its episode and applies what waited on it; one that refused every call opens one
    /// (the opener alerts, once per episode).
    async fn health(&self, observed: &[(Channel, Observed)], report: &mut Report) {
        for link in &self.channels {
            let ch = link.api.channel();
            let reads = observed
                .iter()
                .filter(|(c, _)| *c == ch)
                .map(|(_, o)| &o.read);
            let answered = reads.clone().any(|r| {
                !matches!(
                    r,
                    Err(PushError::Unauthorized(_) | PushError::Transient { .. })
                )
            });
            let refused = reads.clone().find_map(|r| match r {
                Err(PushError::Unauthorized(m)) => Some(m.clone()),
                _ => None,
            });
            let refused = refused.or_else(|| report.refused.get(&ch).cloned());
            match (answered, refused) {
                (true, _) => self.orders.catch_up(ch).await,
                (false, Some(why)) => {
                    report.refused.insert(ch, why.clone());
                    match self
                        .store
                        .open_episode(ch, EpisodeKind::Auth, None, &why)
                        .await
                    {
                        Ok(true) => {
                            tracing::error!(channel = %ch, error = %why, "channel refuses the credentials");
                            self.alert(report, Alert::channel_auth_failed(ch, &why))
                                .await;
                        }
                        Ok(false) => {}
                        Err(e) => report
                            .errors
                            .push(format!("{ch}: recording the episode: {e}")),
                    }
                }
                (false, None) => {}
            }
        }
    }

    /// A `credential_expiring` alert when a channel's stored refresh token ends within
    /// [`EXPIRY_WARNING_MS`], once per token (the checkpoint remembers which).
    async fn expiring(&self, report: &mut Report) {
        let now = now_ms();
        for link in &self.channels {
            let ch = link.api.channel();
            let ends = match self.store.load_tokens(ch).await {
                Ok(Some((t, _))) => t.refresh_expires_at,
                Ok(None) => None,
                Err(e) => {
                    report.errors.push(format!("{ch}: reading the tokens: {e}"));
                    continue;
                }
            };
            let Some(ends) = ends.filter(|e| *e - now < EXPIRY_WARNING_MS) else {
                continue;
            };
            let name = format!("expiring#{ch}");
            if let Ok(Some(v)) = self.store.checkpoint(&name).await
                && v == ends.to_string()
            {
                continue;
            }
            let days = ((ends - now).max(0) + 86_399_999) / 86_400_000;
            self.alert(
                report,
                Alert::credential_expiring(ch, "refresh token", days),
            )
            .await;
            if let Err(e) = self.store.set_checkpoint(&name, &ends.to_string()).await {
                report
                    .errors
                    .push(format!("{ch}: saving the expiry checkpoint: {e}"));
            }
        }
    }

    /// Every configured channel's orders since its checkpoint, through the order path.
    /// `first`: the run's first pass, which honours the per-channel interval.
    async fn reconcile(&self, report: &mut Report, first: bool) {
        let now = now_ms();
        for link in &self.channels {
            let Some(src) = &link.orders else { continue };
            let ch = src.channel();
            let name = format!("reconcile#{ch}");
            let last: Option<Millis> = match self.store.checkpoint(&name).await {
                Ok(v) => v.and_then(|v| v.parse().ok()),
                Err(e) => {
                    report
                        .errors
                        .push(format!("{ch}: reading the checkpoint: {e}"));
                    continue;
                }
            };
            let every = self.cfg.reconcile_every_ms.get(&ch).copied().unwrap_or(0);
            if first && last.is_some_and(|l| now - l < every) {
                // Reconciled recently enough: its checkpoint stands for this run.
                report.reconciled.insert(ch);
                report.reconciled_at.extend(last.map(|l| (ch, l)));
                continue;
            }
            let since = last.map_or(now - self.cfg.first_lookback_ms, |l| {
                l - self.cfg.overlap_ms
            });
            let found = match src.orders_since(since).await {
                Ok(f) => f,
                Err(e) => {
                    if e.is_unauthorized() {
                        report.refused.insert(ch, e.to_string());
                    }
                    report.errors.push(format!("{ch}: listing orders: {e}"));
                    report.reconciled.remove(&ch);
                    report.reconciled_at.remove(&ch);
                    continue;
                }
            };
            let failed = self.apply_found(ch, &found, now, report).await;
            report.orders_reconciled += found.len();
            if failed {
                report.reconciled.remove(&ch);
                report.reconciled_at.remove(&ch);
                continue;
            }
            report.reconciled.insert(ch);
            report.reconciled_at.insert(ch, now);
            // Only move the checkpoint past what was applied; a failure is retried next run.
            if let Err(e) = self.store.set_checkpoint(&name, &now.to_string()).await {
                report
                    .errors
                    .push(format!("{ch}: saving the checkpoint: {e}"));
            }
        }
    }

    /// Send what `found` asks through the order path, except what the ledger already
    /// holds (the overlap window re-reads the same orders every run). `true` when an
    /// order could not be applied.
    async fn apply_found(
        &self,
        ch: Channel,
        found: &[FoundOrder],
        now: Millis,
        report: &mut Report,
    ) -> bool {
        let keys: Vec<_> = found
            .iter()
            .flat_map(|o| o.actions.iter().flat_map(Action::line_keys))
            .collect();
        let known: BTreeMap<(OrderId, LineId), LineRecord> = match self.store.lines(ch, &keys).await
        {
            Ok(recs) => recs
                .into_iter()
                .map(|r| ((r.order.clone(), r.line.clone()), r))
                .collect(),
            Err(e) => {
                // Not knowing costs only time: everything goes through the order
                // path, which applies each line once regardless.
                report
                    .errors
                    .push(format!("{ch}: reading recorded lines: {e}"));
                BTreeMap::new()
            }
        };
        let recorded = |a: &Action| {
            a.recorded_in(|order, line| known.get(&(order.clone(), line.clone())).cloned())
        };
        let mut failed = false;
        for o in found {
            if o.actions.iter().all(recorded) {
                report.orders_already_recorded += 1;
                continue;
            }
            for action in o.actions.iter().filter(|a| !recorded(a)) {
                let ev = OrderEvent {
                    channel: ch,
                    delivery_id: format!("reconcile:{now}"),
                    topic: "reconcile".into(),
                    received_at: now,
                    action: action.clone(),
                };
                if let Err(e) = self.orders.apply(&ev).await {
                    report
                        .errors
                        .push(format!("{ch}: applying a reconciled order: {e}"));
                    failed = true;
                }
            }
        }
        failed
    }

    /// Counts the runs in a row with errors; the run that makes it [`FAILING_RUNS`] sends
    /// `drift_check_failing` (once per streak); a clean run ends the streak.
    async fn error_streak(&self, report: &mut Report) {
        let before: u32 = match self.store.checkpoint(ERROR_RUNS).await {
            Ok(v) => v.and_then(|v| v.parse().ok()).unwrap_or(0),
            Err(e) => {
                report.errors.push(format!("reading the error streak: {e}"));
                return;
            }
        };
        let errors = report.errors.len();
        let runs = if errors == 0 { 0 } else { before + 1 };
        if runs != before
            && let Err(e) = self
                .store
                .set_checkpoint(ERROR_RUNS, &runs.to_string())
                .await
        {
            report.errors.push(format!("saving the error streak: {e}"));
        }
        if runs == FAILING_RUNS {
            let first = report.errors[0].clone();
            self.alert(report, Alert::drift_check_failing(runs, errors, &first))
                .await;
        }
    }

    async fn alert(&self, report: &mut Report, a: Alert) {
        match self.alerts.publish(&a).await {
            Ok(()) => report.alerts += 1,
            Err(e) => report
                .errors
                .push(format!("alert {} not published: {e}", a.kind.as_str())),
        }
    }

    async fn push(
        &self,
        report: &mut Report,
        sku: &Sku,
        channel: Channel,
        cause: &str,
        force: bool,
    ) {
        let mut req = PushRequest::unprompted(sku.clone(), channel, cause, force);
        // Only the units whose orders the reconciliation would have listed are released.
        req.release_before = report
            .reconciled_at
            .get(&channel)
            .filter(|_| force)
            .map(|at| at - self.cfg.orders_listed_within_ms);
        if let Err(e) = self.pushes.request_push(&req).await {
            report
                .errors
                .push(format!("{channel} push request for {sku}: {e}"));
        }
    }

    async fn event(&self, report: &mut Report, sku: &Sku, event: Event) {
        if let Err(e) = self.store.add_event(sku, event).await {
            report.errors.push(format!("timeline entry for {sku}: {e}"));
        }
    }

    /// Fresh stock for anything not in sync: orders reconciled a moment ago may have
    /// changed it, and then a push is pending rather than the listing drifted.
    async fn fresh_views(
        &self,
        observed: &[(Channel, Observed)],
        now: Millis,
        report: &mut Report,
    ) -> BTreeMap<(Channel, Sku), PushView> {
        let suspects: BTreeMap<Channel, Vec<Sku>> = observed
            .iter()
            .filter(|(_, o)| {
                // Last units allotted between channels: what each lists depends on the
                // others, so always judged on a fresh read.
                let stock = &o.view.stock;
                if allotting(stock, self.cfg.last_units, now) {
                    return true;
                }
                let target = listed_for(
                    stock,
                    &o.view.listing.policy,
                    o.view.listing.channel,
                    self.cfg.last_units,
                    now,
                    &Listed::default(),
                );
                !matches!(o.read, Ok(q) if q == i64::from(target))
            })
            .fold(BTreeMap::new(), |mut m, (ch, o)| {
                m.entry(*ch)
                    .or_insert_with(Vec::new)
                    .push(o.view.stock.sku.clone());
                m
            });
        let mut fresh: BTreeMap<(Channel, Sku), PushView> = BTreeMap::new();
        for (ch, skus) in &suspects {
            for chunk in skus.chunks(50) {
                match self.store.push_views(chunk, *ch).await {
                    Ok(vs) => {
                        for v in vs {
                            fresh.insert((*ch, v.stock.sku.clone()), v);
                        }
                    }
                    Err(e) => report
                        .errors
                        .push(format!("{ch}: re-reading the ledger: {e}")),
                }
            }
        }
        fresh
    }

    async fn judge(&self, observed: Vec<(Channel, Observed)>, report: &mut Report) {
        let now = now_ms();
        report.listings = observed.len();
        let mut fresh = self.fresh_views(&observed, now, report).await;
        let stocks = fresh.values().map(|v| &v.stock);
        let listed = listed_where_allotted(&self.store, stocks, self.cfg.last_units, now).await;
        let listed = listed.unwrap_or_else(|e| {
            // The SKUs whose last units are dealt out are judged next run.
            report
                .errors
                .push(format!("reading what the channels show: {e}"));
            HashMap::new()
        });
        // Per SKU: what each channel shows, and whether any is stuck.
        let mut per_sku: BTreeMap<Sku, SkuSeen> = BTreeMap::new();
        for (ch, o) in observed {
            let stale_view = o.view;
            let v = fresh
                .remove(&(ch, stale_view.stock.sku.clone()))
                .unwrap_or(stale_view);
            let sku = v.stock.sku.clone();
            let Some(elsewhere) = listed.get(&sku).cloned().or_else(|| {
                let dealt = allotting(&v.stock, self.cfg.last_units, now);
                (!dealt).then(Listed::default)
            }) else {
                continue;
            };
            // Pushed since the read: judged on the next run's read, not this one.
            if o.read.is_ok() && read_outdated(v.record.as_ref(), o.sent_at) {
                report.pending += 1;
                continue;
            }
            let policy = &v.listing.policy;
            let target = listed_for(&v.stock, policy, ch, self.cfg.last_units, now, &elsewhere);
            let finding = match &o.read {
                Err(PushError::Mismatch(m)) => Finding::Mismatch { problem: m.clone() },
                Err(e) => {
                    report.errors.push(format!("{ch} {sku}: reading: {e}"));
                    // Down or throttled: a push pending past the threshold is stuck.
                    match classify_unreadable(
                        target,
                        &v.stock,
                        v.record.as_ref(),
                        now,
                        self.cfg.lag_threshold_ms,
                    ) {
                        Some(f) => f,
                        None => continue,
                    }
                }
                Ok(shows) => classify(
                    target,
                    *shows,
                    &v.stock,
                    v.record.as_ref(),
                    now,
                    self.cfg.lag_threshold_ms,
                ),
            };
            let shows = o.read.as_ref().ok().copied();
            let entry = per_sku
                .entry(sku.clone())
                .or_insert_with(|| (v.clone(), Vec::new(), BTreeSet::new()));
            entry.1.push((ch, shows));
            self.act(report, &v, ch, target, shows, &finding).await;
            self.release_outlived(report, &v, ch, &finding, now).await;
            if matches!(finding, Finding::Stuck { .. }) {
                entry.2.insert(ch);
            }
        }
        for (sku, (v, listed, stuck)) in per_sku {
            self.low_stock(report, &v, &listed).await;
            self.pause(report, &sku, &v, &listed, &stuck).await;
        }
    }

    async fn act(
        &self,
        report: &mut Report,
        v: &PushView,
        ch: Channel,
        target: u32,
        shows: Option<i64>,
        finding: &Finding,
    ) {
        let sku = &v.stock.sku;
        let with = |action: &str, age_ms: Option<i64>| Event::DriftFound {
            channel: ch,
            finding: finding.name().to_string(),
            shows,
            target,
            action: action.to_string(),
            age_ms,
            repeats: None,
        };
        match finding {
            Finding::InSync => {
                self.in_sync(
                    report,
                    v,
                    ch,
                    with("mapping works again; pushes resume", None),
                )
                .await
            }
            Finding::Pending { age_ms } => {
                report.pending += 1;
                let d = with("none: a push is on its way", Some(*age_ms));
                self.event(report, sku, d).await;
            }
            Finding::Stuck { age_ms } => {
                report.stuck += 1;
                if v.broken.is_some() {
                    return;
                }
                // With the channel's orders reconciled, a drop still unexplained is an
                // edit: the re-queued push may raise it (otherwise it would hold forever).
                let force = report.reconciled.contains(&ch);
                self.push(report, sku, ch, "drift check: stuck", force)
                    .await;
                let d = with("re-queued the push", Some(*age_ms));
                self.event(report, sku, d).await;
                if self
                    .store
                    .set_listing_flag(sku, ch, ListingFlag::LagAlerted, Some("sync_lagging"))
                    .await
                    .unwrap_or(false)
                {
                    self.alert(
                        report,
                        Alert::sync_lagging(ch, sku, shows.unwrap_or(0), target, age_ms / 1000),
                    )
                    .await;
                }
            }
            Finding::Drift { shows, target } => {
                let d = with("corrected through the push path", None);
                self.drift(report, v, ch, (*shows, *target), d).await;
            }
            Finding::Mismatch { problem } => {
                let d = with("pushes to it stopped; fix the mapping", None);
                self.mismatch(report, sku, ch, problem, d).await;
            }
        }
    }

    /// Units held back on `ch` whose orders the reconciliation would have listed and did
    /// not: a forced push stops holding them (the pusher releases only holds found before
    /// the request), unless drift or a stuck push already forced one.
    async fn release_outlived(
        &self,
        report: &mut Report,
        v: &PushView,
        ch: Channel,
        finding: &Finding,
        now: Millis,
    ) {
        let Some(at) = report.reconciled_at.get(&ch).copied() else {
            return;
        };
        let forced = matches!(finding, Finding::Drift { .. } | Finding::Stuck { .. });
        if forced
            || v.broken.is_some()
            || !hold_outlived(&v.stock, ch, at, self.cfg.orders_listed_within_ms, now)
        {
            return;
        }
        report.holds_released += 1;
        let cause = "drift check: held units' orders never came";
        self.push(report, &v.stock.sku, ch, cause, true).await;
    }

    /// Drift: with the channel's orders reconciled before this judgement, what is still
    /// unexplained is an edit or a lost push — correct it either way. Without that, only
    /// lowering is safe (the pusher holds a raise).
    async fn drift(
        &self,
        report: &mut Report,
        v: &PushView,
        ch: Channel,
        (shows, target): (i64, u32),
        mut d: Event,
    ) {
        let sku = &v.stock.sku;
        report.drift += 1;
        if v.broken.is_some() {
            return;
        }
        let force = report.reconciled.contains(&ch);
        self.push(report, sku, ch, "drift check: correct drift", force)
            .await;
        let repeats = self.store.drift_runs(sku, ch, true).await.unwrap_or(1);
        if let Event::DriftFound { repeats: r, .. } = &mut d {
            *r = Some(repeats);
        }
        self.event(report, sku, d).await;
        if drift_worth_alerting(shows, target, repeats, self.cfg.drift_alert_units) {
            self.alert(
                report,
                Alert::drift_corrected(ch, sku, shows, target, repeats),
            )
            .await;
        }
    }

    async fn in_sync(&self, report: &mut Report, v: &PushView, ch: Channel, d: Event) {
        let sku = &v.stock.sku;
        report.in_sync += 1;
        if v.broken.is_some()
            && self
                .store
                .set_listing_flag(sku, ch, ListingFlag::Mismatch, None)
                .await
                .unwrap_or(false)
        {
            self.event(report, sku, d).await;
        }
        if v.lag_alerted {
            let _ = self
                .store
                .set_listing_flag(sku, ch, ListingFlag::LagAlerted, None)
                .await;
        }
    }

    async fn mismatch(&self, report: &mut Report, sku: &Sku, ch: Channel, problem: &str, d: Event) {
        report.mismatch += 1;
        match self
            .store
            .set_listing_flag(sku, ch, ListingFlag::Mismatch, Some(problem))
            .await
        {
            Ok(true) => {
                self.event(report, sku, d).await;
                self.alert(report, Alert::sku_mismatch(ch, sku, problem))
                    .await;
            }
            Ok(false) => {}
            Err(e) => report
                .errors
                .push(format!("{ch} {sku}: marking the mapping broken: {e}")),
        }
    }

    async fn low_stock(
        &self,
        report: &mut Report,
        v: &PushView,
        listed: &[(Channel, Option<i64>)],
    ) {
        let st = &v.stock;
        match low_stock(st) {
            LowStock::Crossed => {
                let sold = self.sold_last_hour(&st.sku).await;
                let event = Event::LowStock {
                    on_hand: st.on_hand,
                    threshold: st.low_stock_threshold,
                    recovered: false,
                    listed: listed.to_vec(),
                    sold_last_hour: Some(sold),
                };
                match self
                    .store
                    .set_guard_flag(&st.sku, GuardFlag::LowAlerted, true, event)
                    .await
                {
                    Ok(true) => {
                        report.low_stock_alerts += 1;
                        self.alert(
                            report,
                            Alert::low_stock(
                                &st.sku,
                                st.on_hand,
                                st.low_stock_threshold,
                                listed,
                                sold,
                            ),
                        )
                        .await;
                    }
                    Ok(false) => {}
                    Err(e) => report
                        .errors
                        .push(format!("{}: low-stock flag: {e}", st.sku)),
                }
            }
            LowStock::Recovered => {
                let event = Event::LowStock {
                    on_hand: st.on_hand,
                    threshold: st.low_stock_threshold,
                    recovered: true,
                    listed: Vec::new(),
                    sold_last_hour: None,
                };
                if let Err(e) = self
                    .store
                    .set_guard_flag(&st.sku, GuardFlag::LowAlerted, false, event)
                    .await
                {
                    report
                        .errors
                        .push(format!("{}: low-stock flag: {e}", st.sku));
                }
            }
            LowStock::Unchanged => {}
        }
    }

    /// Units sold in the last hour, from the timeline.
    async fn sold_last_hour(&self, sku: &Sku) -> u32 {
        let since = now_ms() - 3_600_000;
        self.store
            .timeline(sku, 500)
            .await
            .map(|es| {
                es.iter()
                    .filter(|e| e.at >= since)
                    .filter_map(|e| e.event.units_sold())
                    .sum::<u32>()
            })
            .unwrap_or(0)
    }

    async fn pause(
        &self,
        report: &mut Report,
        sku: &Sku,
        v: &PushView,
        listed: &[(Channel, Option<i64>)],
        stuck: &BTreeSet<Channel>,
    ) {
        let Some(engage) = auto_pause(&v.stock, !stuck.is_empty(), self.cfg.auto_pause) else {
            return;
        };
        let primary = v.stock.guard.primary();
        let names: Vec<&str> = stuck.iter().map(|c| c.as_str()).collect();
        let event = Event::AutoPause {
            engaged: engage,
            stuck: names.join(", "),
            primary,
            on_hand: v.stock.on_hand,
        };
        match self
            .store
            .set_guard_flag(sku, GuardFlag::AutoPaused, engage, event)
            .await
        {
            Ok(true) => {
                let a = if engage {
                    report.auto_paused += 1;
                    Alert::auto_paused(sku, &names.join(", "), primary, v.stock.on_hand)
                } else {
                    report.auto_released += 1;
                    Alert::auto_resumed(sku, primary)
                };
                self.alert(report, a).await;
                let cause = if engage {
                    "auto-pause"
                } else {
                    "auto-pause released"
                };
                for (ch, _) in listed {
                    self.push(report, sku, *ch, cause, false).await;
                }
            }
            Ok(false) => {}
            Err(e) => report.errors.push(format!("{sku}: auto-pause flag: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Captures what the run logs.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A run's errors reach the logs at level ERROR (one line each, the first 20) and the
    /// `DriftCheckErrors` metric the alarm watches.
    #[test]
    fn a_runs_errors_are_logged_at_error_level_and_counted() {
        let report = Report {
            errors: (0..25)
                .map(|i| format!("ebay: listing orders: HTTP 401 ({i})"))
                .collect(),
            ..Report::default()
        };
        let m = report.metrics();
        assert!(m.contains(&(onecount::telemetry::metrics::DRIFT_CHECK_ERRORS, 25.0)));
        let lines = Lines::default();
        let sink = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || report.publish());
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let errors = text.lines().filter(|l| l.contains("ERROR")).count();
        assert_eq!(
            errors,
            LOGGED_ERRORS + 1,
            "20 one by one, then how many more:\n{text}"
        );
        assert!(text.contains("HTTP 401 (0)") && !text.contains("HTTP 401 (24)"));
        assert!(text.contains("errors=25"), "{text}");
    }
}
