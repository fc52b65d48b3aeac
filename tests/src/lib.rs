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

/// An alert as moto recorded its publication.
#[derive(Debug, Clone)]
pub struct PublishedAlert {
    pub subject: String,
    /// The `default` text (email body).
    pub body: String,
    pub sms: String,
    pub attributes: std::collections::BTreeMap<String, String>,
}

/// Every message published to `topic_arn`, read back from moto's `/moto-api/data.json`.
pub async fn published_alerts(topic_arn: &str) -> Vec<PublishedAlert> {
    let endpoint = onecount::aws::endpoint_url().expect("AWS_ENDPOINT_URL");
    let data: serde_json::Value = reqwest::get(format!("{endpoint}/moto-api/data.json"))
        .await
        .expect("moto answers")
        .json()
        .await
        .expect("moto data is JSON");
    let topics = data
        .pointer("/sns/Topic")
        .and_then(|t| t.as_array())
        .cloned()
        .unwrap_or_default();
    let Some(topic) = topics.iter().find(|t| t["arn"] == topic_arn) else {
        return Vec::new();
    };
    topic["sent_notifications"]
        .as_array()
        .map(|ns| {
            ns.iter()
                .map(|n| {
                    let msg: serde_json::Value =
                        serde_json::from_str(n[1].as_str().unwrap_or("{}")).unwrap_or_default();
                    PublishedAlert {
                        subject: n[2].as_str().unwrap_or_default().to_string(),
                        body: msg["default"].as_str().unwrap_or_default().to_string(),
                        sms: msg["sms"].as_str().unwrap_or_default().to_string(),
                        attributes: n[3]
                            .as_object()
                            .map(|a| {
                                a.iter()
                                    .map(|(k, v)| {
                                        (
                                            k.clone(),
                                            v["Value"].as_str().unwrap_or_default().to_string(),
                                        )
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
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
    use onecount::domain::NewStock;
    use onecount::ports::{ListingStore, PushQueue, PushRequest, StockLedger};
    use onecount::{Channel, ChannelRef, Listing, ListingPolicy, Sku};
    use onecount_local::{LocalConfig, LocalHost};

    /// The channel ids of catalog entry `i`.
    #[derive(Debug, Clone, Copy)]
    pub struct Ids {
        pub variant: u64,
        pub listing: u64,
        pub item: u64,
    }

    pub fn ids(i: u64) -> Ids {
        Ids {
            variant: 44_000_000_000_000 + i,
            listing: 1_200_000_000 + i,
            item: 316_000_000_000 + i,
        }
    }

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
        h.store
            .create_stock(&NewStock {
                sku: s.clone(),
                on_hand,
                low_stock_threshold: threshold,
            })
            .await
            .expect("create stock");
        let id = ids(i);
        // eBay: the item (orders name it) and the offer (quantity writes need it).
        let refs = [
            vec![format!("variant:{}", id.variant)],
            vec![format!("listing:{}", id.listing)],
            vec![
                format!("item:{}", id.item),
                format!("offer:{}", onecount_sim::ebay::offer_id(id.item)),
            ],
        ];
        for ((channel, r), policy) in Channel::CONNECTED.into_iter().zip(refs).zip(policies) {
            h.store
                .put_listing(&Listing {
                    sku: s.clone(),
                    channel,
                    refs: r
                        .iter()
                        .map(|r| r.parse::<ChannelRef>().expect("ref"))
                        .collect(),
                    policy,
                })
                .await
                .expect("put listing");
        }
        let sb = h.sandboxes.as_ref().expect("sandboxes");
        sb.shopify.add_listing(onecount_sim::shopify::SimListing {
            variant_id: id.variant,
            sku: sku.into(),
            qty: shows,
            inventory_item_id: 0,
        });
        sb.etsy.add_listing(onecount_sim::etsy::SimListing {
            listing_id: id.listing,
            sku: sku.into(),
            qty: shows,
        });
        sb.ebay.add_listing(onecount_sim::ebay::SimListing {
            item_id: id.item,
            sku: sku.into(),
            qty: shows,
        });
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
        })
        .await
        .expect("push request sent");
    }
}
