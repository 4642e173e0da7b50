//! Test harness: a simulated VPC on 127.0.0.1 and nodes that are a config file, a state
//! directory and a log file in a temporary directory.

#![allow(dead_code)]

use std::io::Read as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use fake_vpc::{FakeVpc, FakeVpcHandle, Options, Topology};
use tempfile::TempDir;
use vip_state::{KeepalivedState, Source, StateDir};

/// The demo key pair of `crates/fake-vpc/examples/*.toml`.
pub const SECRET_ID: &str = "AKIDTCVIPDEMO00000000000000000000000";
pub const SECRET_KEY: &str = "tcvipDemoSecretKey00000000000000";
/// The VIP of the example topologies.
pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 100);
/// Longest any single binary run may take before the test calls it hung.
pub const RUN_LIMIT: Duration = Duration::from_secs(90);

/// The text of an example topology (`two-nodes`, `three-nodes`).
pub fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fake-vpc/examples")
        .join(format!("{name}.toml"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Starts a fake VPC from topology text, with moves landing after `lag`.
pub fn start(topology: &str, lag: Duration) -> FakeVpcHandle {
    let topology = Topology::from_toml_str(topology).unwrap();
    FakeVpc::start(
        topology,
        Options {
            lag,
            ..Options::default()
        },
    )
    .unwrap()
}

/// Path of one of the binaries under test.
pub fn bin(name: &str) -> PathBuf {
    let path = match name {
        "notify-action" => env!("CARGO_BIN_EXE_notify-action"),
        "vip-migrate" => env!("CARGO_BIN_EXE_vip-migrate"),
        "vip-query" => env!("CARGO_BIN_EXE_vip-query"),
        "check-self" => env!("CARGO_BIN_EXE_check-self"),
        "tcvip" => env!("CARGO_BIN_EXE_tcvip"),
        other => panic!("no binary {other}"),
    };
    PathBuf::from(path)
}

/// One simulated node: its config, state directory and log file.
pub struct Node {
    pub dir: TempDir,
    pub instance_id: String,
    pub config: PathBuf,
    pub state_dir: PathBuf,
    pub log: PathBuf,
}

impl Node {
    /// A node for CVM `instance_id` of `fake`: the API and metadata of the fake, env credentials,
    /// a file log at debug level, and `vips_and_more` appended (e.g. `[[vip]]` entries; when it
    /// has none, the example VIP is used).
    pub fn new(fake: &FakeVpcHandle, instance_id: &str, vips_and_more: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("state");
        let log = dir.path().join("tcvip.log");
        let config = dir.path().join("tcvip.toml");
        let vips = if vips_and_more.contains("[[vip]]") {
            String::new()
        } else {
            format!("[[vip]]\naddress = \"{VIP}\"\n")
        };
        let text = format!(
            "[cloud]\nendpoint = \"{url}\"\nregion = \"ap-guangzhou\"\ntimeout_ms = 2000\n\n\
             [credentials]\nsource = \"env\"\n\n\
             [metadata]\nurl = \"{metadata}\"\n\n\
             [state]\ndir = \"{state}\"\n\n\
             [log]\ntarget = \"file:{log}\"\nlevel = \"debug\"\n\n\
             [drain]\nfile = \"{drain}\"\n\n\
             {vips}{vips_and_more}\n",
            url = fake.url(),
            metadata = fake.metadata_url(instance_id),
            state = state_dir.display(),
            log = log.display(),
            drain = dir.path().join("drain").display(),
        );
        std::fs::write(&config, text).unwrap();
        Node {
            dir,
            instance_id: instance_id.to_owned(),
            config,
            state_dir,
            log,
        }
    }

    /// A command for `binary` with this node's config and the demo credentials in the
    /// environment (no proxy).
    pub fn command(&self, binary: &str) -> Command {
        let mut cmd = Command::new(bin(binary));
        cmd.arg("--config")
            .arg(&self.config)
            .env("TENCENTCLOUD_SECRET_ID", SECRET_ID)
            .env("TENCENTCLOUD_SECRET_KEY", SECRET_KEY)
            .env_remove("TENCENTCLOUD_TOKEN")
            .env_remove("TENCENTCLOUD_SECURITY_TOKEN")
            .env_remove("TCVIP_CONFIG")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("ALL_PROXY")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `binary args…` to completion (killed, and the test failed, past [`RUN_LIMIT`]).
    pub fn run(&self, binary: &str, args: &[&str]) -> Run {
        run(self.command(binary).args(args))
    }

    /// The state directory, as the binaries see it.
    pub fn state(&self) -> StateDir {
        StateDir::open(&self.state_dir).unwrap()
    }

    /// Records a keepalived state for `instance` as notify-action would.
    pub fn record(&self, instance: &str, state: KeepalivedState) {
        self.state()
            .record_state(instance, state, Some(100), Source::Manual)
            .unwrap();
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A finished run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Runs `cmd` with piped output, killing it and failing the test past [`RUN_LIMIT`].
pub fn run(cmd: &mut Command) -> Run {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            panic!("{cmd:?} still running after {RUN_LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(2));
    };
    let elapsed = started.elapsed();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
        elapsed,
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            elapsed: Duration::ZERO,
        }
    }
}

/// Polls `cond` until it holds or `timeout` passes; returns whether it held.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Pids of running processes whose argv names `node`'s config file: the detached `vip-migrate`
/// runs that notify-action (or check-self) started for it.
pub fn detached_of(node: &Node) -> Vec<u32> {
    let config = node.config.as_os_str().as_encoded_bytes();
    // `--config PATH` as typed, or `--config=PATH` as notify-action and check-self pass it on.
    let flag = [b"--config=".as_slice(), config].concat();
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|argv| {
                argv.split(|b| *b == 0)
                    .any(|arg| arg == config || arg == flag.as_slice())
            })
        })
        .collect()
}

/// Waits until every detached run started for `node` has ended, so that its temporary
/// directory outlives them. Past `timeout` they are killed and the test fails.
pub fn wait_detached(node: &Node, timeout: Duration) {
    if wait_for(timeout, || detached_of(node).is_empty()) {
        return;
    }
    let left = detached_of(node);
    for pid in &left {
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(pid.to_string())
            .status();
    }
    panic!("detached runs {left:?} still running after {timeout:?}");
}

/// The VIP of [`loopback_topology`]: on no interface of this host.
pub const OFF_HOST_VIP: Ipv4Addr = Ipv4Addr::new(126, 0, 1, 100);

/// A two-node topology whose VIP is [`OFF_HOST_VIP`] (126.0.1.100), held by `holder`
/// (`eni-lo000001` of `ins-lo000001`, `eni-lo000002` of `ins-lo000002`, or `none`). Configured
/// on an interface that does not exist (see `off_host_vip` in the check tests), a MASTER's
/// attempt to put it back fails and changes no interface of this host. The addresses are data
/// for the simulator only: nothing is sent to them.
pub fn loopback_topology(holder: &str) -> String {
    let secondary = |eni: &str| {
        if eni == holder {
            "[\"126.0.1.100\"]"
        } else {
            "[]"
        }
    };
    format!(
        "region = \"ap-guangzhou\"\n\
         [[vpc]]\nid = \"vpc-lo000001\"\ncidr_block = \"126.0.0.0/7\"\n\
         [[subnet]]\nid = \"subnet-lo000001\"\nvpc = \"vpc-lo000001\"\ncidr_block = \"126.0.0.0/7\"\n\
         zone = \"ap-guangzhou-3\"\n\
         [[instance]]\nid = \"ins-lo000001\"\nname = \"lo1\"\nzone = \"ap-guangzhou-3\"\nvpc = \"vpc-lo000001\"\n\
         [[instance]]\nid = \"ins-lo000002\"\nname = \"lo2\"\nzone = \"ap-guangzhou-3\"\nvpc = \"vpc-lo000001\"\n\
         [[eni]]\nid = \"eni-lo000001\"\nmac = \"52:54:00:00:07:01\"\nsubnet = \"subnet-lo000001\"\n\
         primary_ip = \"127.0.0.11\"\nsecondary_ips = {s1}\ninstance = \"ins-lo000001\"\nprimary = true\n\
         [[eni]]\nid = \"eni-lo000002\"\nmac = \"52:54:00:00:07:02\"\nsubnet = \"subnet-lo000001\"\n\
         primary_ip = \"127.0.0.12\"\nsecondary_ips = {s2}\ninstance = \"ins-lo000002\"\nprimary = true\n\
         [[key]]\nsecret_id = \"{SECRET_ID}\"\nsecret_key = \"{SECRET_KEY}\"\n",
        s1 = secondary("eni-lo000001"),
        s2 = secondary("eni-lo000002"),
    )
}

/// Waits, when dropped, for the detached runs started for a node (also when the test fails
/// first), so that none outlives the node's temporary directory; kills them past a minute.
/// Declare it after the node, so that it is dropped first.
pub struct Detached<'a>(pub &'a Node);

impl Drop for Detached<'_> {
    fn drop(&mut self) {
        if wait_for(Duration::from_secs(60), || detached_of(self.0).is_empty()) {
            return;
        }
        let left = detached_of(self.0);
        for pid in &left {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        }
        if !thread::panicking() {
            panic!("detached runs {left:?} still running after a minute");
        }
    }
}

/// Starts `vip-migrate` for `node` and kills it as soon as the fake has received its first
/// `action` call: the write is then left in flight, with nobody waiting for it.
pub fn kill_after_first_write(node: &Node, fake: &FakeVpcHandle, action: &str) {
    let mut first = node
        .command("vip-migrate")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(20), || !fake
        .calls_of(action)
        .is_empty()));
    first.kill().unwrap();
    first.wait().unwrap();
}

/// Pids of running `sleep` processes with exactly this argument.
pub fn sleeps(arg: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let argv: Vec<&[u8]> = c.split(|b| *b == 0).collect();
                argv.len() >= 2 && argv[0].ends_with(b"sleep") && argv[1] == arg.as_bytes()
            })
        })
        .collect()
}
