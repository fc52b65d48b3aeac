//! Helpers shared by the end-to-end tests (in `tests/`) and benchmarks (in `examples/`).
//! They run against the AWS endpoint in `AWS_ENDPOINT_URL` — moto, started by
//! `scripts/moto.sh run` (which `make test` uses).

use onecount::aws::dynamo::DynamoStore;
use onecount::config::StoreConfig;

/// A store on a new, uniquely named table, so tests never share state and moto is never
/// reset while others run.
pub async fn fresh_store(prefix: &str) -> DynamoStore {
    assert!(
        onecount::aws::endpoint_url().is_some(),
        "AWS_ENDPOINT_URL is not set: run the tests with `make test` (or scripts/moto.sh run cargo test)"
    );
    let table = format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let sdk = onecount::aws::load_sdk_config().await;
    let store = DynamoStore::new(&sdk, &StoreConfig::new(table));
    store.init().await.expect("create the test table");
    store
}

pub mod lossy_proxy {
    //! A loopback HTTP proxy in front of the AWS endpoint that forwards a request, lets it
    //! take effect, then drops the connection instead of returning the answer — the
    //! lost-response fault a Lambda timeout or a network blip causes. Only requests whose
    //! `X-Amz-Target` ends with the chosen operation are dropped, `drops` times.

    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    pub struct LossyProxy {
        pub url: String,
        pub dropped: Arc<AtomicU32>,
    }

    async fn read_message(s: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                return Ok(None);
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok(Some(buf))
    }

    impl LossyProxy {
        /// Start a proxy to `upstream` (e.g. `http://127.0.0.1:5000`).
        pub async fn start(upstream: &str, operation: &str, drops: u32) -> LossyProxy {
            let upstream = upstream
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string();
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
            let url = format!("http://{}", listener.local_addr().expect("addr"));
            let dropped = Arc::new(AtomicU32::new(0));
            let target = format!(
                "x-amz-target: dynamodb_20120810.{}",
                operation.to_ascii_lowercase()
            );
            let counter = dropped.clone();
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    let (upstream, target, counter) =
                        (upstream.clone(), target.clone(), counter.clone());
                    tokio::spawn(async move {
                        let Ok(mut server) = TcpStream::connect(&upstream).await else {
                            return;
                        };
                        while let Ok(Some(req)) = read_message(&mut client).await {
                            let head = String::from_utf8_lossy(&req).to_ascii_lowercase();
                            if server.write_all(&req).await.is_err() {
                                return;
                            }
                            let Ok(Some(resp)) = read_message(&mut server).await else {
                                return;
                            };
                            let drop_it = head.contains(&target)
                                && counter
                                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |d| {
                                        (d < drops).then_some(d + 1)
                                    })
                                    .is_ok();
                            if drop_it {
                                return; // the write happened; the caller never hears of it
                            }
                            if client.write_all(&resp).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            });
            LossyProxy { url, dropped }
        }
    }
}

pub use onecount_flash::PublishedAlert;

/// Every message published to `topic_arn`, read back from moto (`AWS_ENDPOINT_URL`).
pub async fn published_alerts(topic_arn: &str) -> Vec<PublishedAlert> {
    onecount_flash::published_alerts(None, topic_arn).await
}

/// A SKU's timeline, one entry a line, for a failure message.
pub fn timeline_text(tl: &[onecount::domain::TimelineEntry]) -> String {
    let lines: Vec<String> = tl
        .iter()
        .map(|e| format!("{} {:?}", e.at, e.event))
        .collect();
    lines.join("\n")
}

/// Poll `check` every 50 ms until it is true or `secs` pass; whether it became true.
pub async fn eventually<F, Fut>(secs: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

pub mod stack {
    //! A local host with sandboxes and a catalog listed on all three channels: what the
    //! push-path tests, the benchmarks and the demo start from.

    use onecount::aws::sqs::SqsQueues;
    use onecount::ports::{PushQueue, PushRequest};
    use onecount::{Channel, ListingPolicy, Sku};
    use onecount_local::{LocalConfig, LocalHost};

    pub use onecount_flash::{Ids, ids};

    /// A local host with sandboxes on fresh resources; `tune` adjusts the config.
    pub async fn start(tune: impl FnOnce(&mut LocalConfig)) -> LocalHost {
        assert!(
            onecount::aws::endpoint_url().is_some(),
            "AWS_ENDPOINT_URL is not set: run with `make test`"
        );
        let sdk = onecount::aws::load_sdk_config().await;
        let prefix = format!("pp-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let mut cfg = LocalConfig::new(&prefix);
        cfg.sandbox = true;
        tune(&mut cfg);
        LocalHost::start(&sdk, cfg)
            .await
            .expect("local host starts")
    }

    /// Create `sku` with `on_hand`, map it on all three channels with `policies`
    /// (shopify, etsy, ebay), and put it on the sandboxes showing `shows`.
    pub async fn add_sku(
        h: &LocalHost,
        i: u64,
        sku: &str,
        on_hand: u32,
        threshold: u32,
        policies: [ListingPolicy; 3],
        shows: i64,
    ) -> Sku {
        let s = Sku::parse(sku).expect("valid SKU");
        onecount_flash::add_to_onecount(&h.store, i, &s, on_hand, threshold, policies)
            .await
            .expect("create the SKU and its listings");
        let sb = h.sandboxes.as_ref().expect("sandboxes");
        onecount_flash::list_on_sandboxes(sb, i, sku, shows);
        s
    }

    /// What each sandbox shows for catalog entry `i` (shopify, etsy, ebay).
    pub fn shows(h: &LocalHost, i: u64) -> [Option<i64>; 3] {
        let sb = h.sandboxes.as_ref().expect("sandboxes");
        let id = ids(i);
        [
            sb.shopify.quantity(id.variant),
            sb.etsy.quantity(id.listing),
            sb.ebay.quantity(id.item),
        ]
    }

    /// Until the sandboxes show `want` (shopify, etsy, ebay) for entry `i`; panics after
    /// `secs` with what they show.
    pub async fn converge(h: &LocalHost, i: u64, want: [i64; 3], secs: u64) {
        let ok = crate::eventually(secs, || async {
            shows(h, i) == [Some(want[0]), Some(want[1]), Some(want[2])]
        })
        .await;
        assert!(
            ok,
            "channels never showed {want:?}; they show {:?}",
            shows(h, i)
        );
    }

    /// Ask for a push of `sku` on `channel`, as a policy change does.
    pub async fn request_push(h: &LocalHost, sku: &Sku, channel: Channel, cause: &str) {
        let sdk = onecount::aws::load_sdk_config().await;
        let q = SqsQueues::new(&sdk, h.resources.queue_urls());
        q.request_push(&PushRequest {
            sku: sku.clone(),
            channel,
            cause: cause.into(),
            origin_channel: None,
            origin_order: None,
            requested_at: 0,
            origin_at: None,
            force: false,
            waits: 0,
            release_before: None,
        })
        .await
        .expect("push request sent");
    }
}

pub mod graphql;

pub mod contracts {
    //! The channels' official API definitions, in the pieces onecount relies on
    //! (`contracts/<channel>/*.schema.json`, each naming its source), and a server with no
    //! logic of its own that replays answers built from those definitions' examples.

    use std::collections::HashMap;
    use std::path::PathBuf;

    /// `contracts/` at the repository root.
    pub fn dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../contracts")
    }

    /// A file under `contracts/`, parsed.
    pub fn load(path: &str) -> serde_json::Value {
        let p = dir().join(path);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// One definition (`$defs` entry) of a schema file.
    pub struct Contract {
        file: String,
        validators: HashMap<String, jsonschema::Validator>,
        doc: serde_json::Value,
    }

    impl Contract {
        pub fn load(file: &str) -> Contract {
            Contract {
                file: file.to_string(),
                validators: HashMap::new(),
                doc: load(file),
            }
        }

        /// Every way `instance` breaks the definition `name`, one line each (empty: none).
        pub fn problems(&mut self, name: &str, instance: &serde_json::Value) -> Vec<String> {
            let doc = &self.doc;
            let file = &self.file;
            let v = self.validators.entry(name.to_string()).or_insert_with(|| {
                assert!(
                    doc["$defs"].get(name).is_some(),
                    "{file} has no definition {name}"
                );
                let schema =
                    serde_json::json!({"$ref": format!("#/$defs/{name}"), "$defs": doc["$defs"]});
                jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{file}: {e}"))
            });
            v.iter_errors(instance)
                .map(|e| format!("{name} at {}: {e}", e.instance_path))
                .collect()
        }

        /// Panics, naming every problem, unless `instance` fits the definition `name`.
        pub fn check(&mut self, name: &str, instance: &serde_json::Value) {
            let p = self.problems(name, instance);
            assert!(
                p.is_empty(),
                "{}: {}\n{instance:#}",
                self.file,
                p.join("\n")
            );
        }
    }

    /// Requests a recorder received: (path, topic header if any, body).
    pub type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, String, serde_json::Value)>>>;

    /// A server that answers 200 to every POST and keeps what it was sent (a stand-in
    /// for onecount's webhook endpoint, to read what a sandbox delivers). The base URL.
    pub async fn recorder() -> (String, Received) {
        let got: Received = Default::default();
        let keep = got.clone();
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let keep = keep.clone();
                async move {
                    let topic = headers
                        .get("x-shopify-topic")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    let v = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                    keep.lock().unwrap_or_else(|p| p.into_inner()).push((
                        uri.path().to_string(),
                        topic,
                        v,
                    ));
                    axum::http::StatusCode::OK
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), got)
    }

    /// Where `ours` (a sandbox's body) leaves the shape of `official` (the channel's own
    /// example): a field the example does not have, or a value of another JSON type (null
    /// fits anything). Array elements are held to the example's first element.
    pub fn off_example(ours: &serde_json::Value, official: &serde_json::Value) -> Vec<String> {
        use serde_json::Value;
        fn walk(at: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
            match (a, b) {
                (Value::Null, _) | (_, Value::Null) => {}
                (Value::Object(x), Value::Object(y)) => {
                    for (k, v) in x {
                        match y.get(k) {
                            Some(w) => walk(&format!("{at}/{k}"), v, w, out),
                            None => out.push(format!("{at}/{k}: not in the official example")),
                        }
                    }
                }
                (Value::Array(x), Value::Array(y)) => {
                    if let Some(w) = y.first() {
                        for (i, v) in x.iter().enumerate() {
                            walk(&format!("{at}/{i}"), v, w, out);
                        }
                    }
                }
                (Value::Number(_), Value::Number(_))
                | (Value::String(_), Value::String(_))
                | (Value::Bool(_), Value::Bool(_)) => {}
                _ => out.push(format!("{at}: {a} where the example has {b}")),
            }
        }
        let mut out = Vec::new();
        walk("", ours, official, &mut out);
        out
    }

    /// An XML document as JSON, to hold it to an example with [`off_example`]: each
    /// element an object of its attributes (`@name`) and its children, every child name an
    /// array (one or many), an element with neither its text; `xmlns` left out. Values stay
    /// text: the element tree is what is compared.
    pub fn xml_json(xml: &str) -> serde_json::Value {
        use quick_xml::events::Event;
        use serde_json::{Map, Value};
        type Open = (String, Map<String, Value>, String);
        let mut stack: Vec<Open> = vec![(String::new(), Map::new(), String::new())];
        let open = |e: &quick_xml::events::BytesStart| -> Open {
            let mut m = Map::new();
            for a in e.attributes().flatten() {
                if a.key.as_ref() != "xmlns" {
                    m.insert(
                        format!("@{}", a.key.as_ref()),
                        Value::String(a.value.to_string()),
                    );
                }
            }
            (e.name().as_ref().to_string(), m, String::new())
        };
        fn close(stack: &mut Vec<Open>) {
            let (name, mut m, text) = stack.pop().expect("an open element");
            let v = if m.is_empty() {
                Value::String(text)
            } else {
                if !text.trim().is_empty() {
                    m.insert("$text".into(), Value::String(text));
                }
                Value::Object(m)
            };
            let parent = &mut stack.last_mut().expect("a parent").1;
            if let Value::Array(a) = parent.entry(name).or_insert_with(|| Value::Array(vec![])) {
                a.push(v);
            }
        }
        let mut r = quick_xml::Reader::from_str(xml);
        loop {
            match r.read_event().expect("well-formed XML") {
                Event::Start(e) => stack.push(open(&e)),
                Event::Empty(e) => {
                    stack.push(open(&e));
                    close(&mut stack);
                }
                Event::End(_) => close(&mut stack),
                Event::Text(t) => {
                    let text = t.as_ref().to_string();
                    stack.last_mut().expect("open").2.push_str(&text);
                }
                Event::GeneralRef(g) => {
                    let name = g.as_ref().to_string();
                    stack
                        .last_mut()
                        .expect("open")
                        .2
                        .push_str(&format!("&{name};"));
                }
                Event::Eof => break,
                _ => {}
            }
        }
        Value::Object(stack.remove(0).1)
    }

    /// Serve fixed answers: each key, a path with its query (`/offer?sku=A`) or a bare
    /// path (any query), answers 200 with its JSON; anything else 404. The base URL.
    pub async fn replay(answers: Vec<(&str, serde_json::Value)>) -> String {
        let answers: HashMap<String, serde_json::Value> = answers
            .into_iter()
            .map(|(p, v)| (p.to_string(), v))
            .collect();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let whole = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
            let found = answers
                .get(whole)
                .or_else(|| answers.get(uri.path()))
                .cloned();
            async move {
                match found {
                    Some(v) => (axum::http::StatusCode::OK, axum::Json(v)),
                    None => (
                        axum::http::StatusCode::NOT_FOUND,
                        axum::Json(serde_json::json!({"error": "not found"})),
                    ),
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }
}

/// Whether discovery's plan (`listings discover --json`'s `rows`) names the problem
/// `onecount_sim::catalog` planted: its kind, and the SKU (or for `no_sku` the title) it is
/// about.
pub fn reported(rows: &[serde_json::Value], kind: &str, about: &str) -> bool {
    rows.iter().any(|r| {
        let sku = r["sku"].as_str().unwrap_or_default();
        let titles = r["listings"].as_array().unwrap();
        match kind {
            "case" | "spaces" => {
                r["finding"]["kind"] == "near_miss"
                    && r["finding"]["skus"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|s| s == about)
            }
            "no_sku" => {
                r["finding"]["kind"] == "no_sku"
                    && titles.iter().any(|l| {
                        let t = l["title"].as_str().unwrap_or_default();
                        t == about || t.starts_with(&format!("{about} — "))
                    })
            }
            k => r["finding"]["kind"] == k && sku == about,
        }
    })
}
