//! `onecount connect ebay`: the authorization code grant with the app's RuName (eBay's
//! name for a redirect URL). eBay sends the browser to the RuName's "auth accepted" URL
//! with the code; the merchant pastes that URL back. The refresh token lasts about 18
//! months (`refresh_token_expires_in`); user tokens two hours.

use async_trait::async_trait;
use base64::Engine;
use serde_json::{Value, json};

use crate::channels::auth::{CONNECTED, Tokens};
use crate::channels::config::Secret;
use crate::channels::connect::{
    Connected, Connector, Consent, Input, merged, random_token, url_with,
};
use crate::channels::http::{client, form_urlencoded, send_json};

/// Inventory and offers, orders, and who the seller is.
pub const SCOPES: &[&str] = &[
    "https://api.ebay.com/oauth/api_scope",
    "https://api.ebay.com/oauth/api_scope/sell.inventory",
    "https://api.ebay.com/oauth/api_scope/sell.fulfillment.readonly",
    "https://api.ebay.com/oauth/api_scope/commerce.identity.readonly",
];

const GUIDE: &str = "eBay: open https://developer.ebay.com/my/keys and copy the Production App ID \
(--client-id) and Cert ID (ONECOUNT_CLIENT_SECRET). Under User Tokens > Get a Token from eBay via Your \
Application, add a redirect URL (an RuName) and pass its RuName as --redirect-uri. onecount prints a \
consent URL: open it, sign in as the seller, agree, then paste the whole URL the browser lands on. \
Scopes: sell.inventory, sell.fulfillment.readonly, commerce.identity.readonly.";

pub struct EbayConnect;

/// What `connect ebay` (and `listings verify`) tells a seller whose out-of-stock control
/// is off.
pub const OUT_OF_STOCK_CONTROL_OFF: &str = "Out-of-stock control is off. When a SKU sells out \
elsewhere, eBay takes no 0 on a live listing made in Seller Hub, so onecount keeps it at 1 (it \
never ends a listing) and alerts you: that last unit can be sold twice; a listing made through \
the Inventory API ends at 0 instead and must be relisted by hand. Turn it on with `onecount \
connect ebay --out-of-stock-control on` (it applies to all your listings): a listing at 0 is \
then hidden from search, not ended, and comes back when you restock.";

fn api_base(input: &Input) -> String {
    input
        .pick(&input.api_base, "api_base")
        .unwrap_or_else(|| "https://api.ebay.com".into())
        .trim_end_matches('/')
        .to_string()
}

/// The Identity API lives on `apiz.` beside `api.` (production and sandbox); elsewhere
/// (a local sandbox) on the same base.
pub fn identity_base(api_base: &str) -> String {
    api_base.replacen("://api.", "://apiz.", 1)
}

fn ru_name(input: &Input) -> Result<String, String> {
    input
        .redirect_uri
        .clone()
        .ok_or_else(|| "missing the RuName: pass --redirect-uri <RuName>".into())
}

#[async_trait]
impl Connector for EbayConnect {
    fn guide(&self) -> &'static str {
        GUIDE
    }

    fn example(&self) -> &'static str {
        "onecount connect ebay --client-id <App ID> --redirect-uri <RuName> --endpoint-url https://…/webhooks/ebay"
    }

    fn consent(&self, input: &Input) -> Result<Option<Consent>, String> {
        let client_id = input.need(&input.client_id, "client_id", "--client-id <App ID>")?;
        let ru = ru_name(input)?;
        let state = random_token();
        let base = input
            .auth_base
            .clone()
            .unwrap_or_else(|| "https://auth.ebay.com".into());
        let scope = SCOPES.join(" ");
        let url = url_with(
            &format!("{}/oauth2/authorize", base.trim_end_matches('/')),
            &[
                ("client_id", &client_id),
                ("redirect_uri", &ru),
                ("response_type", "code"),
                ("scope", &scope),
                ("state", &state),
            ],
        );
        Ok(Some(Consent {
            url,
            redirect_uri: ru,
            state,
            verifier: None,
            loopback: false,
        }))
    }

    async fn finish(
        &self,
        input: &Input,
        code: Option<&str>,
        consent: Option<&Consent>,
    ) -> Result<Connected, String> {
        let (Some(code), Some(consent)) = (code, consent) else {
            return Err("ebay: the consent step did not run".into());
        };
        let client_id = input.need(&input.client_id, "client_id", "--client-id <App ID>")?;
        let secret = input.need_secret(
            &input.client_secret,
            "client_secret",
            "set ONECOUNT_CLIENT_SECRET to the app's Cert ID",
        )?;
        let verification = input.need_secret(
            &input.verification_token,
            "verification_token",
            "set ONECOUNT_VERIFICATION_TOKEN to the token you gave eBay for the notification endpoint",
        )?;
        let endpoint = input.need(
            &input.endpoint_url,
            "endpoint_url",
            "--endpoint-url <the public URL of /webhooks/ebay>",
        )?;
        let base = api_base(input);
        let tokens = exchange(&base, &client_id, &secret, code, &consent.redirect_uri).await?;
        let me = who_is_the_seller(&base, &tokens).await?;
        let username = me.get("username").and_then(Value::as_str).unwrap_or("?");
        let ends = tokens
            .refresh_expires_at
            .map_or("unknown".to_string(), |e| {
                crate::channels::push::rfc3339(e)[..10].to_string()
            });
        let site_id = input.site_id.or_else(|| {
            let existing = input.existing.as_ref()?.get("site_id")?.as_u64()?;
            u32::try_from(existing).ok()
        });
        let mut fields = vec![
            ("api_base", json!(base)),
            ("client_id", json!(client_id)),
            ("client_secret", json!(secret.expose())),
            ("verification_token", json!(verification.expose())),
            ("endpoint_url", json!(endpoint)),
            ("refresh_token", Value::Null),
        ];
        if let Some(site) = site_id {
            fields.push(("site_id", json!(site)));
        }
        let section = merged(input.existing.as_ref(), fields);
        let mut notes = vec!["onecount warns 14 days before the refresh token ends; run `onecount connect ebay` again then.".to_string()];
        let mut cfg: super::EbayConfig = serde_json::from_value(section.clone())
            .map_err(|e| format!("ebay: the new section does not read back: {e}"))?;
        cfg.refresh_token = tokens.refresh.clone().unwrap_or_default();
        let (oos_text, off) = out_of_stock_control(cfg, input.out_of_stock_control).await?;
        if off {
            notes.push(OUT_OF_STOCK_CONTROL_OFF.into());
        }
        Ok(Connected {
            section,
            tokens: Some(tokens),
            found: vec![
                ("seller".into(), username.to_string()),
                (
                    "account".into(),
                    me.get("accountType")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .into(),
                ),
                ("refresh token ends".into(), ends),
                ("out-of-stock control".into(), oos_text),
            ],
            notes,
        })
    }
}

/// Identity `getUser` with the new token: the seller's account.
async fn who_is_the_seller(base: &str, tokens: &Tokens) -> Result<Value, String> {
    send_json(
        "ebay getUser",
        client()
            .get(format!(
                "{}/commerce/identity/v1/user/",
                identity_base(base)
            ))
            .bearer_auth(tokens.access.expose()),
    )
    .await
    .map_err(|e| format!("asking eBay who the seller is failed: {e}"))
}

/// The seller's out-of-stock control, set first when they asked (`set`): what to show,
/// and whether it is off. It decides what a sell-out does to a Seller Hub listing.
async fn out_of_stock_control(
    cfg: super::EbayConfig,
    set: Option<bool>,
) -> Result<(String, bool), String> {
    let trading = super::EbayClient::new(cfg);
    if let Some(on) = set {
        trading
            .set_out_of_stock_control(on)
            .await
            .map_err(|e| format!("setting out-of-stock control failed: {e}"))?;
    }
    Ok(match trading.out_of_stock_control().await {
        Ok(true) => ("on".into(), false),
        Ok(false) => ("off".into(), true),
        Err(e) => (format!("unknown ({e})"), false),
    })
}

/// `POST /identity/v1/oauth2/token`, `grant_type=authorization_code`, with the app's
/// Basic credentials and the RuName as `redirect_uri`.
async fn exchange(
    base: &str,
    client_id: &str,
    secret: &Secret,
    code: &str,
    ru_name: &str,
) -> Result<Tokens, String> {
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{client_id}:{}", secret.expose()));
    let form = form_urlencoded(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", ru_name),
    ]);
    let v = send_json(
        "ebay code exchange",
        client()
            .post(format!("{base}/identity/v1/oauth2/token"))
            .header("authorization", format!("Basic {basic}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form),
    )
    .await
    .map_err(|e| format!("exchanging the code failed: {e}"))?;
    tokens_from(&v)
}

/// The code exchange's answer: a user token for two hours, a refresh token for ~18 months.
fn tokens_from(v: &Value) -> Result<Tokens, String> {
    let text = |k: &str| v.get(k).and_then(Value::as_str).filter(|t| !t.is_empty());
    let access = text("access_token").ok_or("ebay: no access_token in the answer")?;
    let refresh = text("refresh_token").ok_or("ebay: no refresh_token in the answer")?;
    let now = crate::clock::now_ms();
    let lifetime = v.get("expires_in").and_then(Value::as_i64).unwrap_or(7200) * 1000;
    let refresh_ms = v
        .get("refresh_token_expires_in")
        .and_then(Value::as_i64)
        .map(|s| s * 1000);
    Ok(Tokens {
        access: Secret::new(access),
        access_expires_at: Some(now + lifetime),
        access_lifetime_ms: Some(lifetime),
        refresh: Some(Secret::new(refresh)),
        refresh_expires_at: refresh_ms.map(|ms| now + ms),
        origin: Some(CONNECTED.into()),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_identity_api_is_on_apiz() {
        assert_eq!(
            super::identity_base("https://api.ebay.com"),
            "https://apiz.ebay.com"
        );
        assert_eq!(
            super::identity_base("https://api.sandbox.ebay.com"),
            "https://apiz.sandbox.ebay.com"
        );
        assert_eq!(
            super::identity_base("http://127.0.0.1:9"),
            "http://127.0.0.1:9"
        );
    }
}
