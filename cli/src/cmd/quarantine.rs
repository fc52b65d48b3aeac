//! `onecount quarantine list`: webhooks and order lines kept because onecount could not use
//! them.

use anyhow::Result;
use serde_json::json;

use onecount::aws::dynamo::DynamoStore;

use super::Reply;
use crate::args::QuarantineCmd;
use crate::output;

pub async fn run(store: &DynamoStore, cmd: QuarantineCmd) -> Result<Reply> {
    let QuarantineCmd::List { limit } = cmd;
    let items = onecount::ports::Inbox::quarantined(store, limit).await?;
    let v: Vec<_> = items
        .iter()
        .map(|q| {
            let summary: serde_json::Value = serde_json::from_slice(&q.body).unwrap_or_default();
            json!({"id": q.id, "channel": q.channel, "reason": q.reason, "received_at": q.received_at, "headers": q.headers, "body": summary})
        })
        .collect();
    Ok(Reply::new(&v, output::quarantine(&items)))
}
