//! SQS adapters: the order-events queue and the per-channel push queues.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_config::SdkConfig;

use crate::aws::describe_sdk_error;
use crate::channels::OrderEvent;
use crate::config::vars;
use crate::domain::Channel;
use crate::ports::{OrderQueue, PushQueue, PushRequest, SendError, Visibility};

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
        self.client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| SendError(format!("SQS send failed: {}", describe_sdk_error(&e))))
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
