//! The one namespace helper of the test binary: a network namespace with a veth pair, and the
//! checks that a test needing root or a tool can run.
//!
//! A test that needs them and cannot have them fails here, loudly, naming what is missing: it
//! never passes without having run. scripts/test.sh runs the suite as root, after
//! scripts/e2e-deps.sh has installed the tools (`ip`, `strace`, `unshare`). Addresses used inside
//! a namespace come from 198.18.0.0/15; nothing is sent outside it.

use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt as _;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::util::*;

/// Fails the test unless this process is root (`needs`: what for, e.g. "a network namespace").
pub fn require_root(needs: &str) {
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    assert!(
        root,
        "this test needs root for {needs}: run it as root (scripts/test.sh does), or leave it \
         out by name with `cargo test -- --skip <name>`"
    );
}

/// Fails the test unless `tool` runs (`tool -V`, else `--version`); scripts/e2e-deps.sh
/// installs every tool the tests need.
pub fn require_tool(tool: &str) {
    let runs = |flag: &str| {
        Command::new(tool)
            .arg(flag)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    assert!(
        runs("-V") || runs("--version"),
        "this test needs {tool}, which cannot be run here: install it (scripts/e2e-deps.sh does)"
    );
}

/// A network namespace with `lo` up and a veth pair `tv0`/`tv1` (both ends inside, up),
/// deleted on drop.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// A namespace with no address on `tv0`. Fails the test if it cannot be made.
    pub fn bare() -> Netns {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        require_root("a network namespace");
        let name = format!(
            "tcvip-cli-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name]).unwrap_or_else(|e| panic!("no namespace: {e}"));
        let ns = Netns { name };
        let n = ns.name.as_str();
        for args in [
            &["-n", n, "link", "set", "lo", "up"][..],
            // The dummy driver may be missing; a veth pair needs nothing beyond the core.
            &[
                "-n", n, "link", "add", "tv0", "type", "veth", "peer", "name", "tv1",
            ],
            &["-n", n, "link", "set", "tv0", "up"],
            &["-n", n, "link", "set", "tv1", "up"],
        ] {
            ip(args).unwrap_or_else(|e| panic!("setting up namespace {n}: {e}"));
        }
        ns
    }

    /// A namespace as a node has it: the node's own address 198.18.1.11/24 first on `tv0`
    /// (keepalived adds the VIP later).
    pub fn create() -> Netns {
        let ns = Netns::bare();
        ns.add("198.18.1.11/24");
        ns
    }

    /// Adds `cidr` to `tv0`.
    pub fn add(&self, cidr: &str) {
        ip(&["-n", &self.name, "addr", "add", cidr, "dev", "tv0"]).unwrap();
    }

    /// Whether `vip` is on `tv0`, exactly.
    pub fn has(&self, vip: Ipv4Addr) -> bool {
        self.has_on("tv0", vip)
    }

    /// Whether `vip` is on `dev`, exactly.
    pub fn has_on(&self, dev: &str, vip: Ipv4Addr) -> bool {
        let out = Command::new("ip")
            .args(["-n", &self.name, "-4", "-o", "addr", "show", "dev", dev])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .any(|w| w.split('/').next() == Some(&vip.to_string()))
    }

    /// Runs `binary` of `node` inside the namespace, with the node's environment.
    pub fn run(&self, node: &Node, binary: &str, args: &[&str]) -> Run {
        let inner = node.command(binary);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name])
            .arg(inner.get_program())
            .args(inner.get_args())
            .args(args)
            .stdin(Stdio::null());
        for (k, v) in inner.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        run(&mut cmd)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// Runs `ip args…`; the error names the command and what it said.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
