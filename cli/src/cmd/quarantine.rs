//! `onecount quarantine list`: webhooks and order lines kept because onecount could not use
//! them.

use anyhow::Result;
use base64::Engine;
use serde_json::json;

use onecount::aws::dynamo::DynamoStore;

use super::Reply;
use crate::args::QuarantineCmd;
use crate::output;

pub async fn run(store: &DynamoStore, cmd: QuarantineCmd) -> Result<Reply> {
    let QuarantineCmd::List { limit } = cmd;
    let items = onecount::ports::Inbox::quarantined(store, limit).await?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let v: Vec<_> = items
        .iter()
        .map(|q| json!({"id": q.id, "channel": q.channel, "reason": q.reason, "received_at": q.received_at, "headers": q.headers, "body_base64": b64.encode(&q.body)}))
        .collect();
    Ok(Reply::new(&v, output::quarantine(&items)))
}
