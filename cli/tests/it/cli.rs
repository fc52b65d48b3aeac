//! The `onecount` binary, end to end against moto (`make test` provides AWS_ENDPOINT_URL).

use std::process::{Command, Output};

fn table() -> String {
    format!("cli-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

fn onecount(table: &str, args: &[&str]) -> Output {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "run through `make test`: AWS_ENDPOINT_URL is not set"
    );
    Command::new(env!("CARGO_BIN_EXE_onecount"))
        .env("ONECOUNT_TABLE", table)
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .expect("run onecount")
}

fn ok(table: &str, args: &[&str]) -> String {
    let out = onecount(table, args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "onecount {args:?} failed: {stderr}");
    stdout.into_owned()
}

/// A refusal: non-zero exit, exactly one line on stderr that contains `says`, no panic.
fn refused(table: &str, args: &[&str], says: &str) {
    let out = onecount(table, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "onecount {args:?} should fail");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line, got: {stderr}"
    );
    assert!(
        stderr.contains(says),
        "onecount {args:?}: expected '{says}' in: {stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
}

fn json(table: &str, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    serde_json::from_str(&ok(table, &a)).expect("valid JSON")
}

#[test]
fn the_ledger_from_the_command_line() {
    let t = table();
    assert!(ok(&t, &["init"]).contains("created"));
    assert!(ok(&t, &["init"]).contains("already exists; schema matches"));

    ok(
        &t,
        &[
            "stock",
            "create",
            "MUG-BLUE-12OZ",
            "--on-hand",
            "5",
            "--threshold",
            "2",
        ],
    );
    let s = json(&t, &["stock", "get", "MUG-BLUE-12OZ"]);
    assert_eq!(
        (s["on_hand"].as_u64(), s["version"].as_u64()),
        (Some(5), Some(1))
    );

    let sale = [
        "sale",
        "record",
        "--channel",
        "offline",
        "--order",
        "stall-17",
        "--line",
        "1",
        "--sku",
        "MUG-BLUE-12OZ",
        "--qty",
        "2",
    ];
    assert!(ok(&t, &sale).starts_with("applied — MUG-BLUE-12OZ now has 3 on hand"));
    assert!(ok(&t, &sale).starts_with("duplicate"));
    let o = json(&t, &sale);
    assert_eq!(o["outcome"], "duplicate");

    let cancel = [
        "sale",
        "cancel",
        "--channel",
        "offline",
        "--order",
        "stall-17",
        "--line",
        "1",
    ];
    assert_eq!(ok(&t, &cancel).trim(), "restocked 2");
    assert!(ok(&t, &cancel).starts_with("duplicate"));

    assert!(
        ok(
            &t,
            &[
                "stock",
                "adjust",
                "MUG-BLUE-12OZ",
                "-1",
                "--reason",
                "chipped"
            ]
        )
        .contains("5 -> 4")
    );
    assert!(
        ok(
            &t,
            &[
                "stock",
                "set",
                "MUG-BLUE-12OZ",
                "9",
                "--reason",
                "stock take",
                "--actor",
                "ana"
            ]
        )
        .contains("4 -> 9")
    );

    let oversell = [
        "sale",
        "record",
        "--channel",
        "shopify",
        "--order",
        "5830012345678",
        "--line",
        "14012345678901",
        "--sku",
        "MUG-BLUE-12OZ",
        "--qty",
        "12",
    ];
    assert!(ok(&t, &oversell).starts_with("OVERSOLD by 3"));

    ok(&t, &["stock", "create", "BOWL", "--on-hand", "1"]);
    let list = ok(&t, &["stock", "list"]);
    assert!(
        list.contains("BOWL") && list.contains("MUG-BLUE-12OZ") && list.contains("(LOW)"),
        "{list}"
    );
    assert_eq!(
        json(&t, &["stock", "list"]).as_array().map(Vec::len),
        Some(2)
    );

    ok(
        &t,
        &[
            "listings",
            "set",
            "--sku",
            "MUG-BLUE-12OZ",
            "--channel",
            "shopify",
            "--ref",
            "variant:44123456789012",
            "--buffer",
            "1",
        ],
    );
    assert_eq!(
        ok(
            &t,
            &[
                "listings",
                "resolve",
                "--channel",
                "shopify",
                "variant:44123456789012"
            ]
        )
        .trim(),
        "MUG-BLUE-12OZ"
    );

    let tl = ok(&t, &["timeline", "MUG-BLUE-12OZ"]);
    for want in [
        "stock_created",
        "sale_applied",
        "restocked",
        "stock_adjusted",
        "stock_set",
        "sale_oversold",
        "listing_changed",
        "4 -> 9 by ana: stock take",
        "OVERSOLD by 3 on shopify order 5830012345678",
    ] {
        assert!(tl.contains(want), "timeline lacks {want}:\n{tl}");
    }
    let entries = json(&t, &["timeline", "MUG-BLUE-12OZ"]);
    let kinds: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "stock_created",
            "sale_applied",
            "restocked",
            "stock_adjusted",
            "stock_set",
            "sale_oversold",
            "listing_changed"
        ]
    );
}

#[test]
fn bad_input_gets_one_clear_line() {
    let t = table();
    ok(&t, &["init"]);
    ok(&t, &["stock", "create", "MUG", "--on-hand", "1"]);
    let rec = |sku: &'static str, qty: &'static str, ch: &'static str| {
        vec![
            "sale",
            "record",
            "--channel",
            ch,
            "--order",
            "o1",
            "--line",
            "1",
            "--sku",
            sku,
            "--qty",
            qty,
        ]
    };
    refused(&t, &["stock", "get", "NOPE"], "unknown SKU 'NOPE'");
    refused(&t, &rec("NOPE", "1", "etsy"), "unknown SKU 'NOPE'");
    refused(
        &t,
        &rec("MUG", "0", "etsy"),
        "quantity must be a positive whole number, got 0",
    );
    refused(&t, &rec("MUG", "-2", "etsy"), "-2");
    refused(
        &t,
        &rec("MUG", "two", "etsy"),
        "quantity must be a positive whole number",
    );
    refused(
        &t,
        &rec("MUG", "1", "amazon"),
        "unknown channel 'amazon' (expected shopify, etsy, ebay or offline)",
    );
    refused(
        &t,
        &["stock", "adjust", "MUG", "-5", "--reason", "lost"],
        "below zero",
    );
    refused(&t, &["stock", "set", "MUG", "3"], "--reason");
    refused(
        &t,
        &["stock", "create", "MUG", "--on-hand", "1"],
        "already exists",
    );
    refused(
        &t,
        &["stok", "get", "MUG"],
        "unrecognized subcommand 'stok'",
    );
    refused(&t, &["timeline", "NOPE"], "unknown SKU 'NOPE'");
    refused(
        &t,
        &[
            "listings",
            "set",
            "--sku",
            "MUG",
            "--channel",
            "shopify",
            "--ref",
            "44123",
        ],
        "must look like kind:id",
    );
    // Nothing above changed the count.
    assert_eq!(json(&t, &["stock", "get", "MUG"])["on_hand"], 1);
}

#[test]
fn missing_table_and_unreachable_endpoint_are_explained() {
    refused(&table(), &["stock", "get", "MUG"], "onecount init");

    let out = Command::new(env!("CARGO_BIN_EXE_onecount"))
        .env_remove("ONECOUNT_TABLE")
        .args(["stock", "get", "MUG"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("ONECOUNT_TABLE is not set"), "{stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_onecount"))
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("ONECOUNT_TABLE", "t")
        .args(["stock", "get", "MUG"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot reach DynamoDB at http://127.0.0.1:9"),
        "{stderr}"
    );
}

#[test]
fn help_is_there_for_every_command() {
    for args in [
        vec!["--help"],
        vec!["stock", "--help"],
        vec!["sale", "record", "--help"],
        vec!["timeline", "--help"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_onecount"))
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage:"));
    }
}

#[test]
fn the_local_host_starts_with_its_sandboxes_and_says_where() {
    use std::io::{BufRead, BufReader};
    let prefix = table();
    let mut child = Command::new(env!("CARGO_BIN_EXE_onecount"))
        .args(["local", "--sandbox", "--prefix", &prefix])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let reader = BufReader::new(child.stdout.take().unwrap());
    for line in reader.lines() {
        let line = line.unwrap();
        let done = line.starts_with("Ctrl-C to stop");
        seen.push(line);
        if done {
            break;
        }
    }
    child.kill().unwrap();
    let _ = child.wait();
    let all = seen.join("\n");
    for want in [
        "/webhooks/shopify",
        "/webhooks/etsy",
        "/webhooks/ebay",
        &format!("{prefix}-ledger"),
        &format!("{prefix}-order-events-dlq"),
        "push etsy",
        "sandboxes: shopify http://127.0.0.1:",
    ] {
        assert!(all.contains(want), "missing {want} in:\n{all}");
    }
    // The table it made is a onecount table.
    assert!(
        ok(&format!("{prefix}-ledger"), &["quarantine", "list"]).contains("nothing quarantined")
    );
}

/// `make demo` and `make build` find the binaries where cargo put them: a Rust user with
/// `CARGO_TARGET_DIR` set has none in ./target.
#[test]
fn scripts_run_binaries_from_cargos_target_directory() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let elsewhere = std::env::temp_dir().join("onecount-elsewhere-target");
    let out = Command::new(root.join("scripts/target_dir.sh"))
        .env("CARGO_TARGET_DIR", &elsewhere)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        elsewhere.display().to_string()
    );
    for script in ["demo.sh", "build.sh", "test.sh", "bench.sh"] {
        let Ok(text) = std::fs::read_to_string(root.join("scripts").join(script)) else {
            continue;
        };
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            assert!(
                !line.contains("target/debug/") && !line.contains("target/release/"),
                "scripts/{script} runs a binary from ./target: {line}"
            );
        }
    }
}
