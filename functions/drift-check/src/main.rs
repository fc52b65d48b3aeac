//! `onecount-drift-check`: the scheduled Lambda (EventBridge Scheduler, every 5 minutes
//! by default). Everything is built once by the composition root; each invocation is one
//! run, with the channels configuration as last read (read again every few minutes, so a
//! rotated secret or a newly connected shop is used without a cold start).

use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use onecount::app::App;
use onecount_drift_check::{DriftCheck, DriftConfig, Report};
use onecount_stock_decrement::Decrement;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = App::from_env().await?;
    let live = app.live_channels();
    let cfg = DriftConfig::from_env()?;
    let (app, live, cfg) = (&app, &live, &cfg);
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let channels = live.current().await;
        let check = DriftCheck {
            store: app.store.clone(),
            pushes: app.queues.clone(),
            alerts: app.alerts.clone(),
            channels: onecount_drift_check::links(&channels),
            orders: Decrement {
                store: app.store.clone(),
                pushes: app.queues.clone(),
                alerts: app.alerts.clone(),
                fetcher: (*channels).clone(),
                // In-process: a failure only keeps the checkpoint where it was.
                retry: None,
            },
            cfg: cfg.clone(),
        };
        // Stay inside the invocation's own deadline, whatever the configured budget.
        let left = event
            .context
            .deadline()
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default()
            .saturating_sub(Duration::from_secs(15));
        let report: Report = check
            .run_within(check.cfg.budget.min(left.max(Duration::from_secs(5))))
            .await;
        Ok::<Value, Error>(serde_json::to_value(report)?)
    }))
    .await
}
