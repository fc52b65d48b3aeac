//! `onecount-alarm-notify`: the Lambda subscribed to the alarm topic. It needs only the
//! alert topic's ARN; the SNS client is built once.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use onecount::aws::sns::SnsAlerts;
use onecount::config::vars;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk = onecount::aws::load_sdk_config().await;
    let topic = std::env::var(vars::ALERT_TOPIC_ARN)
        .map_err(|_| format!("{} is not set", vars::ALERT_TOPIC_ARN))?;
    let alerts = SnsAlerts::new(&sdk, topic);
    let alerts = &alerts;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let sent = onecount_alarm_notify::handle(alerts, &event.payload).await?;
        Ok::<Value, Error>(serde_json::json!({ "alerts": sent }))
    }))
    .await
}
