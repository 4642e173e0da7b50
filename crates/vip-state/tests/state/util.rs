//! Test harness: temporary state directories, directory listings, and child processes that are
//! this same test executable re-running the test that starts them: seeing [`ENV_DIR`], the test
//! plays the child's part.

use std::io::Read as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vip_state::StateDir;

/// Set in a child process: the state directory to work in.
pub const ENV_DIR: &str = "VIP_STATE_TEST_DIR";

pub fn state_dir() -> (tempfile::TempDir, StateDir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = StateDir::open(tmp.path().join("tcvip")).unwrap();
    (tmp, dir)
}

/// The sorted names in `dir`.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Starts this test executable running only the test `name` (the caller itself), with `envs`
/// set: [`ENV_DIR`] among them tells it to act as the child.
pub fn spawn_helper(name: &str, envs: &[(&str, String)]) -> Child {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// Waits for `child` with a deadline (killing it when the deadline passes) and returns its stdout.
pub fn wait_output(mut child: Child, deadline: Duration) -> String {
    let start = Instant::now();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = reader.join().unwrap();
            assert!(status.success(), "helper failed ({status}); stdout:\n{out}");
            return out;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("helper still running after {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
