//! A SKU's presence on one channel and the policy that turns the true count into the
//! quantity that channel shows.

use serde::{Deserialize, Serialize};

use super::{Channel, ChannelRef, Sku};

/// How the true count becomes the listed quantity on one channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingPolicy {
    /// Units held back from this channel.
    pub buffer: u32,
    /// Never list more than this many.
    pub max_qty: Option<u32>,
    /// A paused listing lists 0.
    pub paused: bool,
}

impl ListingPolicy {
    /// clamp(on_hand − buffer, 0, max), 0 when paused.
    pub fn listed_quantity(&self, on_hand: u32) -> u32 {
        if self.paused {
            return 0;
        }
        let q = on_hand.saturating_sub(self.buffer);
        self.max_qty.map_or(q, |m| q.min(m))
    }
}

/// Whether a channel id of `kind` names something several SKUs can share (a listing with
/// variations, as the channel's profile says). Such an id still finds the SKU of an order
/// line when it is one SKU's alone; otherwise the line's own SKU or variation decides.
/// Every other id (a variant, an offer) belongs to one SKU.
pub fn shared_ref(channel: Channel, kind: &str) -> bool {
    crate::channels::profile(channel)
        .shared_refs
        .contains(&kind)
}

/// One record per SKU per channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    pub sku: Sku,
    pub channel: Channel,
    /// The channel's own ids for this listing (variant, inventory item, listing, offer, item…);
    /// each one resolves back to the SKU when an order arrives.
    pub refs: Vec<ChannelRef>,
    pub policy: ListingPolicy,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_and_items_are_shared_variants_and_offers_are_not() {
        assert!(shared_ref(Channel::Shopify, "product"));
        assert!(shared_ref(Channel::Ebay, "item"));
        assert!(!shared_ref(Channel::Ebay, "offer"));
        assert!(!shared_ref(Channel::Shopify, "variant"));
    }

    #[test]
    fn listed_quantity_honours_buffer_max_and_pause() {
        let p = ListingPolicy {
            buffer: 2,
            max_qty: Some(5),
            paused: false,
        };
        assert_eq!(p.listed_quantity(1), 0);
        assert_eq!(p.listed_quantity(4), 2);
        assert_eq!(p.listed_quantity(40), 5);
        assert_eq!(ListingPolicy { paused: true, ..p }.listed_quantity(40), 0);
    }
}
