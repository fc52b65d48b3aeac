//! `onecount-webhook-ingest`: the Lambda behind the HTTP API's webhook routes. Everything
//! is built once by the composition root ([`onecount::app::App`]) and borrowed by every
//! invocation.

use lambda_http::{Body, Error, Request, Response, run, service_fn};
use onecount::app::App;
use onecount_webhook_ingest::Ingest;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let app = App::from_env().await?;
    let ingest = Ingest {
        channels: app.live_channels(),
        queue: app.queues,
        inbox: app.store,
        alerts: app.alerts,
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
