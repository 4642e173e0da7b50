//! Test harness: a started simulator and a minimal signed client on std `TcpStream`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fake_vpc::{FakeVpc, FakeVpcHandle, Options, Topology};
use serde_json::Value;
use tencent_api::sign::{SignInput, sign};

pub const DEMO_ID: &str = "AKIDTCVIPDEMO00000000000000000000000";
pub const DEMO_KEY: &str = "tcvipDemoSecretKey00000000000000";
pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 100);

pub fn two_nodes() -> Topology {
    Topology::from_toml_str(include_str!("../../examples/two-nodes.toml")).unwrap()
}

pub fn start(options: Options) -> FakeVpcHandle {
    FakeVpc::start(two_nodes(), options).unwrap()
}

pub fn start_default() -> FakeVpcHandle {
    start(Options::default())
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An HTTP response read to EOF.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `request` on a fresh connection and reads the answer to EOF. `Err` when the server
/// closed the connection without answering.
pub fn send_raw(addr: SocketAddr, request: &[u8]) -> std::io::Result<Raw> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    send_on(&mut s, request)
}

pub fn send_on(s: &mut TcpStream, request: &[u8]) -> std::io::Result<Raw> {
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.write_all(request)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    parse_response(&out)
}

pub fn parse_response(out: &[u8]) -> std::io::Result<Raw> {
    let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("no response head in {} bytes", out.len()),
        ));
    };
    let head = String::from_utf8_lossy(&out[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok(Raw {
        status,
        head,
        body: out[end + 4..].to_vec(),
    })
}

/// `GET url-path` with Connection: close.
pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<Raw> {
    send_raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// `POST path` with a JSON body, unsigned (control endpoint).
pub fn post(addr: SocketAddr, path: &str, body: &str) -> std::io::Result<Raw> {
    send_raw(
        addr,
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

/// How to build one signed API request; every field can be bent to provoke an error.
#[derive(Debug, Clone)]
pub struct Call {
    pub action: String,
    pub body: Vec<u8>,
    pub secret_id: String,
    pub secret_key: String,
    pub token: Option<String>,
    pub timestamp: i64,
    pub version: Option<String>,
    pub region: Option<String>,
    pub content_type: String,
    /// Also sign `x-tc-action` (the current doc example does).
    pub sign_action: bool,
    /// Change the body after signing.
    pub tamper: bool,
}

impl Call {
    pub fn new(action: &str, body: Value) -> Call {
        Call {
            action: action.into(),
            body: serde_json::to_vec(&body).unwrap(),
            secret_id: DEMO_ID.into(),
            secret_key: DEMO_KEY.into(),
            token: None,
            timestamp: now(),
            version: Some("2017-03-12".into()),
            region: Some("ap-guangzhou".into()),
            content_type: "application/json".into(),
            sign_action: false,
            tamper: false,
        }
    }

    pub fn bytes(&self, addr: SocketAddr) -> Vec<u8> {
        let host = addr.to_string();
        let extra: Vec<(&str, &str)> = if self.sign_action {
            vec![("x-tc-action", self.action.as_str())]
        } else {
            vec![]
        };
        let signed = sign(
            &SignInput {
                method: "POST",
                host: &host,
                content_type: &self.content_type,
                body: &self.body,
                service: "vpc",
                timestamp: self.timestamp,
                extra_headers: &extra,
            },
            &self.secret_id,
            &self.secret_key,
        );
        let mut body = self.body.clone();
        if self.tamper {
            body.push(b' ');
        }
        let mut head = format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: {}\r\nX-TC-Action: {}\r\nX-TC-Timestamp: {}\r\nAuthorization: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.content_type,
            self.action,
            self.timestamp,
            signed.authorization,
            body.len()
        );
        if let Some(v) = &self.version {
            head.push_str(&format!("X-TC-Version: {v}\r\n"));
        }
        if let Some(r) = &self.region {
            head.push_str(&format!("X-TC-Region: {r}\r\n"));
        }
        if let Some(t) = &self.token {
            head.push_str(&format!("X-TC-Token: {t}\r\n"));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(&body);
        out
    }

    /// Sends the call and returns `Response` of the envelope.
    pub fn send(&self, addr: SocketAddr) -> Value {
        let raw = send_raw(addr, &self.bytes(addr)).unwrap();
        assert_eq!(raw.status, 200, "{}", raw.text());
        assert!(
            raw.head.contains("Content-Type: application/json"),
            "{}",
            raw.head
        );
        let v = raw.json();
        let resp = v["Response"].clone();
        assert!(resp["RequestId"].is_string(), "no RequestId: {v}");
        resp
    }
}

/// Calls `action` with the demo key; returns `Response`.
pub fn api(h: &FakeVpcHandle, action: &str, body: Value) -> Value {
    Call::new(action, body).send(h.addr())
}

/// The error code of a `Response`, if it is an error.
pub fn code(resp: &Value) -> Option<String> {
    resp["Error"]["Code"].as_str().map(str::to_string)
}

/// Asserts that the response is the error `expected`.
#[track_caller]
pub fn assert_code(resp: &Value, expected: &str) {
    assert_eq!(code(resp).as_deref(), Some(expected), "{resp}");
}

/// Asserts success.
#[track_caller]
pub fn assert_ok(resp: &Value) {
    assert_eq!(code(resp), None, "{resp}");
}

pub fn migrate(h: &FakeVpcHandle, from: &str, to: &str, ip: &str) -> Value {
    api(
        h,
        "MigratePrivateIpAddress",
        serde_json::json!({
            "SourceNetworkInterfaceId": from,
            "DestinationNetworkInterfaceId": to,
            "PrivateIpAddress": ip,
        }),
    )
}

pub fn task_status(h: &FakeVpcHandle, task: &str) -> String {
    let r = api(
        h,
        "DescribeVpcTaskResult",
        serde_json::json!({ "TaskId": task }),
    );
    r["Status"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_string()
}

/// Polls `f` every 60 ms (below DescribeVpcTaskResult's 20/s limit) for up to 10 s.
pub fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(60));
    }
    false
}

/// The two-node example plus `extra` TOML.
pub fn two_nodes_with(extra: &str) -> Topology {
    let text = format!("{}\n{extra}", include_str!("../../examples/two-nodes.toml"));
    Topology::from_toml_str(&text).unwrap()
}

/// A second subnet with one detached ENI, `eni-other0001` (198.18.2.10, secondary .20).
pub const OTHER_SUBNET: &str = r#"
[[subnet]]
id = "subnet-demo0002"
vpc = "vpc-demo0001"
cidr_block = "198.18.2.0/24"
zone = "ap-guangzhou-4"

[[eni]]
id = "eni-other0001"
mac = "52:54:00:00:02:10"
subnet = "subnet-demo0002"
primary_ip = "198.18.2.10"
secondary_ips = ["198.18.2.20"]
"#;

/// `n` detached ENIs `eni-extra0000`.. in subnet-demo0001 (198.18.1.150 + i).
pub fn extra_enis(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "[[eni]]\nid = \"eni-extra{i:04}\"\nmac = \"52:54:00:00:03:{i:02x}\"\nsubnet = \"subnet-demo0001\"\nprimary_ip = \"198.18.1.{}\"\n",
                150 + i
            )
        })
        .collect()
}

/// Connects to `to` from the local address `from` (any 127.0.0.0/8 address works on Linux).
pub fn connect_from(from: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    use std::os::fd::FromRawFd;
    let SocketAddr::V4(to) = to else {
        panic!("IPv4 only");
    };
    let sin = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket syscalls on a descriptor we own; the sockaddr structs outlive the
    // calls; on success the descriptor is handed to TcpStream, which closes it.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let local = sin(from, 0);
        let remote = sin(*to.ip(), to.port());
        if libc::bind(fd, (&raw const local).cast(), len) != 0
            || libc::connect(fd, (&raw const remote).cast(), len) != 0
        {
            let e = std::io::Error::last_os_error();
            libc::close(fd);
            return Err(e);
        }
        Ok(TcpStream::from_raw_fd(fd))
    }
}
