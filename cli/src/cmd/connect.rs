//! `onecount connect <channel>`: the merchant's one-time onboarding per channel. The
//! channel module knows its console, scopes, grant and "who am I" call
//! ([`onecount::channels::connect`]); this runs the browser step (a loopback listener,
//! or a pasted URL), saves the section and the tokens, and ends the channel's episode if
//! it was disconnected, catching it up.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use onecount::Channel;
use onecount::aws::dynamo::DynamoStore;
use onecount::aws::sqs::{QueueUrls, SqsQueues};
use onecount::channels::ChannelsConfig;
use onecount::channels::auth::Tokens;
use onecount::channels::config::Secret;
use onecount::channels::connect::{Consent, Input, code_from_redirect};
use onecount::ports::{ChannelHealth, OrderQueue, PushQueue, PushRequest};

use super::Reply;
use crate::args::ConnectArgs;
use crate::output;

/// `connect --help`'s text and examples, from every channel's connector; built once.
pub static HELP: std::sync::LazyLock<(String, String)> = std::sync::LazyLock::new(|| {
    let connectors: Vec<_> = Channel::CONNECTED
        .iter()
        .filter_map(|&c| onecount::channels::connector(c).ok())
        .collect();
    let (guides, examples) = onecount::channels::connect::guides(&connectors);
    let about = format!(
        "Give onecount access to a shop, once per channel: it says where to click, runs the \
         consent step, checks the access with one call to the channel, and saves what it got.\n\
         {guides}\n\
         Secrets come from the environment (or a prompt), never from flags: \
         {CLIENT_SECRET}, {WEBHOOK_SECRET}, {VERIFICATION_TOKEN}, {ACCESS_TOKEN}. Saves to \
         ONECOUNT_CHANNELS_FILE (locally) or the secret ONECOUNT_CHANNELS_SECRET_ARN, and the \
         tokens to the table (--table / ONECOUNT_TABLE)."
    );
    (about, examples)
});

const CLIENT_SECRET: &str = "ONECOUNT_CLIENT_SECRET";
const WEBHOOK_SECRET: &str = "ONECOUNT_WEBHOOK_SECRET";
const VERIFICATION_TOKEN: &str = "ONECOUNT_VERIFICATION_TOKEN";
const ACCESS_TOKEN: &str = "ONECOUNT_ACCESS_TOKEN";

fn env_secret(name: &str) -> Option<Secret> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(Secret::new)
}

fn input(args: &ConnectArgs, existing: Option<serde_json::Value>) -> Input {
    Input {
        existing,
        shop: args.shop.clone(),
        client_id: args.client_id.clone(),
        client_secret: env_secret(CLIENT_SECRET),
        access_token: env_secret(ACCESS_TOKEN),
        redirect_uri: args.redirect_uri.clone(),
        location: args.location.clone(),
        api_base: args.api_base.clone(),
        auth_base: args.auth_base.clone(),
        webhook_secret: env_secret(WEBHOOK_SECRET),
        verification_token: env_secret(VERIFICATION_TOKEN),
        endpoint_url: args.endpoint_url.clone(),
        out_of_stock_control: args.out_of_stock_control.as_deref().map(|v| v == "on"),
        site_id: args.site_id,
    }
}

pub async fn run(store: &DynamoStore, args: ConnectArgs) -> Result<Reply> {
    let ch = args.channel;
    let connector = onecount::channels::connector(ch).map_err(|e| anyhow!(e))?;
    let sdk = onecount::aws::load_sdk_config().await;
    let mut cfg = ChannelsConfig::load_for_update(&sdk)
        .await
        .map_err(|e| anyhow!(e))?;
    let input = input(&args, cfg.sections().get(&ch).cloned());
    let consent = connector.consent(&input).map_err(|e| anyhow!(e))?;
    let code = match &consent {
        Some(c) => Some(browser_step(c, &args, connector.guide()).await?),
        None => None,
    };
    let done = connector
        .finish(&input, code.as_deref(), consent.as_ref())
        .await
        .map_err(|e| anyhow!("{ch}: {e}"))?;
    cfg.set(ch, &done.section);
    onecount::channels::check(&cfg).map_err(|e| anyhow!(e))?;
    if let Some(t) = &done.tokens {
        save_tokens(store, ch, t).await?;
    }
    let saved_to = cfg.save(&sdk).await.map_err(|e| anyhow!(e))?;
    let mut caught = catch_up(store, ch, &sdk).await?;
    if let Some(n) = recheck_broken(store, ch, &sdk).await? {
        caught = Some(caught.map_or(n.clone(), |c| format!("{c}\n{n}")));
    }
    let value = json!({
        "channel": ch, "found": done.found.iter().map(|(k, v)| json!({"what": k, "value": v})).collect::<Vec<_>>(),
        "saved_to": saved_to, "tokens_stored": done.tokens.is_some(), "caught_up": caught,
        "notes": done.notes,
    });
    let mut t = output::table(&["", ""]);
    for (k, v) in &done.found {
        t.add_row(vec![k.clone(), v.clone()]);
    }
    let mut text = format!("{ch} connected.\n{t}\nSaved to {saved_to}");
    if done.tokens.is_some() {
        text.push_str("; tokens in the table's token store");
    }
    text.push('\n');
    for n in done.notes.iter().chain(caught.as_ref()) {
        text.push_str(&format!("{n}\n"));
    }
    Ok(Reply::new(&value, text))
}

/// Print the consent URL; the code comes back to the loopback listener or is pasted.
async fn browser_step(c: &Consent, args: &ConnectArgs, guide: &str) -> Result<String> {
    eprintln!("{guide}\n");
    let listen = c.loopback && !args.paste;
    // Listening before the URL is shown: the browser may be quick.
    let listener = match listen {
        true => Some(bind(&c.redirect_uri).await?),
        false => None,
    };
    println!(
        "Open this URL in a browser signed in as the shop's owner, and approve onecount:\n\n  {}\n",
        c.url
    );
    let wait = Duration::from_secs(args.wait_secs);
    let landed = if let Some((listener, path)) = listener {
        println!(
            "Waiting up to {} s for the browser to come back to {} …",
            args.wait_secs, c.redirect_uri
        );
        tokio::time::timeout(wait, serve_once(listener, &path))
            .await
            .map_err(|_| {
                anyhow!(
                    "the browser did not come back within {} s: run again (or use --paste)",
                    args.wait_secs
                )
            })??
    } else {
        println!("Then paste the whole URL the browser landed on here, and press Enter:");
        let read = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map(|_| line)
        });
        tokio::time::timeout(wait, read)
            .await
            .map_err(|_| anyhow!("nothing pasted within {} s", args.wait_secs))??
            .context("reading the pasted URL")?
    };
    code_from_redirect(&landed, c).map_err(|e| anyhow!(e))
}

/// `host:port` and path of a loopback `http://` URL.
fn split_loopback(uri: &str) -> Result<(String, String)> {
    let rest = uri.strip_prefix("http://").ok_or_else(|| {
        anyhow!(
            "--redirect-uri must be an http:// loopback URL to listen on; use --paste otherwise"
        )
    })?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let authority = authority.replace("localhost", "127.0.0.1");
    let addr = if authority.contains(':') {
        authority
    } else {
        format!("{authority}:80")
    };
    Ok((addr, format!("/{path}")))
}

/// A listener on the redirect URI's address, and the path to wait for.
async fn bind(redirect_uri: &str) -> Result<(tokio::net::TcpListener, String)> {
    let (addr, path) = split_loopback(redirect_uri)?;
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("listening on {addr} for the redirect (is the port in use? pick another --redirect-uri, registered with the app)"))?;
    Ok((listener, path))
}

/// Serve until the browser arrives at `path`; its request target.
async fn serve_once(listener: tokio::net::TcpListener, path: &str) -> Result<String> {
    loop {
        let (mut sock, _) = listener.accept().await?;
        let mut buf = vec![0u8; 8192];
        let mut got = 0;
        while got < buf.len() {
            let n = sock.read(&mut buf[got..]).await?;
            got += n;
            if n == 0 || buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        let head = String::from_utf8_lossy(&buf[..got]).to_string();
        let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
        let ours = target.split('?').next() == Some(path);
        let (status, body) = if ours {
            (
                "200 OK",
                "onecount received the approval. You can close this tab.",
            )
        } else {
            ("404 Not Found", "not here")
        };
        let resp = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = sock.write_all(resp.as_bytes()).await;
        if ours {
            return Ok(target);
        }
    }
}

/// Store the consent's tokens over whatever chain is stored (this consent is newer).
async fn save_tokens(store: &DynamoStore, ch: Channel, t: &Tokens) -> Result<()> {
    let tokens = store.tokens();
    for _ in 0..5 {
        let v = tokens
            .load_tokens(ch)
            .await
            .map_err(|e| anyhow!(e))?
            .map_or(0, |(_, v)| v);
        if tokens.save_tokens(ch, t, v).await.map_err(|e| anyhow!(e))? {
            return Ok(());
        }
    }
    bail!("the {ch} tokens kept changing while saving; run `onecount connect {ch}` again")
}

/// End the channel's episode: push what waited and send the parked orders back to the
/// order queue (with the stack's queue URLs); without them they come back by themselves.
async fn catch_up(
    store: &DynamoStore,
    ch: Channel,
    sdk: &aws_config::SdkConfig,
) -> Result<Option<String>> {
    let Some(ep) = store.close_episode(ch).await? else {
        return Ok(None);
    };
    let urls = QueueUrls::from_env();
    let q = SqsQueues::new(sdk, urls.clone());
    let mut pushed = 0;
    if urls.push(ch).is_some() {
        for sku in &ep.waiting {
            let req = PushRequest::unprompted(sku.clone(), ch, "channel connected", false);
            q.request_push(&req).await.map_err(|e| anyhow!("{e}"))?;
            pushed += 1;
        }
    }
    let mut resent = 0;
    if urls.orders.is_some() {
        loop {
            let parked = store.parked_orders(ch, 100).await?;
            if parked.is_empty() {
                break;
            }
            for ev in &parked {
                q.enqueue(ev).await.map_err(|e| anyhow!("{e}"))?;
                store.unpark_order(ev).await?;
                resent += 1;
            }
        }
    }
    Ok(Some(format!(
        "{ch} was disconnected for {} min; {pushed} of {} waiting SKU(s) pushed now and {resent} waiting order(s) sent on (the rest catch up by themselves within 15 minutes).",
        (super::now_ms() - ep.since).max(0) / 60_000,
        ep.waiting.len()
    )))
}

/// Clear the channel's listings marked broken and push them again: what made them
/// broken may have been the account (a seller preference, a scope) that connecting just
/// changed. Those still broken are marked again by their push, with one alert each.
async fn recheck_broken(
    store: &DynamoStore,
    ch: Channel,
    sdk: &aws_config::SdkConfig,
) -> Result<Option<String>> {
    use onecount::ports::{DriftStore, ListingFlag};
    let broken: Vec<_> = super::all_views(store, ch)
        .await?
        .into_iter()
        .filter(|v| v.broken.is_some())
        .collect();
    if broken.is_empty() {
        return Ok(None);
    }
    let urls = QueueUrls::from_env();
    let q = SqsQueues::new(sdk, urls.clone());
    for v in &broken {
        store
            .set_listing_flag(&v.stock.sku, ch, ListingFlag::Mismatch, None)
            .await?;
        if urls.push(ch).is_some() {
            let req = PushRequest::unprompted(v.stock.sku.clone(), ch, "channel connected", false);
            q.request_push(&req).await.map_err(|e| anyhow!("{e}"))?;
        }
    }
    Ok(Some(format!(
        "{} listing(s) marked broken on {ch} are checked again{}.",
        broken.len(),
        if urls.push(ch).is_some() {
            " (pushed now)"
        } else {
            " at the next sale or drift check"
        }
    )))
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_redirects_split_into_address_and_path() {
        assert_eq!(
            super::split_loopback("http://localhost:3003/a/callback").unwrap(),
            ("127.0.0.1:3003".into(), "/a/callback".into())
        );
        assert_eq!(
            super::split_loopback("http://127.0.0.1").unwrap(),
            ("127.0.0.1:80".into(), "/".into())
        );
        assert!(super::split_loopback("https://x/cb").is_err());
    }
}
