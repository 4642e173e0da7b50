//! Child processes: service checks run with a hard timeout, and detached helpers.
//!
//! Everything is argv, never a shell. A service check runs in its own process group so that a
//! timeout kills the check and everything it started; a detached helper runs in its own session
//! so that keepalived never waits for it and its signals never reach it.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How a command run under a timeout ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It exited (or was killed by a signal not of our doing) with this status.
    Exited(ExitStatus),
    /// It was still running at the timeout and was killed, with its process group.
    TimedOut,
}

impl Outcome {
    /// True when the command exited with status 0.
    pub fn success(&self) -> bool {
        matches!(self, Outcome::Exited(status) if status.success())
    }
}

/// Runs `argv` with no input and discarded output; kills its whole process group at `timeout`.
pub fn run_with_timeout(argv: &[String], timeout: Duration) -> io::Result<Outcome> {
    let Some((program, args)) = argv.split_first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty argv"));
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_micros(200);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Outcome::Exited(status));
        }
        let now = Instant::now();
        if now >= deadline {
            kill_group(child.id());
            // The group was sent SIGKILL: reaping it is immediate.
            let _ = child.wait();
            return Ok(Outcome::TimedOut);
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// Sends SIGKILL to the process group led by `pid`.
fn kill_group(pid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) has no memory-safety preconditions; a negative pid names a process group.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Starts `program args…` in a new session with stdio on /dev/null and returns its pid without
/// waiting for it.
pub fn spawn_detached(program: &Path, args: &[String]) -> io::Result<u32> {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid(2) is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command.spawn()?;
    Ok(child.id())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn exit_status_is_reported() {
        assert!(
            run_with_timeout(&argv(&["true"]), Duration::from_secs(5))
                .unwrap()
                .success()
        );
        let out = run_with_timeout(&argv(&["false"]), Duration::from_secs(5)).unwrap();
        assert!(matches!(out, Outcome::Exited(s) if s.code() == Some(1)));
    }

    #[test]
    fn a_hanging_command_is_killed_at_its_timeout() {
        let started = Instant::now();
        let out = run_with_timeout(&argv(&["sleep", "30"]), Duration::from_millis(200)).unwrap();
        assert_eq!(out, Outcome::TimedOut);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_missing_program_is_an_error_not_a_pass() {
        assert!(
            run_with_timeout(&argv(&["/nonexistent/tcvip-check"]), Duration::from_secs(1)).is_err()
        );
        assert!(run_with_timeout(&[], Duration::from_secs(1)).is_err());
    }

    #[test]
    fn detached_child_runs_in_its_own_session() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sid");
        let script = format!("ps -o sid= -p $$ > {}", out.display());
        let pid = spawn_detached(Path::new("/bin/sh"), &argv(&["-c", &script])).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !out.exists() || std::fs::read_to_string(&out).unwrap().trim().is_empty() {
            assert!(Instant::now() < deadline, "detached child never ran");
            thread::sleep(Duration::from_millis(10));
        }
        let sid: u32 = std::fs::read_to_string(&out)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(sid, pid, "the child leads its own session");
    }
}
