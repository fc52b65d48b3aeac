//! `onecount-webhook-ingest`: the Lambda behind the HTTP API's webhook routes.
//!
//! The composition root: tracing, configuration, SDK clients and the channel secrets are
//! loaded once here and borrowed by every invocation.

use lambda_http::{Body, Error, Request, Response, run, service_fn};
use onecount::aws::dynamo::DynamoStore;
use onecount::aws::sns::SnsAlerts;
use onecount::aws::sqs::{QueueUrls, SqsQueues};
use onecount::channels::config::ChannelsConfig;
use onecount::channels::ebay::EbayClient;
use onecount::config::StoreConfig;
use onecount_webhook_ingest::{EbayKeys, Ingest};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let sdk = onecount::aws::load_sdk_config().await;
    let store = DynamoStore::new(&sdk, &StoreConfig::from_env()?);
    let channels = ChannelsConfig::load(&sdk).await?;
    let topic = std::env::var("ONECOUNT_ALERT_TOPIC_ARN")
        .map_err(|_| "ONECOUNT_ALERT_TOPIC_ARN is not set")?;
    let ebay = channels
        .ebay
        .clone()
        .map(|c| Box::new(EbayClient::new(c)) as Box<dyn EbayKeys>);
    let ingest = Ingest {
        channels,
        queue: SqsQueues::new(&sdk, QueueUrls::from_env()),
        inbox: store,
        alerts: SnsAlerts::new(&sdk, topic),
        ebay,
    };
    let ingest = &ingest;
    run(service_fn(move |req: Request| async move {
        let r = onecount_webhook_ingest::from_lambda(&req);
        let out = ingest.handle(&r).await;
        Response::builder()
            .status(out.status)
            .header("content-type", "application/json")
            .body(Body::from(out.body))
            .map_err(Error::from)
    }))
    .await
}
