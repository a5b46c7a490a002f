//! A runner's id, in one place: made here (`rn-` and 12 hex digits), checked here (whatever reaches
//! the plane in a path), and safe in a URL path as it is.

use std::fmt;
use std::ops::Deref;

/// A well-formed runner id. Whether such a runner exists is the store's question.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct RunnerId(String);

/// A string that cannot be a runner id. Says what one looks like, without echoing the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no such runner: runner ids are letters, digits, '-' and '_' (at most 64) such as rn-3f9a1c2b7d4e")]
pub struct InvalidRunnerId;

impl RunnerId {
    /// A new id, `rn-` and 12 hex digits (48 random bits).
    pub fn generate() -> RunnerId {
        RunnerId(format!("rn-{}", crate::ids::random_hex(6)))
    }

    /// `rn-` and hex today; letters, digits, `-` and `_`, at most 64, for ids made by other
    /// versions. Anything else cannot name a runner: it is answered 404 without asking the
    /// database (and never reaches it: no NUL, no quote, no `/`).
    pub fn parse(s: &str) -> Result<RunnerId, InvalidRunnerId> {
        let ok = (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok { Ok(RunnerId(s.to_owned())) } else { Err(InvalidRunnerId) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as one segment of a URL path. Its characters are all unreserved in RFC 3986, so
    /// it needs no escaping: that is why [`RunnerId::parse`] admits no others.
    pub fn path_segment(&self) -> &str {
        &self.0
    }
}

impl Deref for RunnerId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for RunnerId {
    type Err = InvalidRunnerId;
    fn from_str(s: &str) -> Result<RunnerId, InvalidRunnerId> {
        RunnerId::parse(s)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn made_ids_parse_and_bad_ones_do_not() {
        let id = RunnerId::generate();
        assert!(id.starts_with("rn-") && id.len() == 15, "{id}");
        assert_eq!(RunnerId::parse(id.as_str()).unwrap(), id);
        assert_ne!(RunnerId::generate(), id);
        assert_eq!(RunnerId::parse("old_runner-7").unwrap().path_segment(), "old_runner-7");
        for bad in ["", "rn/x", "rn%00", "a b", "rn-é", "x'y", "..", &"a".repeat(65)] {
            assert_eq!(RunnerId::parse(bad), Err(InvalidRunnerId), "{bad:?}");
        }
        assert!(!InvalidRunnerId.to_string().contains("rn/x"));
    }
}
