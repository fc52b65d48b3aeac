//! `onecount connect etsy`: OAuth 2.0 authorization code with PKCE (S256), as Etsy's
//! Open API v3 defines it (`authorizationUrl` `https://www.etsy.com/oauth/connect`,
//! `tokenUrl` `/v3/public/oauth/token`). Access tokens last an hour; refresh tokens 90
//! days, rotated on every refresh.

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::channels::auth::{CONNECTED, Tokens};
use crate::channels::config::Secret;
use crate::channels::connect::{
    Connected, Connector, Consent, Input, is_loopback, merged, pkce_challenge, random_token,
    url_with,
};
use crate::channels::http::{HttpError, client, form_urlencoded, send_json};

/// What onecount reads and writes: listings and their inventory, and receipts.
pub const SCOPES: &[&str] = &["listings_r", "listings_w", "transactions_r"];

const GUIDE: &str = "Etsy: open https://www.etsy.com/developers/your-apps, create an app (or open yours), \
and copy its keystring (--client-id) and shared secret (ONECOUNT_CLIENT_SECRET). Under the app's \
callback URLs add the loopback URL you pass as --redirect-uri (default http://localhost:3003/etsy/callback). \
onecount asks for the scopes listings_r listings_w transactions_r; approve them on the page it opens.";

pub struct EtsyConnect;

fn api_base(input: &Input) -> String {
    input
        .pick(&input.api_base, "api_base")
        .unwrap_or_else(|| "https://api.etsy.com".into())
        .trim_end_matches('/')
        .to_string()
}

fn redirect_uri(input: &Input) -> String {
    input
        .redirect_uri
        .clone()
        .unwrap_or_else(|| "http://localhost:3003/etsy/callback".into())
}

fn keystring(input: &Input) -> Result<String, String> {
    input.need(
        &input.client_id,
        "keystring",
        "--client-id <the app's keystring>",
    )
}

fn failed(what: &str, e: HttpError) -> String {
    format!("{what} failed: {e}")
}

#[async_trait]
impl Connector for EtsyConnect {
    fn guide(&self) -> &'static str {
        GUIDE
    }

    fn example(&self) -> &'static str {
        "onecount connect etsy --client-id <keystring>"
    }

    fn consent(&self, input: &Input) -> Result<Option<Consent>, String> {
        let client_id = keystring(input)?;
        let redirect = redirect_uri(input);
        let verifier = random_token();
        let state = random_token();
        let base = input
            .auth_base
            .clone()
            .unwrap_or_else(|| "https://www.etsy.com".into());
        let scope = SCOPES.join(" ");
        let url = url_with(
            &format!("{}/oauth/connect", base.trim_end_matches('/')),
            &[
                ("response_type", "code"),
                ("redirect_uri", &redirect),
                ("scope", &scope),
                ("client_id", &client_id),
                ("state", &state),
                ("code_challenge", &pkce_challenge(&verifier)),
                ("code_challenge_method", "S256"),
            ],
        );
        Ok(Some(Consent {
            url,
            loopback: is_loopback(&redirect),
            redirect_uri: redirect,
            state,
            verifier: Some(verifier),
        }))
    }

    async fn finish(
        &self,
        input: &Input,
        code: Option<&str>,
        consent: Option<&Consent>,
    ) -> Result<Connected, String> {
        let (Some(code), Some(consent)) = (code, consent) else {
            return Err("etsy: the consent step did not run".into());
        };
        let client_id = keystring(input)?;
        let shared = input.need_secret(
            &input.client_secret,
            "shared_secret",
            "set ONECOUNT_CLIENT_SECRET to the app's shared secret",
        )?;
        let webhook = input.need_secret(
            &input.webhook_secret,
            "webhook_secret",
            "set ONECOUNT_WEBHOOK_SECRET to the whsec_… secret from Etsy's webhook settings",
        )?;
        let base = api_base(input);
        let tokens = exchange(&base, &client_id, code, consent).await?;
        let http = client();
        // The access token starts with the user id; that user's shop is public.
        let user = tokens
            .access
            .expose()
            .split('.')
            .next()
            .unwrap_or("")
            .to_string();
        let api_key = format!("{client_id}:{}", shared.expose());
        let shop = send_json(
            "etsy getShopByOwnerUserId",
            http.get(format!("{base}/v3/application/users/{user}/shops"))
                .header("x-api-key", &api_key),
        )
        .await
        .map_err(|e| failed("reading the shop", e))?;
        let shop_id = shop
            .get("shop_id")
            .and_then(Value::as_i64)
            .ok_or("etsy: that user has no shop")?
            .to_string();
        // One call with the new token and its scopes, as the order path makes it.
        send_json(
            "etsy getShopReceipts",
            http.get(format!(
                "{base}/v3/application/shops/{shop_id}/receipts?limit=1"
            ))
            .header("x-api-key", &api_key)
            .bearer_auth(tokens.access.expose()),
        )
        .await
        .map_err(|e| failed("reading a receipt with the new token", e))?;
        let section = merged(
            input.existing.as_ref(),
            vec![
                ("shop_id", json!(shop_id)),
                ("webhook_secret", json!(webhook.expose())),
                ("api_base", json!(base)),
                ("keystring", json!(client_id)),
                ("shared_secret", json!(shared.expose())),
                // The tokens live in the token store from now on.
                ("access_token", Value::Null),
                ("refresh_token", Value::Null),
            ],
        );
        let name = shop.get("shop_name").and_then(Value::as_str).unwrap_or("?");
        Ok(Connected {
            section,
            tokens: Some(tokens),
            found: vec![
                ("shop".into(), format!("{name} (id {shop_id})")),
                ("user id".into(), user),
                ("scopes".into(), SCOPES.join(" ")),
            ],
            notes: vec!["The refresh token lasts 90 days from its last use; onecount uses it every hour, and warns 14 days before it would end.".into()],
        })
    }
}

/// `POST /v3/public/oauth/token` with `grant_type=authorization_code` and the PKCE
/// verifier: the first access and refresh tokens.
async fn exchange(
    base: &str,
    client_id: &str,
    code: &str,
    consent: &Consent,
) -> Result<Tokens, String> {
    let form = form_urlencoded(&[
        ("grant_type", "authorization_code"),
        ("client_id", client_id),
        ("redirect_uri", &consent.redirect_uri),
        ("code", code),
        ("code_verifier", consent.verifier.as_deref().unwrap_or("")),
    ]);
    let v = send_json(
        "etsy code exchange",
        client()
            .post(format!("{base}/v3/public/oauth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form),
    )
    .await
    .map_err(|e| failed("exchanging the code", e))?;
    tokens_from(&v)
}

/// The token answer: an access token for an hour, a refresh token for 90 days.
fn tokens_from(v: &Value) -> Result<Tokens, String> {
    let text = |k: &str| v.get(k).and_then(Value::as_str).filter(|t| !t.is_empty());
    let access = text("access_token").ok_or("etsy: no access_token in the answer")?;
    let refresh = text("refresh_token").ok_or("etsy: no refresh_token in the answer")?;
    let lifetime = v.get("expires_in").and_then(Value::as_i64).unwrap_or(3600) * 1000;
    let now = crate::clock::now_ms();
    Ok(Tokens {
        access: Secret::new(access),
        access_expires_at: Some(now + lifetime),
        access_lifetime_ms: Some(lifetime),
        refresh: Some(Secret::new(refresh)),
        refresh_expires_at: Some(now + 90 * 86_400_000),
        origin: Some(CONNECTED.into()),
    })
}
