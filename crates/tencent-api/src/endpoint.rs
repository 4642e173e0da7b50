//! Where API calls go, parsed once: a host (`vpc.tencentcloudapi.com`, meaning HTTPS) or a URL
//! without a path.
//!
//! The API is served over HTTPS only, so `http://` is accepted only towards loopback
//! (127.0.0.0/8, `::1`, `localhost`) and 198.18.0.0/15, the benchmarking range (RFC 2544) that
//! local rehearsals use for a simulated VPC. The host is lower-cased and a default port
//! dropped, so the `Host` header a request is signed with is canonical.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// The public VPC endpoint (nearest region).
pub const DEFAULT_VPC_ENDPOINT: &str = "vpc.tencentcloudapi.com";

/// A usable API endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `scheme://authority/`.
    url: reqwest::Url,
    /// `host` or `host:port` (port only when not the scheme's default): the `Host` header.
    authority: String,
    /// The host alone: lower-case name or address, IPv6 without brackets.
    host: String,
}

/// Why a text is not a usable endpoint; the message quotes the text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}, found {input:?}")]
pub struct EndpointError {
    /// The text given.
    pub input: String,
    /// What is wrong, with what was expected.
    pub reason: String,
}

const EXPECTED: &str = "expected a host like \"vpc.tencentcloudapi.com\" or a URL like \
                        \"https://vpc.ap-guangzhou.tencentcloudapi.com\"";

impl Endpoint {
    /// Parses `host`, `host:port` or `http(s)://host[:port][/]`.
    pub fn parse(s: &str) -> Result<Endpoint, EndpointError> {
        let fail = |reason: String| EndpointError {
            input: s.to_owned(),
            reason,
        };
        let (https, rest) = match s.split_once("://") {
            None => (true, s),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => (true, rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (false, rest),
            Some((scheme, _)) => {
                return Err(fail(format!(
                    "{EXPECTED}; scheme {scheme:?} is not http or https"
                )));
            }
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#', '@']) || authority.chars().any(char::is_whitespace) {
            return Err(fail(format!("{EXPECTED} (no path, query or user)")));
        }
        let (host, port) = split_authority(authority).ok_or_else(|| fail(EXPECTED.to_owned()))?;
        if let Some(p) = port
            && !matches!(p.parse::<u16>(), Ok(n) if n > 0)
        {
            return Err(fail(format!(
                "{EXPECTED}; port {p:?} is not a number from 1 to 65535"
            )));
        }
        if !(valid_hostname(host) || host.parse::<IpAddr>().is_ok()) {
            return Err(fail(EXPECTED.to_owned()));
        }
        if !https && !http_allowed(host) {
            return Err(fail(format!(
                "the Tencent Cloud API is served over HTTPS only: use \"https://{authority}\" or the \
                 bare host; http:// is accepted only for loopback (127.0.0.0/8, ::1, localhost) and \
                 the 198.18.0.0/15 rehearsal range"
            )));
        }
        let scheme = if https { "https" } else { "http" };
        let url = reqwest::Url::parse(&format!("{scheme}://{authority}/"))
            .map_err(|e| fail(format!("{EXPECTED} ({e})")))?;
        let Some(url_host) = url.host_str() else {
            return Err(fail(EXPECTED.to_owned()));
        };
        let authority = match url.port() {
            Some(port) => format!("{url_host}:{port}"),
            None => url_host.to_owned(),
        };
        let host = url_host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(url_host)
            .to_owned();
        Ok(Endpoint {
            url,
            authority,
            host,
        })
    }

    /// The base URL requests are posted to, e.g. `https://vpc.tencentcloudapi.com/`.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// `host[:port]`, the value of the `Host` header.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The host name or address alone.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether requests use TLS.
    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }

    pub(crate) fn request_url(&self) -> &reqwest::Url {
        &self.url
    }
}

impl Default for Endpoint {
    /// [`DEFAULT_VPC_ENDPOINT`] over HTTPS.
    #[allow(clippy::expect_used)]
    fn default() -> Self {
        // Invariant: a constant host name that parses (pinned by a test below).
        Endpoint::parse(DEFAULT_VPC_ENDPOINT).expect("the default endpoint parses")
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url())
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;
    fn from_str(s: &str) -> Result<Self, EndpointError> {
        Endpoint::parse(s)
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `host[:port]` or `[v6][:port]` into its parts; `None` when a bracket is unmatched or the
/// bracketed part is not IPv6.
fn split_authority(authority: &str) -> Option<(&str, Option<&str>)> {
    if let Some(after) = authority.strip_prefix('[') {
        let (v6, tail) = after.split_once(']')?;
        v6.parse::<Ipv6Addr>().ok()?;
        let port = match tail {
            "" => None,
            t => Some(t.strip_prefix(':')?),
        };
        return Some((v6, port));
    }
    Some(match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    })
}

/// Whether plain HTTP may be used towards `host`: loopback, or the rehearsal range 198.18.0.0/15.
fn http_allowed(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback() || is_rehearsal_range(v4),
        Ok(IpAddr::V6(v6)) => v6 == Ipv6Addr::LOCALHOST,
        Err(_) => false,
    }
}

/// 198.18.0.0/15.
fn is_rehearsal_range(ip: Ipv4Addr) -> bool {
    let [a, b, _, _] = ip.octets();
    a == 198 && (b & 0xfe) == 18
}

fn valid_hostname(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn ok(s: &str) -> (String, String) {
        let e = Endpoint::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        (e.url().to_owned(), e.authority().to_owned())
    }

    #[test]
    fn the_default_is_the_public_vpc_endpoint() {
        let d = Endpoint::default();
        assert_eq!(d, Endpoint::parse(DEFAULT_VPC_ENDPOINT).unwrap());
        assert_eq!(d.url(), "https://vpc.tencentcloudapi.com/");
        assert!(d.is_https());
    }

    #[test]
    fn bare_hosts_become_https_lower_cased() {
        assert_eq!(
            ok("vpc.tencentcloudapi.com"),
            (
                "https://vpc.tencentcloudapi.com/".into(),
                "vpc.tencentcloudapi.com".into()
            )
        );
        assert_eq!(
            ok("VPC.internal.tencentcloudapi.com/"),
            (
                "https://vpc.internal.tencentcloudapi.com/".into(),
                "vpc.internal.tencentcloudapi.com".into()
            )
        );
    }

    #[test]
    fn ports_appear_in_the_authority_only_when_not_default() {
        assert_eq!(ok("http://127.0.0.1:18080").1, "127.0.0.1:18080");
        assert_eq!(ok("https://h.example:443/").1, "h.example");
        assert_eq!(ok("http://localhost:80").1, "localhost");
        assert_eq!(ok("https://h.example:8443").1, "h.example:8443");
        assert_eq!(ok("h.example:8443").1, "h.example:8443");
        assert_eq!(ok("http://[::1]:9000/").1, "[::1]:9000");
        assert_eq!(Endpoint::parse("http://[::1]:9000").unwrap().host(), "::1");
    }

    #[test]
    fn http_only_for_loopback_and_the_rehearsal_range() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://localhost:1/",
            "http://[::1]:9000",
            "http://198.18.0.1:8080",
            "http://198.19.255.254",
        ] {
            let e = Endpoint::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(!e.is_https());
        }
        for bad in [
            "http://vpc.tencentcloudapi.com",
            "http://10.0.0.1",
            "http://198.20.0.1",
            "http://[::2]",
        ] {
            let err = Endpoint::parse(bad).unwrap_err().to_string();
            assert!(err.contains("HTTPS only"), "{bad}: {err}");
            assert!(err.contains(&format!("found {bad:?}")), "{err}");
        }
    }

    #[test]
    fn paths_queries_users_bad_ports_and_schemes_are_refused() {
        for bad in [
            "",
            "  ",
            "ftp://h/",
            "https://h/v1",
            "https://u:p@h/",
            "https://h/?a=b",
            "h/path",
            "http://",
            "h:0",
            "h:99999",
            "a b",
            "[::1",
            "[zz]:80",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
