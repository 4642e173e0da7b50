//! Endpoint parsing: a bare host means `https://host/`; a full URL is taken as given.

use crate::error::Error;

/// Where requests go, and the Host header they are signed and sent with.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// `scheme://host[:port]/`.
    pub url: reqwest::Url,
    /// Host header value: lower-case host, with `:port` only when not the scheme's default.
    pub host: String,
}

/// Parses `host`, `host:port`, or `http(s)://host[:port][/]`.
pub(crate) fn parse_endpoint(endpoint: &str) -> Result<Endpoint, Error> {
    let invalid = |reason: &str| Error::InvalidEndpoint {
        endpoint: endpoint.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = endpoint.trim();
    if trimmed.is_empty() {
        return Err(invalid("empty"));
    }
    let full = if trimmed.contains("://") {
        trimmed.to_owned()
    } else {
        let host = trimmed.strip_suffix('/').unwrap_or(trimmed);
        if host.contains(['/', '?', '#', '@']) {
            return Err(invalid(
                "a bare host must not contain a path, query or user info",
            ));
        }
        format!("https://{host}/")
    };
    let url = reqwest::Url::parse(&full).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("scheme must be https (or http for tests)"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("user info is not allowed"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "API 3.0 endpoints take no path, query or fragment (the canonical URI is always /)",
        ));
    }
    let Some(host) = url.host_str() else {
        return Err(invalid("no host"));
    };
    let host = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    Ok(Endpoint { url, host })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn ok(s: &str) -> (String, String) {
        let e = parse_endpoint(s).unwrap();
        (e.url.to_string(), e.host)
    }

    #[test]
    fn bare_hosts_become_https() {
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
    fn ports_appear_in_host_only_when_not_default() {
        assert_eq!(ok("http://127.0.0.1:18080").1, "127.0.0.1:18080");
        assert_eq!(ok("https://h.example:443/").1, "h.example");
        assert_eq!(ok("http://h.example:80").1, "h.example");
        assert_eq!(ok("https://h.example:8443").1, "h.example:8443");
        assert_eq!(ok("h.example:8443").1, "h.example:8443");
        assert_eq!(ok("http://[::1]:9000/").1, "[::1]:9000");
    }

    #[test]
    fn unusable_endpoints_are_rejected() {
        for bad in [
            "",
            "  ",
            "ftp://h/",
            "https://h/v1",
            "https://u:p@h/",
            "https://h/?a=b",
            "h/path",
            "http://",
        ] {
            assert!(
                matches!(parse_endpoint(bad), Err(Error::InvalidEndpoint { .. })),
                "{bad:?} accepted"
            );
        }
    }
}
