//! `listings import`'s pure part: every row checked with its line number and reason,
//! and a plan that writes only what changed (`onecount::domain::import`).

use onecount::domain::import::*;
use onecount::{Channel, Sku};

const GOOD: &str = "sku,channel,refs,buffer,max,paused\n\
    MUG-1,shopify,variant:4412,0,,no\n\
    MUG-1,etsy,listing:1200,1,5,\n\
    MUG-1,ebay,\"item:3160 offer:8123\",0,,yes\n";

#[test]
fn good_rows_parse_with_their_policies() {
    let p = parse_csv(GOOD).unwrap();
    assert!(p.bad.is_empty(), "{:?}", p.bad);
    assert_eq!(p.rows.len(), 3);
    assert_eq!(p.rows[1].line, 3);
    assert_eq!(p.rows[1].listing.policy.buffer, 1);
    assert_eq!(p.rows[1].listing.policy.max_qty, Some(5));
    assert!(p.rows[2].listing.policy.paused);
    assert_eq!(p.rows[2].listing.refs.len(), 2);
}

#[test]
fn every_bad_row_is_reported_with_its_line_and_reason() {
    let text = "sku,channel,refs,buffer\n\
        MUG-1,shopify,variant:1,0\n\
        ,shopify,variant:2,0\n\
        MUG-2,amazon,variant:3,0\n\
        MUG-3,etsy,variant:4,0\n\
        MUG-4,shopify,variant:5,-1\n\
        MUG-5,shopify,variant:6\n\
        MUG-1,shopify,variant:7,0\n\
        MUG-6,shopify,variant:1,0\n\
        MUG-7,offline,variant:9,0\n\
        \n\
        MUG-8,ebay,\"item:1,0\n";
    let p = parse_csv(text).unwrap();
    assert_eq!(
        p.rows.len(),
        1,
        "{:?}",
        p.rows.iter().map(|r| r.line).collect::<Vec<_>>()
    );
    let lines: Vec<usize> = p.bad.iter().map(|b| b.line).collect();
    assert_eq!(lines, [3, 4, 5, 6, 7, 8, 9, 10, 12]);
    let why = |l: usize| p.bad.iter().find(|b| b.line == l).unwrap().reason.clone();
    assert!(why(5).contains("listing:"), "{}", why(5));
    assert!(why(6).contains("buffer '-1'"), "{}", why(6));
    assert!(why(7).contains("3 field(s)"), "{}", why(7));
    assert!(why(8).contains("already on line 2"), "{}", why(8));
    assert!(why(9).contains("given to MUG-1 on line 2"), "{}", why(9));
    assert!(why(10).contains("no listings"), "{}", why(10));
    assert!(why(12).contains("not closed"), "{}", why(12));
}

#[test]
fn a_file_without_the_needed_columns_is_refused_whole() {
    assert!(parse_csv("").unwrap_err().contains("empty"));
    assert!(parse_csv("sku,channel\n").unwrap_err().contains("refs"));
    assert!(
        parse_csv("sku,channel,refs,colour\n")
            .unwrap_err()
            .contains("colour")
    );
}

#[test]
fn the_plan_skips_what_is_already_so_and_refuses_taken_ids() {
    let p = parse_csv(
        "sku,channel,refs,on_hand\nMUG-1,shopify,variant:4412,\nMUG-2,shopify,variant:9,5\nMUG-3,shopify,variant:77,\nMUG-1,ebay,offer:1,\nMUG-1,etsy,listing:5,\n",
    )
    .unwrap();
    let mut ex = Existing::default();
    ex.skus.insert(Sku::parse("MUG-1").unwrap());
    ex.ref_owners.insert(
        (Channel::Ebay, "offer:1".into()),
        Sku::parse("OTHER").unwrap(),
    );
    // A listing's id may carry several SKUs (its variations): never "taken".
    ex.ref_owners.insert(
        (Channel::Etsy, "listing:5".into()),
        Sku::parse("OTHER").unwrap(),
    );
    ex.listings.insert(
        (Sku::parse("MUG-1").unwrap(), Channel::Shopify),
        p.rows[0].listing.clone(),
    );
    ex.ref_owners.insert(
        (Channel::Shopify, "variant:4412".into()),
        Sku::parse("MUG-1").unwrap(),
    );
    let plan = plan(p.rows, &ex);
    assert_eq!(plan.unchanged, [2]);
    assert_eq!(plan.write.len(), 2);
    assert_eq!(plan.write[0].line, 3);
    assert!(plan.write[0].fresh);
    assert_eq!(plan.write[1].line, 6, "MUG-1 joins OTHER on Etsy listing 5");
    assert_eq!(
        plan.create.get(&Sku::parse("MUG-2").unwrap()),
        Some(&(5, 0))
    );
    let bad: Vec<(usize, &str)> = plan
        .bad
        .iter()
        .map(|b| (b.line, b.reason.as_str()))
        .collect();
    assert_eq!(bad.len(), 2);
    assert!(bad[0].1.contains("unknown SKU MUG-3"));
    assert!(bad[1].1.contains("already mapped to OTHER"));
}
