//! The one clock every onecount process reads: milliseconds since the Unix epoch. The
//! domain never reads it (time is passed in); adapters and handlers call [`now_ms`].

use crate::domain::Millis;

/// Now, in milliseconds since the Unix epoch (0 if the system clock is before it).
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}
