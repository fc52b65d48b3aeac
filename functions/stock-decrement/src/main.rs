//! `onecount-stock-decrement`: the Lambda on the order-events queue
//! (ReportBatchItemFailures). Everything is built once by the composition root.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use onecount::app::App;
use onecount_stock_decrement::Decrement;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = App::from_env().await?;
    let decrement = Decrement {
        store: app.store,
        pushes: app.queues,
        alerts: app.alerts,
        fetcher: app.channels,
    };
    let decrement = &decrement;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(decrement.handle_batch(event.payload).await)
    }))
    .await
}
