//! `onecount-drift-check`: the scheduled Lambda (EventBridge Scheduler, every 5 minutes
//! by default). Everything is built once by the composition root; each invocation is one
//! run.

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
    let check = DriftCheck {
        store: app.store.clone(),
        pushes: app.queues.clone(),
        alerts: app.alerts.clone(),
        channels: onecount_drift_check::links(&app.channels),
        orders: Decrement {
            store: app.store,
            pushes: app.queues,
            alerts: app.alerts,
            fetcher: app.channels,
        },
        cfg: DriftConfig::from_env()?,
    };
    let check = &check;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
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
