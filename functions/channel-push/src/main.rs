//! `onecount-channel-push`: the Lambda on one channel's push queue
//! (ReportBatchItemFailures), deployed once per channel with `ONECOUNT_CHANNEL`.
//! Clients and configuration are built once here and borrowed by every invocation.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use onecount::Channel;
use onecount::aws::dynamo::DynamoStore;
use onecount::aws::sns::SnsAlerts;
use onecount::aws::sqs::{QueueUrls, SqsQueues, SqsVisibility};
use onecount::channels::config::ChannelsConfig;
use onecount::channels::ebay::EbayClient;
use onecount::channels::etsy::EtsyClient;
use onecount::channels::push::ChannelApi;
use onecount::channels::shopify::ShopifyClient;
use onecount::config::StoreConfig;
use onecount_channel_push::{PushConfig, Pusher};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let channel: Channel = std::env::var("ONECOUNT_CHANNEL")
        .map_err(|_| "ONECOUNT_CHANNEL is not set (shopify, etsy or ebay)")?
        .parse()
        .map_err(|e: onecount::domain::ParseError| e.0)?;
    let sdk = onecount::aws::load_sdk_config().await;
    let channels = ChannelsConfig::load(&sdk).await?;
    let api: Box<dyn ChannelApi> = match channel {
        Channel::Shopify => Box::new(ShopifyClient::new(channels.shopify()?.clone())),
        Channel::Etsy => Box::new(EtsyClient::new(channels.etsy()?.clone())),
        Channel::Ebay => Box::new(EbayClient::new(channels.ebay()?.clone())),
        Channel::Offline => return Err("the offline channel has nothing to push to".into()),
    };
    let urls = QueueUrls::from_env();
    let queue = urls.push(channel).map(str::to_string).ok_or_else(|| {
        format!(
            "ONECOUNT_PUSH_QUEUE_URL_{} is not set",
            channel.as_str().to_uppercase()
        )
    })?;
    let topic = std::env::var("ONECOUNT_ALERT_TOPIC_ARN")
        .map_err(|_| "ONECOUNT_ALERT_TOPIC_ARN is not set")?;
    let pusher = Pusher {
        store: DynamoStore::new(&sdk, &StoreConfig::from_env()?),
        alerts: SnsAlerts::new(&sdk, topic),
        api,
        visibility: SqsVisibility::new(&sdk, queue),
        // Units sold unheard here are held back on the others: their queues too.
        queue: SqsQueues::new(&sdk, urls),
        cfg: PushConfig::from_env()?,
    };
    let pusher = &pusher;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(pusher.handle_batch(event.payload).await)
    }))
    .await
}
