//! [`Inbox`] on the ledger table: delivery ids seen (`DELIVERY#<channel>#<id>`, kept a
//! week) and quarantined webhooks (`QUARANTINE / <ms>#<id>`, kept like the timeline).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use super::codec::{Reader, n, s};
use super::schema::{PK, SK, TTL_ATTRIBUTE};
use super::store::{DynamoStore, now, store_err};
use crate::domain::Channel;
use crate::ports::{Inbox, LedgerError, QUARANTINE_TTL_SECS, Quarantined};

const DELIVERY_TTL_SECS: i64 = 7 * 86_400;
const QUARANTINE_PK: &str = "QUARANTINE";

fn delivery_key(channel: Channel, id: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (PK.into(), s(format!("DELIVERY#{channel}#{id}"))),
        (SK.into(), s("D")),
    ])
}

#[async_trait]
impl Inbox for DynamoStore {
    async fn delivery_seen(
        &self,
        channel: Channel,
        delivery_id: &str,
    ) -> Result<bool, LedgerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(channel, delivery_id)))
            .send()
            .await
            .map_err(store_err)?;
        Ok(out.item.is_some())
    }

    async fn mark_delivery(&self, channel: Channel, delivery_id: &str) -> Result<(), LedgerError> {
        let mut item = delivery_key(channel, delivery_id);
        item.insert(TTL_ATTRIBUTE.into(), n(now() / 1000 + DELIVERY_TTL_SECS));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn quarantine(&self, q: &Quarantined) -> Result<String, LedgerError> {
        let headers =
            serde_json::to_string(&q.headers).map_err(|e| LedgerError::Store(e.to_string()))?;
        let item = HashMap::from([
            (PK.into(), s(QUARANTINE_PK)),
            (SK.into(), s(format!("{:013}#{}", q.received_at, q.id))),
            ("qid".into(), s(&q.id)),
            ("channel".into(), s(q.channel.as_str())),
            ("reason".into(), s(&q.reason)),
            ("received_at".into(), n(q.received_at)),
            ("headers".into(), s(headers)),
            ("body".into(), AttributeValue::B(Blob::new(q.body.clone()))),
            (
                TTL_ATTRIBUTE.into(),
                n(q.received_at / 1000 + QUARANTINE_TTL_SECS),
            ),
        ]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(store_err)?;
        Ok(q.id.clone())
    }

    async fn quarantined(&self, limit: u32) -> Result<Vec<Quarantined>, LedgerError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s(QUARANTINE_PK))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .map_err(store_err)?;
        out.items()
            .iter()
            .map(|item| {
                let r = Reader::new(item, "quarantine record");
                Ok(Quarantined {
                    id: r.str("qid")?.to_string(),
                    channel: r.channel("channel")?,
                    reason: r.str("reason")?.to_string(),
                    received_at: r.num("received_at")?,
                    headers: serde_json::from_str(r.str("headers")?)
                        .map_err(|e| LedgerError::Store(e.to_string()))?,
                    body: match item.get("body") {
                        Some(AttributeValue::B(b)) => b.as_ref().to_vec(),
                        _ => Vec::new(),
                    },
                })
            })
            .collect()
    }
}
