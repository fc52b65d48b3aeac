//! [`PushStore`] on DynamoDB: the last confirmed push lives on the listing item
//! (`pushed_version`, `pushed_qty`, `pushed_at`, `pushed_sold`, `rev_day`, `revisions`,
//! `last_error`), written with a condition so racing pushers never move it backwards; the
//! values it replaced tell a pusher whether another confirmed a push since its read.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{ReturnValue, TransactWriteItem, Update};

use super::codec::*;
use super::store::{DynamoStore, build_err, now};
use crate::domain::push::PushRecord;
use crate::domain::{Channel, Event, LineId, LineRecord, OrderId, Sku, Unheard};
use crate::ports::{
    DriftStore, GuardFlag, GuardFlags, LedgerError, ListingFlag, Page, PushStore, PushView,
    Recorded,
};

fn record_from_item(item: &Item) -> Result<Option<PushRecord>, LedgerError> {
    let r = Reader::new(item, "listing");
    let Some(version) = r.opt_num("pushed_version")? else {
        return Ok(None);
    };
    Ok(Some(PushRecord {
        version,
        qty: r.num("pushed_qty")?,
        at: r.num("pushed_at")?,
        sold: r.opt_num("pushed_sold")?.unwrap_or(0),
        rev_day: r.opt_num("rev_day")?.unwrap_or(0),
        revisions: r.opt_num("revisions")?.unwrap_or(0),
    }))
}

impl DynamoStore {
    fn listing_push_update(
        &self,
        sku: &Sku,
        channel: Channel,
        expr: &str,
        condition: &str,
        values: Vec<(&str, aws_sdk_dynamodb::types::AttributeValue)>,
    ) -> Result<TransactWriteItem, LedgerError> {
        let mut b = Update::builder()
            .table_name(&self.table)
            .set_key(Some(listing_key(sku, channel)))
            .update_expression(expr)
            .condition_expression(condition);
        for (k, v) in values {
            b = b.expression_attribute_values(k, v);
        }
        Ok(TransactWriteItem::builder()
            .update(b.build().map_err(build_err)?)
            .build())
    }
}

impl DynamoStore {
    async fn views(
        &self,
        skus: &[Sku],
        channel: Channel,
        consistent: bool,
    ) -> Result<Vec<PushView>, LedgerError> {
        let mut keys = Vec::with_capacity(skus.len() * 2);
        for sku in skus {
            keys.push(stock_key(sku));
            keys.push(listing_key(sku, channel));
        }
        let items = self.batch_get_with(keys, consistent).await?;
        let mut stocks = std::collections::HashMap::new();
        let mut listings = std::collections::HashMap::new();
        for item in &items {
            let sk = Reader::new(item, "item")
                .str(super::schema::SK)?
                .to_string();
            if sk == super::schema::STOCK_SK {
                let st = stock_from_item(item)?;
                stocks.insert(st.sku.clone(), st);
            } else {
                let l = listing_from_item(item)?;
                let r = Reader::new(item, "listing");
                let broken = r.opt_str("mismatch").map(str::to_string);
                let lag = r.opt_str("lag_alerted").is_some();
                listings.insert(l.sku.clone(), (l, record_from_item(item)?, broken, lag));
            }
        }
        Ok(skus
            .iter()
            .filter_map(|sku| {
                let stock = stocks.get(sku)?.clone();
                let (listing, record, broken, lag_alerted) = listings.get(sku)?.clone();
                Some(PushView {
                    stock,
                    listing,
                    record,
                    broken,
                    lag_alerted,
                })
            })
            .collect())
    }
}

#[async_trait]
impl PushStore for DynamoStore {
    async fn mark_broken(
        &self,
        sku: &Sku,
        channel: Channel,
        problem: &str,
    ) -> Result<bool, LedgerError> {
        self.set_listing_flag(sku, channel, ListingFlag::Mismatch, Some(problem))
            .await
    }

    async fn push_views(
        &self,
        skus: &[Sku],
        channel: Channel,
    ) -> Result<Vec<PushView>, LedgerError> {
        self.views(skus, channel, true).await
    }

    async fn record_push(
        &self,
        sku: &Sku,
        channel: Channel,
        rec: &PushRecord,
        read: Option<&PushRecord>,
        event: Event,
    ) -> Result<Recorded, LedgerError> {
        // Two plain writes, not a transaction: half the write units on the path every
        // sale takes three times. The condition keeps the record from moving backwards;
        // the old values it returns tell whether another pusher confirmed a push since
        // `read`. If the timeline write after it fails, a line of history is lost, never
        // a count.
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(listing_key(sku, channel)))
            .update_expression(
                "SET pushed_version = :v, pushed_qty = :q, pushed_at = :at, pushed_sold = :s, \
                 rev_day = :d, revisions = :r REMOVE last_error, last_error_at",
            )
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(pushed_version) OR pushed_version <= :v)",
            )
            .return_values(ReturnValue::AllOld)
            .expression_attribute_values(":v", n(rec.version))
            .expression_attribute_values(":q", n(rec.qty))
            .expression_attribute_values(":at", n(rec.at))
            .expression_attribute_values(":s", n(rec.sold))
            .expression_attribute_values(":d", n(rec.rev_day))
            .expression_attribute_values(":r", n(rec.revisions));
        let over = match update.send().await {
            Ok(out) => record_from_item(&out.attributes.unwrap_or_default())?,
            Err(e) if condition_failed(&e) => return Ok(Recorded::Newer),
            Err(e) => return Err(super::store::store_err(e)),
        };
        let entry = crate::domain::TimelineEntry {
            sku: sku.clone(),
            at: rec.at,
            id: uuid::Uuid::new_v4().simple().to_string()[..16].to_string(),
            event,
        };
        if let Err(e) = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(event_to_item(&entry, rec.at / 1000 + self.ttl_secs)))
            .send()
            .await
        {
            tracing::warn!(sku = %sku, error = %crate::aws::describe_sdk_error(&e), "push recorded; its timeline entry was not written");
        }
        Ok(Recorded::over(over.as_ref(), read))
    }

    async fn set_unheard(
        &self,
        sku: &Sku,
        channel: Channel,
        unheard: Option<&Unheard>,
        version: u64,
    ) -> Result<bool, LedgerError> {
        let [units, sold_at, at] = unheard_attrs(channel);
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(stock_key(sku)))
            .condition_expression("#v = :v")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":v", n(version))
            .expression_attribute_values(":one", n(1));
        update = match unheard {
            Some(u) => update
                .update_expression(format!(
                    "SET {units} = :units, {sold_at} = :sold, {at} = :at, #v = #v + :one"
                ))
                .expression_attribute_values(":units", n(u.units))
                .expression_attribute_values(":sold", n(u.sold_at))
                .expression_attribute_values(":at", n(u.at)),
            None => update.update_expression(format!(
                "SET #v = #v + :one REMOVE {units}, {sold_at}, {at}"
            )),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(super::store::store_err(e)),
        }
    }

    async fn note_push(
        &self,
        sku: &Sku,
        channel: Channel,
        event: Event,
    ) -> Result<(), LedgerError> {
        let at = now();
        let error = event.error().unwrap_or(event.kind().as_str()).to_string();
        let tx = vec![
            self.listing_push_update(
                sku,
                channel,
                "SET last_error = :e, last_error_at = :at",
                "attribute_exists(pk)",
                vec![(":e", s(error)), (":at", n(at))],
            )?,
            self.event(sku, at, event)?,
        ];
        self.transact(tx)
            .await
            .map_err(|e| e.into_error("note push"))
    }

    async fn take_lease(
        &self,
        key: &str,
        holder: &str,
        until: crate::domain::Millis,
    ) -> Result<bool, LedgerError> {
        let mut item = lease_key(key);
        item.insert("holder".into(), s(holder));
        item.insert("until".into(), n(until));
        // Left behind by a pusher that died holding it: DynamoDB's TTL sweeps it.
        item.insert(super::schema::TTL_ATTRIBUTE.into(), n(until / 1000 + 3600));
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #u < :now OR holder = :h")
            .expression_attribute_names("#u", "until")
            .expression_attribute_values(":now", n(now()))
            .expression_attribute_values(":h", s(holder))
            .send()
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(super::store::store_err(e)),
        }
    }

    async fn drop_lease(&self, key: &str, holder: &str) -> Result<(), LedgerError> {
        let r = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(lease_key(key)))
            .condition_expression("holder = :h")
            .expression_attribute_values(":h", s(holder))
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            // Run out and taken by another pusher: theirs now.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(super::store::store_err(e)),
        }
    }
}

fn lease_key(key: &str) -> Item {
    std::collections::HashMap::from([
        (super::schema::PK.into(), s(format!("LEASE#{key}"))),
        (super::schema::SK.into(), s("LEASE")),
    ])
}

fn checkpoint_key(name: &str) -> Item {
    std::collections::HashMap::from([
        (super::schema::PK.into(), s(format!("CHECKPOINT#{name}"))),
        (super::schema::SK.into(), s("CHECKPOINT")),
    ])
}

fn condition_failed<R>(
    e: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::update_item::UpdateItemError,
        R,
    >,
) -> bool {
    e.as_service_error()
        .is_some_and(|s| s.is_conditional_check_failed_exception())
}

#[async_trait]
impl DriftStore for DynamoStore {
    async fn lines(
        &self,
        channel: Channel,
        keys: &[(OrderId, LineId)],
    ) -> Result<Vec<LineRecord>, LedgerError> {
        let mut unique: Vec<&(OrderId, LineId)> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        let keys = unique
            .into_iter()
            .map(|(o, l)| line_key(channel, o, l))
            .collect();
        // Eventually consistent: a record missed by a moment is applied again, which the
        // ledger turns into a duplicate; one seen is never undone.
        self.batch_get_with(keys, false)
            .await?
            .iter()
            .map(line_from_item)
            .collect()
    }

    async fn listing_views(
        &self,
        channel: Channel,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<PushView>, LedgerError> {
        use super::schema::{GSI1, GSI1_PK, GSI1_SK, listing_gsi_pk};
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .expression_attribute_names("#p", GSI1_PK)
            .expression_attribute_values(":p", s(listing_gsi_pk(channel)))
            .limit(limit.clamp(1, 100) as i32);
        q = match after {
            Some(a) => q
                .key_condition_expression("#p = :p AND #s > :a")
                .expression_attribute_names("#s", GSI1_SK)
                .expression_attribute_values(":a", s(a)),
            None => q.key_condition_expression("#p = :p"),
        };
        let out = q.send().await.map_err(super::store::store_err)?;
        let skus: Vec<Sku> = out
            .items()
            .iter()
            .filter_map(|i| i.get(GSI1_SK).and_then(|v| v.as_s().ok()))
            .filter_map(|sku| Sku::parse(sku.as_str()).ok())
            .collect();
        // Eventually consistent: half the read units; the drift check re-reads (strongly)
        // whatever it is about to act on.
        let items = self.views(&skus, channel, false).await?;
        let next = out
            .last_evaluated_key
            .is_some()
            .then(|| skus.last().map(ToString::to_string))
            .flatten();
        Ok(Page { items, next })
    }

    async fn checkpoint(&self, name: &str) -> Result<Option<String>, LedgerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(checkpoint_key(name)))
            .consistent_read(true)
            .send()
            .await
            .map_err(super::store::store_err)?;
        Ok(out.item.as_ref().and_then(|i| {
            Reader::new(i, "checkpoint")
                .opt_str("value")
                .map(str::to_string)
        }))
    }

    async fn set_checkpoint(&self, name: &str, value: &str) -> Result<(), LedgerError> {
        let mut item = checkpoint_key(name);
        item.insert("value".into(), s(value));
        item.insert("updated_at".into(), n(now()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(super::store::store_err)
    }

    async fn drift_runs(
        &self,
        sku: &Sku,
        channel: Channel,
        drifted: bool,
    ) -> Result<u32, LedgerError> {
        let b = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(listing_key(sku, channel)))
            .condition_expression("attribute_exists(pk)")
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew);
        let b = if drifted {
            b.update_expression("ADD drift_runs :one")
                .expression_attribute_values(":one", n(1))
        } else {
            b.update_expression("SET drift_runs = :zero")
                .expression_attribute_values(":zero", n(0))
        };
        match b.send().await {
            Ok(out) => Ok(out
                .attributes
                .and_then(|a| {
                    a.get("drift_runs")
                        .and_then(|v| v.as_n().ok())
                        .and_then(|v| v.parse().ok())
                })
                .unwrap_or(0)),
            Err(e) if condition_failed(&e) => Ok(0),
            Err(e) => Err(super::store::store_err(e)),
        }
    }

    async fn set_listing_flag(
        &self,
        sku: &Sku,
        channel: Channel,
        flag: ListingFlag,
        value: Option<&str>,
    ) -> Result<bool, LedgerError> {
        let attr = flag.attribute();
        let b = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(listing_key(sku, channel)));
        let b = match value {
            Some(v) => b
                .update_expression(format!("SET {attr} = :m"))
                .condition_expression(format!(
                    "attribute_exists(pk) AND attribute_not_exists({attr})"
                ))
                .expression_attribute_values(":m", s(v)),
            None => b
                .update_expression(format!("REMOVE {attr}"))
                .condition_expression(format!("attribute_exists({attr})")),
        };
        match b.send().await {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(super::store::store_err(e)),
        }
    }

    async fn add_event(&self, sku: &Sku, event: Event) -> Result<(), LedgerError> {
        self.transact(vec![self.event(sku, now(), event)?])
            .await
            .map_err(|e| e.into_error("timeline entry"))
    }
}

impl DynamoStore {
    /// Set a SKU's primary channel and its own last-unit level (`Some(None)` removes the
    /// level, so the global one applies). A timeline entry records the change.
    pub async fn set_guard(
        &self,
        sku: &Sku,
        primary: Option<Channel>,
        last_units: Option<Option<u32>>,
        actor: &str,
    ) -> Result<(), LedgerError> {
        let mut sets = Vec::new();
        let mut removes = Vec::new();
        let mut b = Update::builder()
            .table_name(&self.table)
            .set_key(Some(stock_key(sku)))
            .condition_expression("attribute_exists(pk)");
        if let Some(p) = primary {
            // PRIMARY is a DynamoDB reserved word.
            sets.push("#pr = :p");
            b = b
                .expression_attribute_names("#pr", "primary")
                .expression_attribute_values(":p", s(p.as_str()));
        }
        match last_units {
            Some(Some(l)) => {
                sets.push("last_units = :l");
                b = b.expression_attribute_values(":l", n(l));
            }
            Some(None) => removes.push("last_units"),
            None => {}
        }
        if sets.is_empty() && removes.is_empty() {
            return Ok(());
        }
        // What the channels should list changes: a new version orders the pushes.
        sets.push("#v = #v + :one");
        b = b
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":one", n(1));
        let mut expr = String::new();
        if !sets.is_empty() {
            expr.push_str(&format!("SET {}", sets.join(", ")));
        }
        if !removes.is_empty() {
            expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let level = match last_units {
            Some(Some(l)) => l.to_string(),
            Some(None) => "global".into(),
            None => "unchanged".into(),
        };
        let event = Event::ListingChanged {
            channel: None,
            refs: format!(
                "protection: primary {}, last-unit level {level}",
                primary.map_or("unchanged".to_string(), |p| p.to_string()),
            ),
            buffer: None,
            max_qty: None,
            paused: None,
            actor: Some(actor.to_string()),
        };
        let tx = vec![
            TransactWriteItem::builder()
                .update(
                    b.update_expression(expr.trim())
                        .build()
                        .map_err(build_err)?,
                )
                .build(),
            self.event(sku, now(), event)?,
        ];
        match self.transact(tx).await {
            Ok(()) => Ok(()),
            Err(e) if e.failed(0) => Err(LedgerError::UnknownSku(sku.clone())),
            Err(e) => Err(e.into_error("set protection")),
        }
    }
}

#[async_trait]
impl GuardFlags for DynamoStore {
    async fn set_guard_flag(
        &self,
        sku: &Sku,
        flag: GuardFlag,
        value: bool,
        event: Event,
    ) -> Result<bool, LedgerError> {
        let attr = flag.attribute();
        let condition = if value {
            format!("attribute_exists(pk) AND (attribute_not_exists({attr}) OR {attr} = :no)")
        } else {
            format!("{attr} = :yes")
        };
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(stock_key(sku)))
            .condition_expression(condition)
            .expression_attribute_values(
                ":v",
                aws_sdk_dynamodb::types::AttributeValue::Bool(value),
            );
        let update = if flag.changes_targets() {
            update
                .update_expression(format!("SET {attr} = :v, #v = #v + :one"))
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":one", n(1))
        } else {
            update.update_expression(format!("SET {attr} = :v"))
        };
        let update = if value {
            update.expression_attribute_values(
                ":no",
                aws_sdk_dynamodb::types::AttributeValue::Bool(false),
            )
        } else {
            update.expression_attribute_values(
                ":yes",
                aws_sdk_dynamodb::types::AttributeValue::Bool(true),
            )
        };
        let tx = vec![
            TransactWriteItem::builder()
                .update(update.build().map_err(build_err)?)
                .build(),
            self.event(sku, now(), event)?,
        ];
        match self.transact(tx).await {
            Ok(()) => Ok(true),
            Err(e) if e.failed(0) => Ok(false),
            Err(e) => Err(e.into_error("set SKU flag")),
        }
    }
}
