//! MAC addresses, normalised once.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A MAC address in upper-case colon form (`52:54:00:BF:B3:51`), the form the VPC API uses.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MacAddr(String);

impl MacAddr {
    /// The normalised form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `other` spells the same MAC (case-insensitive, `-` or `:` separators).
    pub fn matches(&self, other: &str) -> bool {
        other.parse::<MacAddr>().is_ok_and(|m| m == *self)
    }
}

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let parts: Vec<&str> = s.split([':', '-']).collect();
        let ok = parts.len() == 6
            && parts
                .iter()
                .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
        if ok {
            Ok(MacAddr(parts.join(":").to_ascii_uppercase()))
        } else {
            Err(format!(
                "expected a MAC address like \"52:54:00:BF:B3:51\", found {s:?}"
            ))
        }
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn normalises_and_compares_case_insensitively() {
        let m: MacAddr = "52:54:00:bf:b3:51\n".parse().unwrap();
        assert_eq!(m.as_str(), "52:54:00:BF:B3:51");
        assert!(m.matches("52-54-00-BF-B3-51"));
        assert!(!m.matches("52:54:00:BF:B3:5"));
        assert!("52:54:00:bf:b3".parse::<MacAddr>().is_err());
        assert!("zz:54:00:bf:b3:51".parse::<MacAddr>().is_err());
    }
}
