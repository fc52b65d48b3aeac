//! `onecount connect` end to end: the binary against the channel sandboxes' consent and
//! token endpoints, saving to a channels file and moto's table, while a local host runs.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use onecount::channels::auth::TokenStore;
use onecount::ports::{ChannelHealth, EpisodeKind, StockLedger};
use onecount::{Channel, ListingPolicy, Sku};
use onecount_local::LocalHost;
use onecount_sim::DeliveryKnobs;
use onecount_tests::stack::{self, ids};
use onecount_tests::{eventually, published_alerts};

fn plain() -> [ListingPolicy; 3] {
    [
        ListingPolicy::default(),
        ListingPolicy::default(),
        ListingPolicy::default(),
    ]
}

/// The host's channels configuration as a file, as `onecount local` keeps it.
fn channels_file(h: &LocalHost) -> String {
    let path =
        std::env::temp_dir().join(format!("channels-{}.json", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, serde_json::to_string_pretty(&h.channels).unwrap()).unwrap();
    path.display().to_string()
}

fn base(h: &LocalHost, ch: Channel) -> String {
    h.channels.section::<serde_json::Value>(ch).unwrap()["api_base"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `onecount connect …` with the host's table and queues, started in the background.
fn connect(h: &LocalHost, file: &str, secret: &str, args: &[&str]) -> Child {
    let urls = h.resources.queue_urls();
    let mut c = Command::new(env!("CARGO_BIN_EXE_onecount"));
    c.env("NO_COLOR", "1")
        .env("ONECOUNT_TABLE", &h.resources.table)
        .env("ONECOUNT_CHANNELS_FILE", file)
        .env("ONECOUNT_CLIENT_SECRET", secret)
        .env(
            "ONECOUNT_ORDER_QUEUE_URL",
            urls.orders.clone().unwrap_or_default(),
        );
    for ch in Channel::CONNECTED {
        let var = format!("ONECOUNT_PUSH_QUEUE_URL_{}", ch.as_str().to_uppercase());
        c.env(var, urls.push(ch).unwrap_or_default());
    }
    c.arg("connect")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run onecount connect")
}

/// The consent URL the command printed, and the rest of its output as it comes.
fn consent_url(child: &mut Child) -> (String, std::sync::mpsc::Receiver<String>) {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the consent URL is printed");
        if let Some(url) = line.trim().strip_prefix("http") {
            return (format!("http{url}"), rx);
        }
    }
}

/// Wait for the command; (success, stdout after the URL, stderr).
async fn finished(
    mut child: Child,
    rest: std::sync::mpsc::Receiver<String>,
) -> (bool, String, String) {
    let status = tokio::task::spawn_blocking(move || {
        let s = child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
        (s, err)
    })
    .await
    .unwrap();
    // The reader thread may still be passing on the last lines: take them until it has
    // read the end of the command's output (taking only what had arrived lost them).
    let out = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        while let Ok(line) = rest.recv_timeout(std::time::Duration::from_secs(10)) {
            out.push(line);
        }
        out
    })
    .await
    .unwrap();
    (status.0.success(), out.join("\n"), status.1)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn alerts_of(h: &LocalHost, kind: &str) -> Vec<onecount_tests::PublishedAlert> {
    published_alerts(&h.resources.topic_arn)
        .await
        .into_iter()
        .filter(|a| a.attributes.get("type").map(String::as_str) == Some(kind))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_mid_sale_alerts_once_waits_and_converges_after_connect() {
    let h = stack::start(|c| c.push_backoff_base_ms = 300).await;
    let sb = h.sandboxes.as_ref().unwrap();
    let sim = h.sim.clone().unwrap();
    let sku = stack::add_sku(&h, 60, "CON-MUG", 10, 1, plain(), 10).await;
    let other = stack::add_sku(&h, 61, "CON-CUP", 6, 1, plain(), 6).await;
    // The seller revokes onecount's access on Etsy in the middle of the sale.
    sb.etsy.tokens.revoke();
    let order = |v, q| onecount_sim::shopify::OrderReq {
        lines: vec![(v, q)],
        test: false,
        knobs: DeliveryKnobs::default(),
    };
    sb.shopify.place_order(&order(ids(60).variant, 2)).unwrap();
    sb.shopify.place_order(&order(ids(61).variant, 1)).unwrap();
    // An Etsy sale too: its webhook points at a receipt onecount cannot read now.
    sb.etsy
        .place_order(&onecount_sim::etsy::OrderReq {
            lines: vec![(ids(60).listing, 1)],
            skus: vec![],
            knobs: DeliveryKnobs::default(),
        })
        .unwrap();
    let disconnected = eventually(30, || async {
        let ep = h.store.episode(Channel::Etsy).await.unwrap();
        let parked = h.store.parked_orders(Channel::Etsy, 10).await.unwrap();
        ep.is_some_and(|e| e.kind == EpisodeKind::Auth && e.waiting.len() == 2) && parked.len() == 1
    })
    .await;
    assert!(disconnected, "{:?}", h.store.episode(Channel::Etsy).await);
    stack::converge(&h, 60, [8, 9, 8], 20).await;
    // The pushes keep waiting (sent again with longer delays); still one alert.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    assert_eq!(alerts_of(&h, "channel_auth_failed").await.len(), 1);
    assert!(
        alerts_of(&h, "push_failing").await.is_empty(),
        "no storm of push_failing"
    );
    assert_eq!(
        h.store.get_stock(&sku).await.unwrap().unwrap().on_hand,
        8,
        "the Etsy order waits"
    );

    // The merchant runs `onecount connect etsy` and approves on Etsy's page.
    let file = channels_file(&h);
    let etsy = base(&h, Channel::Etsy);
    let redirect = format!("http://127.0.0.1:{}/etsy/callback", free_port());
    let mut child = connect(
        &h,
        &file,
        &sim.etsy_shared_secret,
        &[
            "etsy",
            "--client-id",
            &sim.etsy_keystring,
            "--redirect-uri",
            &redirect,
            "--api-base",
            &etsy,
            "--auth-base",
            &etsy,
            "--wait-secs",
            "60",
        ],
    );
    let (url, rest) = consent_url(&mut child);
    assert!(
        url.contains("code_challenge_method=S256")
            && url.contains("scope=listings_r%20listings_w%20transactions_r"),
        "{url}"
    );
    // The browser: the consent page redirects to onecount's loopback listener.
    let landed = reqwest::get(&url).await.unwrap();
    assert!(landed.status().is_success(), "{:?}", landed.status());
    let (ok, out, err) = finished(child, rest).await;
    assert!(ok, "connect failed: {out}\n{err}");
    assert!(
        out.contains("OnecountSandbox") && out.contains("12345678"),
        "{out}"
    );
    assert_eq!(sb.etsy.tokens.consents(), 1);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert!(
        saved["etsy"].get("access_token").is_none(),
        "tokens live in the token store"
    );
    let (stored, _) = h.store.load_tokens(Channel::Etsy).await.unwrap().unwrap();
    assert_eq!(stored.origin.as_deref(), Some("connect"));

    // Caught up: the waiting Etsy order is applied, every channel shows the true count.
    stack::converge(&h, 60, [7, 7, 7], 30).await;
    stack::converge(&h, 61, [5, 5, 5], 30).await;
    assert_eq!(h.store.get_stock(&sku).await.unwrap().unwrap().on_hand, 7);
    assert_eq!(h.store.get_stock(&other).await.unwrap().unwrap().on_hand, 5);
    assert!(h.store.episode(Channel::Etsy).await.unwrap().is_none());
    assert_eq!(
        alerts_of(&h, "channel_auth_failed").await.len(),
        1,
        "exactly one"
    );
    assert_eq!(
        h.dead_pushes(Channel::Etsy).await.unwrap(),
        0,
        "nothing dead-lettered"
    );
    assert_eq!(h.dead_orders().await.unwrap(), 0);
    let _ = std::fs::remove_file(file);
    let _ = Sku::parse("x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ebay_connects_by_pasted_url_and_shopify_by_client_credentials() {
    let h = stack::start(|_| {}).await;
    let sb = h.sandboxes.as_ref().unwrap();
    let sim = h.sim.clone().unwrap();
    let file = channels_file(&h);

    // eBay: consent through the RuName; the browser lands on the app's accept page and
    // the merchant pastes that URL.
    let ebay = base(&h, Channel::Ebay);
    // The seller has out-of-stock control off and agrees to turn it on while connecting.
    sb.ebay.set_out_of_stock_control(false);
    let mut child = connect(
        &h,
        &file,
        &sim.ebay_client_secret,
        &[
            "ebay",
            "--client-id",
            &sim.ebay_client_id,
            "--redirect-uri",
            "onecount-onecount-PRD-1a2b3c",
            "--api-base",
            &ebay,
            "--auth-base",
            &ebay,
            "--wait-secs",
            "60",
            "--out-of-stock-control",
            "on",
        ],
    );
    let (url, rest) = consent_url(&mut child);
    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = no_follow.get(&url).send().await.unwrap();
    let accepted = page.headers()["location"].to_str().unwrap().to_string();
    assert!(
        accepted.starts_with(onecount_sim::ebay::ACCEPT_URL),
        "{accepted}"
    );
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{accepted}").unwrap();
    let (ok, out, err) = finished(child, rest).await;
    assert!(ok, "connect failed: {out}\n{err}");
    assert!(out.contains("onecount_sandbox_seller"), "{out}");
    assert!(
        sb.ebay.out_of_stock_control(),
        "SetUserPreferences turned it on"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("out-of-stock control") && l.contains("on")),
        "{out}"
    );
    let (t, _) = h.store.load_tokens(Channel::Ebay).await.unwrap().unwrap();
    let days = (t.refresh_expires_at.unwrap() - onecount::clock::now_ms()) / 86_400_000;
    assert!((545..=548).contains(&days), "about 18 months: {days} days");

    // The drift check warns 14 days before the refresh token ends, once.
    let mut soon = t.clone();
    soon.refresh_expires_at = Some(onecount::clock::now_ms() + 10 * 86_400_000);
    let (_, v) = h.store.load_tokens(Channel::Ebay).await.unwrap().unwrap();
    assert!(h.store.save_tokens(Channel::Ebay, &soon, v).await.unwrap());
    h.drift.run().await;
    h.drift.run().await;
    let expiring = alerts_of(&h, "credential_expiring").await;
    assert_eq!(expiring.len(), 1, "{expiring:#?}");
    assert!(expiring[0].body.contains("onecount connect ebay"));

    // Shopify, a Dev Dashboard app: the grant, the scopes, the location.
    let shopify = base(&h, Channel::Shopify);
    let args = |loc: Option<&str>| {
        let mut a = vec![
            "shopify",
            "--shop",
            "onecount-sandbox.myshopify.com",
            "--client-id",
            &sim.shopify_client_id,
            "--api-base",
            &shopify,
        ];
        if let Some(l) = loc {
            a.extend(["--location", l]);
        }
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let child = connect(&h, &file, &sim.shopify_client_secret, &a);
        child.wait_with_output().unwrap()
    };
    // A store whose location was never picked, with two locations: the command asks.
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    doc["shopify"]
        .as_object_mut()
        .unwrap()
        .remove("location_id");
    std::fs::write(&file, doc.to_string()).unwrap();
    let two = run(args(None));
    assert!(!two.status.success());
    let e = String::from_utf8_lossy(&two.stderr);
    assert!(
        e.contains("--location")
            && e.contains("71234567 (Warehouse)")
            && e.contains("71234999 (Shop floor)"),
        "{e}"
    );
    sb.shopify.set_scopes(&["read_orders", "read_inventory"]);
    let short = run(args(Some("71234567")));
    let e = String::from_utf8_lossy(&short.stderr);
    assert!(
        !short.status.success() && e.contains("write_inventory, read_products, read_locations"),
        "{e}"
    );
    assert_eq!(e.trim().lines().count(), 1, "one line: {e}");
    sb.shopify.set_scopes(&[
        "read_orders",
        "read_inventory",
        "write_inventory",
        "read_products",
        "read_locations",
    ]);
    let good = run(args(Some("71234567")));
    let out = String::from_utf8_lossy(&good.stdout);
    assert!(
        good.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert!(
        out.contains("onecount sandbox") && out.contains("Warehouse (id 71234567)"),
        "{out}"
    );
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        saved["shopify"]["client_id"],
        sim.shopify_client_id.as_str()
    );
    assert_eq!(saved["shopify"]["location_id"], "71234567");
    assert!(saved["shopify"].get("access_token").is_none());
    assert_eq!(
        saved["ebay"]["client_id"],
        sim.ebay_client_id.as_str(),
        "the other sections are kept"
    );
    let _ = std::fs::remove_file(file);
}
