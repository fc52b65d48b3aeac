//! Alerts: one SNS topic, message attributes `type`, `severity`, `channel`, `sku` so
//! subscriptions filter by owner; an email subject (under 100 characters) and body, an SMS
//! text in GSM-7 of at most 140 characters (one SMS); every alert says what to do next.
//! CloudWatch alarms reach the same topic through [`alarm::from_alarm`], with the same
//! attributes.

pub mod alarm;

use serde::{Deserialize, Serialize};

use crate::domain::{Channel, OrderId, Sku};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    Oversold,
    LowStock,
    PushFailing,
    SyncLagging,
    DriftCorrected,
    SkuMismatch,
    UnmappedSku,
    QuarantinedWebhook,
    ChannelAuthFailed,
    CredentialExpiring,
    AutoPaused,
    AutoResumed,
    DriftCheckFailing,
    OrdersFailing,
    WebhooksFailing,
    /// A CloudWatch alarm onecount does not know by name.
    Alarm,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Oversold => "oversold",
            AlertKind::LowStock => "low_stock",
            AlertKind::PushFailing => "push_failing",
            AlertKind::SyncLagging => "sync_lagging",
            AlertKind::DriftCorrected => "drift_corrected",
            AlertKind::SkuMismatch => "sku_mismatch",
            AlertKind::UnmappedSku => "unmapped_sku",
            AlertKind::QuarantinedWebhook => "quarantined_webhook",
            AlertKind::ChannelAuthFailed => "channel_auth_failed",
            AlertKind::CredentialExpiring => "credential_expiring",
            AlertKind::AutoPaused => "auto_paused",
            AlertKind::AutoResumed => "auto_resumed",
            AlertKind::DriftCheckFailing => "drift_check_failing",
            AlertKind::OrdersFailing => "orders_failing",
            AlertKind::WebhooksFailing => "webhooks_failing",
            AlertKind::Alarm => "alarm",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// The longest SMS text we send, in GSM-7 septets (one SMS holds 160).
pub const SMS_MAX: usize = 140;
/// SNS subjects must be under 100 characters, with no line breaks or control characters.
pub const SUBJECT_MAX: usize = 99;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub kind: AlertKind,
    pub severity: Severity,
    pub channel: Option<Channel>,
    pub sku: Option<Sku>,
    /// Email subject: at most [`SUBJECT_MAX`] characters.
    pub subject: String,
    /// Email body: what happened, then "What to do:".
    pub body: String,
    /// GSM-7 only, at most [`SMS_MAX`] septets.
    pub sms: String,
}

/// GSM 03.38's basic character set: one septet each.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// Its extension table: an escape and the character, two septets each.
const GSM7_EXTENDED: &str = "^{}\\[~]|€";

/// Septets `c` takes in a GSM-7 SMS, or None when it is not in GSM-7 (one such character
/// makes the whole message UCS-2: 70 characters per SMS instead of 160).
fn septets(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENDED.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// `text` as one GSM-7 SMS: characters outside GSM-7 become `?` (a dash, ellipsis or
/// quote mark from a title would otherwise triple the cost), and a text longer than
/// `max` septets ends in `...`.
pub fn sms_text(text: &str, max: usize) -> String {
    let chars: Vec<(char, usize)> = text
        .chars()
        .map(|c| match c {
            '\u{2014}' | '\u{2013}' => ('-', 1),
            '\u{2018}' | '\u{2019}' => ('\'', 1),
            '\u{201c}' | '\u{201d}' => ('"', 1),
            c => septets(c).map_or(('?', 1), |n| (c, n)),
        })
        .collect();
    if chars.iter().map(|(_, n)| n).sum::<usize>() <= max {
        return chars.into_iter().map(|(c, _)| c).collect();
    }
    let mut out = String::new();
    let mut used = 0;
    for (c, n) in chars {
        if used + n > max - 3 {
            break;
        }
        used += n;
        out.push(c);
    }
    out.push_str("...");
    out
}

/// `text` as an SNS subject: control characters become spaces, and a text of more than
/// `max` characters ends in `...`.
pub fn subject_text(text: &str, max: usize) -> String {
    let clean: Vec<char> = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.len() <= max {
        return clean.into_iter().collect();
    }
    let mut out: String = clean[..max - 3].iter().collect();
    out.push_str("...");
    out
}

impl Alert {
    /// `texts`: subject, what happened, what to do, SMS.
    pub(crate) fn new(
        kind: AlertKind,
        severity: Severity,
        channel: Option<Channel>,
        sku: Option<Sku>,
        texts: (String, String, &str, String),
    ) -> Alert {
        let (subject, what, todo, sms) = texts;
        Alert {
            kind,
            severity,
            channel,
            sku,
            subject: subject_text(&format!("[onecount] {subject}"), SUBJECT_MAX),
            body: format!(
                "{what}\n\nWhat to do: {todo}\n\n(alert type: {}, severity: {})",
                kind.as_str(),
                severity.as_str()
            ),
            sms: sms_text(&sms, SMS_MAX),
        }
    }

    /// A line sold more than there was, at order time.
    pub fn oversold(channel: Channel, order: &OrderId, sku: &Sku, short: u32) -> Alert {
        Alert::new(
            AlertKind::Oversold,
            Severity::Critical,
            Some(channel),
            Some(sku.clone()),
            (
                format!("OVERSOLD {sku} by {short} on {channel} order {order}"),
                format!(
                    "{channel} order {order} sold {short} more unit(s) of {sku} than onecount had in stock when the order arrived."
                ),
                &format!(
                    "cancel or backorder {short} unit(s) of order {order} on {channel} before fulfilment, and tell the buyer. `onecount timeline {sku}` shows how it happened."
                ),
                format!(
                    "OVERSOLD {sku} x{short} {channel} order {order}: cancel/backorder before fulfilment"
                ),
            ),
        )
    }

    /// Pushes to a channel keep failing for now (throttled, down, timing out): the listing
    /// there is behind the true count, and its requests are going to the dead-letter queue.
    pub fn push_failing(channel: Channel, sku: &Sku, attempts: u32, error: &str) -> Alert {
        Alert::new(
            AlertKind::PushFailing,
            Severity::Critical,
            Some(channel),
            Some(sku.clone()),
            (
                format!("{channel} not updating: {sku} push failed {attempts} times"),
                format!(
                    "onecount could not set {sku}'s quantity on {channel} after {attempts} attempts (last error: {error}). {channel} may be showing more than you have; the request is in the {channel} dead-letter queue."
                ),
                &format!(
                    "check {channel}'s status and onecount's credentials for it. When it is back, `onecount dlq redrive --queue {channel}` (or the next sale, or the drift check) brings it up to date. If it stays down and stock is low, pause the listing on {channel}."
                ),
                format!(
                    "{channel} push failing for {sku} ({attempts}x). Check {channel}, then redrive the {channel} DLQ"
                ),
            ),
        )
    }

    /// A channel refuses onecount's credentials after a refresh: every listing there is
    /// frozen at what it showed. Sent once per episode, not per SKU.
    pub fn channel_auth_failed(channel: Channel, error: &str) -> Alert {
        Alert::new(
            AlertKind::ChannelAuthFailed,
            Severity::Critical,
            Some(channel),
            None,
            (
                format!("{channel} disconnected: onecount's access was refused"),
                format!(
                    "{channel} refused onecount's credentials, also after a token refresh (last error: {error}). The app may have been uninstalled or its access revoked, the refresh token may have ended, or a scope is missing. The true count is still kept, and nothing is lost: {channel}'s pushes and the orders onecount must read from {channel} wait until it is connected again. Until then {channel} keeps showing what it showed, and it may sell units that are gone."
                ),
                &format!(
                    "run `onecount connect {channel}` and approve the access again; waiting pushes then catch {channel} up. If stock is low, pause the listings on {channel} in its own admin meanwhile. `onecount status` shows the channel as disconnected until then."
                ),
                format!("{channel} DISCONNECTED (access refused). Run: onecount connect {channel}"),
            ),
        )
    }

    /// A channel has failed every retry for a while (5xx, timeouts, throttling): one alert
    /// per episode for the whole channel, not one per SKU.
    pub fn channel_down(channel: Channel, error: &str) -> Alert {
        Alert::new(
            AlertKind::PushFailing,
            Severity::Critical,
            Some(channel),
            None,
            (
                format!("{channel} not updating: its API keeps failing"),
                format!(
                    "onecount's pushes to {channel} keep failing after every retry (last error: {error}). {channel} may be showing more than you have. The pushes wait and are tried again with longer gaps; none is dropped."
                ),
                &format!(
                    "check {channel}'s status page. When {channel} answers again the next push ends this episode and catches every waiting listing up; nothing to do then. If it stays down and stock is low, pause the listings on {channel} in its own admin."
                ),
                format!(
                    "{channel} API failing; pushes waiting. Check {channel} status; pause listings there if stock is low"
                ),
            ),
        )
    }

    /// A channel credential ends soon; after that the channel is disconnected.
    pub fn credential_expiring(channel: Channel, what: &str, days: i64) -> Alert {
        Alert::new(
            AlertKind::CredentialExpiring,
            Severity::Warning,
            Some(channel),
            None,
            (
                format!("{channel} {what} ends in {days} day(s)"),
                format!(
                    "onecount's {what} for {channel} ends in {days} day(s). After that {channel} refuses onecount, and its listings stop following the true count."
                ),
                &format!(
                    "run `onecount connect {channel}` before then to approve the access again (a minute's work); the alert stops once the new credential is stored."
                ),
                format!("{channel} {what} ends in {days}d. Run: onecount connect {channel}"),
            ),
        )
    }

    /// A listing that cannot be pushed as mapped: gone, not tracked, SKU not on it.
    pub fn sku_mismatch(channel: Channel, sku: &Sku, problem: &str) -> Alert {
        Alert::new(
            AlertKind::SkuMismatch,
            Severity::Warning,
            Some(channel),
            Some(sku.clone()),
            (
                format!("{sku} mapping broken on {channel}"),
                format!(
                    "onecount cannot update {sku} on {channel}: {problem}. This is not a sync delay: the mapping itself is wrong, so pushes to it stop until it is fixed."
                ),
                &format!(
                    "fix the listing on {channel} (relist it, turn on inventory tracking, put the SKU back) or change the mapping with `onecount listings set --sku {sku} --channel {channel} --ref KIND:ID`. Then `onecount push {sku} --channel {channel}` and check it with `onecount timeline {sku}`."
                ),
                format!("{sku} mapping broken on {channel}: fix listing or mapping"),
            ),
        )
    }

    /// A SKU fell to or below its threshold (sent once per crossing).
    pub fn low_stock(
        sku: &Sku,
        on_hand: u32,
        threshold: u32,
        listed: &[(Channel, Option<i64>)],
        sold_last_hour: u32,
    ) -> Alert {
        let shows: Vec<String> = listed
            .iter()
            .map(|(c, q)| format!("{c} {}", q.map_or("?".into(), |q| q.to_string())))
            .collect();
        let hours_left = if sold_last_hour == 0 {
            "no sales in the last hour".to_string()
        } else {
            format!(
                "{sold_last_hour} sold in the last hour: about {:.1} h of stock left",
                f64::from(on_hand) / f64::from(sold_last_hour)
            )
        };
        Alert::new(
            AlertKind::LowStock,
            Severity::Warning,
            None,
            Some(sku.clone()),
            (
                format!("Low stock: {sku} has {on_hand} left (threshold {threshold})"),
                format!(
                    "{sku} is down to {on_hand} (threshold {threshold}). Listed now: {}. {hours_left}.",
                    shows.join(", ")
                ),
                &format!(
                    "reorder or transfer stock, then record it with `onecount stock adjust {sku} +N --reason received`. If it cannot be restocked in time, consider last-unit protection so that, while it sells, the channels never list more of the final units than exist."
                ),
                format!(
                    "LOW {sku}: {on_hand} left ({sold_last_hour}/h). Reorder; log with onecount stock adjust"
                ),
            ),
        )
    }

    /// The sale that took a SKU to or below its threshold, at once (still once per
    /// crossing: the drift check and the order path share the SKU's `low_alerted` flag).
    pub fn low_stock_at_sale(
        sku: &Sku,
        on_hand: u32,
        threshold: u32,
        channel: Channel,
        order: &OrderId,
    ) -> Alert {
        Alert::new(
            AlertKind::LowStock,
            Severity::Warning,
            None,
            Some(sku.clone()),
            (
                format!("Low stock: {sku} has {on_hand} left (threshold {threshold})"),
                format!(
                    "{channel} order {order} took {sku} down to {on_hand} (threshold {threshold}). `onecount sku show {sku}` shows what each channel lists now."
                ),
                &format!(
                    "reorder or transfer stock, then record it with `onecount stock adjust {sku} +N --reason received`. If it cannot be restocked in time, consider last-unit protection (`onecount stock protect {sku} --last-units 2`) so that, while it sells, the channels never list more of the final units than exist."
                ),
                format!("LOW {sku}: {on_hand} left after {channel} order {order}. Reorder"),
            ),
        )
    }

    /// Auto-pause engaged: stock is low and a channel is stuck showing an old count, so
    /// every channel but the primary lists 0 until it is in sync again.
    pub fn auto_paused(sku: &Sku, stuck: &str, primary: Channel, on_hand: u32) -> Alert {
        Alert::new(
            AlertKind::AutoPaused,
            Severity::Warning,
            None,
            Some(sku.clone()),
            (
                format!("{sku} paused on all but {primary}: {stuck} not updating"),
                format!(
                    "{sku} is low ({on_hand} left) and {stuck} has not taken its count, so onecount lists it at 0 everywhere but {primary} to keep the last units from selling twice. Sales on those channels are turned away meanwhile. It resumes by itself when every channel is in sync again (an `auto_resumed` alert says so)."
                ),
                &format!(
                    "nothing, usually. If {stuck} stays behind, check its status and `onecount sku show {sku}`; `onecount status` shows the channels behind."
                ),
                format!(
                    "{sku} auto-paused on all but {primary} ({stuck} behind). Resumes when in sync"
                ),
            ),
        )
    }

    /// Auto-pause released: every channel took the count again.
    pub fn auto_resumed(sku: &Sku, primary: Channel) -> Alert {
        Alert::new(
            AlertKind::AutoResumed,
            Severity::Info,
            None,
            Some(sku.clone()),
            (
                format!("{sku} listed again on every channel"),
                format!(
                    "Every channel is in sync with {sku} again, so the auto-pause that kept it on {primary} only is released and the other channels list it again."
                ),
                &format!("nothing; `onecount timeline {sku}` shows the pause and its end."),
                format!("{sku} auto-pause released: listed again everywhere"),
            ),
        )
    }

    /// The drift check has had errors in `runs` runs in a row (sent once per streak).
    pub fn drift_check_failing(runs: u32, errors: usize, first: &str) -> Alert {
        Alert::new(
            AlertKind::DriftCheckFailing,
            Severity::Warning,
            None,
            None,
            (
                format!("drift check failing: errors in {runs} runs in a row"),
                format!(
                    "The drift check, which reads the orders webhooks missed and corrects listings that drifted, had errors in each of its last {runs} runs ({errors} in the last; the first: {first}). Until it runs clean, a missed order or a drifted listing may not be caught."
                ),
                "read the drift-check function's logs at level ERROR (one line per error). A refused credential needs `onecount connect CHANNEL`; `onecount status` shows each channel's state. An alarm follows if errors go on for 30 minutes.",
                format!("onecount drift check failing ({runs} runs). Read its ERROR logs"),
            ),
        )
    }

    /// A push has been pending past the lag threshold: a channel shows an old count.
    pub fn sync_lagging(
        channel: Channel,
        sku: &Sku,
        shows: i64,
        should: u32,
        age_secs: i64,
    ) -> Alert {
        Alert::new(
            AlertKind::SyncLagging,
            Severity::Warning,
            Some(channel),
            Some(sku.clone()),
            (
                format!("{channel} lagging: {sku} shows {shows}, should be {should}"),
                format!(
                    "{channel} has shown {shows} for {sku} for {age_secs} s while the true listed quantity is {should}. The update was re-queued. This is a sync delay (throttling, an outage), not a wrong mapping."
                ),
                &format!(
                    "nothing if it clears within minutes. If it persists, check {channel}'s status and the {channel} push dead-letter queue; if stock is low, pause the listing on {channel} (`onecount pause {sku} --channel {channel}`, then `onecount resume {sku} --channel {channel}`)."
                ),
                format!(
                    "{channel} lagging on {sku}: shows {shows}, should be {should} ({age_secs}s). Re-queued"
                ),
            ),
        )
    }

    /// A listing differed with nothing pending and was corrected (large or repeated).
    pub fn drift_corrected(
        channel: Channel,
        sku: &Sku,
        shows: i64,
        target: u32,
        repeats: u32,
    ) -> Alert {
        Alert::new(
            AlertKind::DriftCorrected,
            Severity::Info,
            Some(channel),
            Some(sku.clone()),
            (
                format!("{channel} drift corrected: {sku} showed {shows}, set to {target}"),
                format!(
                    "{channel} showed {shows} for {sku} with no update pending; onecount set it back to {target} after checking {channel}'s recent orders. Drift found on this listing {repeats} time(s). Usually someone edited the quantity on {channel} directly, or an app there changes stock."
                ),
                &format!(
                    "change stock in onecount (`onecount stock adjust {sku} +N --reason received`), not on {channel}: edits there are overwritten. If no one edited it, look for another inventory app connected to {channel}."
                ),
                format!(
                    "{channel} drift on {sku}: {shows} set to {target}. Edit stock in onecount, not {channel}"
                ),
            ),
        )
    }

    /// An order line whose channel ids map to no SKU.
    pub fn unmapped_sku(channel: Channel, order: &OrderId, line: &str, ids: &str) -> Alert {
        Alert::new(
            AlertKind::UnmappedSku,
            Severity::Warning,
            Some(channel),
            None,
            (
                format!("Unmapped {channel} item in order {order}"),
                format!(
                    "{channel} order {order} line {line} sold an item onecount cannot map to a SKU ({ids}). The count did not change for it."
                ),
                "map the listing with `onecount listings set --sku SKU --channel CHANNEL --ref KIND:ID`, then take this order off that SKU's count with `onecount sale record --channel CHANNEL --order ORDER --line LINE --sku SKU --qty N`.",
                format!("Unmapped {channel} item, order {order}: map it and adjust stock"),
            ),
        )
    }

    /// A signed webhook (or order line) onecount could not use, kept redacted.
    pub fn quarantined_webhook(channel: Channel, reason: &str, id: &str) -> Alert {
        Alert::new(
            AlertKind::QuarantinedWebhook,
            Severity::Warning,
            Some(channel),
            None,
            (
                format!("{channel} webhook quarantined"),
                format!(
                    "A correctly signed {channel} webhook could not be used ({reason}). A redacted copy (its ids, SKUs, quantities, size and a hash; no customer data) is kept for 14 days as quarantine record {id}."
                ),
                "inspect it with `onecount quarantine list`; if it was an order, record it with `onecount sale record --channel CHANNEL --order ORDER --line LINE --sku SKU --qty N`. The drift checker will also catch any count it missed.",
                format!(
                    "{channel} webhook quarantined ({id}): inspect with onecount quarantine list"
                ),
            ),
        )
    }
}

/// One alert of every kind, with long values: for the tests that hold every alert to its
/// limits and every command it names to the CLI.
pub fn examples() -> Vec<Alert> {
    let sku = Sku::parse("A-VERY-LONG-SKU-NAME-THAT-GOES-ON-AND-ON-AND-ON-FOREVER-0123456789")
        .expect("a valid SKU");
    let order = OrderId::parse("5830012345678901234567890").expect("a valid order id");
    let mut all = vec![
        Alert::oversold(Channel::Shopify, &order, &sku, 12),
        Alert::unmapped_sku(Channel::Ebay, &order, "4567890123", "item:1234567890"),
        Alert::quarantined_webhook(Channel::Ebay, "unknown topic 'X'", "1795848011390-abc"),
        Alert::push_failing(
            Channel::Ebay,
            &sku,
            5,
            "ebay bulkUpdatePriceQuantity: HTTP 503",
        ),
        Alert::sku_mismatch(Channel::Ebay, &sku, "ebay: inventory item not found"),
        Alert::low_stock(
            &sku,
            2,
            3,
            &[(Channel::Shopify, Some(2)), (Channel::Ebay, None)],
            14,
        ),
        Alert::sync_lagging(Channel::Ebay, &sku, 9, 2, 600),
        Alert::drift_corrected(Channel::Ebay, &sku, 12, 2, 3),
        Alert::channel_auth_failed(Channel::Ebay, "HTTP 401 invalid_token"),
        Alert::channel_down(Channel::Shopify, "HTTP 503"),
        Alert::credential_expiring(Channel::Ebay, "refresh token", 13),
        Alert::low_stock_at_sale(&sku, 2, 3, Channel::Ebay, &order),
        Alert::auto_paused(&sku, "ebay", Channel::Shopify, 2),
        Alert::auto_resumed(&sku, Channel::Shopify),
        Alert::drift_check_failing(3, 2, "ebay: listing orders: HTTP 401 invalid_token"),
    ];
    for (key, _, _, per_channel) in alarm::ALARMS {
        let name = if per_channel {
            format!("my-shop-onecount-{key}-ebay")
        } else {
            format!("my-shop-onecount-{key}")
        };
        for state in ["ALARM", "OK"] {
            all.extend(alarm::from_alarm(&alarm::example_notice(&name, state)));
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_text_fits_and_every_alert_says_what_to_do() {
        for a in examples() {
            let septets: usize = a.sms.chars().map(|c| septets(c).unwrap_or(99)).sum();
            assert!(septets <= SMS_MAX, "{} ({septets} septets)", a.sms);
            assert!(a.subject.chars().count() <= SUBJECT_MAX, "{}", a.subject);
            assert!(!a.subject.chars().any(char::is_control));
            assert!(a.body.contains("What to do:"));
        }
    }

    #[test]
    fn sms_text_stays_in_gsm7_and_one_message() {
        assert_eq!(sms_text("plain text", 140), "plain text");
        // An ellipsis, dash and curly quotes are not GSM-7: they would make it UCS-2.
        assert_eq!(
            sms_text("a \u{2014} \u{2019}b\u{2019} \u{2026}", 140),
            "a - 'b' ?"
        );
        let long = sms_text(&"x".repeat(200), 140);
        assert_eq!((long.len(), long.ends_with("...")), (140, true));
        // Extension characters take two septets each.
        let braces = sms_text(&"{".repeat(100), 140);
        assert_eq!(braces, format!("{}...", "{".repeat(68)));
    }

    #[test]
    fn subjects_are_short_and_on_one_line() {
        let s = subject_text(&format!("line\nbreak {}", "y".repeat(200)), SUBJECT_MAX);
        assert_eq!(s.chars().count(), SUBJECT_MAX);
        assert!(s.starts_with("line break ") && s.ends_with("..."));
    }
}
