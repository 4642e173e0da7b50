//! The endpoint check of `tcvip doctor`: reachable, TLS verified, the median latency of three
//! calls, and this clock against the API's `Date` header.
//!
//! The three calls are unsigned POSTs (no Authorization header), which the API answers with an
//! authentication error envelope — so they need no permission and prove the path (DNS, TCP,
//! TLS with the system's trusted roots, any proxy) without the credentials. The signed calls of
//! the permission checks prove the signature. `Date` has a resolution of one second; the skew
//! is measured against the middle of each request and the smallest of the three is kept.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::doctor::{Check, Status};
use crate::config::Config;

/// Above this clock skew, doctor warns.
pub const SKEW_WARN_S: f64 = 2.0;
/// Tencent refuses a request whose timestamp is more than this far off
/// (`AuthFailure.SignatureExpire`).
pub const SKEW_REFUSED_S: f64 = 300.0;

/// One unsigned call's outcome.
#[derive(Debug, Clone)]
struct Sample {
    latency: Duration,
    /// Server time minus local time, seconds.
    skew: Option<f64>,
    /// Whether the body is the API's `{"Response": ...}` envelope.
    envelope: bool,
    status: u16,
}

/// The endpoint checks: reachability/TLS/latency, and the clock.
pub fn check(config: &Config, region: Option<&str>) -> Vec<Check> {
    let url = config.cloud.endpoint.url().to_owned();
    let looked = format!("3 unsigned POSTs to {url}");
    let timeout = config.cloud.timeout();
    let client = match reqwest::blocking::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(1)))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            return vec![Check::bad(
                "endpoint",
                Status::Unknown,
                format!("cannot build an HTTP client: {e}"),
                looked,
                "report this as a bug",
            )];
        }
    };
    let mut samples = Vec::new();
    for _ in 0..3 {
        match sample(&client, &url, region.unwrap_or("ap-guangzhou")) {
            Ok(s) => samples.push(s),
            Err(e) => {
                let tls = config.cloud.endpoint.is_https()
                    && (e.contains("certificate") || e.contains("tls") || e.contains("TLS"));
                let fix = if tls {
                    "TLS failed: the certificate is not trusted (a TLS-inspecting proxy?) or the host is wrong; check cloud.endpoint and the proxy settings"
                } else {
                    "check DNS, routes and firewall to the endpoint (HTTPS, port 443); without public internet set cloud.endpoint = \"vpc.internal.tencentcloudapi.com\"; an HTTPS_PROXY in keepalived's environment is used"
                };
                return vec![Check::bad(
                    "endpoint",
                    Status::Fail,
                    format!("{url} unreachable: {e}"),
                    looked,
                    fix,
                )];
            }
        }
    }
    vec![
        reachability(config, &url, &looked, &samples),
        clock(&url, &samples),
    ]
}

fn sample(client: &reqwest::blocking::Client, url: &str, region: &str) -> Result<Sample, String> {
    let now = unix_f64(SystemTime::now());
    let started = Instant::now();
    let reply = client
        .post(url)
        .header("Content-Type", "application/json")
        .header("X-TC-Action", "DescribeVpcTaskResult")
        .header("X-TC-Version", tencent_api::client::VPC_VERSION)
        .header("X-TC-Region", region)
        .header("X-TC-Timestamp", format!("{}", now as i64))
        .body("{}")
        .send()
        .map_err(|e| chain(&e))?;
    let status = reply.status().as_u16();
    let date = reply
        .headers()
        .get("date")
        .and_then(|d| d.to_str().ok())
        .and_then(parse_http_date);
    let body = reply.bytes().map_err(|e| chain(&e))?;
    let latency = started.elapsed();
    let middle = now + latency.as_secs_f64() / 2.0;
    let envelope = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .is_some_and(|v| v.get("Response").is_some());
    Ok(Sample {
        latency,
        // Date truncates to the second: the server's time was in [date, date + 1).
        skew: date.map(|d| d as f64 + 0.5 - middle),
        envelope,
        status,
    })
}

fn reachability(config: &Config, url: &str, looked: &str, samples: &[Sample]) -> Check {
    let mut ms: Vec<u128> = samples.iter().map(|s| s.latency.as_millis()).collect();
    ms.sort_unstable();
    let median = ms[ms.len() / 2];
    let tls = if config.cloud.endpoint.is_https() {
        "TLS verified"
    } else {
        "plain HTTP (a test endpoint: TLS not used)"
    };
    let summary = format!(
        "{url} answered, {tls}; latency median {median} ms (of {})",
        ms.iter()
            .map(|m| format!("{m} ms"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(s) = samples.iter().find(|s| !s.envelope) {
        return Check::bad(
            "endpoint",
            Status::Warn,
            format!(
                "{summary}; but HTTP {} without the API's Response envelope",
                s.status
            ),
            looked,
            "something else answers there (a proxy or a wrong host?): check cloud.endpoint",
        );
    }
    let budget = u128::from(config.cloud.timeout_ms) / 2;
    if median > budget {
        return Check::bad(
            "endpoint",
            Status::Warn,
            format!(
                "{summary}: more than half of cloud.timeout_ms ({} ms)",
                config.cloud.timeout_ms
            ),
            looked,
            "use the regional endpoint (vpc.<region>.tencentcloudapi.com) or the internal one, or raise cloud.timeout_ms",
        );
    }
    Check::ok("endpoint", summary, looked)
}

fn clock(url: &str, samples: &[Sample]) -> Check {
    let looked = format!("the Date header of {url}'s replies against this host's clock");
    let skews: Vec<f64> = samples.iter().filter_map(|s| s.skew).collect();
    let Some(skew) = skews
        .iter()
        .copied()
        .min_by(|a, b| a.abs().total_cmp(&b.abs()))
    else {
        return Check::bad(
            "clock",
            Status::Warn,
            "the replies carry no Date header: the clock skew is not known",
            looked,
            "check that cloud.endpoint is the Tencent Cloud API",
        );
    };
    let (status, fix) = skew_status(skew);
    let summary = format!(
        "this clock is {:.1} s {} the API's (±0.5 s)",
        skew.abs(),
        if skew > 0.0 { "behind" } else { "ahead of" }
    );
    match fix {
        None => Check::ok("clock", summary, looked),
        Some(fix) => Check::bad("clock", status, summary, looked, fix),
    }
}

/// The verdict on a skew in seconds: ok up to 2 s, warn above, fail beyond Tencent's 5 minutes.
pub fn skew_status(skew_s: f64) -> (Status, Option<&'static str>) {
    let abs = skew_s.abs();
    if abs > SKEW_REFUSED_S {
        (
            Status::Fail,
            Some(
                "Tencent refuses requests more than 5 minutes off (AuthFailure.SignatureExpire): sync the clock now (chronyd / systemd-timesyncd against ntpupdate.tencentyun.com)",
            ),
        )
    } else if abs > SKEW_WARN_S {
        (
            Status::Warn,
            Some(
                "enable time synchronisation (chronyd / systemd-timesyncd against ntpupdate.tencentyun.com) before the skew reaches Tencent's 5-minute limit",
            ),
        )
    } else {
        (Status::Ok, None)
    }
}

fn unix_f64(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        next = s.source();
    }
    out
}

/// Unix seconds of an IMF-fixdate (`Tue, 01 Dec 2026 20:24:45 GMT`), the form HTTP servers send.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = i64::try_from(months.iter().position(|m| m == month)? + 1).ok()?;
    let day: i64 = day.parse().ok()?;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, sec] = hms.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&day) || *h > 23 || *m > 59 || *sec > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Mon, 25 Feb 2019 16:44:25 GMT"),
            Some(1_551_113_065)
        );
        assert_eq!(
            parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT"),
            Some(1_709_164_800)
        );
        assert_eq!(parse_http_date("yesterday"), None);
        assert_eq!(parse_http_date("Thu, 01 Foo 1970 00:00:00 GMT"), None);
    }

    #[test]
    fn skew_rules() {
        assert_eq!(skew_status(0.4).0, Status::Ok);
        assert_eq!(skew_status(-2.0).0, Status::Ok);
        assert_eq!(skew_status(2.1).0, Status::Warn);
        assert_eq!(skew_status(-299.0).0, Status::Warn);
        assert_eq!(skew_status(301.0).0, Status::Fail);
        assert!(
            skew_status(-400.0)
                .1
                .is_some_and(|f| f.contains("5 minutes"))
        );
    }
}
