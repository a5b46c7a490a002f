//! Tokens: runner tokens are random, shown once, and stored only as a SHA-256 hash (they carry
//! 256 bits of entropy, so a fast hash is enough); the admin token comes from the environment.

use sha2::{Digest, Sha256};

use crate::ids::{hex, random_hex};

/// A new runner token, `nrt_` and 64 hex digits (256 random bits).
pub fn new_token() -> String {
    format!("nrt_{}", random_hex(32))
}

/// A new dashboard session id: 256 random bits, hex. Only its hash is stored.
pub fn new_session_id() -> String {
    random_hex(32)
}

/// Failed dashboard logins per client address, to slow down guessing: after
/// [`LoginThrottle::MAX_FAILURES`] failures within [`LoginThrottle::WINDOW_MS`], that address waits
/// for the window to pass. Kept in memory, per replica.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: std::sync::Mutex<std::collections::HashMap<Option<std::net::IpAddr>, (u32, i64)>>,
}

impl LoginThrottle {
    pub const MAX_FAILURES: u32 = 5;
    pub const WINDOW_MS: i64 = 5 * 60 * 1000;

    /// Seconds to wait when `client` may not try now.
    pub fn blocked(&self, client: Option<std::net::IpAddr>, now: i64) -> Option<u64> {
        let failures = self.failures.lock().ok()?;
        let (count, since) = *failures.get(&client)?;
        let left = since + Self::WINDOW_MS - now;
        (count >= Self::MAX_FAILURES && left > 0).then(|| (left as u64).div_ceil(1000))
    }

    pub fn failed(&self, client: Option<std::net::IpAddr>, now: i64) {
        if let Ok(mut failures) = self.failures.lock() {
            if failures.len() > 100_000 {
                failures.retain(|_, (_, since)| now - *since < Self::WINDOW_MS);
            }
            let entry = failures.entry(client).or_insert((0, now));
            if now - entry.1 >= Self::WINDOW_MS {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
    }

    pub fn succeeded(&self, client: Option<std::net::IpAddr>) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&client);
        }
    }
}

/// The hash stored for a token.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// HMAC-SHA256 (RFC 2104), for badge tokens derived from the admin token (the `hmac` crate, as
/// the alert signatures use).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    // HMAC takes a key of any length: new_from_slice cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The subject of the fleet's badge token.
pub const FLEET: &str = "fleet";

/// The badge token of `subject` (a runner id, or [`FLEET`]): 32 hex digits. Derived from the
/// admin token, so it needs no storage and stops working when the admin token is rotated.
pub fn badge_token(admin_token: &str, subject: &str) -> String {
    hex(&hmac_sha256(admin_token.as_bytes(), format!("netready badge v1:{subject}").as_bytes())[..16])
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (ha, hb) = (Sha256::digest(a), Sha256::digest(b));
    ha.iter().zip(hb.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token of an `Authorization: Bearer …` header value.
pub fn bearer(header: Option<&str>) -> Option<&str> {
    let value = header?.trim();
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_ids_are_random_and_well_formed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with("nrt_") && a.len() == 68);
        assert_eq!(token_hash("x"), token_hash("x"));
        assert_ne!(token_hash(&a), token_hash(&b));
        assert!(!token_hash(&a).contains(&a[4..]));
    }

    #[test]
    fn hmac_as_rfc_4231_says() {
        // Test cases 2 and 6 (a key longer than the block).
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn bearer_headers() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(None), None);
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"diff"));
    }
}
