//! eBay: Notification API (`X-EBAY-SIGNATURE`, ECDSA P-256 with the digest `getPublicKey`
//! names), the endpoint challenge, and the Fulfillment API order the notification points at.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use std::time::{Duration, Instant};

use base64::Engine;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;
use serde_json::Value;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use std::sync::Arc;

use super::auth::{Credentials, Refresher, TokenStore, Tokens};
use super::config::Secret;
use super::http::{HttpError, send_json};
use super::kit::{Challenge, ChannelKit, FetchError, Refusal, Verified};
use super::push::{
    ChannelApi, FoundOrder, OrderSource, PushError, Seen, Target, Write, all, parse_rfc3339,
    rfc3339,
};
use super::{Action, Key, LineShape, Parsed, SigError, b64, id_text, parse_lines};
use crate::domain::{Channel, Millis, OrderId};

mod catalog;
mod config;
pub mod connect;
pub mod keys;
pub mod trading;

pub use config::EbayConfig;

/// What eBay accepts: any quantity, 250 revisions per listing per day.
pub const PROFILE: super::Profile = super::Profile {
    rules: crate::domain::push::ChannelRules {
        max_listed: None,
        daily_revisions: Some(250),
    },
    // `item:` alone is a Seller Hub (Trading API) listing; `offer:`, or `sku:` alone (its
    // offers found by getOffers), an Inventory API one.
    required_refs: &["item", "offer", "sku"],
    // A multi-variation listing: each variation has its own SKU and offer.
    shared_refs: &["item"],
    // A transaction defect: seller level, fees, search placement.
    cancel_penalty: 15.0,
};

/// Where eBay's notification public keys come from (the eBay API, cached; a fake in tests).
#[async_trait]
pub trait EbayKeys: Send + Sync {
    async fn key(&self, kid: &str) -> Result<PublicKey, HttpError>;
}

#[async_trait]
impl EbayKeys for EbayClient {
    async fn key(&self, kid: &str) -> Result<PublicKey, HttpError> {
        self.public_key(kid).await
    }
}

/// eBay's kit: Notification API in (pointing at orders), Sell APIs out.
pub fn kit(cfg: EbayConfig, tokens: Option<Arc<dyn TokenStore>>) -> Arc<dyn ChannelKit> {
    let client = Arc::new(EbayClient::with_store(cfg.clone(), tokens));
    Arc::new(EbayKit {
        keys: client.clone(),
        client,
        cfg,
    })
}

/// eBay's kit with its public keys from elsewhere (tests).
pub fn kit_with_keys(cfg: EbayConfig, keys: Arc<dyn EbayKeys>) -> Arc<dyn ChannelKit> {
    Arc::new(EbayKit {
        client: Arc::new(EbayClient::new(cfg.clone())),
        keys,
        cfg,
    })
}

pub struct EbayKit {
    cfg: EbayConfig,
    client: Arc<EbayClient>,
    keys: Arc<dyn EbayKeys>,
}

#[async_trait]
impl ChannelKit for EbayKit {
    fn channel(&self) -> Channel {
        Channel::Ebay
    }

    async fn verify(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        _now: Millis,
    ) -> Result<Verified, Refusal> {
        let header = parse_header(super::Headers::get(headers, SIGNATURE_HEADER))
            .map_err(Refusal::Unauthorized)?;
        if !keys::valid_kid(&header.kid) {
            return Err(Refusal::Unauthorized(SigError::Malformed(SIGNATURE_HEADER)));
        }
        let key = match self.keys.key(&header.kid).await {
            Ok(k) => k,
            Err(e) if keys::is_unknown_key(&e) => {
                return Err(Refusal::Unauthorized(SigError::UnknownKey(header.kid)));
            }
            // Cannot verify now: let eBay retry.
            Err(e) => {
                return Err(Refusal::Unavailable(format!(
                    "cannot fetch the eBay public key: {e}"
                )));
            }
        };
        verify_with_key(body, &header, &key).map_err(Refusal::Unauthorized)?;
        Ok(Verified {
            delivery_id: delivery_id(body)
                .unwrap_or_else(|| format!("kid:{}:{}", header.kid, &header.signature)),
            topic: topic(body).unwrap_or_default(),
        })
    }

    fn parse(&self, _topic: &str, body: &[u8]) -> Parsed {
        parse(body)
    }

    /// The endpoint check: `GET ?challenge_code=…`.
    fn challenge(&self, query: Option<&str>) -> Option<Challenge> {
        let code = query
            .unwrap_or("")
            .split('&')
            .find_map(|kv| kv.strip_prefix("challenge_code="))
            .filter(|c| !c.is_empty());
        Some(match code {
            Some(code) => Challenge {
                status: 200,
                body: serde_json::json!({
                    "challengeResponse": challenge_response(
                        code,
                        self.cfg.verification_token.expose(),
                        &self.cfg.endpoint_url,
                    )
                }),
            },
            None => Challenge {
                status: 400,
                body: serde_json::json!({"error": "missing challenge_code"}),
            },
        })
    }

    /// The pointer is the order id.
    async fn fetch(&self, pointer: &str) -> Result<Action, FetchError> {
        let o = self.client.order(pointer).await?;
        order_action(&o).map_err(FetchError::Permanent)
    }

    fn api(&self) -> Arc<dyn ChannelApi> {
        self.client.clone()
    }

    fn orders(&self) -> Arc<dyn OrderSource> {
        self.client.clone()
    }
}

pub const SIGNATURE_HEADER: &str = "X-EBAY-SIGNATURE";
/// How long a fetched public key is trusted (eBay recommends caching about an hour).
pub const KEY_TTL: Duration = Duration::from_secs(3600);

/// The decoded `X-EBAY-SIGNATURE` header.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SignatureHeader {
    pub alg: String,
    pub kid: String,
    pub signature: String,
    #[serde(default)]
    pub digest: String,
}

pub fn parse_header(value: Option<&str>) -> Result<SignatureHeader, SigError> {
    let v = value.ok_or(SigError::Missing(SIGNATURE_HEADER))?;
    let json = b64()
        .decode(v.trim())
        .map_err(|_| SigError::Malformed(SIGNATURE_HEADER))?;
    serde_json::from_slice(&json).map_err(|_| SigError::Malformed(SIGNATURE_HEADER))
}

/// A key from `getPublicKey`: `{"algorithm":"ECDSA","digest":"SHA1","key":"-----BEGIN…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PublicKey {
    pub algorithm: String,
    pub digest: String,
    pub key: String,
}

/// eBay sends the PEM on one line; put the line breaks back.
pub fn normalize_pem(key: &str) -> String {
    let body: String = key
        .replace("-----BEGIN PUBLIC KEY-----", "")
        .replace("-----END PUBLIC KEY-----", "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let lines: Vec<String> = body
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

/// Verify `body` against the header's signature with `key` ("{digest}with{algorithm}").
pub fn verify_with_key(
    body: &[u8],
    header: &SignatureHeader,
    key: &PublicKey,
) -> Result<(), SigError> {
    if !key.algorithm.eq_ignore_ascii_case("ECDSA") {
        return Err(SigError::Malformed("public key algorithm"));
    }
    let vk = VerifyingKey::from_public_key_pem(&normalize_pem(&key.key))
        .map_err(|_| SigError::Malformed("public key"))?;
    let der = b64()
        .decode(header.signature.trim())
        .map_err(|_| SigError::Malformed(SIGNATURE_HEADER))?;
    let sig = DerSignature::try_from(der.as_slice())
        .map_err(|_| SigError::Malformed(SIGNATURE_HEADER))?;
    let prehash: Vec<u8> = match key.digest.to_ascii_uppercase().as_str() {
        "SHA1" => Sha1::digest(body).to_vec(),
        "SHA256" => Sha256::digest(body).to_vec(),
        _ => return Err(SigError::Malformed("public key digest")),
    };
    vk.verify_prehash(&prehash, &sig)
        .map_err(|_| SigError::Mismatch)
}

/// The answer to eBay's `GET ?challenge_code=…`: hex(SHA-256(code ‖ token ‖ endpoint)).
pub fn challenge_response(code: &str, verification_token: &str, endpoint: &str) -> String {
    let mut h = Sha256::new();
    h.update(code.as_bytes());
    h.update(verification_token.as_bytes());
    h.update(endpoint.as_bytes());
    hex::encode(h.finalize())
}

/// The delivery id (`notification.notificationId`) of a verified body, if readable.
pub fn delivery_id(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.pointer("/notification/notificationId")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The topic of a verified body, if readable.
pub fn topic(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.pointer("/metadata/topic")
        .and_then(Value::as_str)
        .map(str::to_string)
}

pub fn parse(body: &[u8]) -> Parsed {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Parsed::Quarantine(format!("body is not JSON: {e}")),
    };
    match v.pointer("/metadata/topic").and_then(Value::as_str) {
        Some("ORDER_CONFIRMATION") => match v
            .pointer("/notification/data/orderId")
            .and_then(id_text)
            .map(OrderId::parse)
        {
            Some(Ok(order)) => Parsed::Event(Action::Fetch {
                pointer: order.to_string(),
            }),
            _ => Parsed::Quarantine("ORDER_CONFIRMATION without orderId".into()),
        },
        // Mandatory for every app; onecount stores nothing about eBay users to delete.
        Some("MARKETPLACE_ACCOUNT_DELETION") => {
            Parsed::Ignored("account deletion: onecount keeps no eBay user data")
        }
        Some(other) => Parsed::Quarantine(format!("unknown topic '{other}'")),
        None => Parsed::Quarantine("no metadata.topic".into()),
    }
}

/// A Fulfillment API order as lines; a cancelled order cancels them.
pub fn order_action(order: &Value) -> Result<Action, String> {
    let id = order
        .get("orderId")
        .and_then(id_text)
        .ok_or("order without orderId")?;
    let id = OrderId::parse(id).map_err(|e| e.0)?;
    const LINE: LineShape = LineShape {
        id: "lineItemId",
        qty: "quantity",
        // A Seller Hub variation mapped with `sku:` (eBay's SKU differs from ours) is
        // found by that ref; otherwise the line's SKU is ours.
        keys: &[
            Key::Ref("item", "legacyItemId"),
            Key::Ref("sku", "sku"),
            Key::Sku("sku"),
        ],
    };
    let lines = parse_lines(order.get("lineItems"), "lineItems", &LINE)?;
    let cancelled = order
        .pointer("/cancelStatus/cancelState")
        .and_then(Value::as_str)
        == Some("CANCELED");
    Ok(if cancelled {
        Action::Cancel { order: id, lines }
    } else {
        Action::Sale {
            order: id,
            lines,
            placed_at: order
                .get("creationDate")
                .and_then(Value::as_str)
                .and_then(parse_rfc3339),
        }
    })
}

struct Token {
    value: String,
    expires: Instant,
}

/// eBay REST client: application and user tokens (refreshed before expiry), public keys
/// cached for an hour, `getOrder`.
pub struct EbayClient {
    cfg: EbayConfig,
    http: reqwest::Client,
    app_token: Mutex<Option<Token>>,
    /// The seller's user token, from the refresh token (stored where a store is given).
    user: Credentials,
    keys: keys::KeyCache,
    offer_cache: Mutex<HashMap<String, Vec<String>>>,
    /// The seller's out-of-stock control, and when it was read (Trading API).
    oos: Mutex<Option<(bool, Instant)>>,
    /// Items mapped without an offer that eBay said are Inventory API listings.
    inventory_items: Mutex<std::collections::HashSet<String>>,
    /// How a Seller Hub target is written (its item, and variation if any), by item and
    /// SKU, as the last read found it: a sell-out then needs no read first.
    trading_states: Mutex<HashMap<String, Value>>,
    calls: AtomicU64,
}

impl EbayClient {
    pub fn new(cfg: EbayConfig) -> Self {
        Self::with_store(cfg, None)
    }

    /// A client whose user token lives in `store` (shared by every function), else in
    /// memory.
    pub fn with_store(cfg: EbayConfig, store: Option<Arc<dyn TokenStore>>) -> Self {
        let http = super::http::client();
        let refresher = Arc::new(EbayRefresh {
            http: http.clone(),
            cfg: cfg.clone(),
        });
        // No user token configured: the first call refreshes.
        let configured = Tokens::fixed(&Secret::default(), Some(&cfg.refresh_token));
        EbayClient {
            user: Credentials::new(Channel::Ebay, configured, store, refresher),
            cfg,
            http,
            app_token: Mutex::new(None),
            keys: keys::KeyCache::default(),
            offer_cache: Mutex::new(HashMap::new()),
            oos: Mutex::new(None),
            inventory_items: Mutex::new(Default::default()),
            trading_states: Mutex::new(HashMap::new()),
            calls: AtomicU64::new(0),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.cfg.api_base.trim_end_matches('/'), path)
    }

    /// The seller's user token (Inventory and Fulfillment APIs).
    async fn user_token(&self) -> Result<Secret, HttpError> {
        self.user.bearer().await
    }

    /// User-token refreshes this client made.
    pub fn refreshes(&self) -> u64 {
        self.user.refreshes()
    }

    /// The application token (client credentials; `getPublicKey`), kept in this process.
    async fn app_token(&self) -> Result<String, HttpError> {
        if let Some(t) = self
            .app_token
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|t| t.expires > Instant::now())
        {
            return Ok(t.value.clone());
        }
        let form = super::http::form_urlencoded(&[
            ("grant_type", "client_credentials"),
            ("scope", "https://api.ebay.com/oauth/api_scope"),
        ]);
        let t = token_grant(&self.http, &self.cfg, "ebay application token", form).await?;
        let value = t.access.expose().to_string();
        let ahead = t.access_lifetime_ms.map_or(60_000, |l| (l / 5).min(60_000));
        let left = t
            .access_expires_at
            .map_or(0, |e| e - ahead - crate::clock::now_ms());
        *self.app_token.lock().unwrap_or_else(|p| p.into_inner()) = Some(Token {
            value: value.clone(),
            expires: Instant::now() + Duration::from_millis(left.max(0) as u64),
        });
        Ok(value)
    }

    /// `getPublicKey(kid)`, cached for [`KEY_TTL`] (see [`keys::KeyCache`]: misses are
    /// cached too, one lookup at a time, a capped rate).
    pub async fn public_key(&self, kid: &str) -> Result<PublicKey, HttpError> {
        self.keys.get(kid, || self.fetch_public_key(kid)).await
    }

    async fn fetch_public_key(&self, kid: &str) -> Result<PublicKey, HttpError> {
        let token = self.app_token().await?;
        let v = send_json(
            "ebay getPublicKey",
            self.http
                // `kid` passed keys::valid_kid: only characters a path takes as they are.
                .get(self.url(&format!("/commerce/notification/v1/public_key/{kid}")))
                .bearer_auth(token),
        )
        .await;
        if let Err(e) = &v
            && e.is_unauthorized()
        {
            // Our application token, not the key: get a new one next time.
            *self.app_token.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        serde_json::from_value(v?).map_err(|_| HttpError::Permanent {
            what: "ebay getPublicKey".into(),
            status: 200,
            detail: "unexpected answer".into(),
        })
    }

    /// `getOrder`.
    pub async fn order(&self, order_id: &str) -> Result<Value, HttpError> {
        self.inventory_call(
            "ebay getOrder",
            reqwest::Method::GET,
            &format!("/sell/fulfillment/v1/order/{order_id}"),
            None,
        )
        .await
    }

    pub fn config(&self) -> &EbayConfig {
        &self.cfg
    }
}

// ----- outbound: Inventory API ---------------------------------------------------

/// eBay's inventory-item SKU for a target: an explicit `sku:` ref, else ours.
fn ebay_sku(t: &Target) -> String {
    t.reference("sku").unwrap_or(t.sku.as_str()).to_string()
}

impl EbayClient {
    /// A user-token call; one fresh token and retry on 401.
    async fn inventory_call(
        &self,
        what: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, HttpError> {
        self.as_seller(|token| {
            let mut req = self
                .http
                .request(method.clone(), self.url(path))
                .bearer_auth(token.expose())
                .header("Content-Language", "en-US");
            if let Some(b) = body {
                req = req.json(b);
            }
            send_json(what, req)
        })
        .await
    }

    /// A call with the seller's user token (REST or Trading): one fresh token and one
    /// retry when eBay refuses it (401, or 403 as eBay has also answered, errorId 1100, to
    /// an expired token); refused again, the caller hears it.
    async fn as_seller<T, F, Fut>(&self, call: F) -> Result<T, HttpError>
    where
        F: Fn(Secret) -> Fut,
        Fut: std::future::Future<Output = Result<T, HttpError>>,
    {
        for attempt in 0..2 {
            let token = self.user_token().await?;
            self.calls.fetch_add(1, Ordering::Relaxed);
            match call(token.clone()).await {
                Err(e) if e.is_unauthorized() && attempt == 0 => {
                    self.user.refused(&token).await?;
                }
                other => return other,
            }
        }
        unreachable!("the loop returns on its second pass")
    }

    /// Offer ids for an inventory SKU (`getOffers`), when the mapping has none; cached
    /// for the life of the process (a warm Lambda), since offers rarely change.
    async fn offers(&self, sku: &str) -> Result<Vec<String>, PushError> {
        if let Some(o) = self
            .offer_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sku)
        {
            return Ok(o.clone());
        }
        let found = self.fetch_offers(sku).await?;
        if !found.is_empty() {
            self.offer_cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(sku.to_string(), found.clone());
        }
        Ok(found)
    }

    /// `getOffers` for one SKU (encoded: a SKU may hold `&`, `+`, `#`).
    async fn fetch_offers(&self, sku: &str) -> Result<Vec<String>, PushError> {
        let v = self
            .inventory_call(
                "ebay getOffers",
                reqwest::Method::GET,
                &format!(
                    "/sell/inventory/v1/offer?{}",
                    super::http::form_urlencoded(&[("sku", sku)])
                ),
                None,
            )
            .await?;
        let live = live_offers(&v);
        let ended = v
            .get("offers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(ended);
        if live.is_empty() && ended {
            return Err(PushError::Mismatch(ended_listing(sku)));
        }
        Ok(live)
    }
}

/// An offer whose listing has ended (by the seller, at 0, or by eBay): no revision
/// reaches it. `OUT_OF_STOCK` is alive (hidden from search, out-of-stock control on).
fn ended(offer: &Value) -> bool {
    matches!(
        offer
            .pointer("/listing/listingStatus")
            .and_then(Value::as_str),
        Some("ENDED" | "EBAY_ENDED")
    )
}

/// `POST /identity/v1/oauth2/token` (Basic client id:secret, a form): the access token
/// and how long it lasts.
async fn token_grant(
    http: &reqwest::Client,
    cfg: &EbayConfig,
    what: &str,
    form: String,
) -> Result<Tokens, HttpError> {
    let basic = b64().encode(format!("{}:{}", cfg.client_id, cfg.client_secret.expose()));
    let req = http
        .post(format!(
            "{}/identity/v1/oauth2/token",
            cfg.api_base.trim_end_matches('/')
        ))
        .header("authorization", format!("Basic {basic}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form);
    let v = send_json(what, req).await?;
    let access = v
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| HttpError::Permanent {
            what: what.into(),
            status: 200,
            detail: "no access_token".into(),
        })?;
    let lifetime = v.get("expires_in").and_then(Value::as_i64).unwrap_or(7200) * 1000;
    Ok(Tokens {
        access: Secret::new(access),
        access_expires_at: Some(crate::clock::now_ms() + lifetime),
        access_lifetime_ms: Some(lifetime),
        refresh: None,
        refresh_expires_at: None,
        origin: None,
    })
}

/// The seller's user token from the refresh token (eBay does not rotate it; it lasts
/// about 18 months from consent).
struct EbayRefresh {
    http: reqwest::Client,
    cfg: EbayConfig,
}

#[async_trait]
impl Refresher for EbayRefresh {
    async fn refresh(&self, current: &Tokens) -> Result<Tokens, HttpError> {
        let refresh = current
            .refresh
            .clone()
            .unwrap_or_else(|| self.cfg.refresh_token.clone());
        let form = super::http::form_urlencoded(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.expose()),
        ]);
        let mut t = token_grant(&self.http, &self.cfg, "ebay user token", form).await?;
        t.refresh = Some(refresh);
        t.refresh_expires_at = current.refresh_expires_at;
        Ok(t)
    }
}

/// What to do about a listing eBay ended when it reached 0: onecount cannot relist it.
fn ended_listing(sku: &str) -> String {
    format!(
        "ebay: the listing of SKU {sku} has ended (it reached 0 while the seller's out-of-stock \
         control was off). Turn on out-of-stock control (Seller Hub > Account > Site \
         preferences > Selling preferences) so listings at 0 stay alive, then relist the \
         offer (publishOffer, or Relist in Seller Hub)"
    )
}

/// The offers of a `getOffers` answer that a quantity write may touch: published
/// fixed-price ones. `bulkUpdatePriceQuantity` "is not designed to work with unpublished
/// offers", and an auction's quantity is not the listed stock.
pub fn live_offers(v: &Value) -> Vec<String> {
    v.get("offers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|o| o.get("status").and_then(Value::as_str) == Some("PUBLISHED"))
        .filter(|o| !ended(o))
        .filter(|o| {
            o.get("format")
                .and_then(Value::as_str)
                .is_none_or(|f| f == "FIXED_PRICE")
        })
        .filter_map(|o| o.get("offerId").and_then(id_text))
        .collect()
}

/// A `lastmodifieddate` bound as eBay's filter wants it: UTC with three-digit
/// milliseconds (`2026-03-14T14:21:05.250Z`), never before the 90 days eBay keeps
/// (89, to leave room for the clock).
pub fn order_filter_time(since: Millis, now: Millis) -> String {
    let since = since.clamp(now - 89 * 86_400_000, now);
    let whole = rfc3339(since - since.rem_euclid(1000));
    format!(
        "{}.{:03}Z",
        whole.trim_end_matches('Z'),
        since.rem_euclid(1000)
    )
}

/// `a` on the items `is_a` picks and `b` on the others (each only if it has any), the
/// answers put back in the items' order.
async fn split<T: Clone, R, FA, FB>(
    items: &[T],
    is_a: impl Fn(&T) -> bool,
    a: impl FnOnce(Vec<T>) -> FA,
    b: impl FnOnce(Vec<T>) -> FB,
) -> Vec<R>
where
    FA: std::future::Future<Output = Vec<R>>,
    FB: std::future::Future<Output = Vec<R>>,
{
    let (ia, ib): (Vec<usize>, Vec<usize>) = (0..items.len()).partition(|&i| is_a(&items[i]));
    let pick = |ix: &[usize]| ix.iter().map(|&i| items[i].clone()).collect::<Vec<_>>();
    let mut out: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    if !ia.is_empty() {
        for (i, r) in ia.iter().zip(a(pick(&ia)).await) {
            out[*i] = Some(r);
        }
    }
    if !ib.is_empty() {
        for (i, r) in ib.iter().zip(b(pick(&ib)).await) {
            out[*i] = Some(r);
        }
    }
    out.into_iter()
        .map(|r| r.expect("each side answers once per item"))
        .collect()
}

/// A per-item `statusCode` (and its errors) in a bulk answer, classified.
fn item_status(r: &Value) -> Result<(), PushError> {
    let code = r.get("statusCode").and_then(Value::as_u64).unwrap_or(0);
    if (200..300).contains(&code) {
        return Ok(());
    }
    let msg = r
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let sku = r.get("sku").and_then(Value::as_str).unwrap_or("?");
    let error_id = r.pointer("/errors/0/errorId").and_then(Value::as_u64);
    Err(match code {
        // The definition lists "not available" / "not found" (25702, 25710) under 400.
        404 => PushError::Mismatch(format!("ebay: inventory item not found ({msg})")),
        400 if matches!(error_id, Some(25702 | 25710)) => {
            PushError::Mismatch(format!("ebay: inventory item not found ({msg})"))
        }
        400..=499 if msg.to_ascii_lowercase().contains("ended listing") => {
            PushError::Mismatch(ended_listing(sku))
        }
        429 | 500..=599 => PushError::Transient {
            detail: format!("ebay item status {code}: {msg}"),
            retry_after: None,
        },
        _ => PushError::Permanent(format!("ebay item status {code}: {msg}")),
    })
}

#[async_trait]
impl ChannelApi for EbayClient {
    fn channel(&self) -> Channel {
        Channel::Ebay
    }

    async fn catalog(
        &self,
        progress: &super::push::Progress<'_>,
    ) -> Result<Vec<crate::domain::discover::Found>, PushError> {
        self.read_catalog(progress).await
    }
    fn read_batch(&self) -> usize {
        25
    }
    fn write_batch(&self) -> usize {
        25
    }
    fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Seller Hub listings through the Trading API, the others through the Inventory API.
    async fn read(&self, targets: &[Target]) -> Vec<Result<Seen, PushError>> {
        split(
            targets,
            |t| self.is_seller_hub(t),
            |t| async move { self.trading_read(&t).await },
            |t| async move { self.inventory_read(&t).await },
        )
        .await
    }

    /// The seller's out-of-stock control, when it is off: Seller Hub listings are then
    /// kept at 1 instead of 0, and Inventory API listings end at 0.
    async fn cautions(&self, targets: &[Target]) -> Vec<String> {
        if targets.is_empty() {
            return Vec::new();
        }
        match self.out_of_stock_control().await {
            Ok(true) => Vec::new(),
            Ok(false) => vec![connect::OUT_OF_STOCK_CONTROL_OFF.to_string()],
            Err(e) => vec![format!(
                "ebay: could not read the seller's out-of-stock control ({e}); it decides what a sell-out does to a listing"
            )],
        }
    }

    /// eBay inventory items are one per SKU: with the offer ids in the mapping, a zero
    /// write needs nothing from a read; a Seller Hub variation needs its item and SKU.
    fn zero_without_read(&self, target: &Target) -> Option<Seen> {
        if self.is_seller_hub(target) {
            return trading::zero_state(target).or_else(|| {
                let state = self
                    .trading_states
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&trading::state_key(target))
                    .cloned()?;
                Some(Seen { qty: -1, state })
            });
        }
        let offers: Vec<String> = target.references("offer").map(str::to_string).collect();
        (!offers.is_empty()).then(|| Seen {
            qty: -1,
            state: serde_json::json!({"sku": ebay_sku(target), "offers": offers}),
        })
    }

    /// `ReviseInventoryStatus` for Seller Hub listings, `bulkUpdatePriceQuantity` for the
    /// others; by what the read (or the zero-without-read state) found.
    async fn write(&self, writes: &[Write]) -> Vec<Result<(), PushError>> {
        split(
            writes,
            |w| w.seen.state.get("kind").and_then(Value::as_str) == Some("trading"),
            |w| async move { self.trading_write(&w).await },
            |w| async move { self.inventory_write(&w).await },
        )
        .await
    }
}

impl EbayClient {
    /// Whether `t` goes through the Trading API: an `item:` without an `offer:`, unless
    /// eBay already said that item is an Inventory API listing.
    fn is_seller_hub(&self, t: &Target) -> bool {
        trading::is_trading(t)
            && !t.reference("item").is_some_and(|i| {
                self.inventory_items
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .contains(i)
            })
    }
}

impl EbayClient {
    /// `bulkGetInventoryItem` (25 per call); offers from the mapping or `getOffers`.
    async fn inventory_read(&self, targets: &[Target]) -> Vec<Result<Seen, PushError>> {
        let body = serde_json::json!({
            "requests": targets.iter().map(|t| serde_json::json!({"sku": ebay_sku(t)})).collect::<Vec<_>>()
        });
        let v = match self
            .inventory_call(
                "ebay bulkGetInventoryItem",
                reqwest::Method::POST,
                "/sell/inventory/v1/bulk_get_inventory_item",
                Some(&body),
            )
            .await
        {
            Ok(v) => v,
            Err(e) => return all(targets.len(), e),
        };
        let responses = v
            .get("responses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut out = Vec::with_capacity(targets.len());
        for t in targets {
            let sku = ebay_sku(t);
            let seen = async {
                let r = responses
                    .iter()
                    .find(|r| r.get("sku").and_then(Value::as_str) == Some(sku.as_str()))
                    .ok_or_else(|| PushError::Mismatch(format!("ebay: no answer for SKU {sku}")))?;
                item_status(r)?;
                let qty = r
                    .pointer("/inventoryItem/availability/shipToLocationAvailability/quantity")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                let mut offers: Vec<String> = t.references("offer").map(str::to_string).collect();
                if offers.is_empty() {
                    offers = self.offers(&sku).await?;
                }
                if offers.is_empty() {
                    return Err(PushError::Mismatch(format!(
                        "ebay: SKU {sku} has no published offer"
                    )));
                }
                Ok(Seen {
                    qty,
                    state: serde_json::json!({"sku": sku, "offers": offers}),
                })
            }
            .await;
            out.push(seen);
        }
        out
    }

    /// `bulkUpdatePriceQuantity` (25 per call): the total and every offer's quantity;
    /// each item's own `statusCode` decides its outcome.
    async fn inventory_write(&self, writes: &[Write]) -> Vec<Result<(), PushError>> {
        let requests: Vec<Value> = writes
            .iter()
            .map(|w| {
                let offers: Vec<Value> = w
                    .seen
                    .state
                    .get("offers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|o| serde_json::json!({"offerId": o, "availableQuantity": w.qty}))
                    .collect();
                serde_json::json!({
                    "sku": ebay_sku(&w.target),
                    "shipToLocationAvailability": {"quantity": w.qty},
                    "offers": offers,
                })
            })
            .collect();
        let v = match self
            .inventory_call(
                "ebay bulkUpdatePriceQuantity",
                reqwest::Method::POST,
                "/sell/inventory/v1/bulk_update_price_quantity",
                Some(&serde_json::json!({ "requests": requests })),
            )
            .await
        {
            Ok(v) => v,
            Err(e) => return all(writes.len(), e),
        };
        let responses = v
            .get("responses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        writes
            .iter()
            .map(|w| {
                let sku = ebay_sku(&w.target);
                let mine: Vec<&Value> = responses
                    .iter()
                    .filter(|r| r.get("sku").and_then(Value::as_str) == Some(sku.as_str()))
                    .collect();
                if mine.is_empty() {
                    return Err(PushError::Transient {
                        detail: format!("ebay: no status for SKU {sku}"),
                        retry_after: None,
                    });
                }
                mine.into_iter().try_for_each(item_status)
            })
            .collect()
    }
}

#[async_trait]
impl OrderSource for EbayClient {
    fn channel(&self) -> Channel {
        Channel::Ebay
    }

    /// Fulfillment `getOrders` filtered by `lastmodifieddate`, 200 a page (eBay keeps 90
    /// days). This is how eBay cancellations arrive: there is no webhook for them.
    async fn orders_since(&self, since: Millis) -> Result<Vec<FoundOrder>, HttpError> {
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let from = order_filter_time(since, crate::clock::now_ms());
            let filter = format!("lastmodifieddate:%5B{from}..%5D");
            let v = self
                .inventory_call(
                    "ebay getOrders",
                    reqwest::Method::GET,
                    &format!(
                        "/sell/fulfillment/v1/order?filter={filter}&limit=200&offset={offset}"
                    ),
                    None,
                )
                .await?;
            let page = v
                .get("orders")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for o in &page {
                let updated_at = o
                    .get("lastModifiedDate")
                    .and_then(Value::as_str)
                    .and_then(parse_rfc3339)
                    .unwrap_or(since);
                let actions = order_action(o).into_iter().collect();
                out.push(FoundOrder {
                    actions,
                    updated_at,
                });
            }
            offset += page.len();
            let total = v.get("total").and_then(Value::as_u64).unwrap_or(0) as usize;
            if page.is_empty() || offset >= total {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_published_fixed_price_offers_are_written() {
        let v = serde_json::json!({"total": 3, "offers": [
            {"offerId": "1", "status": "PUBLISHED", "format": "FIXED_PRICE"},
            {"offerId": "2", "status": "UNPUBLISHED", "format": "FIXED_PRICE"},
            {"offerId": "3", "status": "PUBLISHED", "format": "AUCTION"},
            {"offerId": "4", "status": "PUBLISHED"}
        ]});
        assert_eq!(live_offers(&v), ["1", "4"]);
    }

    #[test]
    fn the_orders_filter_has_three_digit_milliseconds_and_stays_within_90_days() {
        let now = 1_773_498_065_250; // 2026-03-14T14:21:05.250Z
        assert_eq!(order_filter_time(now, now), "2026-03-14T14:21:05.250Z");
        assert_eq!(
            order_filter_time(now - 250, now),
            "2026-03-14T14:21:05.000Z"
        );
        assert_eq!(
            order_filter_time(0, now),
            order_filter_time(now - 89 * 86_400_000, now),
            "an outage longer than eBay keeps orders starts at the oldest it still has"
        );
    }
    use crate::ChannelRef;
    use crate::channels::Candidate;

    #[test]
    fn challenge_is_hex_sha256_of_the_three_parts() {
        // sha256("abc" + "def" + "ghi") = sha256("abcdefghi")
        assert_eq!(
            challenge_response("abc", "def", "ghi"),
            "19cc02f26df43cc571bc9ed7b0c4d29224a3ec229529221725ef76d021c8326f"
        );
    }

    #[test]
    fn orders_become_lines() {
        let o: Value = serde_json::from_str(r#"{"orderId":"14-11234-56789","creationDate":"2026-03-14T14:21:05.250Z","cancelStatus":{"cancelState":"NONE_REQUESTED"},"lineItems":[{"lineItemId":"10071234567890","legacyItemId":"316123456789","sku":"MUG","quantity":2}]}"#).unwrap();
        let Action::Sale {
            order,
            lines,
            placed_at,
        } = order_action(&o).unwrap()
        else {
            panic!()
        };
        assert_eq!(order.as_str(), "14-11234-56789");
        assert_eq!(placed_at, Some(1_773_498_065_250));
        assert_eq!(
            lines[0].candidates[0],
            Candidate::Ref(ChannelRef {
                kind: "item".into(),
                id: "316123456789".into()
            })
        );
        assert!(matches!(parse(br#"{"metadata":{"topic":"ORDER_CONFIRMATION"},"notification":{"data":{"orderId":"1-2"}}}"#), Parsed::Event(_)));
        assert!(matches!(
            parse(br#"{"metadata":{"topic":"MARKETPLACE_ACCOUNT_DELETION"}}"#),
            Parsed::Ignored(_)
        ));
    }
}
