//! `onecount-channel-push`: the Lambda on one channel's push queue
//! (ReportBatchItemFailures), deployed once per channel with `ONECOUNT_CHANNEL`.
//! Everything is built once by the composition root and borrowed by every invocation.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use onecount::Channel;
use onecount::app::App;
use onecount::config::vars;
use onecount_channel_push::{PushConfig, Pusher};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let channel: Channel = std::env::var(vars::CHANNEL)
        .map_err(|_| {
            format!(
                "{} is not set ({})",
                vars::CHANNEL,
                Channel::connected_names()
            )
        })?
        .parse()
        .map_err(|e: onecount::domain::ParseError| e.0)?;
    let app = App::from_env().await?;
    let pusher = Pusher {
        api: app.channels.kit(channel)?.api(),
        visibility: app.push_visibility(channel)?,
        store: app.store,
        alerts: app.alerts,
        // Units sold unheard here are held back on the others: their queues too.
        queue: app.queues,
        cfg: PushConfig::from_env()?,
    };
    let pusher = &pusher;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(pusher.handle_batch(event.payload).await)
    }))
    .await
}
