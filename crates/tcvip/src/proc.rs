//! Detached helpers: a migration started by notify-action or check-self runs in its own session,
//! so that keepalived never waits for it and signals meant for the caller's process group never
//! reach it. Argv only, never a shell.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

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

    use std::thread;
    use std::time::{Duration, Instant};

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
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
