//! The `call` example's logic: output and exit codes.

use std::sync::Arc;

use tencent_api::credentials::{CredentialProvider, Credentials, DefaultChain, StaticCredentials};
use tencent_api::raw_call::{
    EXIT_API_ERROR, EXIT_CREDENTIALS, EXIT_OK, EXIT_TRANSPORT, EXIT_USAGE, RawCall, run,
};

use crate::stub::{Reply, Stub, refused_port};

fn creds() -> Arc<dyn CredentialProvider> {
    Arc::new(StaticCredentials::new(Credentials::new("AKID", "k")))
}

fn call(endpoint: &str, json: Option<&str>) -> RawCall {
    RawCall {
        action: "DescribeVpcTaskResult".into(),
        region: "ap-guangzhou".into(),
        endpoint: Some(endpoint.into()),
        version: None,
        service: None,
        json: json.map(Into::into),
        timeout: None,
    }
}

#[test]
fn success_prints_the_response_on_stdout() {
    let stub =
        Stub::start(|_| Reply::json(r#"{"Response":{"Status":"SUCCESS","RequestId":"r1"}}"#));
    let out = run(&call(&stub.url(), Some(r#"{"TaskId":"t"}"#)), creds());
    assert_eq!(out.exit_code, EXIT_OK, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["Status"], "SUCCESS");
    assert!(out.stderr.is_empty());
    let sent = &stub.requests()[0];
    assert_eq!(sent.body, br#"{"TaskId":"t"}"#);
    assert_eq!(sent.header("x-tc-action"), Some("DescribeVpcTaskResult"));
}

#[test]
fn api_error_prints_code_message_and_request_id() {
    let stub = Stub::start(|_| {
        Reply::json(
            r#"{"Response":{"Error":{"Code":"ResourceNotFound","Message":"no such task"},"RequestId":"req-9"}}"#,
        )
    });
    let out = run(&call(&stub.url(), None), creds());
    assert_eq!(out.exit_code, EXIT_API_ERROR);
    assert!(out.stdout.is_empty());
    for part in ["ResourceNotFound", "no such task", "req-9"] {
        assert!(out.stderr.contains(part), "{}", out.stderr);
    }
}

#[test]
fn transport_usage_and_credential_failures_have_their_own_codes() {
    let out = run(
        &call(&format!("http://127.0.0.1:{}", refused_port()), None),
        creds(),
    );
    assert_eq!(out.exit_code, EXIT_TRANSPORT);
    assert!(out.stderr.contains("connect"), "{}", out.stderr);

    let out = run(&call("http://127.0.0.1:1", Some("{not json")), creds());
    assert_eq!(out.exit_code, EXIT_USAGE);
    let out = run(&call("ftp://x/", None), creds());
    assert_eq!(out.exit_code, EXIT_USAGE);

    let stub = Stub::start(|_| Reply::json("{}"));
    let out = run(
        &call(&stub.url(), None),
        Arc::new(DefaultChain::new(vec![])),
    );
    assert_eq!(out.exit_code, EXIT_CREDENTIALS, "{}", out.stderr);
    assert_eq!(stub.count(), 0);
}
