//! `onecount-stock-decrement`: the Lambda on the order-events queue
//! (ReportBatchItemFailures). Clients and configuration are built once here.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use onecount::aws::dynamo::DynamoStore;
use onecount::aws::sns::SnsAlerts;
use onecount::aws::sqs::{QueueUrls, SqsQueues};
use onecount::channels::config::ChannelsConfig;
use onecount::channels::ebay::EbayClient;
use onecount::channels::etsy::EtsyClient;
use onecount::config::StoreConfig;
use onecount_stock_decrement::{ChannelFetcher, Decrement};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk = onecount::aws::load_sdk_config().await;
    let channels = ChannelsConfig::load(&sdk).await?;
    let topic = std::env::var("ONECOUNT_ALERT_TOPIC_ARN")
        .map_err(|_| "ONECOUNT_ALERT_TOPIC_ARN is not set")?;
    let decrement = Decrement {
        store: DynamoStore::new(&sdk, &StoreConfig::from_env()?),
        pushes: SqsQueues::new(&sdk, QueueUrls::from_env()),
        alerts: SnsAlerts::new(&sdk, topic),
        fetcher: ChannelFetcher {
            etsy: channels.etsy.clone().map(EtsyClient::new),
            ebay: channels.ebay.clone().map(EbayClient::new),
        },
    };
    let decrement = &decrement;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(decrement.handle_batch(event.payload).await)
    }))
    .await
}
