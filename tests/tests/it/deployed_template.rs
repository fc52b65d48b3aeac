//! The SAM template, translated to CloudFormation offline (aws-sam-translator) and
//! created in moto's CloudFormation: the table, queues and topic it declares are ones
//! the code runs against — the table passes `init`'s schema check, and a sale flows
//! through the stack's queues to every channel.

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
    assert_eq!(kept.len(), 10, "table, 4 queues + 4 DLQs, topic: {kept:?}");
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
}
