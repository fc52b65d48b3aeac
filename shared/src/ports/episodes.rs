//! What this process believes of each channel's episode ([`super::ChannelHealth`]): open
//! if it saw the channel fail itself, otherwise looked up in the store at most every
//! [`RECHECK_MS`]. A success then costs no read while all is well, and ends an episode
//! another function opened within seconds.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::domain::{Channel, Millis};

pub const RECHECK_MS: Millis = 10_000;

/// Per channel: (when last marked, open).
static SEEN: Mutex<BTreeMap<Channel, (Millis, bool)>> = Mutex::new(BTreeMap::new());

/// Remember that `ch` was seen failing (`true`) or was found healthy (`false`).
pub fn mark(ch: Channel, open: bool) {
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    seen.insert(ch, (crate::clock::now_ms(), open));
}

/// Whether a success on `ch` should look for an episode to end.
pub fn may_be_open(ch: Channel) -> bool {
    let seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    match seen.get(&ch) {
        Some((_, true)) | None => true,
        Some((at, false)) => crate::clock::now_ms() - at > RECHECK_MS,
    }
}
