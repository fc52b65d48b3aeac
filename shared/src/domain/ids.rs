//! Newtypes parsed once at the edge, so the rest of the code cannot hold a bad value.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a value given to onecount was refused; the message is meant for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// The most UTF-8 bytes an id may take: it goes into DynamoDB keys (`LINE#<line>` as a
/// sort key, at most 1,024 bytes; `SKU#<sku>`, `REF#<channel>#<kind>:<id>` as partition
/// keys, at most 2,048), whose limits are in bytes, not characters.
pub const ID_BYTES_MAX: usize = 1000;

fn check_text(what: &str, s: &str) -> Result<(), ParseError> {
    if s.is_empty() {
        return Err(ParseError(format!("{what} must not be empty")));
    }
    if s.chars().count() > 255 {
        return Err(ParseError(format!("{what} is longer than 255 characters")));
    }
    if s.len() > ID_BYTES_MAX {
        return Err(ParseError(format!(
            "{what} is longer than {ID_BYTES_MAX} bytes ({} in UTF-8)",
            s.len()
        )));
    }
    if s.trim() != s {
        return Err(ParseError(format!(
            "{what} '{s}' has leading or trailing spaces"
        )));
    }
    if s.chars().any(char::is_control) {
        return Err(ParseError(format!("{what} contains a control character")));
    }
    Ok(())
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: impl Into<String>) -> Result<Self, ParseError> {
                let s = s.into();
                check_text($what, &s)?;
                Ok(Self(s))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = ParseError;
            fn try_from(s: String) -> Result<Self, ParseError> {
                Self::parse(s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                Self::parse(s)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_id!(
    /// A stock-keeping unit: the merchant's own code, the key of the one true count.
    Sku,
    "SKU"
);
text_id!(
    /// A channel's order id (Shopify order id, Etsy receipt id, eBay orderId, a till slip).
    OrderId,
    "order id"
);
text_id!(
    /// A channel's order line id (Shopify line_item id, Etsy transaction id, eBay lineItemId).
    LineId,
    "line id"
);

/// Where a sale came from. `Offline` covers sales made outside the connected channels
/// (a market stall, a phone order): they change the count through the same path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Shopify,
    Etsy,
    Ebay,
    Offline,
}

impl Channel {
    /// The channels onecount pushes quantities to.
    pub const CONNECTED: [Channel; 3] = [Channel::Shopify, Channel::Etsy, Channel::Ebay];
    pub const ALL: [Channel; 4] = [
        Channel::Shopify,
        Channel::Etsy,
        Channel::Ebay,
        Channel::Offline,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Shopify => "shopify",
            Channel::Etsy => "etsy",
            Channel::Ebay => "ebay",
            Channel::Offline => "offline",
        }
    }

    pub fn is_connected(self) -> bool {
        self != Channel::Offline
    }

    /// The connected channels' names for a person: `a, b or c`.
    pub fn connected_names() -> String {
        let names: Vec<&str> = Channel::CONNECTED.iter().map(|c| c.as_str()).collect();
        match names.split_last() {
            Some((last, [])) => last.to_string(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                ParseError(format!(
                    "unknown channel '{s}' (expected shopify, etsy, ebay or offline)"
                ))
            })
    }
}

/// A positive whole number of units in one order line, refund or adjustment step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u32")]
pub struct Qty(u32);

impl Qty {
    /// The largest quantity accepted in one line (Shopify's own limit is 1e9).
    pub const MAX: u32 = 1_000_000_000;

    pub fn new(n: i64) -> Result<Self, ParseError> {
        if n <= 0 {
            return Err(ParseError(format!(
                "quantity must be a positive whole number, got {n}"
            )));
        }
        if n > i64::from(Self::MAX) {
            return Err(ParseError(format!(
                "quantity {n} is larger than {}",
                Self::MAX
            )));
        }
        Ok(Qty(n as u32))
    }
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for Qty {
    type Error = ParseError;
    fn try_from(n: i64) -> Result<Self, ParseError> {
        Qty::new(n)
    }
}
impl From<Qty> for u32 {
    fn from(q: Qty) -> u32 {
        q.0
    }
}
impl FromStr for Qty {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let n: i64 = s.trim().parse().map_err(|_| {
            ParseError(format!(
                "quantity must be a positive whole number, got '{s}'"
            ))
        })?;
        Qty::new(n)
    }
}
impl fmt::Display for Qty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One of a channel's own ids for a listing, used to find the SKU when an order arrives:
/// `variant:44123456789012` (Shopify), `listing:1234567890` (Etsy), `item:316123456789` (eBay).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChannelRef {
    pub kind: String,
    pub id: String,
}

impl ChannelRef {
    pub fn new(kind: &str, id: &str) -> Result<Self, ParseError> {
        if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            return Err(ParseError(format!(
                "channel id kind '{kind}' must be lowercase letters, like variant, listing or item"
            )));
        }
        check_text("channel id", id)?;
        Ok(ChannelRef {
            kind: kind.to_string(),
            id: id.to_string(),
        })
    }
}

impl fmt::Display for ChannelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.id)
    }
}

impl FromStr for ChannelRef {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let (kind, id) = s.split_once(':').ok_or_else(|| {
            ParseError(format!(
                "channel id '{s}' must look like kind:id, e.g. variant:4412"
            ))
        })?;
        ChannelRef::new(kind, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sku_refuses_empty_padded_and_control() {
        assert!(Sku::parse("MUG-BLUE-12OZ").is_ok());
        assert!(Sku::parse("").is_err());
        assert!(Sku::parse(" MUG").is_err());
        assert!(Sku::parse("MU\nG").is_err());
        assert!(Sku::parse("x".repeat(256)).is_err());
    }

    /// DynamoDB's key limits are in bytes: 255 four-byte characters (1,020 bytes) would
    /// make a `LINE#` sort key over 1,024.
    #[test]
    fn ids_are_limited_in_bytes_as_well_as_characters() {
        assert!(LineId::parse("€".repeat(255)).is_ok(), "765 bytes");
        let e = LineId::parse("\u{1F600}".repeat(255)).unwrap_err();
        assert!(e.0.contains("1000 bytes"), "{e}");
        assert!(ChannelRef::new("item", &"\u{1F600}".repeat(251)).is_err());
        assert!(Sku::parse("x".repeat(256)).is_err());
    }

    #[test]
    fn qty_is_positive_and_bounded() {
        assert_eq!("3".parse::<Qty>().unwrap().get(), 3);
        assert!("0".parse::<Qty>().is_err());
        assert!("-2".parse::<Qty>().is_err());
        assert!("two".parse::<Qty>().is_err());
        assert!(Qty::new(2_000_000_000).is_err());
    }

    #[test]
    fn channel_parses_case_insensitively_and_names_the_choices() {
        assert_eq!("Shopify".parse::<Channel>().unwrap(), Channel::Shopify);
        let err = "amazon".parse::<Channel>().unwrap_err();
        assert!(err.0.contains("expected shopify, etsy, ebay or offline"));
    }

    #[test]
    fn channel_ref_round_trips() {
        let r: ChannelRef = "variant:44123456789012".parse().unwrap();
        assert_eq!(r.kind, "variant");
        assert_eq!(r.to_string(), "variant:44123456789012");
        assert!("44123".parse::<ChannelRef>().is_err());
    }
}
