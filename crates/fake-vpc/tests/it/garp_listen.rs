//! `--garp-listen`: the binary's GARP log line and start errors, and (as root, inside a network
//! namespace the test creates) the AF_PACKET listener hearing a GARP sent on a veth peer.
//!
//! The namespace test needs root: without it, it fails saying so (CI runs the suite as root).
//! Frames go only over the test's own veth pair inside its namespace.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt as _;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fake_vpc::net::Mac;
use fake_vpc::{FakeVpc, Options};
use serde_json::json;

use crate::util::*;

const HAVIP: &str = r#"
[[havip]]
id = "havip-demo0001"
vip = "198.18.1.200"
subnet = "subnet-demo0001"
"#;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn topology_file(dir: &std::path::Path) -> String {
    let path = dir.join("topology.toml");
    let text = format!("{}\n{HAVIP}", include_str!("../../examples/two-nodes.toml"));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn the_binary_logs_a_line_per_garp() {
    let dir = tempfile::tempdir().unwrap();
    let topology = topology_file(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-vpc"))
        .args(["--topology", &topology, "--havip-learn-ms", "100"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _proc = Proc(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let next = || rx.recv_timeout(Duration::from_secs(10)).expect("no line");
    let first = next();
    let addr: SocketAddr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected line {first:?}"))
        .parse()
        .unwrap();
    let send = |mac: &str| {
        let r = post(
            addr,
            "/_control/garp",
            &json!({"ip": "198.18.1.200", "mac": mac}).to_string(),
        )
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
    };
    send("52:54:00:00:01:11");
    assert_eq!(
        next(),
        "garp ip=198.18.1.200 mac=52:54:00:00:01:11 eni=eni-node0001 verdict=learned"
    );
    // Superseded before its 100 ms: the earlier GARP is logged again as superseded.
    send("52:54:00:00:01:12");
    assert_eq!(
        next(),
        "garp ip=198.18.1.200 mac=52:54:00:00:01:11 eni=eni-node0001 verdict=superseded"
    );
    assert_eq!(
        next(),
        "garp ip=198.18.1.200 mac=52:54:00:00:01:12 eni=eni-node0002 verdict=learned"
    );
    send("52:54:00:00:0a:0b");
    assert_eq!(
        next(),
        "garp ip=198.18.1.200 mac=52:54:00:00:0a:0b eni=none verdict=unknown-mac"
    );
}

#[test]
fn a_garp_listen_interface_that_cannot_be_opened_is_a_start_error() {
    let dir = tempfile::tempdir().unwrap();
    let topology = topology_file(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_fake-vpc"))
        .args(["--topology", &topology, "--garp-listen", "tcvip-nosuch0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--garp-listen tcvip-nosuch0"), "{stderr}");
    // As root: no such interface; otherwise the socket itself, which needs root.
    assert!(
        stderr.contains("no such network interface") || stderr.contains("CAP_NET_RAW"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "it must not claim to listen");
}

/// Fails the test unless this process is root.
fn require_root(needs: &str) {
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    assert!(
        root,
        "this test needs root for {needs}: run it as root (scripts/test.sh does), or leave it \
         out by name with `cargo test -- --skip <name>`"
    );
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh network namespace with `lo` and a veth pair `tv0`/`tv1` up; deleted on drop.
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        require_root("a network namespace and AF_PACKET sockets");
        let name = format!("fakevpc-garp-{}", std::process::id());
        ip(&["netns", "add", &name]);
        let ns = Netns(name);
        let n = ns.0.as_str();
        ip(&["-n", n, "link", "set", "lo", "up"]);
        ip(&[
            "-n", n, "link", "add", "tv0", "type", "veth", "peer", "name", "tv1",
        ]);
        ip(&["-n", n, "link", "set", "tv0", "up"]);
        ip(&["-n", n, "link", "set", "tv1", "up"]);
        ns
    }

    /// Moves the calling thread (only) into the namespace.
    fn enter(&self) {
        let f = std::fs::File::open(format!("/run/netns/{}", self.0)).unwrap();
        // SAFETY: `f` is an open namespace file; setns affects this thread only.
        let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// Sends `frame` out of `iface` (in the calling thread's namespace) with an AF_PACKET socket.
fn send_frame(iface: &str, frame: &[u8]) {
    let name = std::ffi::CString::new(iface).unwrap();
    // SAFETY: plain libc calls on valid arguments; results are checked.
    unsafe {
        let index = libc::if_nametoindex(name.as_ptr());
        assert_ne!(index, 0, "no {iface}");
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let fd = OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_ll = std::mem::zeroed();
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = index as i32;
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&[0xff; 6]);
        let n = libc::sendto(
            fd.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&raw const addr).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        );
        assert_eq!(
            n,
            frame.len() as isize,
            "sendto: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[test]
fn garp_listen_hears_a_garp_on_the_interface_and_binds_the_havip() {
    let ns = Netns::new();
    // Everything runs in one thread moved into the namespace: the simulator's sockets and
    // threads, the frames and the API calls over the namespace's loopback.
    std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter();
            let h = FakeVpc::start(
                two_nodes_with(HAVIP),
                Options {
                    havip_learn: Duration::from_millis(200),
                    garp_listen: vec!["tv0".into()],
                    ..Options::default()
                },
            )
            .unwrap();
            let vip = Ipv4Addr::new(198, 18, 1, 200);
            let node2: Mac = "52:54:00:00:01:12".parse().unwrap();
            let node1: Mac = "52:54:00:00:01:11".parse().unwrap();
            // A frame the listening side sends itself is not the VPC hearing a node.
            send_frame("tv0", &fake_vpc::garp::frame(vip, node1));
            // Node 2's GARP arrives from the peer.
            send_frame("tv1", &fake_vpc::garp::frame(vip, node2));
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let r = api(
                    &h,
                    "DescribeHaVips",
                    json!({"HaVipIds": ["havip-demo0001"]}),
                );
                let v = &r["HaVipSet"][0];
                if v["State"] == "AVAILABLE" {
                    assert_eq!(v["NetworkInterfaceId"], "eni-node0002", "{v}");
                    assert_eq!(v["InstanceId"], "ins-node0002");
                    break;
                }
                assert!(Instant::now() < deadline, "never bound: {r}");
                std::thread::sleep(Duration::from_millis(60));
            }
            let garps: Vec<_> = h.world().garps().cloned().collect();
            assert_eq!(garps.len(), 1, "{garps:?}");
            assert_eq!(garps[0].via, "tv0");
            assert_eq!(garps[0].mac, "52:54:00:00:01:12");
            // Non-gratuitous ARP (who-has another address) is not a GARP.
            let mut who_has = fake_vpc::garp::frame(vip, node1);
            who_has[41] = 1;
            send_frame("tv1", &who_has);
            std::thread::sleep(Duration::from_millis(300));
            assert_eq!(h.world().garps().count(), 1);
            // The link down and up again (a node unplugged and back): still listening.
            ip(&["-n", &ns.0, "link", "set", "tv0", "down"]);
            std::thread::sleep(Duration::from_millis(300));
            ip(&["-n", &ns.0, "link", "set", "tv0", "up"]);
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                // Resent until heard: the veth carrier may take a moment to come back.
                if let Some(g) = h.world().garps().nth(1) {
                    assert_eq!(g.mac, "52:54:00:00:01:11");
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "not heard after the link came back"
                );
                send_frame("tv1", &fake_vpc::garp::frame(vip, node1));
                std::thread::sleep(Duration::from_millis(200));
            }
            assert!(h.wait_until(Duration::from_secs(5), |w| {
                w.havips()[0].eni.as_deref() == Some("eni-node0001")
            }));
        });
    });
}
