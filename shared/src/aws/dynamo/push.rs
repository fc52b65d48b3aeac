//! [`PushStore`] on DynamoDB: the last confirmed push lives on the listing item
//! (`pushed_version`, `pushed_qty`, `pushed_at`, `pushed_sold`, `rev_day`, `revisions`,
//! `last_error`), written with a condition so racing pushers never move it backwards.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

use super::codec::*;
use super::store::{DynamoStore, build_err, now};
use crate::domain::push::PushRecord;
use crate::domain::{Channel, EventKind, Sku};
use crate::ports::{LedgerError, PushStore, PushView};

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

#[async_trait]
impl PushStore for DynamoStore {
    async fn push_views(
        &self,
        skus: &[Sku],
        channel: Channel,
    ) -> Result<Vec<PushView>, LedgerError> {
        let mut keys = Vec::with_capacity(skus.len() * 2);
        for sku in skus {
            keys.push(stock_key(sku));
            keys.push(listing_key(sku, channel));
        }
        let items = self.batch_get(keys).await?;
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
                listings.insert(l.sku.clone(), (l, record_from_item(item)?));
            }
        }
        Ok(skus
            .iter()
            .filter_map(|sku| {
                let stock = stocks.get(sku)?.clone();
                let (listing, record) = listings.get(sku)?.clone();
                Some(PushView {
                    stock,
                    listing,
                    record,
                })
            })
            .collect())
    }

    async fn record_push(
        &self,
        sku: &Sku,
        channel: Channel,
        rec: &PushRecord,
        event: serde_json::Value,
    ) -> Result<bool, LedgerError> {
        let tx = vec![
            self.listing_push_update(
                sku,
                channel,
                "SET pushed_version = :v, pushed_qty = :q, pushed_at = :at, pushed_sold = :s, \
                 rev_day = :d, revisions = :r REMOVE last_error, last_error_at",
                "attribute_exists(pk) AND (attribute_not_exists(pushed_version) OR pushed_version <= :v)",
                vec![
                    (":v", n(rec.version)),
                    (":q", n(rec.qty)),
                    (":at", n(rec.at)),
                    (":s", n(rec.sold)),
                    (":d", n(rec.rev_day)),
                    (":r", n(rec.revisions)),
                ],
            )?,
            self.event(sku, rec.at, EventKind::Pushed, event)?,
        ];
        match self.transact(tx).await {
            Ok(()) => Ok(true),
            Err(e) if e.failed(0) => Ok(false),
            Err(e) => Err(e.into_error("record push")),
        }
    }

    async fn note_push(
        &self,
        sku: &Sku,
        channel: Channel,
        kind: EventKind,
        data: serde_json::Value,
    ) -> Result<(), LedgerError> {
        let at = now();
        let error = data
            .get("error")
            .and_then(serde_json::Value::as_str)
            .unwrap_or(kind.as_str())
            .to_string();
        let tx = vec![
            self.listing_push_update(
                sku,
                channel,
                "SET last_error = :e, last_error_at = :at",
                "attribute_exists(pk)",
                vec![(":e", s(error)), (":at", n(at))],
            )?,
            self.event(sku, at, kind, data)?,
        ];
        self.transact(tx)
            .await
            .map_err(|e| e.into_error("note push"))
    }
}
