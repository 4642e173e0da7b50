//! Request ids, credentials and timestamps. The simulator needs unpredictable-looking values,
//! not cryptographic ones: they come from SHA-256 over a per-process random seed and a counter.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(unix_nanos());
        h.write_u32(std::process::id());
        h.finish()
    })
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// 32 fresh pseudo-random bytes.
pub(crate) fn random_bytes() -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(seed().to_le_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    h.update(unix_nanos().to_le_bytes());
    h.finalize().into()
}

/// A UUID v4 string, the shape of a real RequestId.
pub(crate) fn request_id() -> String {
    let mut b = random_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid_shape(&hex::encode(&b[..16]))
}

/// The first 32 hex digits of `h` as `8-4-4-4-12`.
pub(crate) fn uuid_shape(h: &str) -> String {
    let d = |a: usize, b: usize| h.get(a..b).unwrap_or_default();
    format!(
        "{}-{}-{}-{}-{}",
        d(0, 8),
        d(8, 12),
        d(12, 16),
        d(16, 20),
        d(20, 32)
    )
}

/// `len` characters from `[A-Za-z0-9]`.
pub(crate) fn alnum(len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes() {
            if out.len() == len {
                break;
            }
            out.push(char::from(CHARS[usize::from(b) % CHARS.len()]));
        }
    }
    out
}

/// Unix seconds now.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Unix seconds of `t` (0 before the epoch).
pub(crate) fn unix_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `2026-11-26T12:34:56Z`.
pub(crate) fn rfc3339(secs: i64) -> String {
    let date = tencent_api::sign::utc_date(secs);
    let s = secs.rem_euclid(86_400);
    format!(
        "{date}T{:02}:{:02}:{:02}Z",
        s / 3600,
        (s % 3600) / 60,
        s % 60
    )
}

/// `2026-11-26 12:34:56`, the API's CreatedTime form.
pub(crate) fn api_time(secs: i64) -> String {
    let date = tencent_api::sign::utc_date(secs);
    let s = secs.rem_euclid(86_400);
    format!(
        "{date} {:02}:{:02}:{:02}",
        s / 3600,
        (s % 3600) / 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let id = request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(request_id(), request_id());
        assert_eq!(alnum(40).len(), 40);
        assert_eq!(rfc3339(1_700_006_400), "2023-11-15T00:00:00Z");
        assert_eq!(rfc3339(1_700_006_399), "2023-11-14T23:59:59Z");
        assert_eq!(api_time(1_700_006_461), "2023-11-15 00:01:01");
    }
}
