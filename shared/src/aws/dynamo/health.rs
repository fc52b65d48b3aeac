//! [`ChannelHealth`] on DynamoDB: one item per channel (`HEALTH#<channel>` / `HEALTH`)
//! while an episode is open. Opening is one `UpdateItem` whose old image says whether
//! this caller opened it (so one alert per episode however many pushers fail at once);
//! closing is one conditional `DeleteItem` whose old image names the waiting SKUs.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::codec::*;
use super::store::{DynamoStore, store_err};
use crate::channels::OrderEvent;
use crate::domain::{Channel, Sku};
use crate::ports::{ChannelHealth, Episode, EpisodeKind, LedgerError};

fn health_key(channel: Channel) -> Item {
    std::collections::HashMap::from([
        (super::schema::PK.into(), s(format!("HEALTH#{channel}"))),
        (super::schema::SK.into(), s("HEALTH")),
    ])
}

/// A parked order event: in the channel's health partition, oldest first.
fn parked_key(ev: &OrderEvent) -> Item {
    std::collections::HashMap::from([
        (
            super::schema::PK.into(),
            s(format!("HEALTH#{}", ev.channel)),
        ),
        (
            super::schema::SK.into(),
            s(format!(
                "ORDER#{:013}#{}",
                ev.received_at.max(0),
                ev.delivery_id
            )),
        ),
    ])
}

fn kind_of(v: Option<&str>) -> Option<EpisodeKind> {
    match v? {
        "auth" => Some(EpisodeKind::Auth),
        "down" => Some(EpisodeKind::Down),
        _ => None,
    }
}

fn episode_from(channel: Channel, item: &Item) -> Result<Option<Episode>, LedgerError> {
    let r = Reader::new(item, "channel health");
    let Some(kind) = kind_of(r.opt_str("kind")) else {
        return Ok(None);
    };
    Ok(Some(Episode {
        channel,
        kind,
        since: r.num("since")?,
        error: r.opt_str("error").unwrap_or_default().to_string(),
        waiting: r
            .string_set("waiting")
            .into_iter()
            .filter_map(|s| Sku::parse(s).ok())
            .collect(),
    }))
}

#[async_trait]
impl ChannelHealth for DynamoStore {
    async fn open_episode(
        &self,
        channel: Channel,
        kind: EpisodeKind,
        sku: Option<&Sku>,
        error: &str,
    ) -> Result<bool, LedgerError> {
        // An auth episode replaces a down one; a down one never replaces an auth one.
        let set_kind = match kind {
            EpisodeKind::Auth => "#k = :k",
            EpisodeKind::Down => "#k = if_not_exists(#k, :k)",
        };
        let mut expr = format!("SET {set_kind}, since = if_not_exists(since, :now), #e = :e");
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(health_key(channel)))
            .expression_attribute_names("#k", "kind")
            .expression_attribute_names("#e", "error")
            .expression_attribute_values(":k", s(kind.as_str()))
            .expression_attribute_values(":now", n(crate::clock::now_ms()))
            .expression_attribute_values(":e", s(error.chars().take(500).collect::<String>()))
            .return_values(ReturnValue::AllOld);
        if let Some(sku) = sku {
            expr.push_str(" ADD waiting :w");
            req = req.expression_attribute_values(":w", AttributeValue::Ss(vec![sku.to_string()]));
        }
        let out = req
            .update_expression(expr)
            .send()
            .await
            .map_err(store_err)?;
        let was = out
            .attributes
            .as_ref()
            .and_then(|a| kind_of(Reader::new(a, "channel health").opt_str("kind")));
        Ok(match kind {
            EpisodeKind::Auth => was != Some(EpisodeKind::Auth),
            EpisodeKind::Down => was.is_none(),
        })
    }

    async fn close_episode(&self, channel: Channel) -> Result<Option<Episode>, LedgerError> {
        let r = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(health_key(channel)))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match r {
            Ok(out) => match out.attributes {
                Some(a) => episode_from(channel, &a),
                None => Ok(None),
            },
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(store_err(e)),
        }
    }

    async fn episode(&self, channel: Channel) -> Result<Option<Episode>, LedgerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(health_key(channel)))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_err)?;
        match out.item {
            Some(i) => episode_from(channel, &i),
            None => Ok(None),
        }
    }

    async fn park_order(&self, ev: &OrderEvent) -> Result<(), LedgerError> {
        let mut item = parked_key(ev);
        let body = serde_json::to_string(ev).map_err(|e| LedgerError::Invalid(e.to_string()))?;
        item.insert("event".into(), s(body));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn parked_orders(
        &self,
        channel: Channel,
        limit: u32,
    ) -> Result<Vec<OrderEvent>, LedgerError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p AND begins_with(sk, :o)")
            .expression_attribute_values(":p", s(format!("HEALTH#{channel}")))
            .expression_attribute_values(":o", s("ORDER#"))
            .consistent_read(true)
            .limit(limit.max(1) as i32)
            .send()
            .await
            .map_err(store_err)?;
        out.items()
            .iter()
            .map(|i| {
                let body = Reader::new(i, "parked order").str("event")?;
                serde_json::from_str(body)
                    .map_err(|e| LedgerError::Invalid(format!("a parked order is unreadable: {e}")))
            })
            .collect()
    }

    async fn unpark_order(&self, ev: &OrderEvent) -> Result<(), LedgerError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(parked_key(ev)))
            .send()
            .await
            .map_err(store_err)?;
        Ok(())
    }
}
