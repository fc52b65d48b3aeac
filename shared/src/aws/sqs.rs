//! SQS adapters: the order-events queue and the per-channel push queues.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_config::SdkConfig;

use crate::aws::describe_sdk_error;
use crate::channels::OrderEvent;
use crate::config::vars;
use crate::domain::Channel;
use crate::ports::{OrderQueue, PushQueue, PushRequest, SendError, Visibility};

/// An SQS call that failed, with its whole chain of causes.
fn fail(what: &str, e: &(impl std::error::Error + ?Sized)) -> SendError {
    SendError(format!("{what}: {}", describe_sdk_error(e)))
}

/// How many times SQS has delivered a message (its `ApproximateReceiveCount` attribute,
/// as the Lambda event carries it); 1 when absent.
pub fn receive_count(attributes: &std::collections::HashMap<String, String>) -> u32 {
    attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// A random jitter in 0..=1000 for [`crate::domain::push::retry_delay_secs`], so retries
/// of messages that failed together do not come back together.
pub fn backoff_jitter() -> u64 {
    (uuid::Uuid::new_v4().as_u128() % 1001) as u64
}

/// Queue URLs, read once from the environment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueUrls {
    /// `ONECOUNT_ORDER_QUEUE_URL`
    pub orders: Option<String>,
    /// Each channel's push queue: `ONECOUNT_PUSH_QUEUE_URL_<CHANNEL>`.
    pub pushes: BTreeMap<Channel, String>,
}

impl QueueUrls {
    pub fn from_env() -> Self {
        let v = |k: &str| std::env::var(k).ok().filter(|s| !s.is_empty());
        QueueUrls {
            orders: v(vars::ORDER_QUEUE_URL),
            pushes: Channel::CONNECTED
                .into_iter()
                .filter_map(|c| Some((c, v(&vars::per_channel(vars::PUSH_QUEUE_URL_, c))?)))
                .collect(),
        }
    }

    pub fn push(&self, channel: Channel) -> Option<&str> {
        self.pushes.get(&channel).map(String::as_str)
    }

    /// The push queue of `channel`, or a one-line error naming the variable to set.
    pub fn require_push(&self, channel: Channel) -> Result<&str, String> {
        self.push(channel).ok_or_else(|| {
            format!(
                "no push queue for {channel}: set {}",
                vars::per_channel(vars::PUSH_QUEUE_URL_, channel)
            )
        })
    }
}

/// Sends to SQS queues by URL.
#[derive(Debug, Clone)]
pub struct SqsQueues {
    client: aws_sdk_sqs::Client,
    urls: QueueUrls,
}

impl SqsQueues {
    pub fn new(sdk: &SdkConfig, urls: QueueUrls) -> Self {
        SqsQueues {
            client: aws_sdk_sqs::Client::new(sdk),
            urls,
        }
    }

    pub fn client(&self) -> &aws_sdk_sqs::Client {
        &self.client
    }

    async fn send(&self, url: &str, body: String) -> Result<(), SendError> {
        self.send_later(url, body, 0).await
    }

    async fn send_later(&self, url: &str, body: String, secs: u32) -> Result<(), SendError> {
        let req = self.client.send_message().queue_url(url).message_body(body);
        let req = if secs > 0 {
            req.delay_seconds(secs.min(900) as i32)
        } else {
            req
        };
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| fail("SQS send failed", &e))
    }
}

#[async_trait]
impl OrderQueue for SqsQueues {
    async fn enqueue(&self, event: &OrderEvent) -> Result<(), SendError> {
        let url = self
            .urls
            .orders
            .as_deref()
            .ok_or_else(|| SendError(format!("{} is not set", vars::ORDER_QUEUE_URL)))?;
        let body = serde_json::to_string(event).map_err(|e| SendError(e.to_string()))?;
        self.send(url, body).await
    }
}

#[async_trait]
impl PushQueue for SqsQueues {
    async fn request_push(&self, req: &PushRequest) -> Result<(), SendError> {
        let url = self.urls.require_push(req.channel).map_err(SendError)?;
        let body = serde_json::to_string(req).map_err(|e| SendError(e.to_string()))?;
        self.send(url, body).await
    }

    async fn request_push_later(&self, req: &PushRequest, secs: u32) -> Result<(), SendError> {
        let url = self.urls.require_push(req.channel).map_err(SendError)?;
        let body = serde_json::to_string(req).map_err(|e| SendError(e.to_string()))?;
        self.send_later(url, body, secs).await
    }
}

/// Changes the visibility of messages received from one queue (the pusher's backoff).
#[derive(Debug, Clone)]
pub struct SqsVisibility {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsVisibility {
    pub fn new(sdk: &SdkConfig, url: impl Into<String>) -> Self {
        SqsVisibility {
            client: aws_sdk_sqs::Client::new(sdk),
            url: url.into(),
        }
    }
}

#[async_trait]
impl Visibility for SqsVisibility {
    async fn delay(&self, receipt_handle: &str, secs: u32) -> Result<(), SendError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(secs.min(43_200) as i32)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                SendError(format!(
                    "SQS visibility change failed: {}",
                    describe_sdk_error(&e)
                ))
            })
    }
}

/// Messages in a queue: visible, in flight and delayed (a push sent again to wait).
pub async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<i64, SendError> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(A::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(|e| fail("reading queue depth", &e))?;
    let a = out.attributes.unwrap_or_default();
    let n = |k: &A| a.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    Ok(n(&A::ApproximateNumberOfMessages)
        + n(&A::ApproximateNumberOfMessagesNotVisible)
        + n(&A::ApproximateNumberOfMessagesDelayed))
}

/// Move every message from `from` to `to` (a dead-letter redrive); how many moved.
pub async fn redrive(sqs: &aws_sdk_sqs::Client, from: &str, to: &str) -> Result<usize, SendError> {
    let mut moved = 0;
    loop {
        let out = sqs
            .receive_message()
            .queue_url(from)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .send()
            .await
            .map_err(|e| fail("reading the DLQ", &e))?;
        let msgs = out.messages.unwrap_or_default();
        if msgs.is_empty() {
            return Ok(moved);
        }
        for m in msgs {
            sqs.send_message()
                .queue_url(to)
                .message_body(m.body.clone().unwrap_or_default())
                .send()
                .await
                .map_err(|e| fail("re-sending", &e))?;
            if let Some(h) = &m.receipt_handle {
                sqs.delete_message()
                    .queue_url(from)
                    .receipt_handle(h)
                    .send()
                    .await
                    .map_err(|e| {
                        SendError(format!("deleting from the DLQ: {}", describe_sdk_error(&e)))
                    })?;
            }
            moved += 1;
        }
    }
}
