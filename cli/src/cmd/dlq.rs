//! `onecount dlq list|redrive`: what the order and push queues gave up on, and sending it
//! back once the cause is fixed.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Result, bail};
use serde_json::json;

use onecount::aws::sqs::depth;

use super::Reply;
use crate::args::{DlqCmd, QueueName};
use crate::output;

pub(super) struct QueuePair {
    pub name: QueueName,
    pub queue: Option<String>,
    pub dlq: Option<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

pub(super) fn queues(only: Option<QueueName>) -> Vec<QueuePair> {
    QueueName::all()
        .into_iter()
        .filter(|n| only.is_none_or(|o| o == *n))
        .map(|name| {
            let (q, d) = name.env();
            QueuePair {
                name,
                queue: env(&q),
                dlq: env(&d),
            }
        })
        .collect()
}

pub(super) fn queue_label(n: QueueName) -> String {
    n.label()
}

fn dlq_env(n: QueueName) -> String {
    n.env().1
}

/// One line about a dead message: what it was for (never the raw payload).
fn describe(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    if let (Some(sku), Some(ch)) = (v["sku"].as_str(), v["channel"].as_str()) {
        return format!(
            "push {sku} to {ch} ({})",
            v["cause"].as_str().unwrap_or("no cause")
        );
    }
    if let (Some(ch), Some(topic)) = (v["channel"].as_str(), v["topic"].as_str()) {
        let action = v["action"]
            .as_object()
            .and_then(|a| a.keys().next().cloned())
            .or_else(|| v["action"].as_str().map(str::to_string))
            .unwrap_or_default();
        return format!(
            "{ch} {topic} {action} (delivery {})",
            v["delivery_id"].as_str().unwrap_or("?")
        );
    }
    format!("unrecognised message ({} bytes)", body.len())
}

pub async fn run(cmd: DlqCmd) -> Result<Reply> {
    let sdk = onecount::aws::load_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    match cmd {
        DlqCmd::List { queue, limit } => list(&sqs, queue, limit).await,
        DlqCmd::Redrive { queue } => redrive(&sqs, queue).await,
    }
}

/// Each dead-letter queue's depth and its first messages (peeked: they stay there).
async fn list(sqs: &aws_sdk_sqs::Client, queue: Option<QueueName>, limit: usize) -> Result<Reply> {
    let mut out = Vec::new();
    for q in queues(queue) {
        let Some(dlq) = &q.dlq else {
            out.push(json!({"queue": queue_label(q.name), "configured": false, "hint": format!("set {}", dlq_env(q.name))}));
            continue;
        };
        let depth = depth(sqs, dlq).await?;
        let msgs = peek(sqs, q.name, dlq, depth, limit).await?;
        out.push(json!({"queue": queue_label(q.name), "configured": true, "depth": depth,
            "messages": msgs.into_iter().map(|(id, what)| json!({"id": id, "what": what})).collect::<Vec<_>>()}));
    }
    let mut text = String::new();
    let mut t = output::table(&["dead-letter queue", "messages", "first ones"]);
    for q in &out {
        let first = q["messages"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|x| x["what"].as_str().unwrap_or_default().to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_else(|| q["hint"].as_str().unwrap_or_default().to_string());
        t.add_row(vec![
            q["queue"].as_str().unwrap_or_default().to_string(),
            q["depth"].as_i64().map_or("-".into(), |d| d.to_string()),
            first,
        ]);
    }
    let _ = writeln!(text, "{t}");
    let _ = writeln!(
        text,
        "After fixing the cause (see `onecount timeline SKU`), send them back with `onecount dlq redrive`."
    );
    Ok(Reply::new(&out, text))
}

/// Up to `limit` messages of a DLQ, received with no visibility timeout.
async fn peek(
    sqs: &aws_sdk_sqs::Client,
    name: QueueName,
    dlq: &str,
    depth: i64,
    limit: usize,
) -> Result<BTreeMap<String, String>> {
    let mut msgs = BTreeMap::new();
    for _ in 0..3 {
        if msgs.len() >= limit || depth == 0 {
            break;
        }
        let r = sqs
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(limit.clamp(1, 10) as i32)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "reading {}: {}",
                    queue_label(name),
                    onecount::aws::describe_sdk_error(&e)
                )
            })?;
        for m in r.messages.unwrap_or_default() {
            if msgs.len() < limit {
                msgs.insert(
                    m.message_id.clone().unwrap_or_default(),
                    describe(m.body.as_deref().unwrap_or_default()),
                );
            }
        }
    }
    Ok(msgs)
}

/// Send every message of the DLQs back to their queues.
async fn redrive(sqs: &aws_sdk_sqs::Client, queue: Option<QueueName>) -> Result<Reply> {
    let mut moved = BTreeMap::new();
    for q in queues(queue) {
        let (Some(from), Some(to)) = (&q.dlq, &q.queue) else {
            if queue.is_some() {
                bail!(
                    "{} is not configured: set {} and its queue URL (stack outputs)",
                    queue_label(q.name),
                    dlq_env(q.name)
                );
            }
            continue;
        };
        let n = onecount::aws::sqs::redrive(sqs, from, to).await?;
        moved.insert(queue_label(q.name), n);
    }
    if moved.is_empty() {
        bail!(
            "no queue configured: set ONECOUNT_ORDER_DLQ_URL, ONECOUNT_PUSH_DLQ_URL_<CHANNEL> and their queue URLs (stack outputs)"
        );
    }
    let text: Vec<String> = moved
        .iter()
        .map(|(q, n)| format!("{q}: {n} message(s) sent back to the queue"))
        .collect();
    Ok(Reply::new(&moved, text.join("\n")))
}
