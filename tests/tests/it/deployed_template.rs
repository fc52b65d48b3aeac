//! The SAM template, translated to CloudFormation offline (aws-sam-translator) and
//! created in moto's CloudFormation: the table, queues and topic it declares are ones
//! the code runs against — the table passes `init`'s schema check, and a sale flows
//! through the stack's queues to every channel, and a CloudWatch alarm on the stack's
//! alarm topic reaches its alert topic as an alert with `severity`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use aws_sdk_sqs::types::QueueAttributeName;
use onecount::ListingPolicy;
use onecount::ports::StockLedger;
use onecount_local::{LocalHost, Resources};
use onecount_sim::DeliveryKnobs;
use onecount_tests::eventually;
use onecount_tests::stack::{self, ids};

fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::var_os("ONECOUNT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv"))
        .join("bin/python")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_translated_template_creates_what_the_code_runs_on() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let name = format!("tpl-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let out = std::process::Command::new(python())
        .arg(root.join("scripts/stack_in_moto.py"))
        .arg(&name)
        .output()
        .expect("run scripts/stack_in_moto.py with the project's venv (make test sets it up)");
    assert!(
        out.status.success(),
        "stack creation failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let outputs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON outputs");
    let kept: Vec<String> = serde_json::from_value(outputs["_resources"].clone()).unwrap();
    assert_eq!(
        kept.len(),
        12,
        "table, 4 queues + 4 DLQs, alert and alarm topics, alarm key: {kept:?}"
    );
    let outputs: BTreeMap<String, String> = outputs
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
        .collect();
    let resources =
        Resources::from_stack_outputs(&outputs).expect("the outputs name every resource");

    // Redrive as declared: each push queue's DLQ is the stack's DLQ, after 5 receives.
    let sdk = onecount::aws::load_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    for (_, q, dlq) in &resources.push_queues {
        let a = sqs
            .get_queue_attributes()
            .queue_url(q)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap();
        let policy: serde_json::Value =
            serde_json::from_str(&a[&QueueAttributeName::RedrivePolicy]).unwrap();
        let dlq_name = dlq.rsplit('/').next().unwrap();
        assert!(
            policy["deadLetterTargetArn"]
                .as_str()
                .unwrap()
                .ends_with(dlq_name)
        );
        assert_eq!(policy["maxReceiveCount"].to_string().trim_matches('"'), "5");
        assert_eq!(a[&QueueAttributeName::VisibilityTimeout], "360");
    }

    // The local host on the stack's resources: `init` accepts the table's schema.
    let h: LocalHost = stack::start(|c| c.resources = Some(resources.clone())).await;
    let p = ListingPolicy::default();
    let sku = stack::add_sku(&h, 9, "STACK", 5, 1, [p.clone(), p.clone(), p], 5).await;
    h.sandboxes
        .as_ref()
        .unwrap()
        .shopify
        .place_order(&onecount_sim::shopify::OrderReq {
            lines: vec![(ids(9).variant, 2)],
            test: false,
            knobs: DeliveryKnobs::default(),
        })
        .unwrap();
    assert!(
        eventually(30, || async { stack::shows(&h, 9) == [Some(3); 3] }).await,
        "a sale reaches every channel through the stack's queues: {:?}",
        stack::shows(&h, 9)
    );
    assert_eq!(h.store.get_stock(&sku).await.unwrap().unwrap().on_hand, 3);
    assert_eq!(h.resources.table, outputs["LedgerTableName"]);

    alarms_arrive_as_alerts(&sdk, &outputs).await;
}

/// What CloudWatch publishes on the alarm topic, handed to the alarm-notify function, is
/// published on the alert topic with the attributes the subscriptions filter on: the SMS
/// subscription takes `severity: critical`.
async fn alarms_arrive_as_alerts(sdk: &aws_config::SdkConfig, outputs: &BTreeMap<String, String>) {
    assert_ne!(outputs["AlarmTopicArn"], outputs["AlertTopicArn"]);
    let alerts = onecount::aws::sns::SnsAlerts::new(sdk, &outputs["AlertTopicArn"]);
    let notice = onecount::alerts::alarm::example_notice("tpl-x-onecount-push-dlq-ebay", "ALARM");
    let event = serde_json::json!({"Records": [{
        "EventSource": "aws:sns", "EventVersion": "1.0",
        "Sns": {"Type": "Notification", "TopicArn": outputs["AlarmTopicArn"],
                "Subject": "ALARM: \"tpl-x-onecount-push-dlq-ebay\" in EU (Ireland)",
                "Message": notice, "MessageAttributes": {}}
    }]});
    assert_eq!(onecount_alarm_notify::handle(&alerts, &event).await, Ok(1));
    let got = onecount_tests::published_alerts(&outputs["AlertTopicArn"]).await;
    let a = got
        .last()
        .expect("the alert, read back from moto's SNS record");
    assert_eq!(a.attributes["severity"], "critical");
    assert_eq!(a.attributes["type"], "push_failing");
    assert_eq!(a.attributes["channel"], "ebay");
    assert!(
        a.body.contains("onecount dlq redrive --queue ebay"),
        "{}",
        a.body
    );
    assert!(a.sms.len() <= 140 && a.sms.is_ascii(), "{}", a.sms);
}
