//! The client against a loopback stub: what it sends, and every way a reply can fail.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tencent_api::credentials::{
    CredentialError, CredentialProvider, Credentials, StaticCredentials,
};
use tencent_api::sign::{SignInput, sign};
use tencent_api::{Client, ClientConfig, Error, ManualClock, RetryClass};

use crate::stub::{Reply, Stub, refused_port};

const NOW: i64 = 1_700_006_400;
const KEY: &str = "stub-secret-key";

fn config(endpoint: &str) -> ClientConfig {
    ClientConfig::vpc("ap-guangzhou")
        .with_endpoint(endpoint.parse().unwrap())
        .with_timeouts(Duration::from_secs(2), Duration::from_secs(5))
}

fn client_with(endpoint: &str, creds: Credentials) -> Client {
    Client::new(config(endpoint), Arc::new(StaticCredentials::new(creds)))
        .unwrap()
        .with_clock(Arc::new(ManualClock::new(NOW)))
}

fn client(endpoint: &str) -> Client {
    client_with(endpoint, Credentials::new("AKIDstub", KEY))
}

const OK: &str = r#"{"Response":{"TotalCount":0,"NetworkInterfaceSet":[],"RequestId":"req-ok"}}"#;

/// Recomputes the signature from what the stub received, as the service would.
fn verify_signature(req: &crate::stub::Request, secret_id: &str, secret_key: &str) {
    let timestamp: i64 = req.header("x-tc-timestamp").unwrap().parse().unwrap();
    let input = SignInput {
        method: &req.method,
        host: req.header("host").unwrap(),
        content_type: req.header("content-type").unwrap(),
        body: &req.body,
        service: "vpc",
        timestamp,
        extra_headers: &[],
    };
    let expected = sign(&input, secret_id, secret_key);
    assert_eq!(
        req.header("authorization"),
        Some(expected.authorization.as_str())
    );
}

#[test]
fn sent_request_is_signed_over_the_exact_bytes_and_headers() {
    let stub = Stub::start(|_| Reply::json(OK));
    let c = client(&stub.url());
    let body = json!({"Filters":[{"Name":"vpc-id","Values":["vpc-1"]}],"Limit":100});
    let resp = c.call_json("DescribeNetworkInterfaces", &body).unwrap();
    assert_eq!(resp["RequestId"], "req-ok");

    let reqs = stub.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!((r.method.as_str(), r.target.as_str()), ("POST", "/"));
    assert_eq!(
        r.header("host").unwrap(),
        format!("127.0.0.1:{}", stub.port())
    );
    assert_eq!(r.header_count("host"), 1);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-tc-action"), Some("DescribeNetworkInterfaces"));
    assert_eq!(r.header("x-tc-version"), Some("2017-03-12"));
    assert_eq!(r.header("x-tc-timestamp"), Some("1700006400"));
    assert_eq!(r.header("x-tc-region"), Some("ap-guangzhou"));
    assert_eq!(r.header("x-tc-language"), Some("en-US"));
    assert_eq!(r.header("x-tc-token"), None);
    assert_eq!(r.body, serde_json::to_vec(&body).unwrap());
    let auth = r.header("authorization").unwrap();
    assert!(
        auth.starts_with("TC3-HMAC-SHA256 Credential=AKIDstub/2023-11-15/vpc/tc3_request, SignedHeaders=content-type;host, Signature="),
        "{auth}"
    );
    verify_signature(r, "AKIDstub", KEY);
}

#[test]
fn token_is_sent_only_with_temporary_credentials_and_not_signed() {
    let stub = Stub::start(|_| Reply::json(OK));
    let c = client_with(
        &stub.url(),
        Credentials::new("AKIDtmp", KEY).with_token("session-token-1"),
    );
    c.call_json("DescribeNetworkInterfaces", &json!({}))
        .unwrap();
    let mut cfg = config(&stub.url());
    cfg.language = None;
    let plain = Client::new(
        cfg,
        Arc::new(StaticCredentials::new(Credentials::new("AKIDstub", KEY))),
    )
    .unwrap();
    plain
        .call_json("DescribeNetworkInterfaces", &json!({}))
        .unwrap();

    let reqs = stub.requests();
    assert_eq!(reqs[0].header("x-tc-token"), Some("session-token-1"));
    assert!(
        reqs[0]
            .header("authorization")
            .unwrap()
            .contains("SignedHeaders=content-type;host,")
    );
    verify_signature(&reqs[0], "AKIDtmp", KEY);
    assert_eq!(reqs[1].header("x-tc-token"), None);
    assert_eq!(reqs[1].header("x-tc-language"), None);
    verify_signature(&reqs[1], "AKIDstub", KEY);
}

#[test]
fn typed_call_sends_serialized_struct_and_decodes_reply() {
    let stub = Stub::start(|_| {
        Reply::json(
            r#"{"Response":{"TotalCount":"1","NetworkInterfaceSet":[{"NetworkInterfaceId":"eni-1","MacAddress":null}],"RequestId":"r"}}"#,
        )
    });
    let c = client(&stub.url());
    let resp = c
        .describe_network_interfaces(&tencent_api::vpc::DescribeNetworkInterfacesRequest::by_ids(
            ["eni-1"],
        ))
        .unwrap();
    assert_eq!(resp.total_count, 1);
    assert_eq!(resp.network_interface_set[0].network_interface_id, "eni-1");
    assert_eq!(
        stub.requests()[0].body,
        br#"{"NetworkInterfaceIds":["eni-1"]}"#
    );
}

#[test]
fn error_envelope_becomes_api_error_with_code_message_and_request_id() {
    let stub = Stub::start(|_| {
        Reply::json(
            r#"{"Response":{"Error":{"Code":"UnauthorizedOperation.PrimaryIp","Message":"primary ip"},"RequestId":"req-err-1"}}"#,
        )
    });
    let e = client(&stub.url())
        .call_json("MigratePrivateIpAddress", &json!({}))
        .unwrap_err();
    let api = e.api().expect("an API error");
    assert_eq!(api.code, "UnauthorizedOperation.PrimaryIp");
    assert_eq!(api.message, "primary ip");
    assert_eq!(api.request_id, "req-err-1");
    assert_eq!(api.action, "MigratePrivateIpAddress");
    let text = e.to_string();
    for part in ["UnauthorizedOperation.PrimaryIp", "primary ip", "req-err-1"] {
        assert!(text.contains(part), "{text}");
    }
    assert_eq!(e.retry_class(), RetryClass::Fatal);
    assert!(!e.is_auth());
}

#[test]
fn http_500_is_an_http_error_with_an_excerpt() {
    let stub = Stub::start(|_| Reply::text(500, "upstream exploded"));
    let e = client(&stub.url())
        .call_json("DescribeVpcTaskResult", &json!({}))
        .unwrap_err();
    match &e {
        Error::Http {
            status,
            body_excerpt,
            ..
        } => {
            assert_eq!(*status, 500);
            assert!(body_excerpt.contains("upstream exploded"));
        }
        other => panic!("expected Http, got {other:?}"),
    }
    assert_eq!(e.retry_class(), RetryClass::Backoff);
}

#[test]
fn garbage_and_misshapen_bodies_are_decode_errors() {
    for body in [
        "<html>captive portal</html>",
        r#"{"NoResponse":{}}"#,
        r#"{"Response":[1]}"#,
    ] {
        let stub = Stub::start(move |_| Reply::json(body));
        let e = client(&stub.url())
            .call_json("DescribeVpcTaskResult", &json!({}))
            .unwrap_err();
        assert!(matches!(e, Error::Decode { .. }), "{body}: {e:?}");
    }
    let stub = Stub::start(|_| Reply::json(r#"{"Response":{"TotalCount":"many"}}"#));
    let e = client(&stub.url())
        .describe_ha_vips(&tencent_api::vpc::DescribeHaVipsRequest::default())
        .unwrap_err();
    assert!(matches!(e, Error::Decode { .. }), "{e:?}");
}

#[test]
fn truncated_body_is_a_transport_error() {
    let stub = Stub::start(|_| {
        Reply::Raw(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"Response\":{"
                .to_vec(),
        )
    });
    let e = client(&stub.url())
        .call_json("DescribeVpcTaskResult", &json!({}))
        .unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e:?}");
    assert_eq!(e.retry_class(), RetryClass::Backoff);
}

#[test]
fn oversized_bodies_are_refused_with_or_without_content_length() {
    let mut cfg = config("http://127.0.0.1:1/");
    cfg.max_body_bytes = 1024;
    let big = format!(r#"{{"Response":{{"Pad":"{}"}}}}"#, "x".repeat(4096));
    let declared = {
        let big = big.clone();
        Stub::start(move |_| Reply::json(big.clone()))
    };
    let undeclared = Stub::start(move |_| {
        let mut raw =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
                .to_vec();
        raw.extend_from_slice(big.as_bytes());
        Reply::Raw(raw)
    });
    for stub in [&declared, &undeclared] {
        let mut cfg = cfg.clone();
        cfg.endpoint = stub.url().parse().unwrap();
        let c = Client::new(
            cfg,
            Arc::new(StaticCredentials::new(Credentials::new("A", "k"))),
        )
        .unwrap();
        let e = c
            .call_json("DescribeVpcTaskResult", &json!({}))
            .unwrap_err();
        assert!(
            matches!(e, Error::BodyTooLarge { limit: 1024, .. }),
            "{e:?}"
        );
    }
}

#[test]
fn slow_server_hits_the_timeout_promptly() {
    let silent = Stub::start(|_| Reply::Hang);
    let stalled_body = Stub::start(|_| {
        Reply::RawThenHang(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
                .to_vec(),
        )
    });
    for stub in [&silent, &stalled_body] {
        let cfg = config(&stub.url())
            .with_timeouts(Duration::from_millis(500), Duration::from_millis(700));
        let c = Client::new(
            cfg,
            Arc::new(StaticCredentials::new(Credentials::new("A", "k"))),
        )
        .unwrap();
        let started = Instant::now();
        let e = c
            .call_json("DescribeVpcTaskResult", &json!({}))
            .unwrap_err();
        let took = started.elapsed();
        assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
        assert!(took >= Duration::from_millis(600), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert_eq!(e.retry_class(), RetryClass::Backoff);
    }
}

#[test]
fn a_trickling_body_still_ends_at_the_timeout() {
    // Headers at once, then one body byte every 200 ms: each read is quick, the whole is not.
    let body = br#"{"Response":{"Status":"SUCCESS","RequestId":"r-1","Padding":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}"#.to_vec();
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    let stub = Stub::start(move |_| {
        Reply::Trickle(head.clone(), body.clone(), Duration::from_millis(200))
    });
    let cfg =
        config(&stub.url()).with_timeouts(Duration::from_millis(500), Duration::from_millis(1000));
    let c = Client::new(
        cfg,
        Arc::new(StaticCredentials::new(Credentials::new("A", "k"))),
    )
    .unwrap();
    let started = Instant::now();
    let e = c
        .call_json("DescribeVpcTaskResult", &json!({}))
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(
        took < Duration::from_millis(2500),
        "the body trickled past the timeout: {took:?}"
    );
}

#[test]
fn a_large_error_page_is_an_http_error_not_a_body_too_large() {
    // A proxy's 502 page bigger than the body cap: the status is what counts (retryable).
    let page = vec![b'x'; 64 * 1024];
    let stub = Stub::start(move |_| Reply::Full(502, "text/html", page.clone()));
    let mut cfg = config(&stub.url());
    cfg.max_body_bytes = 1024;
    let c = Client::new(
        cfg,
        Arc::new(StaticCredentials::new(Credentials::new("A", "k"))),
    )
    .unwrap();
    let e = c
        .call_json("DescribeVpcTaskResult", &json!({}))
        .unwrap_err();
    assert!(matches!(e, Error::Http { status: 502, .. }), "{e:?}");
    assert_eq!(e.retry_class(), RetryClass::Backoff);
}

#[test]
fn refused_connection_is_a_connect_error() {
    let port = refused_port();
    let e = client(&format!("http://127.0.0.1:{port}"))
        .call_json("DescribeVpcTaskResult", &json!({}))
        .unwrap_err();
    assert!(matches!(e, Error::Connect { .. }), "{e:?}");
    assert_eq!(e.kind(), "connect");
    assert_eq!(e.retry_class(), RetryClass::Backoff);
}

#[derive(Debug)]
struct Failing;

impl CredentialProvider for Failing {
    fn credentials(&self) -> Result<Credentials, CredentialError> {
        Err(CredentialError::EnvMissing {
            var: "TENCENTCLOUD_SECRET_ID",
        })
    }
    fn describe(&self) -> String {
        "failing".into()
    }
}

#[test]
fn credential_errors_and_invalid_requests_send_nothing() {
    let stub = Stub::start(|_| Reply::json(OK));
    let c = Client::new(config(&stub.url()), Arc::new(Failing)).unwrap();
    let e = c
        .call_json("DescribeVpcTaskResult", &json!({}))
        .unwrap_err();
    assert!(matches!(e, Error::Credentials(_)) && e.is_auth(), "{e:?}");
    assert_eq!(e.retry_class(), RetryClass::Fatal);

    let c = client(&stub.url());
    let both = tencent_api::vpc::DescribeNetworkInterfacesRequest {
        network_interface_ids: vec!["eni-1".into()],
        filters: vec![tencent_api::vpc::Filter::one("vpc-id", "vpc-1")],
        ..Default::default()
    };
    let e = c.describe_network_interfaces(&both).unwrap_err();
    assert!(matches!(e, Error::InvalidRequest { .. }), "{e:?}");
    let e = c.call_json("Bad Action", &json!({})).unwrap_err();
    assert!(matches!(e, Error::InvalidRequest { .. }), "{e:?}");
    let bad_token = Credentials::new("AKID", KEY).with_token("line1\nX-Injected: 1");
    let e = client_with(&stub.url(), bad_token)
        .call_json("DescribeVpcTaskResult", &json!({}))
        .unwrap_err();
    assert!(matches!(e, Error::Credentials(_)), "{e:?}");
    assert!(!e.to_string().contains("Injected"), "{e}");
    assert_eq!(stub.count(), 0);
}

/// Counts credential fetches and invalidations.
#[derive(Debug, Default)]
struct Counting {
    fetched: AtomicUsize,
    invalidated: AtomicUsize,
}

impl CredentialProvider for Counting {
    fn credentials(&self) -> Result<Credentials, CredentialError> {
        let n = self.fetched.fetch_add(1, Ordering::SeqCst);
        Ok(Credentials::new(format!("AKID{n}"), KEY).with_token(format!("tok{n}")))
    }
    fn invalidate(&self) {
        self.invalidated.fetch_add(1, Ordering::SeqCst);
    }
    fn describe(&self) -> String {
        "counting".into()
    }
}

#[test]
fn refresh_once_helper_invalidates_and_repeats_only_for_token_failures() {
    let calls = Arc::new(AtomicUsize::new(0));
    let stub = {
        let calls = calls.clone();
        Stub::start(move |_| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Reply::json(
                    r#"{"Response":{"Error":{"Code":"AuthFailure.TokenFailure","Message":"expired"},"RequestId":"r1"}}"#,
                )
            } else {
                Reply::json(r#"{"Response":{"RequestId":"r2"}}"#)
            }
        })
    };
    let provider = Arc::new(Counting::default());
    let c = Client::new(config(&stub.url()), provider.clone()).unwrap();
    let resp = c
        .call_json_refresh_once("DescribeVpcTaskResult", &json!({}))
        .unwrap();
    assert_eq!(resp["RequestId"], "r2");
    assert_eq!(provider.invalidated.load(Ordering::SeqCst), 1);
    let reqs = stub.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].header("x-tc-token"), Some("tok1"));

    // Plain call_json never repeats on its own.
    let stub = Stub::start(|_| {
        Reply::json(
            r#"{"Response":{"Error":{"Code":"AuthFailure.SignatureExpire","Message":"skew"},"RequestId":"r"}}"#,
        )
    });
    let c = Client::new(config(&stub.url()), provider.clone()).unwrap();
    let e = c
        .call_json("DescribeVpcTaskResult", &json!({}))
        .unwrap_err();
    assert_eq!(e.retry_class(), RetryClass::RefreshCredentials);
    assert_eq!(stub.count(), 1);
    // The helper repeats once, not more.
    let e = c
        .call_json_refresh_once("DescribeVpcTaskResult", &json!({}))
        .unwrap_err();
    assert_eq!(e.code(), Some("AuthFailure.SignatureExpire"));
    assert_eq!(stub.count(), 3);

    // A fatal code is not repeated by the helper.
    let stub = Stub::start(|_| {
        Reply::json(
            r#"{"Response":{"Error":{"Code":"AuthFailure.SecretIdNotFound","Message":"no"},"RequestId":"r"}}"#,
        )
    });
    let c = Client::new(config(&stub.url()), provider).unwrap();
    let e = c
        .call_json_refresh_once("DescribeVpcTaskResult", &json!({}))
        .unwrap_err();
    assert!(e.is_auth());
    assert_eq!(stub.count(), 1);
}

#[test]
fn constructing_an_unused_client_is_cheap() {
    let started = Instant::now();
    for _ in 0..1000 {
        let c = Client::new(
            ClientConfig::vpc("ap-guangzhou"),
            Arc::new(StaticCredentials::new(Credentials::new("A", "k"))),
        )
        .unwrap();
        assert_eq!(c.host_header(), "vpc.tencentcloudapi.com");
    }
    // Building an HTTP client (TLS config, runtime thread) a thousand times would take seconds.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn the_observer_hears_each_call_with_its_action_code_and_duration() {
    use std::sync::Mutex;
    use tencent_api::observe::Observer;
    let heard: Arc<Mutex<Vec<(String, String, Duration)>>> = Arc::default();
    let sink = heard.clone();
    let observer = Observer(Arc::new(move |action, outcome, took| {
        sink.lock()
            .unwrap()
            .push((action.to_owned(), outcome.code().to_owned(), took));
    }));
    let n = Arc::new(AtomicUsize::new(0));
    let seen = n.clone();
    let stub = Stub::start(move |_| match seen.fetch_add(1, Ordering::SeqCst) {
        0 => Reply::json(OK),
        1 => Reply::json(
            r#"{"Response":{"Error":{"Code":"RequestLimitExceeded","Message":"slow down"},"RequestId":"req-e"}}"#,
        ),
        _ => Reply::text(503, "busy"),
    });
    let c = client(&stub.url()).with_observer(observer);
    let started = Instant::now();
    for _ in 0..3 {
        let _ = c.call_json("DescribeNetworkInterfaces", &json!({}));
    }
    let elapsed = started.elapsed();
    let calls = heard.lock().unwrap().clone();
    let codes: Vec<(&str, &str)> = calls
        .iter()
        .map(|(a, c, _)| (a.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        codes,
        [
            ("DescribeNetworkInterfaces", "ok"),
            ("DescribeNetworkInterfaces", "RequestLimitExceeded"),
            ("DescribeNetworkInterfaces", "http"),
        ]
    );
    let total: Duration = calls.iter().map(|h| h.2).sum();
    assert!(
        total > Duration::ZERO && total <= elapsed,
        "{total:?} {elapsed:?}"
    );
    // A client without one is not heard.
    let _ = client(&stub.url()).call_json("DescribeNetworkInterfaces", &json!({}));
    assert_eq!(heard.lock().unwrap().len(), 3);
}
