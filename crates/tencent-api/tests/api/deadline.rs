//! Per-call deadlines: a call, a metadata read and a credential fetch end by the deadline the
//! caller gives, however long their own timeouts are.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tencent_api::credentials::{
    CredentialError, Credentials, CvmRoleCredentials, StaticCredentials,
};
use tencent_api::metadata::{MetadataClient, MetadataError};
use tencent_api::{Client, ClientConfig, Error};

use crate::stub::{Reply, Stub};

/// Timeouts far longer than any deadline below.
fn client(endpoint: &str) -> Client {
    let cfg = ClientConfig::vpc("ap-guangzhou")
        .with_endpoint(endpoint)
        .with_timeouts(Duration::from_secs(5), Duration::from_secs(10));
    Client::new(
        cfg,
        Arc::new(StaticCredentials::new(Credentials::new("A", "k"))),
    )
    .unwrap()
}

#[test]
fn a_call_bound_to_a_deadline_ends_there_not_at_its_timeout() {
    let stub = Stub::start(|_| Reply::Hang);
    let c = client(&stub.url());
    let started = Instant::now();
    let bound = c.until(started + Duration::from_millis(300));
    assert_eq!(bound.deadline(), Some(started + Duration::from_millis(300)));
    let e = bound
        .call_json("DescribeVpcTaskResult", &json!({}))
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(e, Error::DeadlineReached { .. }), "{e:?}");
    assert!(e.to_string().contains("before the deadline"), "{e}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    // The unbound client keeps no deadline.
    assert_eq!(c.deadline(), None);
}

#[test]
fn a_call_with_no_time_left_is_not_sent() {
    let stub = Stub::start(|_| Reply::json(r#"{"Response":{"RequestId":"r"}}"#));
    let c = client(&stub.url()).until(Instant::now());
    let e = c
        .call_json("DescribeVpcTaskResult", &json!({}))
        .unwrap_err();
    assert!(
        matches!(e, Error::DeadlineReached { after, .. } if after.is_zero()),
        "{e:?}"
    );
    assert_eq!(stub.count(), 0);
}

#[test]
fn a_bound_call_that_is_answered_in_time_succeeds() {
    let stub = Stub::start(|_| Reply::json(r#"{"Response":{"RequestId":"r"}}"#));
    let c = client(&stub.url()).until(Instant::now() + Duration::from_secs(30));
    let v = c.call_json("DescribeVpcTaskResult", &json!({})).unwrap();
    assert_eq!(v["RequestId"], "r");
}

#[test]
fn a_metadata_read_bound_to_a_deadline_ends_there() {
    let stub = Stub::start(|_| Reply::Hang);
    let m = MetadataClient::new(stub.url(), Duration::from_secs(10));
    let started = Instant::now();
    let e = m
        .until(started + Duration::from_millis(300))
        .get("instance-id")
        .unwrap_err();
    assert!(
        matches!(e, MetadataError::DeadlineReached { .. }) && e.is_deadline(),
        "{e:?}"
    );
    assert!(e.to_string().contains("instance-id"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let e = m.until(Instant::now()).get("instance-id").unwrap_err();
    assert!(e.to_string().contains("not read"), "{e}");
    assert_eq!(stub.count(), 1, "a read with no time left was sent");
}

#[test]
fn cvm_role_credentials_are_fetched_within_the_calls_deadline() {
    let metadata = Stub::start(|_| Reply::Hang);
    let api = Stub::start(|_| Reply::json(r#"{"Response":{"RequestId":"r"}}"#));
    let role =
        CvmRoleCredentials::new(MetadataClient::new(metadata.url(), Duration::from_secs(10)));
    let cfg = ClientConfig::vpc("ap-guangzhou")
        .with_endpoint(api.url())
        .with_timeouts(Duration::from_secs(5), Duration::from_secs(10));
    let c = Client::new(cfg, Arc::new(role)).unwrap();
    let started = Instant::now();
    let e = c
        .until(started + Duration::from_millis(300))
        .call_json("DescribeVpcTaskResult", &json!({}))
        .unwrap_err();
    assert!(
        matches!(&e, Error::Credentials(c @ CredentialError::RoleName(_)) if c.is_deadline()),
        "{e:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(api.count(), 0);
}
