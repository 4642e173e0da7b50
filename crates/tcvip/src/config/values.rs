//! Typed values of the configuration file: each parses once, at the edge, and its error says what
//! was expected.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `found "x"` with the value quoted the way TOML would write it.
fn found(s: &str) -> String {
    format!("found {s:?}")
}

/// Defines a fieldless enum read from one of a fixed set of strings, with an error of the form
/// `expected "a", "b" or "c", found "x"`.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every accepted spelling, in documentation order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The spelling used in the configuration file.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!("expected {}, {}", one_of(Self::NAMES), found(other))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// `"a" or "b"`, `"a", "b" or "c"`.
pub(crate) fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

string_enum! {
    /// Where the API credentials come from (`credentials.source`).
    CredentialSource {
        /// Environment, then the profile file, then the CVM role.
        Auto = "auto",
        /// `TENCENTCLOUD_SECRET_ID` / `TENCENTCLOUD_SECRET_KEY` (and a token variable).
        Env = "env",
        /// The INI profile file (`credentials.profile_file`).
        Profile = "profile",
        /// The CVM instance role from the metadata service.
        CvmRole = "cvm-role",
        /// `credentials.secret_id` / `secret_key` in this configuration file.
        File = "file",
    }
}

string_enum! {
    /// What check-self reports when the cloud cannot be asked (`check.on_cloud_error`).
    OnCloudError {
        /// Keep the node healthy: an unreachable API is not a local fault.
        Pass = "pass",
        /// Report the node unhealthy.
        Fail = "fail",
    }
}

/// Log verbosity (`log.level`): the logging module's own level, parsed once here.
pub use crate::log::Level as LogLevel;

string_enum! {
    /// What kind of address a `[[vip]]` is (`vip.kind`).
    #[derive(Default)]
    VipKind {
        /// A secondary private IP of an ENI, moved with MigratePrivateIpAddress (the default).
        #[default]
        SecondaryIp = "secondary-ip",
        /// A HAVIP: the VPC follows the holder's gratuitous ARP; tcvip verifies and heals.
        Havip = "havip",
    }
}

string_enum! {
    /// The API's response language (`cloud.language`).
    Language {
        EnUs = "en-US",
        ZhCn = "zh-CN",
    }
}

/// Defines a validated Tencent Cloud resource id (`ins-…`, `eni-…`, …).
macro_rules! resource_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal, $example:literal, $what:literal) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The id as the API spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let ok = s
                    .strip_prefix($prefix)
                    .is_some_and(|rest| {
                        !rest.is_empty()
                            && rest.len() <= 64
                            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    });
                if ok {
                    Ok($name(s.to_owned()))
                } else {
                    Err(format!(concat!("expected ", $what, " like \"", $example, "\", {}"), found(s)))
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

resource_id!(
    /// A CVM instance id, `ins-…`.
    InstanceId, "ins-", "ins-3g445roi", "an instance id"
);
resource_id!(
    /// An elastic network interface id, `eni-…`.
    EniId, "eni-", "eni-5k7dxqp1", "an ENI id"
);
resource_id!(
    /// A VPC id, `vpc-…`.
    VpcId, "vpc-", "vpc-2x9ab4cd", "a VPC id"
);
resource_id!(
    /// An elastic IP id, `eip-…`.
    EipId, "eip-", "eip-m44ku5d2", "an EIP id"
);
resource_id!(
    /// A HAVIP id, `havip-…`.
    HaVipId, "havip-", "havip-ohz2bq4e", "a HAVIP id"
);
resource_id!(
    /// A subnet id, `subnet-…`.
    SubnetId, "subnet-", "subnet-8f3kq0zz", "a subnet id"
);

/// A region name such as `ap-guangzhou`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Region(String);

impl Region {
    /// The region as the API spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Region {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Ok(Region(s.to_owned()))
        } else {
            Err(format!(
                "expected a region like \"ap-guangzhou\", {}",
                found(s)
            ))
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Region {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Where the VPC API is reached (`cloud.endpoint`): tencent-api's endpoint, parsed once here
/// and handed to the client as it is. HTTPS, or `http://` only towards loopback and the
/// 198.18.0.0/15 rehearsal range.
pub use tencent_api::Endpoint;

/// Parses `log.target` into the logging module's own target: `syslog`, `stderr` or
/// `file:/absolute/path`.
pub fn parse_log_target(s: &str) -> Result<crate::log::LogTarget, String> {
    crate::log::LogTarget::parse(s).map_err(|_| {
        format!(
            "expected \"syslog\", \"stderr\" or \"file:/absolute/path\", {}",
            found(s)
        )
    })
}

/// Parses `log.level`: `error`, `warn`, `info`, `debug` or `trace`.
pub fn parse_log_level(s: &str) -> Result<LogLevel, String> {
    s.parse().map_err(|_| {
        format!(
            "expected \"error\", \"warn\", \"info\", \"debug\" or \"trace\", {}",
            found(s)
        )
    })
}

/// Validates `metadata.url`: an `http://` or `https://` base URL; a missing trailing `/` is added.
pub fn parse_metadata_url(s: &str) -> Result<String, String> {
    let lower = s.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !s.chars().any(char::is_whitespace) => {
            if s.ends_with('/') {
                Ok(s.to_owned())
            } else {
                Ok(format!("{s}/"))
            }
        }
        _ => Err(format!(
            "expected a URL like \"http://metadata.tencentyun.com/latest/meta-data/\", {}",
            found(s)
        )),
    }
}

/// Validates a local network interface name (what `ip link` accepts).
pub fn parse_interface(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() < 16
        && s != "."
        && s != ".."
        && !s.starts_with('-')
        && !s
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b.is_ascii_control());
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "expected a network interface name like \"eth0\" (1 to 15 characters, no '/', ':' or spaces, not starting with '-'), {}",
            found(s)
        ))
    }
}

/// Parses an IPv4 address with an error that says what was expected.
pub fn parse_ipv4(s: &str) -> Result<Ipv4Addr, String> {
    s.parse()
        .map_err(|_| format!("expected an IPv4 address like \"10.0.1.100\", {}", found(s)))
}

pub(crate) fn de_ipv4<'de, D: Deserializer<'de>>(d: D) -> Result<Ipv4Addr, D::Error> {
    let s = String::deserialize(d)?;
    parse_ipv4(&s).map_err(serde::de::Error::custom)
}

pub(crate) fn de_opt_interface<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    parse_interface(&s)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

pub(crate) fn de_log_target<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<crate::log::LogTarget, D::Error> {
    let s = String::deserialize(d)?;
    parse_log_target(&s).map_err(serde::de::Error::custom)
}

pub(crate) fn de_log_level<'de, D: Deserializer<'de>>(d: D) -> Result<LogLevel, D::Error> {
    let s = String::deserialize(d)?;
    parse_log_level(&s).map_err(serde::de::Error::custom)
}

pub(crate) fn de_metadata_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    parse_metadata_url(&s).map_err(serde::de::Error::custom)
}

/// `metrics.listen`: `ADDRESS:PORT`, an IPv4 or bracketed IPv6 address and a port above 0.
pub(crate) fn parse_socket_addr(s: &str) -> Result<std::net::SocketAddr, String> {
    let addr: std::net::SocketAddr = s.parse().map_err(|_| {
        format!("expected ADDRESS:PORT like \"127.0.0.1:9489\" or \"[::1]:9489\", found {s:?}")
    })?;
    if addr.port() == 0 {
        return Err(format!("expected a port from 1 to 65535, found {s:?}"));
    }
    Ok(addr)
}

pub(crate) fn de_opt_socket_addr<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<std::net::SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    parse_socket_addr(&s)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn enums_name_the_choices() {
        assert_eq!(
            "maybe".parse::<OnCloudError>().unwrap_err(),
            r#"expected "pass" or "fail", found "maybe""#
        );
        assert_eq!(
            "cvm-role".parse::<CredentialSource>().unwrap(),
            CredentialSource::CvmRole
        );
    }

    #[test]
    fn ids_need_their_prefix() {
        assert!("ins-node0001".parse::<InstanceId>().is_ok());
        assert!("eni-node0001".parse::<InstanceId>().is_err());
        assert!("ins-".parse::<InstanceId>().is_err());
        assert!("eni-a b".parse::<EniId>().is_err());
    }

    #[test]
    fn log_targets() {
        assert!(parse_log_target("syslog").is_ok());
        assert!(parse_log_target("file:/var/log/tcvip.log").is_ok());
        assert!(parse_log_target("file:relative.log").is_err());
        assert!(parse_log_target("journal").is_err());
        assert_eq!(
            parse_log_target("file:/var/log/tcvip.log").unwrap(),
            crate::log::LogTarget::File("/var/log/tcvip.log".into())
        );
        assert_eq!(parse_log_level("debug").unwrap(), crate::log::Level::Debug);
        assert_eq!(
            parse_log_level("loud").unwrap_err(),
            r#"expected "error", "warn", "info", "debug" or "trace", found "loud""#
        );
    }
}
