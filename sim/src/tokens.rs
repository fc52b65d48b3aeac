//! A sandbox's OAuth tokens: access tokens with a lifetime (none unless set), refresh
//! tokens that may rotate (a used one stops working), revocation, and counts of what was
//! issued and refused, so tests can see how often a client refreshed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Default)]
struct State {
    /// Access token → when it ends (`None`: never).
    access: BTreeMap<String, Option<Instant>>,
    refresh: BTreeSet<String>,
    ttl: Option<Duration>,
    issued: u64,
    refused: u64,
    /// Authorization codes given at consent: code → (redirect URI, PKCE challenge,
    /// when given). One use each, for five minutes.
    codes: BTreeMap<String, (String, Option<String>, Instant)>,
    /// Consents given (each `onecount connect` run that reached the consent page).
    consents: u64,
}

/// What a refresh gave: the access token, its lifetime in seconds, and the refresh token
/// to use next (a new one where the channel rotates them).
#[derive(Debug, Clone)]
pub struct Issued {
    pub access: String,
    pub expires_in: u64,
    pub refresh: Option<String>,
}

pub struct TokenAuthority {
    st: Mutex<State>,
    rotate: bool,
    prefix: String,
}

impl TokenAuthority {
    /// `rotate`: every refresh answers a new refresh token and ends the old one (Etsy).
    pub fn new(prefix: &str, rotate: bool) -> Self {
        TokenAuthority {
            st: Mutex::new(State::default()),
            rotate,
            prefix: prefix.to_string(),
        }
    }

    fn st(&self) -> std::sync::MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Access tokens issued from now on end after `ttl` (`None`: never); the ones out there
    /// now end `ttl` from now.
    pub fn set_ttl(&self, ttl: Option<Duration>) {
        let mut st = self.st();
        st.ttl = ttl;
        let end = ttl.map(|t| Instant::now() + t);
        for v in st.access.values_mut() {
            *v = end;
        }
    }

    /// A token the channel knows already (the one the configuration starts with).
    pub fn add_access(&self, token: &str) {
        let mut st = self.st();
        let end = st.ttl.map(|t| Instant::now() + t);
        st.access.insert(token.to_string(), end);
    }

    pub fn add_refresh(&self, token: &str) {
        self.st().refresh.insert(token.to_string());
    }

    /// Whether `token` is a live access token; a refusal is counted.
    pub fn check(&self, token: &str) -> bool {
        let mut st = self.st();
        let ok = st
            .access
            .get(token)
            .is_some_and(|end| end.is_none_or(|e| Instant::now() < e));
        if !ok {
            st.refused += 1;
        }
        ok
    }

    /// A new access token (client credentials, or a code exchange).
    pub fn issue(&self) -> Issued {
        let mut st = self.st();
        self.issue_locked(&mut st, None)
    }

    fn issue_locked(&self, st: &mut State, refresh: Option<String>) -> Issued {
        let access = format!("{}{}", self.prefix, uuid::Uuid::new_v4().simple());
        let end = st.ttl.map(|t| Instant::now() + t);
        st.access.insert(access.clone(), end);
        st.issued += 1;
        Issued {
            access,
            expires_in: st.ttl.map_or(3600, |t| t.as_secs().max(1)),
            refresh,
        }
    }

    /// Trade a refresh token for a new access token (and, rotating, a new refresh token;
    /// the old one stops working). `None`: not a live refresh token.
    pub fn refresh(&self, token: &str) -> Option<Issued> {
        let mut st = self.st();
        if !st.refresh.contains(token) {
            st.refused += 1;
            return None;
        }
        let next = if self.rotate {
            st.refresh.remove(token);
            let n = format!("{}r{}", self.prefix, uuid::Uuid::new_v4().simple());
            st.refresh.insert(n.clone());
            Some(n)
        } else {
            None
        };
        Some(self.issue_locked(&mut st, next))
    }

    /// The seller approved the app on the consent page: a one-use code for `redirect_uri`
    /// (with PKCE, for the verifier whose S256 challenge is `challenge`).
    pub fn authorize(&self, redirect_uri: &str, challenge: Option<&str>) -> String {
        let mut st = self.st();
        st.consents += 1;
        let code = format!("code-{}", uuid::Uuid::new_v4().simple());
        st.codes.insert(
            code.clone(),
            (
                redirect_uri.to_string(),
                challenge.map(str::to_string),
                Instant::now(),
            ),
        );
        code
    }

    /// Trade a consent's code for an access token and a new refresh token: the code
    /// must be live and unused, the redirect URI the consent's, and (with PKCE) the
    /// verifier's S256 hash the challenge (RFC 7636 §4.6).
    pub fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: Option<&str>,
    ) -> Result<Issued, &'static str> {
        use base64::Engine;
        use sha2::Digest;
        let mut st = self.st();
        let Some((redirect, challenge, at)) = st.codes.remove(code) else {
            return Err("code is invalid or was used");
        };
        if at.elapsed() > Duration::from_secs(300) {
            return Err("code expired");
        }
        if redirect != redirect_uri {
            return Err("redirect_uri does not match the consent's");
        }
        if let Some(c) = challenge {
            let hashed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(verifier.unwrap_or("").as_bytes()));
            if hashed != c {
                return Err("code_verifier does not match the code_challenge");
            }
        }
        let refresh = format!("{}r{}", self.prefix, uuid::Uuid::new_v4().simple());
        st.refresh.insert(refresh.clone());
        Ok(self.issue_locked(&mut st, Some(refresh)))
    }

    /// Consent pages approved so far.
    pub fn consents(&self) -> u64 {
        self.st().consents
    }

    /// The seller revoked the app (or changed their password): every token stops working.
    pub fn revoke(&self) {
        let mut st = self.st();
        st.access.clear();
        st.refresh.clear();
    }

    /// Access tokens issued since the start (a refresh or a grant each).
    pub fn issued(&self) -> u64 {
        self.st().issued
    }

    /// Calls refused for a dead or unknown token.
    pub fn refused(&self) -> u64 {
        self.st().refused
    }
}
