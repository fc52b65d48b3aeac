//! `onecount-alarm-notify`: subscribed to the alarm topic, where CloudWatch publishes its
//! alarms' state changes. Each one is published again on the alert topic as an onecount
//! alert ([`onecount::alerts::alarm::from_alarm`]): a text that says what to do, and the
//! `type`/`severity`/`channel` attributes the email and SMS subscriptions filter on.

use onecount::alerts::alarm::from_alarm;
use onecount::ports::AlertSink;
use serde_json::Value;

/// Publishes the alert for every alarm notification in an SNS event. A message that is not
/// an alarm notification is logged and skipped (retrying would not make it one); a failed
/// publish is an error, so Lambda invokes again (SNS invokes asynchronously, with retries).
pub async fn handle(alerts: &dyn AlertSink, event: &Value) -> Result<usize, String> {
    let records = event["Records"].as_array().cloned().unwrap_or_default();
    let mut sent = 0;
    for r in &records {
        let message = r["Sns"]["Message"].as_str().unwrap_or_default();
        match from_alarm(message) {
            Ok(alert) => {
                alerts.publish(&alert).await.map_err(|e| e.0)?;
                tracing::info!(
                    alert = alert.kind.as_str(),
                    severity = alert.severity.as_str(),
                    "alarm published as an alert"
                );
                sent += 1;
            }
            Err(e) => tracing::error!(error = %e, "an alarm topic message was not an alarm"),
        }
    }
    Ok(sent)
}
