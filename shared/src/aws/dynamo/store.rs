//! [`DynamoStore`]: the ports implemented on DynamoDB.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, PointInTimeRecoverySpecification, Put, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus, TransactWriteItem, Update,
};

use super::codec::*;
use super::requests::RequestCounter;
use super::schema::{self, *};
use crate::aws::describe_sdk_error;
pub(super) use crate::clock::now_ms as now;
use crate::config::StoreConfig;
use crate::domain::{
    Channel, ChannelRef, Event, LineRecord, LineRef, Listing, Millis, NewStock, OrderLine,
    RestockDecision, RestockOutcome, RestockRequest, SaleOutcome, Sku, StockChange, StockItem,
    TimelineEntry, adjusted_on_hand, decide_restock, decide_sale,
};
use crate::ports::{LedgerError, ListingStore, Page, StockLedger, TimelineStore};

/// Attempts before a write gives up under contention (transaction conflicts, a count
/// that keeps changing between the read and the conditional write).
const MAX_ATTEMPTS: u32 = 12;
const CONDITION_FAILED: &str = "ConditionalCheckFailed";

/// The ledger, listings and timeline on one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    pub(super) client: Client,
    pub(super) table: String,
    pub(super) ttl_secs: i64,
    requests: RequestCounter,
}

/// What `onecount init` found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitReport {
    pub table: String,
    pub created: bool,
    pub ttl_enabled: bool,
    pub point_in_time_recovery: bool,
}

fn new_event_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_string()
}

pub(super) fn store_err<E: std::error::Error>(e: E) -> LedgerError {
    LedgerError::Store(describe_sdk_error(&e))
}

/// Capped exponential backoff with full jitter.
pub(super) async fn backoff(attempt: u32) {
    let cap_ms = (5u64 << attempt.min(6)).min(250);
    let jitter = (uuid::Uuid::new_v4().as_u128() as u64) % (cap_ms + 1);
    tokio::time::sleep(Duration::from_millis(jitter)).await;
}

/// How a transaction failed.
pub(super) enum TxError {
    /// Cancelled; one reason code per item in request order (`None` = that item was fine).
    Cancelled(Vec<Option<String>>),
    Other(LedgerError),
}

impl TxError {
    pub(super) fn failed(&self, index: usize) -> bool {
        matches!(self, TxError::Cancelled(codes) if codes.get(index).and_then(|c| c.as_deref()) == Some(CONDITION_FAILED))
    }
    /// Another transaction or a throttle got in the way: retry after a pause.
    pub(super) fn is_contention(&self) -> bool {
        match self {
            TxError::Cancelled(codes) => codes.iter().flatten().any(|c| {
                matches!(
                    c.as_str(),
                    "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
                )
            }),
            TxError::Other(_) => false,
        }
    }
    pub(super) fn into_error(self, what: &str) -> LedgerError {
        match self {
            TxError::Other(e) => e,
            TxError::Cancelled(codes) => LedgerError::Store(format!(
                "{what}: transaction cancelled ({})",
                codes
                    .iter()
                    .map(|c| c.as_deref().unwrap_or("None"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

/// The stock update of a sale that takes `take` units: the count, its version, when it
/// last changed and last sold, and `add` (the channel's sold counter, by what it sold).
fn sale_set(take: &str, add: &str) -> String {
    format!("SET #oh = #oh - {take}, #v = #v + :one, #u = :now, last_sold_at = :now ADD {add}")
}

pub(super) fn build_err(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Store(format!("building a DynamoDB request: {e}"))
}

impl DynamoStore {
    pub fn new(sdk: &SdkConfig, cfg: &StoreConfig) -> Self {
        Self::build(aws_sdk_dynamodb::config::Builder::from(sdk), cfg)
    }

    /// Like [`DynamoStore::new`], but talking to `endpoint` whatever the environment says
    /// (fault-injection proxies in tests).
    pub fn with_endpoint(sdk: &SdkConfig, cfg: &StoreConfig, endpoint: &str) -> Self {
        Self::build(
            aws_sdk_dynamodb::config::Builder::from(sdk).endpoint_url(endpoint),
            cfg,
        )
    }

    fn build(builder: aws_sdk_dynamodb::config::Builder, cfg: &StoreConfig) -> Self {
        let requests = RequestCounter::default();
        let conf = builder.interceptor(requests.clone()).build();
        DynamoStore {
            client: Client::from_conf(conf),
            table: cfg.table.clone(),
            ttl_secs: i64::from(cfg.timeline_ttl_days) * 86_400,
            requests,
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// DynamoDB HTTP requests made so far by this store (retries included).
    pub fn requests(&self) -> u64 {
        self.requests.get()
    }

    /// The oversold order lines recorded at or after `since` (epoch ms), through the index.
    fn oversold_since(
        &self,
        since: i64,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("#p = :p AND #s >= :since")
            .expression_attribute_names("#p", GSI1_PK)
            .expression_attribute_names("#s", GSI1_SK)
            .expression_attribute_values(":p", s(OVERSOLD_GSI_PK))
            .expression_attribute_values(":since", s(oversold_gsi_sk(since.max(0), "")))
    }

    /// How many oversold lines were recorded since `since` (all of them: the index is
    /// read with `Select::Count`, page by page).
    pub async fn oversell_count(&self, since: i64) -> Result<usize, LedgerError> {
        let (mut n, mut start) = (0usize, None);
        loop {
            let out = self
                .oversold_since(since)
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(store_err)?;
            n += out.count.max(0) as usize;
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(n);
            }
        }
    }

    /// The most recent oversold order lines (newest first), at most `limit`, recorded at
    /// or after `since` (epoch ms): their timeline entries, found through the index.
    pub async fn oversells(
        &self,
        since: i64,
        limit: usize,
    ) -> Result<Vec<TimelineEntry>, LedgerError> {
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .oversold_since(since)
                .scan_index_forward(false)
                .set_exclusive_start_key(start)
                .limit(limit.clamp(1, 100) as i32)
                .send()
                .await
                .map_err(store_err)?;
            for i in out.items() {
                if let (Some(pk), Some(sk)) = (i.get(PK), i.get(SK)) {
                    keys.push(HashMap::from([
                        (PK.to_string(), pk.clone()),
                        (SK.to_string(), sk.clone()),
                    ]));
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() || keys.len() >= limit {
                break;
            }
        }
        keys.truncate(limit);
        let mut entries = self
            .batch_get_with(keys, false)
            .await?
            .iter()
            .map(event_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        entries.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| a.id.cmp(&b.id)));
        Ok(entries)
    }

    // ----- write building blocks -------------------------------------------------

    fn put(
        &self,
        item: Item,
        condition: Option<&str>,
        values: &[(&str, AttributeValue)],
    ) -> Result<TransactWriteItem, LedgerError> {
        let mut b = Put::builder().table_name(&self.table).set_item(Some(item));
        if let Some(c) = condition {
            b = b.condition_expression(c);
        }
        for (k, v) in values {
            b = b.expression_attribute_values(*k, v.clone());
        }
        Ok(TransactWriteItem::builder()
            .put(b.build().map_err(build_err)?)
            .build())
    }

    pub(super) fn event(
        &self,
        sku: &Sku,
        at: Millis,
        event: Event,
    ) -> Result<TransactWriteItem, LedgerError> {
        let e = TimelineEntry {
            sku: sku.clone(),
            at,
            id: new_event_id(),
            event,
        };
        self.put(event_to_item(&e, at / 1000 + self.ttl_secs), None, &[])
    }

    /// An update of the stock item; `#oh`, `#v` and `#u` name on_hand, version, updated_at
    /// (declared only when used, as DynamoDB requires).
    fn stock_update(
        &self,
        sku: &Sku,
        set: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<TransactWriteItem, LedgerError> {
        let mut b = Update::builder()
            .table_name(&self.table)
            .set_key(Some(stock_key(sku)))
            .update_expression(set)
            .condition_expression(condition);
        let used = |name: &str| set.contains(name) || condition.contains(name);
        if used("#oh") {
            b = b.expression_attribute_names("#oh", "on_hand");
        }
        if used("#v") {
            b = b.expression_attribute_names("#v", "version");
        }
        if set.contains("#u") {
            b = b.expression_attribute_names("#u", "updated_at");
        }
        for (k, v) in values {
            b = b.expression_attribute_values(k, v);
        }
        Ok(TransactWriteItem::builder()
            .update(b.build().map_err(build_err)?)
            .build())
    }

    /// Save a listing's ids and policy, leaving what the pusher recorded on it alone.
    fn listing_update(&self, listing: &Listing) -> Result<TransactWriteItem, LedgerError> {
        let mut item = listing_to_item(listing);
        item.remove(PK);
        item.remove(SK);
        let mut b = Update::builder()
            .table_name(&self.table)
            .set_key(Some(listing_key(&listing.sku, listing.channel)));
        let mut sets = Vec::new();
        for (i, (k, v)) in item.into_iter().enumerate() {
            sets.push(format!("#a{i} = :a{i}"));
            b = b
                .expression_attribute_names(format!("#a{i}"), k)
                .expression_attribute_values(format!(":a{i}"), v);
        }
        let mut expr = format!("SET {}", sets.join(", "));
        // Saving a listing is how an operator fixes a broken mapping: pushes resume.
        if listing.policy.max_qty.is_none() {
            expr.push_str(" REMOVE max_qty, mismatch, drift_runs, lag_alerted");
        } else {
            expr.push_str(" REMOVE mismatch, drift_runs, lag_alerted");
        }
        Ok(TransactWriteItem::builder()
            .update(b.update_expression(expr).build().map_err(build_err)?)
            .build())
    }

    /// A new stock item and its timeline entry, as transaction items (the item only if
    /// the SKU does not exist yet).
    pub(super) fn create_stock_items(
        &self,
        new: &NewStock,
        source: Option<&str>,
    ) -> Result<(StockItem, Vec<TransactWriteItem>), LedgerError> {
        let at = now();
        let item = StockItem {
            sku: new.sku.clone(),
            on_hand: new.on_hand,
            version: 1,
            low_stock_threshold: new.low_stock_threshold,
            updated_at: at,
            sold: Default::default(),
            guard: Default::default(),
            unheard: Default::default(),
            last_sold_at: None,
        };
        let tx = vec![
            self.put(stock_to_item(&item), Some("attribute_not_exists(pk)"), &[])?,
            self.event(
                &new.sku,
                at,
                Event::StockCreated {
                    on_hand: new.on_hand,
                    threshold: new.low_stock_threshold,
                    source: source.map(str::to_string),
                },
            )?,
        ];
        Ok((item, tx))
    }

    /// Create a SKU; `source` says where its count came from (on its timeline).
    pub(super) async fn create_stock_from(
        &self,
        new: &NewStock,
        source: Option<&str>,
    ) -> Result<StockItem, LedgerError> {
        let (item, tx) = self.create_stock_items(new, source)?;
        match self.transact(tx).await {
            Ok(()) => Ok(item),
            Err(e) if e.failed(0) => Err(LedgerError::AlreadyExists(new.sku.clone())),
            Err(e) => Err(e.into_error("create stock")),
        }
    }

    /// A listing as transaction items: the listing, each channel id (only if free or
    /// already this SKU's), and last its timeline entry. Items `1..=refs.len()` are the ids.
    pub(super) fn listing_items(
        &self,
        listing: &Listing,
    ) -> Result<Vec<TransactWriteItem>, LedgerError> {
        let sku_v = s(listing.sku.as_str());
        let mut tx = vec![self.listing_update(listing)?];
        for r in &listing.refs {
            let mut item = ref_item_key(listing.channel, r, &listing.sku);
            item.insert("sku".into(), sku_v.clone());
            item.insert("channel".into(), s(listing.channel.as_str()));
            // A shared id's item is this SKU's own: no one else's to take.
            tx.push(self.put(
                item,
                Some("attribute_not_exists(pk) OR sku = :sku"),
                &[(":sku", sku_v.clone())],
            )?);
        }
        let refs: Vec<String> = listing.refs.iter().map(ToString::to_string).collect();
        tx.push(self.event(
            &listing.sku,
            now(),
            Event::ListingChanged {
                channel: Some(listing.channel),
                refs: refs.join(" "),
                buffer: Some(listing.policy.buffer),
                max_qty: listing.policy.max_qty,
                paused: Some(listing.policy.paused),
                actor: None,
            },
        )?);
        Ok(tx)
    }

    /// Write a whole line record, guarded by the revision it was read at (0 = new).
    fn line_put(&self, rec: &LineRecord, read_rev: u64) -> Result<TransactWriteItem, LedgerError> {
        if read_rev == 0 {
            self.put(line_to_item(rec), Some("attribute_not_exists(pk)"), &[])
        } else {
            self.put(
                line_to_item(rec),
                Some("rev = :rev"),
                &[(":rev", n(read_rev))],
            )
        }
    }

    pub(super) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TxError> {
        let res = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(se)) => match se.err() {
                TransactWriteItemsError::TransactionCanceledException(tc) => {
                    Err(TxError::Cancelled(
                        tc.cancellation_reasons()
                            .iter()
                            .map(|r| r.code().filter(|c| *c != "None").map(str::to_string))
                            .collect(),
                    ))
                }
                TransactWriteItemsError::TransactionInProgressException(_) => {
                    Err(TxError::Cancelled(vec![Some("TransactionConflict".into())]))
                }
                other => Err(TxError::Other(LedgerError::Store(describe_sdk_error(
                    other,
                )))),
            },
            Err(e) => Err(TxError::Other(store_err(e))),
        }
    }

    async fn get_item(&self, key: Item) -> Result<Option<Item>, LedgerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_err)?;
        Ok(out.item)
    }

    async fn get_line(
        &self,
        channel: Channel,
        order: &crate::domain::OrderId,
        line: &crate::domain::LineId,
    ) -> Result<Option<LineRecord>, LedgerError> {
        self.get_item(line_key(channel, order, line))
            .await?
            .as_ref()
            .map(line_from_item)
            .transpose()
    }

    // ----- table management ------------------------------------------------------

    /// Create the table with exactly [`schema::shape`], or check an existing one matches.
    /// Safe to run any number of times.
    pub async fn init(&self) -> Result<InitReport, LedgerError> {
        let created = match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(out) => {
                let t = out
                    .table
                    .ok_or_else(|| LedgerError::Store("DescribeTable returned no table".into()))?;
                self.check_shape(&t)?;
                false
            }
            Err(SdkError::ServiceError(se)) if se.err().is_resource_not_found_exception() => {
                self.client
                    .create_table()
                    .table_name(&self.table)
                    .set_attribute_definitions(Some(schema::attribute_definitions()))
                    .set_key_schema(Some(schema::key(PK, SK)))
                    .global_secondary_indexes(schema::gsi1())
                    .billing_mode(schema::BILLING)
                    .send()
                    .await
                    .map_err(store_err)?;
                self.wait_active().await?;
                true
            }
            Err(e) => return Err(store_err(e)),
        };
        let ttl_enabled = self.ensure_ttl().await?;
        // Point-in-time recovery is declared by the template; emulators may not offer it.
        let pitr = self
            .client
            .update_continuous_backups()
            .table_name(&self.table)
            .point_in_time_recovery_specification(
                PointInTimeRecoverySpecification::builder()
                    .point_in_time_recovery_enabled(true)
                    .build()
                    .map_err(build_err)?,
            )
            .send()
            .await
            .is_ok();
        Ok(InitReport {
            table: self.table.clone(),
            created,
            ttl_enabled,
            point_in_time_recovery: pitr,
        })
    }

    fn check_shape(
        &self,
        t: &aws_sdk_dynamodb::types::TableDescription,
    ) -> Result<(), LedgerError> {
        let keys = |ks: &[aws_sdk_dynamodb::types::KeySchemaElement]| {
            ks.iter()
                .map(|k| format!("{}:{}", k.attribute_name(), k.key_type().as_str()))
                .collect::<Vec<_>>()
        };
        let want = vec![format!("{PK}:HASH"), format!("{SK}:RANGE")];
        let mut problems = Vec::new();
        if keys(t.key_schema()) != want {
            problems.push(format!(
                "key schema is {:?}, expected {:?}",
                keys(t.key_schema()),
                want
            ));
        }
        let gsi = t
            .global_secondary_indexes()
            .iter()
            .find(|g| g.index_name() == Some(GSI1));
        match gsi {
            None => problems.push(format!("index '{GSI1}' is missing")),
            Some(g)
                if keys(g.key_schema())
                    != vec![format!("{GSI1_PK}:HASH"), format!("{GSI1_SK}:RANGE")] =>
            {
                problems.push(format!(
                    "index '{GSI1}' has keys {:?}",
                    keys(g.key_schema())
                ))
            }
            Some(_) => {}
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(LedgerError::Invalid(format!(
                "table '{}' exists but is not a onecount table: {}",
                self.table,
                problems.join("; ")
            )))
        }
    }

    async fn wait_active(&self) -> Result<(), LedgerError> {
        for _ in 0..120 {
            let out = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(store_err)?;
            if out.table.and_then(|t| t.table_status) == Some(TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(LedgerError::Store(format!(
            "table '{}' did not become ACTIVE within 60 s",
            self.table
        )))
    }

    async fn ensure_ttl(&self) -> Result<bool, LedgerError> {
        let out = self
            .client
            .describe_time_to_live()
            .table_name(&self.table)
            .send()
            .await
            .map_err(store_err)?;
        let d = out.time_to_live_description;
        let on = d
            .as_ref()
            .and_then(|d| d.time_to_live_status.as_ref())
            .is_some_and(|s| matches!(s, TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling));
        if on {
            let attr = d
                .as_ref()
                .and_then(|d| d.attribute_name())
                .unwrap_or_default();
            if attr != TTL_ATTRIBUTE {
                return Err(LedgerError::Invalid(format!(
                    "table '{}' has TTL on '{attr}', expected '{TTL_ATTRIBUTE}'",
                    self.table
                )));
            }
            return Ok(true);
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(TTL_ATTRIBUTE)
                    .enabled(true)
                    .build()
                    .map_err(build_err)?,
            )
            .send()
            .await
            .map_err(store_err)?;
        Ok(true)
    }
}

/// Where `record_sale` is in its small state machine.
enum SaleStep {
    /// One transaction, no read: the common case.
    Fast,
    /// The line exists: read it to tell a duplicate from a tombstone.
    ExistingLine,
    /// Stock was short (or a tombstone nets the order): read the count, take what is there.
    WithRead(Option<LineRecord>),
}

/// What one attempt of `record_sale` came to.
enum Tried {
    Done(SaleOutcome),
    /// Go on with this step at once.
    Then(SaleStep),
    /// Lost a race: back off, then this step.
    Contended(SaleStep),
}

impl DynamoStore {
    /// The writes that give `qty` back from the line `rec` (becoming `next`).
    fn restock_tx(
        &self,
        r: &RestockRequest,
        rec: &LineRecord,
        next: &LineRecord,
        qty: u32,
        (line, op): (&LineRef, &str),
        at: Millis,
    ) -> Result<Vec<TransactWriteItem>, LedgerError> {
        let sku = rec
            .sku
            .clone()
            .ok_or_else(|| LedgerError::Store("order line has no SKU".into()))?;
        let mut tx = vec![self.line_put(next, rec.rev)?];
        if qty > 0 {
            tx.push(self.stock_update(
                &sku,
                &format!(
                    "SET #oh = #oh + :q, #v = #v + :one, #u = :now ADD {} :neg",
                    sold_attr(r.channel)
                ),
                "attribute_exists(pk)",
                vec![
                    (":q", n(qty)),
                    (":one", n(1)),
                    (":now", n(at)),
                    (":neg", n(-i64::from(qty))),
                ],
            )?);
        }
        tx.push(self.event(
            &sku,
            at,
            Event::Restocked {
                line: line.clone(),
                qty,
                op: op.to_string(),
            },
        )?);
        Ok(tx)
    }

    /// One transaction, no read: the common case.
    async fn sale_fast(
        &self,
        l: &OrderLine,
        fresh: &LineRecord,
        line: &LineRef,
        at: Millis,
    ) -> Result<Tried, LedgerError> {
        let qty = l.qty.get();
        // Blind, unless the channel has unheard units and the order says when it
        // was placed: one placed after they were found is a new sale, which the
        // read path below keeps from releasing them.
        let mut cond = "attribute_exists(pk) AND #oh >= :q".to_string();
        let mut values = vec![(":q", n(qty)), (":one", n(1)), (":now", n(at))];
        if let Some(placed) = l.placed_at {
            let [_, _, found_at] = unheard_attrs(l.channel);
            cond.push_str(&format!(
                " AND (attribute_not_exists({found_at}) OR {found_at} >= :placed)"
            ));
            values.push((":placed", n(placed)));
        }
        let tx = vec![
            self.line_put(fresh, 0)?,
            self.stock_update(
                &l.sku,
                &sale_set(":q", &format!("{} :q", sold_attr(l.channel))),
                &cond,
                values,
            )?,
            self.event(
                &l.sku,
                at,
                Event::SaleApplied {
                    line: line.clone(),
                    qty,
                },
            )?,
        ];
        Ok(match self.transact(tx).await {
            Ok(()) => Tried::Done(SaleOutcome::Applied),
            Err(e) if e.is_contention() => Tried::Contended(SaleStep::Fast),
            Err(e) if e.failed(0) => Tried::Then(SaleStep::ExistingLine),
            Err(e) if e.failed(1) => Tried::Then(SaleStep::WithRead(None)),
            Err(e) => return Err(e.into_error("record sale")),
        })
    }

    /// The line exists: a duplicate, our own earlier attempt, or a cancel that came first.
    async fn sale_on_line(
        &self,
        l: &OrderLine,
        token: &str,
        line: &LineRef,
        at: Millis,
    ) -> Result<Tried, LedgerError> {
        let qty = l.qty.get();
        let Some(rec) = self.get_line(l.channel, &l.order, &l.line).await? else {
            return Ok(Tried::Then(SaleStep::Fast)); // vanished (cannot happen in normal operation): start over
        };
        if rec.ordered.is_some() {
            if rec.token.as_deref() == Some(token) {
                return Ok(Tried::Done(rec.own_outcome())); // our own earlier attempt committed
            }
            return Ok(Tried::Done(SaleOutcome::Duplicate));
        }
        if !rec.cancelled {
            return Ok(Tried::Then(SaleStep::WithRead(Some(rec))));
        }
        // The cancel beat the order: note the order's arrival, change nothing.
        let mut seen = rec.clone();
        seen.ordered = Some(qty);
        seen.sku = Some(l.sku.clone());
        seen.token = Some(token.to_string());
        seen.rev += 1;
        seen.updated_at = at;
        let tx = vec![
            self.line_put(&seen, rec.rev)?,
            self.event(
                &l.sku,
                at,
                Event::OrderAfterCancel {
                    line: line.clone(),
                    qty,
                },
            )?,
        ];
        Ok(match self.transact(tx).await {
            Ok(()) => Tried::Done(SaleOutcome::CancelledBeforeOrder),
            Err(e) if e.is_contention() || e.failed(0) => Tried::Then(SaleStep::ExistingLine),
            Err(e) => return Err(e.into_error("record sale after cancel")),
        })
    }

    /// Stock was short (or a tombstone nets the order): read the count, take what is there.
    async fn sale_with_read(
        &self,
        l: &OrderLine,
        mut fresh: LineRecord,
        existing: Option<LineRecord>,
        line: &LineRef,
        at: Millis,
    ) -> Result<Tried, LedgerError> {
        let qty = l.qty.get();
        let stock = self
            .get_stock(&l.sku)
            .await?
            .ok_or_else(|| LedgerError::UnknownSku(l.sku.clone()))?;
        let effective = existing
            .as_ref()
            .map_or(qty, |r| r.effective_order_qty(qty));
        let d = decide_sale(stock.on_hand, effective);
        let read_rev = existing.as_ref().map_or(0, |r| r.rev);
        if let Some(r) = &existing {
            fresh.pre_returned = r.pre_returned;
            fresh.ops = r.ops.clone();
            fresh.rev = r.rev + 1;
        }
        fresh.taken = d.take;
        fresh.short = d.short;
        let mut sold = sold_attr(l.channel);
        if stock.sale_after_unheard(l.channel, l.placed_at) {
            // Not one of the unheard units: move their baseline along with it.
            let [_, unheard_sold, _] = unheard_attrs(l.channel);
            sold = format!("{sold} :e, {unheard_sold}");
        }
        let stock_write = if d.take > 0 {
            self.stock_update(
                &l.sku,
                &sale_set(":t", &format!("{sold} :e")),
                "#v = :v",
                vec![
                    (":t", n(d.take)),
                    (":one", n(1)),
                    (":now", n(at)),
                    (":v", n(stock.version)),
                    (":e", n(effective)),
                ],
            )?
        } else {
            // Nothing left to take, but the channel did sell the units.
            self.stock_update(
                &l.sku,
                &format!("ADD {sold} :e"),
                "#v = :v",
                vec![(":v", n(stock.version)), (":e", n(effective))],
            )?
        };
        let line = line.clone();
        let event = if d.short > 0 {
            Event::SaleOversold {
                line,
                qty,
                take: d.take,
                short: d.short,
                on_hand_before: Some(stock.on_hand),
            }
        } else {
            Event::SaleApplied { line, qty: d.take }
        };
        let tx = vec![
            self.line_put(&fresh, read_rev)?,
            stock_write,
            self.event(&l.sku, at, event)?,
        ];
        Ok(match self.transact(tx).await {
            Ok(()) if d.short > 0 => Tried::Done(SaleOutcome::Oversold { short: d.short }),
            Ok(()) => Tried::Done(SaleOutcome::Applied),
            Err(e) if e.failed(0) => Tried::Then(SaleStep::ExistingLine),
            Err(e) if e.is_contention() || e.failed(1) => {
                Tried::Contended(SaleStep::WithRead(existing))
            }
            Err(e) => return Err(e.into_error("record sale")),
        })
    }
}

#[async_trait]
impl StockLedger for DynamoStore {
    async fn create_stock(&self, new: &NewStock) -> Result<StockItem, LedgerError> {
        self.create_stock_from(new, None).await
    }

    async fn get_stock(&self, sku: &Sku) -> Result<Option<StockItem>, LedgerError> {
        self.get_item(stock_key(sku))
            .await?
            .as_ref()
            .map(stock_from_item)
            .transpose()
    }

    async fn list_stock(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<StockItem>, LedgerError> {
        let limit = limit.clamp(1, 100);
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .expression_attribute_names("#p", GSI1_PK)
            .expression_attribute_values(":p", s(STOCK_GSI_PK))
            .limit(limit as i32);
        q = match after {
            Some(a) => q
                .key_condition_expression("#p = :p AND #s > :a")
                .expression_attribute_names("#s", GSI1_SK)
                .expression_attribute_values(":a", s(a)),
            None => q.key_condition_expression("#p = :p"),
        };
        let out = q.send().await.map_err(store_err)?;
        let keys: Vec<Item> = out
            .items()
            .iter()
            .filter_map(|i| i.get(GSI1_SK).and_then(|v| v.as_s().ok()))
            .filter_map(|sku| Sku::parse(sku.as_str()).ok())
            .map(|sku| stock_key(&sku))
            .collect();
        let mut items = self
            .batch_get(keys)
            .await?
            .iter()
            .map(stock_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        items.sort_by(|a, b| a.sku.cmp(&b.sku));
        let next = out
            .last_evaluated_key
            .is_some()
            .then(|| items.last().map(|i| i.sku.to_string()))
            .flatten();
        Ok(Page { items, next })
    }

    async fn record_sale(&self, l: &OrderLine) -> Result<SaleOutcome, LedgerError> {
        let qty = l.qty.get();
        let line = LineRef::new(l.channel, &l.order, &l.line);
        let token = uuid::Uuid::new_v4().simple().to_string();
        let mut step = SaleStep::Fast;
        for attempt in 0..MAX_ATTEMPTS {
            let at = now();
            let fresh = LineRecord {
                sku: Some(l.sku.clone()),
                ordered: Some(qty),
                taken: qty,
                rev: 1,
                token: Some(token.clone()),
                ..LineRecord::blank(l.channel, &l.order, &l.line, at)
            };
            let tried = match std::mem::replace(&mut step, SaleStep::Fast) {
                SaleStep::Fast => self.sale_fast(l, &fresh, &line, at).await?,
                SaleStep::ExistingLine => self.sale_on_line(l, &token, &line, at).await?,
                SaleStep::WithRead(existing) => {
                    self.sale_with_read(l, fresh, existing, &line, at).await?
                }
            };
            match tried {
                Tried::Done(outcome) => return Ok(outcome),
                Tried::Then(next) => step = next,
                Tried::Contended(next) => {
                    backoff(attempt).await;
                    step = next;
                }
            }
        }
        Err(LedgerError::Contention {
            what: format!("SKU {}", l.sku),
            attempts: MAX_ATTEMPTS,
        })
    }

    async fn restock(&self, r: &RestockRequest) -> Result<RestockOutcome, LedgerError> {
        let line = LineRef::new(r.channel, &r.order, &r.line);
        let op = r.kind.op_id();
        for attempt in 0..MAX_ATTEMPTS {
            let at = now();
            let Some(rec) = self.get_line(r.channel, &r.order, &r.line).await? else {
                let mut tx = vec![self.line_put(&LineRecord::tombstone(r, at), 0)?];
                if let Some(sku) = &r.sku {
                    tx.push(self.event(
                        sku,
                        at,
                        Event::CancelBeforeOrder {
                            line: line.clone(),
                            op: op.clone(),
                        },
                    )?);
                }
                match self.transact(tx).await {
                    Ok(()) => return Ok(RestockOutcome::BeforeOrder),
                    Err(e) if e.is_contention() || e.failed(0) => backoff(attempt).await,
                    Err(e) => return Err(e.into_error("record early cancel")),
                }
                continue;
            };
            let mut next = rec.clone();
            next.ops.insert(op.clone());
            next.rev += 1;
            next.updated_at = at;
            let (tx, outcome) = match decide_restock(&rec, &r.kind) {
                RestockDecision::Duplicate => return Ok(RestockOutcome::Duplicate),
                RestockDecision::AmendTombstone {
                    cancel,
                    pre_returned,
                } => {
                    next.cancelled = cancel;
                    next.pre_returned = pre_returned;
                    (
                        vec![self.line_put(&next, rec.rev)?],
                        RestockOutcome::BeforeOrder,
                    )
                }
                RestockDecision::Return { qty, cancel } => {
                    next.returned += qty;
                    next.cancelled = cancel;
                    let tx = self.restock_tx(r, &rec, &next, qty, (&line, &op), at)?;
                    (tx, RestockOutcome::Restocked { qty })
                }
            };
            match self.transact(tx).await {
                Ok(()) => return Ok(outcome),
                Err(e) if e.is_contention() || e.failed(0) => backoff(attempt).await,
                Err(e) if e.failed(1) => {
                    let sku = rec.sku.clone();
                    return Err(sku.map_or_else(
                        || LedgerError::Store("order line has no SKU".into()),
                        LedgerError::UnknownSku,
                    ));
                }
                Err(e) => return Err(e.into_error("restock")),
            }
        }
        Err(LedgerError::Contention {
            what: format!("{} order {} line {}", r.channel, r.order, r.line),
            attempts: MAX_ATTEMPTS,
        })
    }

    async fn set_on_hand(
        &self,
        sku: &Sku,
        on_hand: u32,
        reason: &str,
        actor: &str,
    ) -> Result<StockChange, LedgerError> {
        let event = |before, after| Event::StockSet {
            before,
            after,
            reason: reason.to_string(),
            actor: actor.to_string(),
        };
        self.manual_change(sku, |_| Ok(on_hand), event).await
    }

    async fn line(
        &self,
        channel: Channel,
        order: &crate::domain::OrderId,
        line: &crate::domain::LineId,
    ) -> Result<Option<LineRecord>, LedgerError> {
        self.get_line(channel, order, line).await
    }

    async fn adjust(
        &self,
        sku: &Sku,
        delta: i64,
        reason: &str,
        actor: &str,
    ) -> Result<StockChange, LedgerError> {
        let compute =
            |before| adjusted_on_hand(before, delta).map_err(|e| LedgerError::Invalid(e.0));
        let event = |before, after| Event::StockAdjusted {
            before,
            after,
            delta: i64::from(after) - i64::from(before),
            reason: reason.to_string(),
            actor: actor.to_string(),
        };
        self.manual_change(sku, compute, event).await
    }
}

impl DynamoStore {
    /// Read the count, compute the new one, write it only if nobody changed it meanwhile;
    /// `event(before, after)` is its timeline entry.
    async fn manual_change(
        &self,
        sku: &Sku,
        compute: impl Fn(u32) -> Result<u32, LedgerError> + Send + Sync,
        event: impl Fn(u32, u32) -> Event + Send + Sync,
    ) -> Result<StockChange, LedgerError> {
        for attempt in 0..MAX_ATTEMPTS {
            let at = now();
            let stock = self
                .get_stock(sku)
                .await?
                .ok_or_else(|| LedgerError::UnknownSku(sku.clone()))?;
            let after = compute(stock.on_hand)?;
            let tx = vec![
                self.stock_update(
                    sku,
                    "SET #oh = :after, #v = #v + :one, #u = :now",
                    "#v = :v",
                    vec![
                        (":after", n(after)),
                        (":one", n(1)),
                        (":now", n(at)),
                        (":v", n(stock.version)),
                    ],
                )?,
                self.event(sku, at, event(stock.on_hand, after))?,
            ];
            match self.transact(tx).await {
                Ok(()) => {
                    return Ok(StockChange {
                        sku: sku.clone(),
                        before: stock.on_hand,
                        after,
                        version: stock.version + 1,
                    });
                }
                Err(e) if e.is_contention() || e.failed(0) => backoff(attempt).await,
                Err(e) => return Err(e.into_error("change stock")),
            }
        }
        Err(LedgerError::Contention {
            what: format!("SKU {sku}"),
            attempts: MAX_ATTEMPTS,
        })
    }

    /// BatchGetItem in pages of 100, retrying unprocessed keys.
    pub(super) async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, LedgerError> {
        self.batch_get_with(keys, true).await
    }

    /// `consistent: false` costs half the read units; for scans that re-check what they
    /// act on (the drift check).
    pub(super) async fn batch_get_with(
        &self,
        keys: Vec<Item>,
        consistent: bool,
    ) -> Result<Vec<Item>, LedgerError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0;
            while !pending.is_empty() {
                let ka = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(consistent)
                    .build()
                    .map_err(build_err)?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, ka)
                    .send()
                    .await
                    .map_err(store_err)?;
                if let Some(mut r) = out.responses {
                    found.extend(r.remove(&self.table).unwrap_or_default());
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if !pending.is_empty() {
                    attempt += 1;
                    if attempt > MAX_ATTEMPTS {
                        return Err(LedgerError::Contention {
                            what: "batch read".into(),
                            attempts: attempt,
                        });
                    }
                    backoff(attempt).await;
                }
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl ListingStore for DynamoStore {
    async fn put_listing(&self, listing: &Listing) -> Result<(), LedgerError> {
        let old = self.get_listing(&listing.sku, listing.channel).await?;
        let sku_v = s(listing.sku.as_str());
        let mut tx = self.listing_items(listing)?;
        let event = tx
            .pop()
            .expect("listing_items ends with the timeline entry");
        let stale: Vec<&ChannelRef> = old
            .iter()
            .flat_map(|o| o.refs.iter())
            .filter(|r| !listing.refs.contains(r))
            .collect();
        for r in &stale {
            let d = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(ref_item_key(listing.channel, r, &listing.sku)))
                .condition_expression("attribute_not_exists(pk) OR sku = :sku")
                .expression_attribute_values(":sku", sku_v.clone())
                .build()
                .map_err(build_err)?;
            tx.push(TransactWriteItem::builder().delete(d).build());
        }
        // A policy change (pause, buffer, max) changes what the channel should list, like
        // a count change: bump the stock version, so a push computed before it cannot be
        // confirmed over it (the pusher then reads again and pushes the new target).
        if old.as_ref().is_some_and(|o| o.policy != listing.policy) {
            tx.push(self.stock_update(
                &listing.sku,
                "SET #v = #v + :one",
                "attribute_exists(pk)",
                vec![(":one", n(1))],
            )?);
        }
        tx.push(event);
        match self.transact(tx).await {
            Ok(()) => Ok(()),
            Err(e) => {
                if let Some(i) = (1..=listing.refs.len()).find(|i| e.failed(*i)) {
                    let r = &listing.refs[i - 1];
                    let owner = self.resolve(listing.channel, r).await?;
                    return Err(match owner {
                        Some(sku) => LedgerError::RefTaken {
                            channel: listing.channel,
                            reference: r.clone(),
                            sku,
                        },
                        None => LedgerError::Store(format!(
                            "mapping {r} changed while saving; try again"
                        )),
                    });
                }
                Err(e.into_error("save listing"))
            }
        }
    }

    async fn get_listing(
        &self,
        sku: &Sku,
        channel: Channel,
    ) -> Result<Option<Listing>, LedgerError> {
        self.get_item(listing_key(sku, channel))
            .await?
            .as_ref()
            .map(listing_from_item)
            .transpose()
    }

    async fn listings_for_sku(&self, sku: &Sku) -> Result<Vec<Listing>, LedgerError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p AND begins_with(sk, :l)")
            .expression_attribute_values(":p", s(sku_pk(sku)))
            .expression_attribute_values(":l", s(LISTING_PREFIX))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_err)?;
        out.items().iter().map(listing_from_item).collect()
    }

    async fn resolve(
        &self,
        channel: Channel,
        reference: &ChannelRef,
    ) -> Result<Option<Sku>, LedgerError> {
        if !crate::domain::shared_ref(channel, &reference.kind) {
            let Some(item) = self.get_item(ref_key(channel, reference)).await? else {
                return Ok(None);
            };
            return Reader::new(&item, "channel id mapping")
                .sku("sku")
                .map(Some);
        }
        // A shared id: one item per SKU under it. It names a SKU only when it has one.
        let pk = ref_pk(channel, &reference.kind, &reference.id);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s(pk))
            .limit(3)
            .send()
            .await
            .map_err(store_err)?;
        let owners = out
            .items()
            .iter()
            .map(|i| Reader::new(i, "channel id mapping").sku("sku"))
            .collect::<Result<std::collections::BTreeSet<Sku>, _>>()?;
        Ok(match owners.len() {
            1 => owners.into_iter().next(),
            _ => None,
        })
    }
}

#[async_trait]
impl TimelineStore for DynamoStore {
    async fn timeline(&self, sku: &Sku, limit: u32) -> Result<Vec<TimelineEntry>, LedgerError> {
        let mut entries = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p AND begins_with(sk, :e)")
                .expression_attribute_values(":p", s(sku_pk(sku)))
                .expression_attribute_values(":e", s(EVENT_PREFIX))
                .scan_index_forward(false)
                .limit((limit.max(1) as usize - entries.len()).min(1000) as i32)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(store_err)?;
            for item in out.items() {
                entries.push(event_from_item(item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() || entries.len() >= limit.max(1) as usize {
                break;
            }
        }
        entries.reverse();
        Ok(entries)
    }
}
