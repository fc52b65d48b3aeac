//! `onecount-stock-decrement`: the Lambda on the order-events queue
//! (ReportBatchItemFailures). Everything is built once by the composition root.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use onecount::app::App;
use onecount_stock_decrement::{Decrement, ORDER_BACKOFF_BASE_MS, OrderRetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = App::from_env().await?;
    let retry = app.order_visibility().map(|v| OrderRetry {
        visibility: std::sync::Arc::new(v),
        base_ms: ORDER_BACKOFF_BASE_MS,
    });
    // Order reads use the channels configuration read again every few minutes.
    let fetcher = app.live_channels();
    let decrement = Decrement {
        store: app.store,
        pushes: app.queues,
        alerts: app.alerts,
        fetcher,
        retry,
    };
    let decrement = &decrement;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(decrement.handle_batch(event.payload).await)
    }))
    .await
}
