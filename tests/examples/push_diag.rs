use onecount::ports::TimelineStore;
use onecount::{Channel, ListingPolicy, Sku};
use onecount_sim::DeliveryKnobs;
use onecount_tests::stack::{self, ids};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::main]
async fn main() {
    let h = stack::start(|_| {}).await;
    for i in 0..5 {
        let p = ListingPolicy::default();
        stack::add_sku(
            &h,
            i,
            &format!("SKU-{i:03}"),
            500,
            5,
            [p.clone(), p.clone(), p],
            500,
        )
        .await;
    }
    let t0 = ms();
    let sb = h.sandboxes.as_ref().unwrap();
    for n in 0..120u64 {
        let i = n % 5;
        let ch = Channel::CONNECTED[(n % 3) as usize];
        let at = ms() - t0;
        let k = DeliveryKnobs::default();
        match ch {
            Channel::Shopify => {
                sb.shopify
                    .place_order(&onecount_sim::shopify::OrderReq {
                        lines: vec![(ids(i).variant, 1)],
                        test: false,
                        knobs: k,
                    })
                    .unwrap();
            }
            Channel::Etsy => {
                sb.etsy
                    .place_order(&onecount_sim::etsy::OrderReq {
                        lines: vec![(ids(i).listing, 1)],
                        knobs: k,
                    })
                    .unwrap();
            }
            _ => {
                sb.ebay
                    .place_order(&onecount_sim::ebay::OrderReq {
                        lines: vec![(ids(i).item, 1)],
                        knobs: k,
                    })
                    .unwrap();
            }
        }
        println!("{at:>6} placed sale {n} sku {i} on {ch}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(15)).await;
    for i in 0..1 {
        let tl = h
            .store
            .timeline(&Sku::parse(format!("SKU-{i:03}")).unwrap(), 200)
            .await
            .unwrap();
        for e in tl {
            println!("{:>6} {} {}", e.at - t0, e.kind.as_str(), e.summary());
        }
    }
    println!(
        "{:?}",
        (0..5).map(|i| stack::shows(&h, i)).collect::<Vec<_>>()
    );
}
