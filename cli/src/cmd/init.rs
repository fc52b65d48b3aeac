//! `onecount init`: the table, with the schema the SAM template declares.

use anyhow::Result;
use serde_json::json;

use onecount::aws::dynamo::DynamoStore;

use super::Reply;

pub async fn run(store: &DynamoStore) -> Result<Reply> {
    let r = store.init().await?;
    let what = if r.created {
        "created"
    } else {
        "already exists; schema matches"
    };
    let on_off = |b: bool, off: &str| if b { "on".to_string() } else { off.to_string() };
    let text = format!(
        "table {} {what}\n  timeline TTL: {}\n  point-in-time recovery: {}",
        r.table,
        on_off(r.ttl_enabled, "off"),
        on_off(r.point_in_time_recovery, "not available on this endpoint"),
    );
    Ok(Reply::new(
        &json!({"table": r.table, "created": r.created, "ttl_enabled": r.ttl_enabled, "point_in_time_recovery": r.point_in_time_recovery}),
        text,
    ))
}
