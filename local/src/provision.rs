//! Creates what the SAM template declares, on the local endpoint: queues with DLQs and
//! redrive, the alert topic. Idempotent (SQS and SNS create calls return the existing one).

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;
use onecount::Channel;
use onecount::aws::describe_sdk_error;

#[derive(Debug, Clone)]
pub struct Resources {
    pub table: String,
    pub order_queue: String,
    pub order_dlq: String,
    /// (channel, queue URL, DLQ URL) for each connected channel, in channel order.
    pub push_queues: Vec<(Channel, String, String)>,
    pub topic_arn: String,
}

async fn queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    visibility: i32,
    redrive_to: Option<(&str, u32)>,
) -> Result<String> {
    let mut req = sqs.create_queue().queue_name(name).attributes(
        QueueAttributeName::VisibilityTimeout,
        visibility.to_string(),
    );
    if let Some((arn, max)) = redrive_to {
        req = req.attributes(
            QueueAttributeName::RedrivePolicy,
            serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max.to_string()})
                .to_string(),
        );
    }
    let out = req
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("creating queue {name}: {}", describe_sdk_error(&e)))?;
    out.queue_url.context("CreateQueue returned no URL")
}

async fn arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("reading queue ARN: {}", describe_sdk_error(&e)))?;
    out.attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .context("no QueueArn")
}

/// Messages waiting (visible + in flight) on a queue.
pub async fn provision(
    sdk: &SdkConfig,
    prefix: &str,
    visibility: i32,
    max_receive: u32,
) -> Result<Resources> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let order_dlq = queue(
        &sqs,
        &format!("{prefix}-order-events-dlq"),
        visibility,
        None,
    )
    .await?;
    let dlq_arn = arn(&sqs, &order_dlq).await?;
    let order_queue = queue(
        &sqs,
        &format!("{prefix}-order-events"),
        visibility,
        Some((&dlq_arn, max_receive)),
    )
    .await?;
    let mut push_queues = Vec::new();
    for ch in Channel::CONNECTED {
        let dlq = queue(&sqs, &format!("{prefix}-push-{ch}-dlq"), visibility, None).await?;
        let dlq_arn = arn(&sqs, &dlq).await?;
        // Pushers set their own retry delay on failure; the timeout only has to outlast
        // a slow, rate-paced invocation.
        let q = queue(
            &sqs,
            &format!("{prefix}-push-{ch}"),
            visibility.max(30),
            Some((&dlq_arn, max_receive)),
        )
        .await?;
        push_queues.push((ch, q, dlq));
    }
    let sns = aws_sdk_sns::Client::new(sdk);
    let topic = sns
        .create_topic()
        .name(format!("{prefix}-alerts"))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("creating the alert topic: {}", describe_sdk_error(&e)))?;
    Ok(Resources {
        table: format!("{prefix}-ledger"),
        order_queue,
        order_dlq,
        push_queues,
        topic_arn: topic.topic_arn.context("CreateTopic returned no ARN")?,
    })
}

impl Resources {
    /// The resources a deployed stack names in its outputs (`LedgerTableName`,
    /// `OrderQueueUrl`, `OrderDLQUrl`, `PushQueueUrl<Channel>`, `PushDLQUrl<Channel>`,
    /// `AlertTopicArn`).
    pub fn from_stack_outputs(o: &std::collections::BTreeMap<String, String>) -> Result<Resources> {
        let get = |k: &str| {
            o.get(k)
                .cloned()
                .with_context(|| format!("stack output {k} is missing"))
        };
        let mut push_queues = Vec::new();
        for ch in Channel::CONNECTED {
            // The template's output names: `PushQueueUrlShopify`, …
            let name = ch.as_str()[..1].to_uppercase() + &ch.as_str()[1..];
            push_queues.push((
                ch,
                get(&format!("PushQueueUrl{name}"))?,
                get(&format!("PushDLQUrl{name}"))?,
            ));
        }
        Ok(Resources {
            table: get("LedgerTableName")?,
            order_queue: get("OrderQueueUrl")?,
            order_dlq: get("OrderDLQUrl")?,
            push_queues,
            topic_arn: get("AlertTopicArn")?,
        })
    }
}
