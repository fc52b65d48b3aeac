//! `onecount connect shopify`: a Dev Dashboard app (client id and secret: tokens from
//! the client credentials grant, a day each, taken again before they end), or a legacy
//! admin-created app's static `shpat_` token. Either way: check the scopes onecount
//! needs, name the shop, and pick the location onecount sets quantities at.

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::channels::config::Secret;
use crate::channels::connect::{Connected, Connector, Consent, Input, merged, missing_scopes};
use crate::channels::http::{client, form_urlencoded, send_json};

pub const SCOPES: &[&str] = &[
    "read_orders",
    "read_inventory",
    "write_inventory",
    "read_products",
    "read_locations",
];

const GUIDE: &str = "Shopify: in the Dev Dashboard (https://dev.shopify.com), create an app, and under \
Versions > Access give it the scopes read_orders, read_inventory, write_inventory, read_products and \
read_locations; release the version and install the app on your store. Pass the store's \
*.myshopify.com domain (--shop) and the app's client id (--client-id), with its secret in \
ONECOUNT_CLIENT_SECRET. A store with a legacy custom app made in its admin gives its Admin API \
token (shpat_…) in ONECOUNT_ACCESS_TOKEN instead.";

pub struct ShopifyConnect;

/// How onecount will call the shop: a token for now, and the section's auth fields.
struct Access {
    token: String,
    scopes: Vec<String>,
    fields: Vec<(&'static str, Value)>,
    kind: &'static str,
}

async fn grant(base: &str, id: &str, secret: &Secret) -> Result<Access, String> {
    let form = form_urlencoded(&[
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret.expose()),
    ]);
    let v = send_json(
        "shopify client credentials grant",
        client()
            .post(format!("{base}/admin/oauth/access_token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form),
    )
    .await
    .map_err(|e| format!("the client credentials grant failed: {e}. Is the app installed on this store, and is it your own organisation's?"))?;
    let token = v
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or("shopify: no access_token in the grant's answer")?;
    let scopes = v
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    Ok(Access {
        token: token.to_string(),
        scopes,
        fields: vec![
            ("client_id", json!(id)),
            ("client_secret", json!(secret.expose())),
            ("access_token", Value::Null),
        ],
        kind: "Dev Dashboard app (client credentials, renewed daily)",
    })
}

async fn static_token(base: &str, token: &Secret) -> Result<Access, String> {
    let v = send_json(
        "shopify access scopes",
        client()
            .get(format!("{base}/admin/oauth/access_scopes.json"))
            .header("X-Shopify-Access-Token", token.expose()),
    )
    .await
    .map_err(|e| format!("the access token was refused: {e}"))?;
    let scopes = v
        .get("access_scopes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("handle").and_then(Value::as_str).map(str::to_string))
        .collect();
    Ok(Access {
        token: token.expose().to_string(),
        scopes,
        fields: vec![
            ("access_token", json!(token.expose())),
            ("client_id", Value::Null),
            ("client_secret", Value::Null),
        ],
        kind: "legacy custom app (static token)",
    })
}

/// The location onecount writes at: the one asked for, else the only active one.
fn pick_location(locations: &[Value], asked: Option<&str>) -> Result<(String, String), String> {
    let id = |l: &Value| {
        l.get("id")
            .map(|v| v.to_string().trim_matches('"').to_string())
    };
    let name = |l: &Value| {
        l.get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let active: Vec<&Value> = locations
        .iter()
        .filter(|l| l.get("active").and_then(Value::as_bool) != Some(false))
        .collect();
    let chosen = match asked {
        Some(a) => {
            let a = a.rsplit('/').next().unwrap_or(a);
            active.iter().find(|l| id(l).as_deref() == Some(a)).copied()
        }
        None if active.len() == 1 => Some(active[0]),
        None => None,
    };
    match chosen {
        Some(l) => Ok((id(l).unwrap_or_default(), name(l))),
        None => Err(format!(
            "pick the location onecount sets quantities at with --location ID; the store's active locations: {}",
            active
                .iter()
                .map(|l| format!("{} ({})", id(l).unwrap_or_default(), name(l)))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// What connecting found, for the merchant to check.
fn found(
    shop: &Value,
    kind: &str,
    locations: &[Value],
    (id, name): (&str, &str),
) -> Vec<(String, String)> {
    let s = shop.get("shop").cloned().unwrap_or_default();
    let text = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
    let others: Vec<&str> = locations
        .iter()
        .filter(|l| l.get("id").map(|v| v.to_string()).as_deref() != Some(id))
        .filter_map(|l| l.get("name").and_then(Value::as_str))
        .collect();
    vec![
        (
            "shop".into(),
            format!("{} ({})", text("name"), text("myshopify_domain")),
        ),
        ("access".into(), kind.into()),
        ("scopes".into(), SCOPES.join(", ")),
        ("location".into(), format!("{name} (id {id})")),
        ("other locations".into(), others.join(", ")),
    ]
}

#[async_trait]
impl Connector for ShopifyConnect {
    fn guide(&self) -> &'static str {
        GUIDE
    }

    fn example(&self) -> &'static str {
        "onecount connect shopify --shop my-store.myshopify.com --client-id 1a2b3c"
    }

    fn consent(&self, _input: &Input) -> Result<Option<Consent>, String> {
        Ok(None)
    }

    async fn finish(
        &self,
        input: &Input,
        _code: Option<&str>,
        _consent: Option<&Consent>,
    ) -> Result<Connected, String> {
        let shop = input.need(&input.shop, "shop_domain", "--shop <store>.myshopify.com")?;
        let base = input
            .api_base
            .clone()
            .unwrap_or_else(|| format!("https://{shop}"))
            .trim_end_matches('/')
            .to_string();
        let version = input
            .pick(&None, "api_version")
            .unwrap_or_else(|| "2026-04".into());
        let id = input.pick(&input.client_id, "client_id");
        let secret = input.pick_secret(&input.client_secret, "client_secret");
        let access = match (&id, &secret, &input.access_token) {
            (_, _, Some(t)) => static_token(&base, t).await?,
            (Some(id), Some(secret), None) => grant(&base, id, secret).await?,
            _ => return Err("give the app's --client-id with ONECOUNT_CLIENT_SECRET (a Dev Dashboard app), or a legacy app's token in ONECOUNT_ACCESS_TOKEN".into()),
        };
        let missing = missing_scopes(SCOPES, &access.scopes);
        if !missing.is_empty() {
            return Err(format!(
                "the app lacks the scopes {}: add them to the app's access scopes, release the version and approve it in the store, then run this again",
                missing.join(", ")
            ));
        }
        let get = |path: &str| {
            client()
                .get(format!("{base}/admin/api/{version}/{path}"))
                .header("X-Shopify-Access-Token", access.token.as_str())
        };
        let shop_v = send_json("shopify shop", get("shop.json"))
            .await
            .map_err(|e| format!("reading the shop failed: {e}"))?;
        let locations = send_json("shopify locations", get("locations.json"))
            .await
            .map_err(|e| format!("listing the locations failed: {e}"))?;
        let list: Vec<Value> = locations
            .get("locations")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let asked = input.pick(&input.location, "location_id");
        let (location, location_name) = pick_location(&list, asked.as_deref())?;
        // A Dev Dashboard app's webhooks are signed with its client secret.
        let webhook = input
            .pick_secret(&input.webhook_secret, "webhook_secret")
            .or(secret.clone())
            .ok_or("set ONECOUNT_WEBHOOK_SECRET to the secret that signs the store's webhooks")?;
        let mut fields = vec![
            ("shop_domain", json!(shop)),
            ("api_base", json!(base)),
            ("webhook_secret", json!(webhook.expose())),
            ("location_id", json!(location)),
        ];
        fields.extend(access.fields);
        Ok(Connected {
            section: merged(input.existing.as_ref(), fields),
            tokens: None,
            found: found(&shop_v, access.kind, &list, (&location, &location_name)),
            notes: vec!["Units at other locations still sell on Shopify; onecount lists its count minus theirs at its own location.".into()],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_location_is_the_one_asked_for_or_the_only_active_one() {
        let ls = vec![
            json!({"id": 71234567, "name": "Warehouse", "active": true}),
            json!({"id": 71234999, "name": "Shop", "active": true}),
            json!({"id": 5, "name": "Closed", "active": false}),
        ];
        assert_eq!(
            pick_location(&ls, Some("gid://shopify/Location/71234999")),
            Ok(("71234999".into(), "Shop".into()))
        );
        let e = pick_location(&ls, None).unwrap_err();
        assert!(
            e.contains("--location") && e.contains("71234567 (Warehouse)") && !e.contains("Closed"),
            "{e}"
        );
        assert!(
            pick_location(&ls, Some("5")).is_err(),
            "not an active location"
        );
        assert_eq!(pick_location(&ls[..1], None).unwrap().1, "Warehouse");
    }
}
