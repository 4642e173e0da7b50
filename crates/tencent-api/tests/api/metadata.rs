//! The metadata client: text, 404, timeouts, and no proxy.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tencent_api::credentials::{Credentials, StaticCredentials};
use tencent_api::metadata::{MetadataClient, MetadataError};
use tencent_api::{Client, ClientConfig};

use crate::stub::{Reply, Stub, refused_port};

fn serve_region() -> Stub {
    Stub::start(|r| match r.target.as_str() {
        "/latest/meta-data/placement/region" => Reply::text(200, "ap-guangzhou\n"),
        "/latest/meta-data/broken" => Reply::text(500, "oops"),
        _ => Reply::text(404, "nope"),
    })
}

#[test]
fn get_returns_text_without_trailing_newline_and_404_is_distinct() {
    let stub = serve_region();
    let m = MetadataClient::new(
        format!("{}latest/meta-data", stub.url()),
        Duration::from_secs(5),
    );
    assert_eq!(m.get("placement/region").unwrap(), "ap-guangzhou");
    assert_eq!(m.get("/placement/region").unwrap(), "ap-guangzhou");
    let e = m.get("placement/zone").unwrap_err();
    assert!(e.is_not_found() && !e.is_transient(), "{e:?}");
    let e = m.get("broken").unwrap_err();
    assert!(
        matches!(e, MetadataError::Http { status: 500, .. }) && e.is_transient(),
        "{e:?}"
    );
    let reqs = stub.requests();
    assert_eq!(reqs[0].method, "GET");
}

#[test]
fn slow_or_absent_metadata_fails_fast() {
    let stub = Stub::start(|_| Reply::Hang);
    let m = MetadataClient::new(stub.url(), Duration::from_millis(300));
    let started = Instant::now();
    let e = m.get("instance-id").unwrap_err();
    assert!(matches!(e, MetadataError::Timeout { .. }), "{e:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    let m = MetadataClient::new(
        format!("http://127.0.0.1:{}/", refused_port()),
        Duration::from_secs(2),
    );
    let e = m.get("instance-id").unwrap_err();
    assert!(
        matches!(e, MetadataError::Connect { .. }) && e.is_transient(),
        "{e:?}"
    );
}

#[test]
fn a_trickling_metadata_reply_ends_at_the_timeout() {
    let body = b"ins-0123456789abcdefghijklmnopqrstuvwxyz".to_vec();
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    let stub = Stub::start(move |_| {
        Reply::Trickle(head.clone(), body.clone(), Duration::from_millis(150))
    });
    let m = MetadataClient::new(stub.url(), Duration::from_millis(600));
    let started = Instant::now();
    let e = m.get("instance-id").unwrap_err();
    let took = started.elapsed();
    assert!(matches!(e, MetadataError::Timeout { .. }), "{e:?}");
    assert!(
        took < Duration::from_millis(2000),
        "the reply trickled past the timeout: {took:?}"
    );
}

const CHILD_ENV: &str = "TENCENT_API_TEST_PROXY_CHILD";
const TEST_NAME: &str = "metadata::metadata_bypasses_the_proxy_that_api_calls_use";

/// Proxy variables are process-wide, so the checks run in a child copy of this test binary
/// started with them set; the parent supplies the proxy (a recording stub) and checks it.
#[test]
fn metadata_bypasses_the_proxy_that_api_calls_use() {
    if let Ok(target) = std::env::var(CHILD_ENV) {
        child(&target);
        return;
    }
    let proxy = Stub::start(|_| Reply::json(r#"{"Response":{"RequestId":"via-proxy"}}"#));
    let target = Stub::start(|_| Reply::json(r#"{"Response":{"RequestId":"direct"}}"#));
    let out = Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, target.url())
        .env("HTTP_PROXY", proxy.url())
        .env("http_proxy", proxy.url())
        .env("HTTPS_PROXY", proxy.url())
        .env("https_proxy", proxy.url())
        .env("ALL_PROXY", proxy.url())
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child failed:\n{text}");
    assert!(text.contains("1 passed"), "child ran no test:\n{text}");
    // The API call went through the proxy (absolute-form target naming the real endpoint);
    // the metadata reads never did.
    let via_proxy = proxy.requests();
    assert_eq!(via_proxy.len(), 1, "{via_proxy:?}");
    assert_eq!(via_proxy[0].target, target.url());
    assert_eq!(target.count(), 0);
}

fn child(target: &str) {
    let metadata = Stub::start(|_| Reply::text(200, "ins-direct\n"));
    let m = MetadataClient::new(metadata.url(), Duration::from_secs(5));
    assert_eq!(m.get("instance-id").unwrap(), "ins-direct");
    assert_eq!(metadata.count(), 1);

    let c = Client::new(
        ClientConfig::vpc("ap-guangzhou").with_endpoint(target.parse().unwrap()),
        Arc::new(StaticCredentials::new(Credentials::new("AKID", "k"))),
    )
    .unwrap();
    let resp = c.call_json("DescribeVpcTaskResult", &json!({})).unwrap();
    assert_eq!(resp["RequestId"], "via-proxy");
}
