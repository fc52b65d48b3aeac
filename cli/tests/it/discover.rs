//! `onecount listings discover` end to end (issue #20): sandboxes holding a messy
//! catalog with planted problems of six kinds; every problem named with its kind, the
//! rest mapped with starting counts on their timelines, a re-run writing nothing, and the
//! plan file read back by `listings import`.

use crate::operator::{json_of, onecount, shared_moto, stack_env, unique};
use onecount_tests::reported;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_names_every_planted_problem_and_maps_the_rest_once() {
    let ep = shared_moto();
    let sdk = onecount::aws::load_sdk_config().await;
    let mut cfg = onecount_local::LocalConfig::new(&unique("discover"));
    cfg.sandbox = true;
    let h = onecount_local::LocalHost::start(&sdk, cfg)
        .await
        .expect("local host");
    let sb = h.sandboxes.as_ref().unwrap();
    // 260 listings, 2 problems of each kind; variations, both eBay kinds, unequal counts.
    let stocked = onecount_sim::catalog::stock(sb, 260, 12, 5);
    let plan = std::env::temp_dir().join(format!("{}-plan.csv", h.resources.table));
    let env = stack_env(&h, &ep);
    let plan_arg = plan.display().to_string();
    let out = tokio::task::spawn_blocking(move || {
        let e: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let dry = onecount(&e, &["listings", "discover", "--out", &plan_arg, "--json"]);
        let text = onecount(&e, &["listings", "discover"]);
        let applied = onecount(
            &e,
            &[
                "listings",
                "discover",
                "--apply",
                "--threshold",
                "2",
                "--json",
            ],
        );
        let again = onecount(&e, &["listings", "discover", "--apply", "--json"]);
        let import = onecount(
            &e,
            &["listings", "import", &plan_arg, "--dry-run", "--json"],
        );
        (
            dry,
            text,
            applied,
            again,
            import,
            e.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>(),
        )
    })
    .await
    .unwrap();
    let (dry, text, applied, again, import, env) = out;
    let dry = json_of(&dry);
    let rows = dry["rows"].as_array().unwrap();

    // Every listing read, every planted problem named with its kind.
    let read: u64 = dry["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["listings"].as_u64().unwrap())
        .sum();
    assert_eq!(read as usize, stocked.listings, "{:#}", dry["channels"]);
    for (kind, about) in &stocked.planted {
        assert!(
            reported(rows, kind, about),
            "{kind} {about} not reported: {:#}",
            dry["findings"]
        );
    }
    let one_channel = stocked
        .planted
        .iter()
        .filter(|(k, _)| *k == "one_channel")
        .count();
    assert_eq!(dry["findings"]["matched"], stocked.clean.len());
    assert_eq!(dry["applied"]["dry_run"], true);
    assert_eq!(
        dry["applied"]["created_skus"],
        stocked.clean.len() + one_channel
    );
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(
        text.contains("near_miss") && text.contains("dry run: --apply would map"),
        "{text}"
    );

    // The apply maps the clean rows; a re-run writes nothing.
    let applied = json_of(&applied);
    assert_eq!(
        applied["applied"]["listings"],
        stocked.clean.len() * 3 + one_channel,
        "{:#}",
        applied["applied"]
    );
    assert_eq!(applied["applied"]["bad"], serde_json::json!([]));
    let again = json_of(&again);
    assert_eq!(
        (
            again["applied"]["listings"].as_u64(),
            again["applied"]["created_skus"].as_u64()
        ),
        (Some(0), Some(0))
    );
    assert_eq!(
        again["applied"]["unchanged"],
        stocked.clean.len() * 3 + one_channel
    );

    // Each new SKU starts at the lowest quantity listed; the timeline says so.
    for (sku, low) in stocked.clean.iter().step_by(17) {
        let s = onecount::Sku::parse(sku).unwrap();
        let st = onecount::StockLedger::get_stock(&h.store, &s)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (i64::from(st.on_hand), st.low_stock_threshold),
            (*low, 2),
            "{sku}"
        );
    }
    let (sku, _) = stocked.clean.iter().find(|(_, q)| **q > 0).unwrap();
    let e: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let tl = onecount(&e, &["timeline", sku]);
    let tl = String::from_utf8_lossy(&tl.stdout);
    assert!(tl.contains("(from the lowest quantity listed"), "{tl}");

    // The plan file reads back through listings import: clean rows already in, each
    // problem row refused until its finding is cleared.
    assert_eq!(
        import.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let import = json_of(&import);
    assert_eq!(import["to_write"], 0, "{import:#}");
    assert_eq!(import["unchanged"], stocked.clean.len() * 3 + one_channel);
    assert!(import["bad"].as_array().unwrap().iter().all(|b| {
        b["reason"]
            .as_str()
            .unwrap()
            .contains("discovery found a problem")
    }));
}
