//! CloudWatch alarm notifications as onecount alerts.
//!
//! CloudWatch publishes an alarm's state change to SNS as a JSON document (`AlarmName`,
//! `NewStateValue`, `NewStateReason`, `Trigger`, …) with no message attributes, so the
//! SMS subscription (filtered on `severity`) would drop it and an email would show raw
//! JSON. The alarm-notify function reads that document with [`from_alarm`] and publishes
//! an [`Alert`] in its place: the same `type`/`severity`/`channel` attributes as every
//! other alert, and a text that says what to do.
//!
//! The template names each alarm `<stack>-onecount-<key>[-<channel>]`; the key says which
//! alarm it is (see [`ALARMS`]).

use serde::Deserialize;

use super::{Alert, AlertKind, Severity};
use crate::domain::Channel;

/// The part of CloudWatch's notification read here.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AlarmNotice {
    pub alarm_name: String,
    #[serde(default)]
    pub alarm_description: Option<String>,
    /// `ALARM`, `OK` or `INSUFFICIENT_DATA`.
    pub new_state_value: String,
    #[serde(default)]
    pub new_state_reason: String,
}

/// The alarms the template declares, by the key in their name: the alert type, its
/// severity while in alarm, and whether a channel follows the key.
/// The oversold alarm is a warning: each oversell already sent its own critical alert
/// naming the order; the alarm is the count, for the record and as a backstop. The
/// drift-check alarms are critical: the function's own `drift_check_failing` (a warning)
/// came first, and these fire only when errors go on for 30 minutes or the function
/// fails outright.
pub const ALARMS: [(&str, AlertKind, Severity, bool); 7] = [
    (
        "orders-dlq",
        AlertKind::OrdersFailing,
        Severity::Critical,
        false,
    ),
    ("push-dlq", AlertKind::PushFailing, Severity::Critical, true),
    ("oversold", AlertKind::Oversold, Severity::Warning, false),
    (
        "ingest-5xx",
        AlertKind::WebhooksFailing,
        Severity::Critical,
        false,
    ),
    ("sync-lag", AlertKind::SyncLagging, Severity::Warning, true),
    (
        "drift-check-errors",
        AlertKind::DriftCheckFailing,
        Severity::Critical,
        false,
    ),
    (
        "drift-check-crashing",
        AlertKind::DriftCheckFailing,
        Severity::Critical,
        false,
    ),
];

/// Which of [`ALARMS`] `name` is, and its channel.
fn identify(name: &str) -> Option<(usize, Option<Channel>)> {
    let (_, rest) = name.rsplit_once("-onecount-")?;
    ALARMS
        .iter()
        .enumerate()
        .find_map(|(i, (key, _, _, per_channel))| {
            if !per_channel {
                return (rest == *key).then_some((i, None));
            }
            let ch = rest.strip_prefix(key)?.strip_prefix('-')?;
            ch.parse::<Channel>()
                .ok()
                .filter(|c| Channel::CONNECTED.contains(c))
                .map(|c| (i, Some(c)))
        })
}

/// What happened and what to do, for alarm `i` of [`ALARMS`] (channel `ch`); then the SMS.
fn texts(i: usize, ch: &str) -> (String, String, String, String) {
    let s = |x: &str| x.replace("{ch}", ch);
    let (subject, what, todo, sms) = match ALARMS[i].0 {
        "orders-dlq" => (
            "orders failing: sales are waiting in the orders dead-letter queue",
            "Order events failed 5 times and were moved to the orders dead-letter queue. The true count has not taken those sales, so every channel may show more than you have.",
            "`onecount dlq list --queue orders` shows them; the stock-decrement function's logs say why they failed. Once the cause is fixed, `onecount dlq redrive --queue orders` applies them (a sale applied before is not taken twice).",
            "onecount: sales waiting in orders DLQ. Run onecount dlq list --queue orders, fix, redrive",
        ),
        "push-dlq" => (
            "{ch} not updating: pushes in the {ch} dead-letter queue",
            "Pushes to {ch} failed every retry and were moved to the {ch} dead-letter queue: {ch} may show more than you have.",
            "check {ch}'s status page and `onecount status`. When {ch} answers again, `onecount dlq redrive --queue {ch}` sends them (or `onecount push SKU --channel {ch}` for one SKU). If it stays down and stock is low, pause the listings there: `onecount pause SKU --channel {ch}`.",
            "onecount: {ch} pushes dead-lettered. Check {ch}, then onecount dlq redrive --queue {ch}",
        ),
        "oversold" => (
            "OVERSOLD: units sold that were not in stock",
            "Orders took units that were not in stock. Each one also has its own `oversold` alert naming the channel, order and SKU.",
            "`onecount status` lists the recent oversells: cancel or backorder each before fulfilment, and tell the buyers. `onecount timeline SKU` shows how it happened.",
            "onecount OVERSOLD: see onecount status, cancel/backorder before fulfilment",
        ),
        "ingest-5xx" => (
            "webhooks failing: the webhook endpoint answered 5xx",
            "onecount's webhook endpoint answered with server errors. The channels send their webhooks again for a while (Shopify for up to 48 hours), and the drift check reads the orders it missed, but counts lag until then.",
            "read the webhook-ingest function's logs (queue or table trouble). `onecount status` shows listings behind; `onecount quarantine list` shows webhooks kept unread.",
            "onecount webhooks failing (5xx). Check webhook-ingest logs; drift check catches up",
        ),
        "sync-lag" => (
            "{ch} lagging: sync lag above the alarm threshold",
            "Sale-to-{ch} sync lag (p95 over 5 minutes) is above the threshold: {ch} shows old counts for longer than it should.",
            "`onecount status` shows the listings behind. Check {ch}'s status page and its dead-letter queue (`onecount dlq list --queue {ch}`); if stock is low, pause a listing there with `onecount pause SKU --channel {ch}`.",
            "onecount: {ch} sync lagging. See onecount status; check {ch} status page",
        ),
        "drift-check-crashing" => (
            "drift check failing: the function itself fails",
            "The drift-check function failed outright in its last 3 scheduled runs (it timed out, crashed, or could not start, e.g. the channels secret could not be read). Missed orders and drifted listings are not caught meanwhile.",
            "read the drift-check function's logs for the error at its start or end; check the channels secret and the function's role. `onecount status` shows each channel's state.",
            "onecount drift check function failing. Read its logs",
        ),
        _ => (
            "drift check failing: errors in its recent runs",
            "The drift check, which reads the orders webhooks missed and corrects channels that drifted, had errors in its recent runs. Until it runs clean, a missed order or a drifted listing is not caught.",
            "read the drift-check function's logs (level ERROR: the channel and the call that failed). A refused credential needs `onecount connect CHANNEL`; `onecount status` shows each channel's state.",
            "onecount drift check failing. Read its ERROR logs; onecount status",
        ),
    };
    (s(subject), s(what), s(todo), s(sms))
}

/// The alert for a CloudWatch alarm notification (the SNS message's text). An alarm back
/// to `OK` is an `info` alert saying so; one onecount does not know is passed on as an
/// `alarm` warning with its own name and description.
pub fn from_alarm(message: &str) -> Result<Alert, String> {
    let n: AlarmNotice = serde_json::from_str(message)
        .map_err(|e| format!("not a CloudWatch alarm notification: {e}"))?;
    let firing = n.new_state_value == "ALARM";
    let reason = format!(
        "CloudWatch alarm {} is {}: {}",
        n.alarm_name, n.new_state_value, n.new_state_reason
    );
    let Some((i, channel)) = identify(&n.alarm_name) else {
        let what = n.alarm_description.clone().unwrap_or_default();
        return Ok(Alert::new(
            AlertKind::Alarm,
            if firing {
                Severity::Warning
            } else {
                Severity::Info
            },
            None,
            None,
            (
                format!("alarm {} is {}", n.alarm_name, n.new_state_value),
                format!("{what}\n\n{reason}"),
                "see the alarm in the CloudWatch console; `onecount status` shows onecount's own state.",
                format!("onecount alarm {} {}", n.alarm_name, n.new_state_value),
            ),
        ));
    };
    let (_, kind, severity, _) = ALARMS[i];
    let ch = channel.map_or(String::new(), |c| c.to_string());
    let (subject, what, todo, sms) = texts(i, &ch);
    Ok(if firing {
        Alert::new(
            kind,
            severity,
            channel,
            None,
            (subject, format!("{what}\n\n{reason}"), &todo, sms),
        )
    } else {
        Alert::new(
            kind,
            Severity::Info,
            channel,
            None,
            (
                format!("resolved: {subject}"),
                format!(
                    "The alarm is back to {}: {}\n\n{reason}",
                    n.new_state_value, what
                ),
                "nothing: this says the alarm above has cleared.",
                format!("onecount resolved: {}", n.alarm_name),
            ),
        )
    })
}

/// A notification shaped like CloudWatch's (the SNS message a subscriber receives), for
/// tests and examples.
pub fn example_notice(name: &str, state: &str) -> String {
    serde_json::json!({
            "AlarmName": name,
            "AlarmDescription": "eBay pushes in the DLQ",
            "AWSAccountId": "123456789012",
            "AlarmConfigurationUpdatedTimestamp": "2026-12-05T09:00:00.000+0000",
            "NewStateValue": state,
            "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints [3.0 (05/12/26 10:00:00)] was greater than the threshold (0.0) (minimum 1 datapoint for OK -> ALARM transition).",
            "StateChangeTime": "2026-12-05T10:01:00.123+0000",
            "Region": "EU (Ireland)",
            "AlarmArn": format!("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{name}"),
            "OldStateValue": "OK",
            "OKActions": [],
            "AlarmActions": ["arn:aws:sns:eu-west-1:123456789012:shop-AlarmTopic-1ABC"],
            "InsufficientDataActions": [],
            "Trigger": {
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Namespace": "AWS/SQS",
                "StatisticType": "Statistic",
                "Statistic": "MAXIMUM",
                "Unit": null,
                "Dimensions": [{"value": "shop-PushDLQEbay-1XYZ", "name": "QueueName"}],
                "Period": 60,
                "EvaluationPeriods": 1,
                "ComparisonOperator": "GreaterThanThreshold",
                "Threshold": 0.0,
                "TreatMissingData": "notBreaching",
                "EvaluateLowSampleCountPercentile": ""
            }
        })
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(name: &str, state: &str) -> String {
        example_notice(name, state)
    }

    #[test]
    fn each_template_alarm_becomes_its_alert() {
        let a = from_alarm(&notice("shop-onecount-push-dlq-ebay", "ALARM")).unwrap();
        assert_eq!(
            (a.kind, a.severity, a.channel),
            (
                AlertKind::PushFailing,
                Severity::Critical,
                Some(Channel::Ebay)
            )
        );
        assert!(
            a.body.contains("`onecount dlq redrive --queue ebay`"),
            "{}",
            a.body
        );
        assert!(a.body.contains("Threshold Crossed"));
        let a = from_alarm(&notice("my-shop-onecount-orders-dlq", "ALARM")).unwrap();
        assert_eq!((a.kind, a.channel), (AlertKind::OrdersFailing, None));
        let a = from_alarm(&notice("x-onecount-sync-lag-shopify", "ALARM")).unwrap();
        assert_eq!(
            (a.kind, a.severity, a.channel),
            (
                AlertKind::SyncLagging,
                Severity::Warning,
                Some(Channel::Shopify)
            )
        );
        let over = from_alarm(&notice("x-onecount-oversold", "ALARM")).unwrap();
        assert_eq!(
            over.severity,
            Severity::Warning,
            "each oversell was already critical"
        );
        let crash = from_alarm(&notice("x-onecount-drift-check-crashing", "ALARM")).unwrap();
        assert_eq!(
            (crash.kind, crash.severity),
            (AlertKind::DriftCheckFailing, Severity::Critical)
        );
        let ok = from_alarm(&notice("x-onecount-oversold", "OK")).unwrap();
        assert_eq!(
            (ok.kind, ok.severity),
            (AlertKind::Oversold, Severity::Info)
        );
        assert!(ok.subject.starts_with("[onecount] resolved:"));
        let other = from_alarm(&notice("billing-alarm", "ALARM")).unwrap();
        assert_eq!(
            (other.kind, other.severity),
            (AlertKind::Alarm, Severity::Warning)
        );
        assert!(from_alarm("{\"Records\": []}").is_err());
    }

    #[test]
    fn a_push_dlq_alarm_without_a_known_channel_is_not_guessed() {
        let a = from_alarm(&notice("x-onecount-push-dlq-amazon", "ALARM")).unwrap();
        assert_eq!(a.kind, AlertKind::Alarm);
    }
}
