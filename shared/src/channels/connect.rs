//! `onecount connect`: what a merchant runs once per channel to give onecount access.
//! Each channel module implements [`Connector`] (its console, scopes, grant and "who am
//! I" call); the CLI runs the browser step and saves what comes back. The browser step
//! is OAuth 2.0's authorization code grant, with PKCE (S256) where the channel wants it;
//! the redirect comes back to a loopback listener, or the merchant pastes the URL the
//! browser landed on.

use async_trait::async_trait;
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::auth::Tokens;
use super::config::Secret;

/// What the merchant gave (flags, environment, prompts), and the channel's section as
/// configured now (kept where nothing new was given).
#[derive(Debug, Clone, Default)]
pub struct Input {
    pub existing: Option<Value>,
    /// The shop's domain, for a channel whose API lives on it.
    pub shop: Option<String>,
    /// The app's id (each channel's guide says what the channel calls it).
    pub client_id: Option<String>,
    /// The app's secret.
    pub client_secret: Option<Secret>,
    /// A static admin token, for a channel whose older apps have one.
    pub access_token: Option<Secret>,
    /// Where the consent page sends the browser back: a loopback URL registered as the
    /// app's callback, or the channel's name for a registered redirect.
    pub redirect_uri: Option<String>,
    /// The location onecount sets quantities at, for a channel with several.
    pub location: Option<String>,
    pub api_base: Option<String>,
    /// Where the consent page is (the channel's, or a sandbox's).
    pub auth_base: Option<String>,
    pub webhook_secret: Option<Secret>,
    /// The notification endpoint's verification token and public URL, for a channel
    /// that checks the endpoint before it sends to it.
    pub verification_token: Option<Secret>,
    pub endpoint_url: Option<String>,
    /// Set the seller's out-of-stock control (listings at 0 stay alive, hidden), for a
    /// channel that has one; `None`: leave it as it is, and report it.
    pub out_of_stock_control: Option<bool>,
    /// The marketplace site, for a channel whose calls name it.
    pub site_id: Option<u32>,
}

impl Input {
    /// `flag` if given, else the existing section's `field`.
    pub fn pick(&self, flag: &Option<String>, field: &str) -> Option<String> {
        flag.clone().filter(|v| !v.is_empty()).or_else(|| {
            self.existing
                .as_ref()
                .and_then(|s| s.get(field))
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        })
    }

    /// The secret `flag` if given, else the existing section's `field`.
    pub fn pick_secret(&self, flag: &Option<Secret>, field: &str) -> Option<Secret> {
        let given = flag.as_ref().map(|s| s.expose().to_string());
        self.pick(&given, field).map(Secret::new)
    }

    /// [`pick`](Self::pick), or a one-line message naming the flag that gives it.
    pub fn need(&self, flag: &Option<String>, field: &str, how: &str) -> Result<String, String> {
        self.pick(flag, field)
            .ok_or_else(|| format!("missing {field}: pass {how}"))
    }

    pub fn need_secret(
        &self,
        flag: &Option<Secret>,
        field: &str,
        how: &str,
    ) -> Result<Secret, String> {
        self.pick_secret(flag, field)
            .ok_or_else(|| format!("missing {field}: {how}"))
    }
}

/// The browser step: open `url`, approve, come back to `redirect_uri`.
#[derive(Debug, Clone)]
pub struct Consent {
    pub url: String,
    pub redirect_uri: String,
    /// Sent with the request and checked on the way back (CSRF).
    pub state: String,
    /// PKCE's code verifier, for the code exchange.
    pub verifier: Option<String>,
    /// Whether `redirect_uri` is a loopback URL onecount can listen on.
    pub loopback: bool,
}

/// What connecting found and what to save.
#[derive(Debug, Clone)]
pub struct Connected {
    /// The channel's new section of the channels configuration.
    pub section: Value,
    /// Tokens for the token store (`None`: the section holds everything).
    pub tokens: Option<Tokens>,
    /// What the channel said when called once: (what, value), for the merchant to check.
    pub found: Vec<(String, String)>,
    /// Things the merchant should know (a missing scope, a choice onecount made).
    pub notes: Vec<String>,
}

/// One channel's onboarding.
#[async_trait]
pub trait Connector: Send + Sync {
    /// Where to click in the channel's developer console, and which scopes to grant.
    fn guide(&self) -> &'static str;
    /// One `onecount connect …` command line, for `--help`.
    fn example(&self) -> &'static str;
    /// The browser step, if the channel has one for what was given.
    fn consent(&self, input: &Input) -> Result<Option<Consent>, String>;
    /// Exchange the code (if any), check access, call the channel once.
    async fn finish(
        &self,
        input: &Input,
        code: Option<&str>,
        consent: Option<&Consent>,
    ) -> Result<Connected, String>;
}

/// Every channel's guide, and one example each (for `onecount connect --help`).
pub fn guides(connectors: &[Box<dyn Connector>]) -> (String, String) {
    let mut about = String::new();
    let mut examples = String::from("Examples:");
    for c in connectors {
        about.push_str(&format!("\n{}\n", c.guide()));
        examples.push_str(&format!("\n  {}", c.example()));
    }
    (about, examples)
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A random, URL-safe string of 43 characters (256 bits).
pub fn random_token() -> String {
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    b64url(&bytes)
}

/// PKCE's S256 challenge of a code verifier (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    b64url(&Sha256::digest(verifier.as_bytes()))
}

/// `base?k=v&…`, each value URL-encoded.
pub fn url_with(base: &str, pairs: &[(&str, &str)]) -> String {
    format!("{base}?{}", super::http::form_urlencoded(pairs))
}

/// Whether `uri` is an `http://` URL on this machine (a loopback redirect).
pub fn is_loopback(uri: &str) -> bool {
    let rest = uri.strip_prefix("http://").unwrap_or("");
    let host = rest.split(['/', ':']).next().unwrap_or("");
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// The authorization code in the URL the consent page sent the browser to (or its query
/// string alone): refused when `state` differs or the channel said no.
pub fn code_from_redirect(landed: &str, consent: &Consent) -> Result<String, String> {
    let query = landed.split_once('?').map_or(landed, |(_, q)| q);
    let query = query.split('#').next().unwrap_or("");
    let params: Map<String, Value> = form_urlencoded::parse(query.trim().as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    let get = |k: &str| params.get(k).and_then(Value::as_str);
    if let Some(e) = get("error") {
        let why = get("error_description").unwrap_or("");
        return Err(format!("the channel did not grant access: {e} {why}")
            .trim()
            .to_string());
    }
    if get("state") != Some(consent.state.as_str()) {
        return Err("the redirect's state does not match this run: open the URL this run printed (an older one will not do)".into());
    }
    get("code")
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            "no code in the redirect URL: paste the whole URL the browser landed on".into()
        })
}

/// `existing` (an object, or nothing) with `fields` set; `null` values are removed.
pub fn merged(existing: Option<&Value>, fields: Vec<(&str, Value)>) -> Value {
    let mut obj = existing
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (k, v) in fields {
        if v.is_null() {
            obj.remove(k);
        } else {
            obj.insert(k.to_string(), v);
        }
    }
    Value::Object(obj)
}

/// Scopes in `need` that `granted` lacks.
pub fn missing_scopes<'a>(need: &[&'a str], granted: &[String]) -> Vec<&'a str> {
    need.iter()
        .copied()
        .filter(|s| !granted.iter().any(|g| g == s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consent() -> Consent {
        Consent {
            url: String::new(),
            redirect_uri: "http://127.0.0.1:3003/callback".into(),
            state: "st8".into(),
            verifier: None,
            loopback: true,
        }
    }

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let v = random_token();
        assert_eq!(v.len(), 43);
        assert_ne!(v, random_token());
    }

    #[test]
    fn the_code_comes_back_only_with_this_runs_state() {
        let c = consent();
        assert_eq!(
            code_from_redirect("http://127.0.0.1:3003/callback?code=abc%2F1&state=st8", &c),
            Ok("abc/1".into())
        );
        assert_eq!(code_from_redirect("code=x&state=st8\n", &c), Ok("x".into()));
        assert!(
            code_from_redirect("?code=x&state=old", &c)
                .unwrap_err()
                .contains("state")
        );
        assert!(
            code_from_redirect("?error=access_denied&error_description=no&state=st8", &c)
                .unwrap_err()
                .contains("access_denied")
        );
        assert!(
            code_from_redirect("?state=st8", &c)
                .unwrap_err()
                .contains("no code")
        );
    }

    #[test]
    fn loopback_redirects_are_recognised() {
        assert!(is_loopback("http://127.0.0.1:3003/callback"));
        assert!(is_loopback("http://localhost/cb"));
        assert!(!is_loopback("https://127.0.0.1/cb"));
        assert!(!is_loopback("http://example.com/cb"));
        assert!(!is_loopback("Onecount-onecount-PRD-abc"));
    }

    #[test]
    fn a_section_keeps_what_was_not_given_again() {
        let old = serde_json::json!({"shop_id": "1", "renew_sold_out": false, "access_token": "x"});
        let new = merged(
            Some(&old),
            vec![("shop_id", "2".into()), ("access_token", Value::Null)],
        );
        assert_eq!(
            new,
            serde_json::json!({"shop_id": "2", "renew_sold_out": false})
        );
        assert_eq!(missing_scopes(&["a", "b"], &["b".to_string()]), vec!["a"]);
    }
}
