//! `make demo` shortened, and `onecount bench flash-sale --quick` (the standard
//! scenario), through the binary. Each onecount world starts its own moto; the numbers
//! are printed, and only what holds whatever the machine's speed is asserted.

use std::process::Command;

fn onecount(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_onecount"))
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "error")
        .args(args)
        .output()
        .expect("run onecount")
}

#[test]
fn a_short_demo_then_the_standard_benchmark() {
    let out = std::env::temp_dir().join(format!(
        "flash-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    // The short demo with Seller Hub listings on eBay (the Trading API path); the
    // standard benchmark below keeps Inventory API listings.
    let demo = onecount(&[
        "demo",
        "--duration",
        "12",
        "--ebay-kind",
        "trading",
        "--out",
        out.to_str().unwrap(),
    ]);
    let report = String::from_utf8_lossy(&demo.stdout).into_owned();
    assert!(
        demo.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    println!("{report}");
    for part in [
        "eBay Seller Hub (Trading API) listings",
        "orders taken",
        "oversold units",
        "p95 sale → all channels",
        "channel writes per sale",
        "sale → listed",
        "dead-letter queues:",
        "alerts sent:",
        "Chart of the hottest SKU",
        "share of the oracle's",
        "turned away, stock existed",
        "stranded units at the end",
        "Cost of the sale",
    ] {
        assert!(report.contains(part), "the report lacks '{part}'");
    }
    let svg = std::fs::read_to_string(out.join("flash-sale.svg")).expect("the chart");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("true count") && svg.matches("<path").count() >= 4 * 4);
    let full: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("flash-sale.json")).unwrap())
            .unwrap();
    assert_eq!(full["results"].as_array().unwrap().len(), 5);
    assert!(svg.contains("Shaded red"), "the chart marks under-listing");
    let _ = std::fs::remove_dir_all(&out);

    let bench = onecount(&["bench", "flash-sale", "--quick", "--json"]);
    assert!(
        bench.status.success(),
        "{}",
        String::from_utf8_lossy(&bench.stderr)
    );
    let b: serde_json::Value = serde_json::from_slice(&bench.stdout).expect("JSON");
    println!("{}", serde_json::to_string_pretty(&b["verdict"]).unwrap());
    let s = &b["strategies"];
    for k in [
        "onecount",
        "onecount_last_units",
        "interval",
        "fifo",
        "oracle",
    ] {
        let r = &s[k];
        assert!(r["orders"].as_u64().unwrap() > 0, "{k} took no orders");
        for f in [
            "oversold_units",
            "stale_listing_secs",
            "lag_all_channels",
            "writes_per_sale",
            "share_of_oracle",
            "turned_away",
            "under_listed_secs",
            "stranded_units",
            "cost",
        ] {
            assert!(!r[f].is_null(), "{k} lacks {f}");
        }
        println!(
            "{k:>20}: {} orders, {} oversold, stale {:.0} listing-s, p95 {} ms, {:.2} writes/sale, \
             {:.1}% of the oracle's units, {} turned away, under-listed {:.0} listing-s, {} stranded, cost {:.0}",
            r["orders"],
            r["oversold_units"],
            r["stale_listing_secs"].as_f64().unwrap(),
            r["lag_all_channels"]["p95_ms"],
            r["writes_per_sale"].as_f64().unwrap(),
            r["share_of_oracle"].as_f64().unwrap() * 100.0,
            r["turned_away"],
            r["under_listed_secs"].as_f64().unwrap(),
            r["stranded_units"],
            r["cost"]["total"].as_f64().unwrap()
        );
    }
    // The oracle is the yardstick: no oversell, nobody turned away while stock existed,
    // nothing under-listed or stranded, and the others measured against it.
    let oracle = &s["oracle"];
    assert_eq!(oracle["oversold_units"], 0);
    assert_eq!(oracle["turned_away"], 0);
    assert_eq!(oracle["under_listed_secs"].as_f64(), Some(0.0));
    assert_eq!(oracle["stranded_units"], 0);
    assert_eq!(oracle["share_of_oracle"].as_f64(), Some(1.0));
    // A 15-minute sync cannot keep up with a flash sale: it always oversells.
    assert!(s["interval"]["oversold_units"].as_i64().unwrap() > 0);
    // The ledger's own record never claims more than the buyers actually took.
    for k in ["onecount", "onecount_last_units"] {
        let ledger: u64 = s[k]["onecount"]["ledger_oversells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["short"].as_u64().unwrap())
            .sum();
        assert!(ledger <= s[k]["oversold_units"].as_u64().unwrap(), "{k}");
    }
    assert!(b["moto"]["note"].as_str().unwrap().contains("moto"));
}
