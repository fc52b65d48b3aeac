//! `onecount-channel-push`: the Lambda on one channel's push queue
//! (ReportBatchItemFailures), deployed once per channel with `ONECOUNT_CHANNEL`.
//! Everything is built once by the composition root; each invocation takes the channel's
//! client from the channels configuration as last read (read again every few minutes, so
//! a rotated app secret is used without a cold start).

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
    let live = app.live_channels();
    live.current().await.kit(channel)?;
    let visibility = app.push_visibility(channel)?;
    let cfg = PushConfig::from_env()?;
    let (app, live, visibility, cfg) = (&app, &live, &visibility, &cfg);
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let pusher = Pusher {
            // The same client (rate budget, caches) until the configuration changes.
            api: live.current().await.kit(channel)?.api(),
            visibility: visibility.clone(),
            store: app.store.clone(),
            alerts: app.alerts.clone(),
            // Units sold unheard here are held back on the others: their queues too.
            queue: app.queues.clone(),
            cfg: cfg.clone(),
        };
        Ok::<SqsBatchResponse, Error>(pusher.handle_batch(event.payload).await)
    }))
    .await
}
