//! Runs a program as argv (never a shell) under a deadline: spawn, wait until it exits or the
//! time is up, kill it on expiry. Output is drained while waiting so a chatty child cannot block.
//!
//! The child gets its own process group, and the whole group is killed on expiry, so a program
//! that forks (a service check script) cannot outlive its deadline. Once the child has exited,
//! output still held open by a grandchild it left in the background is given up after a short
//! grace rather than waited for.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// What a finished command left behind.
#[derive(Clone, Debug)]
pub struct CommandOutput {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote to stdout (lossy UTF-8).
    pub stdout: String,
    /// Everything it wrote to stderr (lossy UTF-8).
    pub stderr: String,
}

/// Why a command produced no output.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// It could not be started (not found, not executable).
    #[error("cannot run {}: {source}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The exec error.
        source: std::io::Error,
    },
    /// It was still running at the deadline and has been killed.
    #[error("{} did not finish within {} ms and was killed", program.display(), timeout.as_millis())]
    Timeout {
        /// The program.
        program: PathBuf,
        /// The limit.
        timeout: Duration,
    },
    /// Waiting for it failed.
    #[error("waiting for {} failed: {source}", program.display())]
    Wait {
        /// The program.
        program: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Runs `program args…` with stdin closed, `LC_ALL=C`, and kills it after `timeout`.
pub fn run(
    program: &std::path::Path,
    args: &[OsString],
    timeout: Duration,
) -> Result<CommandOutput, CommandError> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let deadline = Instant::now() + timeout;
    let mut child = cmd.spawn().map_err(|source| CommandError::Spawn {
        program: program.to_owned(),
        source,
    })?;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let status = match wait_until(&mut child, deadline) {
        Ok(Some(status)) => status,
        Ok(None) => {
            kill_group(&mut child);
            return Err(CommandError::Timeout {
                program: program.to_owned(),
                timeout,
            });
        }
        Err(source) => {
            kill_group(&mut child);
            return Err(CommandError::Wait {
                program: program.to_owned(),
                source,
            });
        }
    };
    // The pipes close when the child exits, unless a child of its own left in the background
    // still holds them: that one's output is not the command's, and waiting for it would use up
    // the whole timeout (a service check that starts a daemon). A short grace, then go.
    let collect_until = Instant::now() + OUTPUT_GRACE;
    Ok(CommandOutput {
        status,
        stdout: collect(out, collect_until),
        stderr: collect(err, collect_until),
    })
}

/// How long output is awaited after the child exited, at the least.
const OUTPUT_GRACE: Duration = Duration::from_millis(100);

/// Kills the child's process group (the child leads it) and reaps the child.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) takes plain integers and touches no memory of ours; the group id is the
        // child's pid because it was spawned with process_group(0) and has not been reaped yet.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    // Killing a child that just exited fails harmlessly; wait reaps it either way.
    let _ = child.kill();
    let _ = child.wait();
}

/// Polls the child until it exits or `deadline` passes (`Ok(None)`). The poll interval starts
/// small, because `ip` usually answers within a few milliseconds, and grows to 5 ms.
fn wait_until(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    let mut pause = Duration::from_micros(100);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> Option<mpsc::Receiver<Vec<u8>>> {
    pipe.map(|mut p| {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = Vec::new();
            // A read error leaves what was read so far; the exit status tells the rest.
            let _ = p.read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
        rx
    })
}

fn collect(rx: Option<mpsc::Receiver<Vec<u8>>>, until: Instant) -> String {
    rx.and_then(|rx| {
        rx.recv_timeout(until.saturating_duration_since(Instant::now()))
            .ok()
    })
    .map(|b| String::from_utf8_lossy(&b).into_owned())
    .unwrap_or_default()
}
