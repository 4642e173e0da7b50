use std::time::Duration;

use fake_vpc::Options;
use serde_json::{Value, json};

use crate::util::*;

#[test]
fn accepts_sdk_style_and_doc_style_signatures() {
    let h = start_default();
    let r = api(&h, "DescribeNetworkInterfaces", json!({}));
    assert_ok(&r);
    assert_eq!(r["TotalCount"], 2);
    let mut c = Call::new("DescribeNetworkInterfaces", json!({}));
    c.sign_action = true;
    c.content_type = "application/json; charset=utf-8".into();
    assert_ok(&c.send(h.addr()));
    let calls = h.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].secret_id.as_deref(), Some(DEMO_ID));
    assert_eq!(calls[0].outcome, "OK");
}

fn send(h: &fake_vpc::FakeVpcHandle, c: &Call) -> Value {
    c.send(h.addr())
}

#[test]
fn skew_beyond_300_s_is_signature_expire() {
    let h = start_default();
    let mut c = Call::new("DescribeNetworkInterfaces", json!({}));
    c.timestamp = now() - 400;
    assert_code(&send(&h, &c), "AuthFailure.SignatureExpire");
    c.timestamp = now() + 400;
    assert_code(&send(&h, &c), "AuthFailure.SignatureExpire");
    c.timestamp = now() - 200;
    assert_ok(&send(&h, &c));
    for extreme in [i64::MIN, i64::MAX, 0] {
        c.timestamp = extreme;
        assert_code(&send(&h, &c), "AuthFailure.SignatureExpire");
    }
}

#[test]
fn unknown_secret_id_is_secret_id_not_found() {
    let h = start_default();
    let mut c = Call::new("DescribeNetworkInterfaces", json!({}));
    c.secret_id = "AKIDUNKNOWN0000000000000000000000000".into();
    let r = send(&h, &c);
    assert_code(&r, "AuthFailure.SecretIdNotFound");
    // The claimed SecretId is recorded with the outcome.
    let rec = &h.calls()[0];
    assert_eq!(
        rec.secret_id.as_deref(),
        Some("AKIDUNKNOWN0000000000000000000000000")
    );
    assert_eq!(rec.outcome, "AuthFailure.SecretIdNotFound");
}

#[test]
fn wrong_key_or_tampered_body_is_signature_failure() {
    let h = start_default();
    let mut c = Call::new("DescribeNetworkInterfaces", json!({}));
    c.secret_key = "wrongwrongwrongwrongwrongwrong00".into();
    assert_code(&send(&h, &c), "AuthFailure.SignatureFailure");
    let mut c = Call::new("DescribeNetworkInterfaces", json!({}));
    c.tamper = true;
    assert_code(&send(&h, &c), "AuthFailure.SignatureFailure");
}

#[test]
fn signed_headers_must_include_content_type_and_host() {
    let h = start_default();
    let c = Call::new("DescribeNetworkInterfaces", json!({}));
    let bytes = String::from_utf8(c.bytes(h.addr())).unwrap();
    let bent = bytes.replace("SignedHeaders=content-type;host", "SignedHeaders=host");
    let raw = send_raw(h.addr(), bent.as_bytes()).unwrap();
    assert_code(&raw.json()["Response"], "AuthFailure.InvalidAuthorization");
    let garbage = bytes.replace("TC3-HMAC-SHA256 Credential", "TC3-HMAC-SHA1 Credential");
    let raw = send_raw(h.addr(), garbage.as_bytes()).unwrap();
    assert_code(&raw.json()["Response"], "AuthFailure.InvalidAuthorization");
}

#[test]
fn wrong_version_unknown_action_and_region() {
    let h = start_default();
    let mut c = Call::new("DescribeNetworkInterfaces", json!({}));
    c.version = Some("2020-01-01".into());
    assert_code(&send(&h, &c), "NoSuchVersion");
    c.version = None;
    assert_code(&send(&h, &c), "MissingParameter");
    let c = Call::new("DescribeInstances", json!({}));
    assert_code(&send(&h, &c), "InvalidAction");
    let mut c = Call::new("DescribeNetworkInterfaces", json!({}));
    c.region = None;
    assert_code(&send(&h, &c), "MissingParameter");
    c.region = Some("ap-shanghai".into());
    assert_code(&send(&h, &c), "UnsupportedRegion");
}

#[test]
fn errors_are_http_200_envelopes_with_request_id() {
    let h = start_default();
    let c = Call::new("Nope", json!({}));
    let raw = send_raw(h.addr(), &c.bytes(h.addr())).unwrap();
    assert_eq!(raw.status, 200);
    assert!(raw.head.contains("Content-Type: application/json"));
    let v = raw.json();
    assert!(v["Response"]["Error"]["Code"].is_string());
    assert!(v["Response"]["Error"]["Message"].is_string());
    assert_eq!(v["Response"]["RequestId"].as_str().unwrap().len(), 36);
}

fn role_credentials(h: &fake_vpc::FakeVpcHandle) -> Value {
    let path = "/ins-node0001/latest/meta-data/cam/security-credentials/tcvip-demo-role";
    let raw = get(h.addr(), path).unwrap();
    assert_eq!(raw.status, 200, "{}", raw.text());
    raw.json()
}

fn with_temp(c: &Value, action: &str) -> Call {
    let mut call = Call::new(action, json!({}));
    call.secret_id = c["TmpSecretId"].as_str().unwrap().into();
    call.secret_key = c["TmpSecretKey"].as_str().unwrap().into();
    call.token = Some(c["Token"].as_str().unwrap().into());
    call
}

#[test]
fn role_credentials_work_with_their_token_only() {
    let h = start_default();
    let c = role_credentials(&h);
    assert_eq!(c["Code"], "Success");
    assert!(c["ExpiredTime"].as_i64().unwrap() > now() + 3000);
    assert!(c["Expiration"].as_str().unwrap().ends_with('Z'));
    let call = with_temp(&c, "DescribeNetworkInterfaces");
    assert_ok(&send(&h, &call));
    let mut missing = call.clone();
    missing.token = None;
    assert_code(&send(&h, &missing), "AuthFailure.TokenFailure");
    let mut wrong = call.clone();
    wrong.token = Some("not-the-token".into());
    assert_code(&send(&h, &wrong), "AuthFailure.TokenFailure");
    // Asking again before rotation gives the same credentials.
    assert_eq!(role_credentials(&h)["TmpSecretId"], c["TmpSecretId"]);
}

#[test]
fn role_credentials_expire_into_token_failure_and_rotate() {
    let h = start(Options {
        credential_lifetime: Duration::from_secs(2),
        ..Options::default()
    });
    let c = role_credentials(&h);
    let call = with_temp(&c, "DescribeNetworkInterfaces");
    assert_ok(&send(&h, &call));
    let expired_at = c["ExpiredTime"].as_i64().unwrap();
    assert!(expired_at <= now() + 2);
    // Wait past the expiry (wall-clock by nature), then the same credentials are refused.
    assert!(eventually(
        || code(&send(&h, &call)).as_deref() == Some("AuthFailure.TokenFailure")
    ));
    let fresh = role_credentials(&h);
    assert_ne!(fresh["TmpSecretId"], c["TmpSecretId"]);
    assert_ok(&send(&h, &with_temp(&fresh, "DescribeNetworkInterfaces")));
    // Expiring on demand works as well.
    h.with_world(|w| w.expire_temp_credentials());
    assert_code(
        &send(&h, &with_temp(&fresh, "DescribeNetworkInterfaces")),
        "AuthFailure.TokenFailure",
    );
}

#[test]
fn parameters_are_checked_per_action() {
    let h = start_default();
    let r = api(&h, "DescribeNetworkInterfaces", json!({"Bogus": 1}));
    assert_code(&r, "UnknownParameter");
    let r = api(
        &h,
        "MigratePrivateIpAddress",
        json!({"SourceNetworkInterfaceId": "eni-node0001", "PrivateIpAddress": "198.18.1.100"}),
    );
    assert_code(&r, "MissingParameter");
    assert!(
        r["Error"]["Message"]
            .as_str()
            .unwrap()
            .contains("DestinationNetworkInterfaceId")
    );
    let r = api(&h, "DescribeNetworkInterfaces", json!({"Limit": "20"}));
    assert_code(&r, "InvalidParameterValue");
    let r = migrate(&h, "eni-node0001", "eni-node0002", "198.18.1.300");
    assert_code(&r, "InvalidParameterValue.Malformed");
    let r = migrate(&h, "eni-node0001", "node0002", "198.18.1.100");
    assert_code(&r, "InvalidParameterValue.Malformed");
    let r = api(&h, "DescribeVpcTaskResult", json!({"TaskId": 5}));
    assert_code(&r, "InvalidParameterValue");
    let mut c = Call::new("DescribeNetworkInterfaces", json!({}));
    c.body = b"{not json".to_vec();
    assert_code(&c.send(h.addr()), "InvalidParameter");
}
