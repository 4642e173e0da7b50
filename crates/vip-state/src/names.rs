//! File names in the state directory, derived from untrusted names.
//!
//! keepalived instance names come from keepalived's configuration (and its notify arguments), so
//! they are encoded into a safe file-name stem: `[A-Za-z0-9_-]` and '.' pass through, every other
//! byte becomes `%XX`, and a leading '.' is encoded too, so no stem is hidden, `.` or `..`, or
//! contains '/'. Distinct names always give distinct stems (the encoding is injective).

use std::fmt::Write as _;

use crate::error::StateError;

/// Longest instance name accepted, in bytes (an encoded stem stays far below NAME_MAX).
pub const MAX_INSTANCE_LEN: usize = 64;

/// Longest cache name accepted.
pub const MAX_CACHE_NAME_LEN: usize = 100;

/// The file-name stem for a keepalived instance name.
pub(crate) fn instance_stem(name: &str) -> Result<String, StateError> {
    if name.is_empty() {
        return Err(StateError::InvalidInstance {
            name: name.to_owned(),
            reason: "empty",
        });
    }
    if name.len() > MAX_INSTANCE_LEN {
        return Err(StateError::InvalidInstance {
            name: name.to_owned(),
            reason: "longer than 64 bytes",
        });
    }
    let mut out = String::with_capacity(name.len());
    for (i, b) in name.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0);
        if plain {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    Ok(out)
}

/// Checks a cache name: 1-100 characters of `[A-Za-z0-9._-]`, not starting with '.'.
pub(crate) fn check_cache_name(name: &str) -> Result<(), StateError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_CACHE_NAME_LEN
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidCacheName {
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn keepalived_style_names_pass_through() {
        assert_eq!(instance_stem("VI_1").unwrap(), "VI_1");
        assert_eq!(instance_stem("vi-web.eth0").unwrap(), "vi-web.eth0");
    }

    #[test]
    fn dangerous_names_are_encoded() {
        assert_eq!(instance_stem("..").unwrap(), "%2E.");
        assert_eq!(instance_stem(".hidden").unwrap(), "%2Ehidden");
        assert_eq!(instance_stem("a/b").unwrap(), "a%2Fb");
        assert_eq!(instance_stem("50%").unwrap(), "50%25");
        assert_eq!(instance_stem("a b").unwrap(), "a%20b");
        assert_eq!(instance_stem("é").unwrap(), "%C3%A9");
    }

    #[test]
    fn encoding_is_injective_on_tricky_pairs() {
        assert_ne!(
            instance_stem("a%2Fb").unwrap(),
            instance_stem("a/b").unwrap()
        );
        assert_ne!(instance_stem(".a").unwrap(), instance_stem("%2Ea").unwrap());
    }

    #[test]
    fn empty_and_long_names_are_refused() {
        assert!(instance_stem("").is_err());
        assert!(instance_stem(&"x".repeat(65)).is_err());
        assert!(instance_stem(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn cache_names() {
        assert!(check_cache_name("identity").is_ok());
        assert!(check_cache_name("cloud-10.0.1.100").is_ok());
        for bad in ["", ".x", "a/b", "a b", "..", &"x".repeat(101)] {
            assert!(check_cache_name(bad).is_err(), "{bad:?}");
        }
    }
}
