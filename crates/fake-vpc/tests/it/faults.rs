use std::time::{Duration, Instant};

use fake_vpc::{Fault, FaultSpec};
use serde_json::json;

use crate::util::*;

fn describe_raw(h: &fake_vpc::FakeVpcHandle) -> std::io::Result<Raw> {
    let c = Call::new("DescribeNetworkInterfaces", json!({}));
    send_raw(h.addr(), &c.bytes(h.addr()))
}

#[test]
fn error_code_for_n_calls_of_one_action_then_normal() {
    let h = start_default();
    h.inject(FaultSpec {
        action: Some("MigratePrivateIpAddress".into()),
        count: 2,
        fault: Fault::ApiError("RequestLimitExceeded".into(), "slow down".into()),
    });
    // Other actions are not affected.
    assert_ok(&api(&h, "DescribeNetworkInterfaces", json!({})));
    let r = migrate(&h, "eni-node0001", "eni-node0002", "198.18.1.100");
    assert_code(&r, "RequestLimitExceeded");
    assert_eq!(r["Error"]["Message"], "slow down");
    assert_code(
        &migrate(&h, "eni-node0001", "eni-node0002", "198.18.1.100"),
        "RequestLimitExceeded",
    );
    assert_ok(&migrate(&h, "eni-node0001", "eni-node0002", "198.18.1.100"));
    let outcomes: Vec<String> = h
        .calls_of("MigratePrivateIpAddress")
        .into_iter()
        .map(|c| c.outcome)
        .collect();
    assert_eq!(
        outcomes,
        ["RequestLimitExceeded", "RequestLimitExceeded", "OK"]
    );
}

#[test]
fn http_500_garbage_and_drop() {
    let h = start_default();
    for fault in [Fault::Http500, Fault::Garbage, Fault::Drop] {
        h.inject(FaultSpec {
            action: None,
            count: 1,
            fault,
        });
    }
    let r = describe_raw(&h).unwrap();
    assert_eq!(r.status, 500);
    let r = describe_raw(&h).unwrap();
    assert_eq!(r.status, 200);
    assert!(
        serde_json::from_slice::<serde_json::Value>(&r.body).is_err(),
        "garbage must not parse"
    );
    assert!(describe_raw(&h).is_err(), "dropped without an answer");
    assert_eq!(describe_raw(&h).unwrap().status, 200);
    let outcomes: Vec<String> = h.calls().into_iter().map(|c| c.outcome).collect();
    assert_eq!(outcomes, ["HTTP500", "GARBAGE", "DROP", "OK"]);
}

#[test]
fn delay_then_normal_answer() {
    let h = start_default();
    h.inject(FaultSpec {
        action: None,
        count: 1,
        fault: Fault::Delay(Duration::from_millis(300)),
    });
    let t = Instant::now();
    assert_ok(&api(&h, "DescribeNetworkInterfaces", json!({})));
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert!(h.calls()[0].latency >= Duration::from_millis(300));
    h.clear_faults();
}

#[test]
fn drop_of_the_handle_stops_the_server_promptly() {
    let h = start_default();
    h.inject(FaultSpec {
        action: None,
        count: 1,
        fault: Fault::Delay(Duration::from_secs(60)),
    });
    let addr = h.addr();
    let waiter = std::thread::spawn(move || describe_raw_at(addr));
    // Give the request time to reach its delay; whether or not it has, the drop must be prompt
    // and the client must not hang.
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    drop(h);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "drop took {:?}",
        t.elapsed()
    );
    // The delayed request ends (answered or closed) instead of hanging for a minute.
    let _ = waiter.join().unwrap();
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}

fn describe_raw_at(addr: std::net::SocketAddr) -> std::io::Result<Raw> {
    let c = Call::new("DescribeNetworkInterfaces", json!({}));
    send_raw(addr, &c.bytes(addr))
}

#[test]
fn bad_http_is_answered_not_panicked_on() {
    let h = start_default();
    let r = send_raw(h.addr(), b"NOT HTTP AT ALL\r\n\r\n").unwrap();
    assert_eq!(r.status, 400);
    let r = send_raw(
        h.addr(),
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 413);
    let r = send_raw(
        h.addr(),
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 411);
    let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
    assert_eq!(send_raw(h.addr(), big.as_bytes()).unwrap().status, 431);
    // Still serving.
    assert_ok(&api(&h, "DescribeNetworkInterfaces", json!({})));
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    use std::io::{Read, Write};
    let h = start_default();
    let mut s = std::net::TcpStream::connect(h.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for _ in 0..3 {
        let c = Call::new("DescribeNetworkInterfaces", json!({}));
        let bytes = String::from_utf8(c.bytes(h.addr()))
            .unwrap()
            .replace("Connection: close\r\n", "");
        s.write_all(bytes.as_bytes()).unwrap();
        // Read one response: head, then Content-Length bytes.
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).unwrap();
            buf.push(byte[0]);
        }
        let head = String::from_utf8(buf).unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).unwrap();
        assert!(head.contains("Connection: keep-alive"));
    }
    assert_eq!(h.calls().len(), 3);
}

#[test]
fn rate_limit_per_account_and_action() {
    let h = start_default();
    // AssociateAddress allows 10/s; the 11th and later within the second are refused.
    let codes: Vec<String> = (0..30)
        .map(|_| {
            code(&api(
                &h,
                "AssociateAddress",
                json!({"AddressId": "eip-nope0001", "InstanceId": "ins-node0001"}),
            ))
            .unwrap()
        })
        .collect();
    assert_eq!(codes[0], "InvalidAddressId.NotFound");
    assert!(
        codes[..10].iter().all(|c| c != "RequestLimitExceeded"),
        "{codes:?}"
    );
    assert!(
        codes.iter().any(|c| c == "RequestLimitExceeded"),
        "{codes:?}"
    );
    // Another action is counted apart.
    assert_ok(&api(&h, "DescribeNetworkInterfaces", json!({})));
    // Role credentials belong to the same account: they draw on the same allowance.
    let creds = get(
        h.addr(),
        "/ins-node0002/latest/meta-data/cam/security-credentials/tcvip-demo-role",
    )
    .unwrap()
    .json();
    let mut c = Call::new(
        "AssociateAddress",
        json!({"AddressId": "eip-nope0001", "InstanceId": "ins-node0001"}),
    );
    c.secret_id = creds["TmpSecretId"].as_str().unwrap().into();
    c.secret_key = creds["TmpSecretKey"].as_str().unwrap().into();
    c.token = Some(creds["Token"].as_str().unwrap().into());
    assert_code(&c.send(h.addr()), "RequestLimitExceeded");
}

#[test]
fn serves_concurrent_clients() {
    let h = start_default();
    let addr = h.addr();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let r = Call::new("DescribeNetworkInterfaces", json!({})).send(addr);
                    assert_eq!(r["TotalCount"], 2, "{r}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(h.calls().len(), 80);
    assert!(h.calls().iter().all(|c| c.is_ok()));
}

#[test]
fn absurd_lag_and_delay_are_clamped_not_panicked_on() {
    let h = start_default();
    h.set_lag(Duration::MAX);
    assert_eq!(h.world().lag(), fake_vpc::world::MAX_LAG);
    assert_ok(&migrate(&h, "eni-node0001", "eni-node0002", "198.18.1.100"));
    assert_eq!(h.holder_of(VIP).as_deref(), Some("eni-node0001"));
    h.inject(FaultSpec {
        action: Some("DescribeHaVips".into()),
        count: 1,
        fault: Fault::Delay(Duration::MAX),
    });
    let addr = h.addr();
    let t = std::thread::spawn(move || {
        let c = Call::new("DescribeHaVips", json!({}));
        send_raw(addr, &c.bytes(addr))
    });
    std::thread::sleep(Duration::from_millis(100));
    drop(h);
    assert!(
        t.join().unwrap().is_err(),
        "closed unanswered when the simulator stops"
    );
}

#[test]
fn deny_refuses_chosen_actions_with_cam_codes_until_clear_faults() {
    let h = start_default();
    let r = post(
        h.addr(),
        "/_control/deny",
        r#"{"actions": ["MigratePrivateIpAddress"]}"#,
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let r = post(
        h.addr(),
        "/_control/deny",
        r#"{"actions": ["DescribeAddresses"], "code": "UnauthorizedOperation"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 200);
    // Refused before the parameters are looked at: a request that could not succeed anyway
    // is refused the same way.
    let r = migrate(&h, "eni-node0001", "eni-node0002", "198.18.1.100");
    assert_code(&r, "AuthFailure.UnauthorizedOperation");
    assert!(
        r["Error"]["Message"]
            .as_str()
            .unwrap()
            .contains("(vpc:MigratePrivateIpAddress)"),
        "{r}"
    );
    assert_code(
        &migrate(&h, "eni-node0001", "eni-node0001", "198.18.1.11"),
        "AuthFailure.UnauthorizedOperation",
    );
    assert_code(
        &api(&h, "DescribeAddresses", json!({})),
        "UnauthorizedOperation",
    );
    // Nothing moved; other actions are allowed.
    assert_eq!(
        h.holder_of("198.18.1.100".parse().unwrap()).as_deref(),
        Some("eni-node0001")
    );
    assert_ok(&api(&h, "DescribeNetworkInterfaces", json!({})));
    let state: serde_json::Value =
        serde_json::from_slice(&get(h.addr(), "/_control/state").unwrap().body).unwrap();
    assert_eq!(
        state["denied"],
        json!(["DescribeAddresses", "MigratePrivateIpAddress"])
    );
    // Bad requests name the problem.
    let r = post(h.addr(), "/_control/deny", r#"{"actions": ["Nope"]}"#).unwrap();
    assert_eq!(r.status, 400);
    let r = post(
        h.addr(),
        "/_control/deny",
        r#"{"actions": ["DescribeAddresses"], "code": "InvalidParameter"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 400);

    assert_eq!(
        post(h.addr(), "/_control/clear-faults", "").unwrap().status,
        200
    );
    assert_ok(&migrate(&h, "eni-node0001", "eni-node0002", "198.18.1.100"));
    assert_ok(&api(&h, "DescribeAddresses", json!({})));
}
