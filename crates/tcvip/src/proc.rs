//! Detached helpers: a migration started by notify-action or check-self runs in its own session,
//! so that keepalived never waits for it and signals meant for the caller's process group never
//! reach it. Argv only, never a shell.

use std::ffi::OsStr;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// Starts `program args…` in a new session with stdio on /dev/null and no other descriptor
/// (whatever keepalived or the caller left open without close-on-exec), and returns its pid
/// without waiting for it.
pub fn spawn_detached<S: AsRef<OsStr>>(program: &Path, args: &[S]) -> io::Result<u32> {
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
            cloexec_from(3);
            Ok(())
        });
    }
    let child = command.spawn()?;
    Ok(child.id())
}

/// Marks every descriptor from `first` up close-on-exec, so that exec closes them (the pipe std
/// uses to report a failed exec is close-on-exec already and keeps working). Runs between fork
/// and exec: async-signal-safe calls only.
fn cloexec_from(first: libc::c_int) {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range(2) and fcntl(2) take plain integers and touch no memory of ours.
    unsafe {
        if libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        ) == 0
        {
            return;
        }
        // Kernels before 5.11: each descriptor up to the limit.
        let limit = match libc::sysconf(libc::_SC_OPEN_MAX) {
            n if n > 0 => n.min(1 << 16) as libc::c_int,
            _ => 1024,
        };
        for fd in first..limit {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
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

    #[test]
    fn detached_child_inherits_no_descriptor_beyond_stdio() {
        // A descriptor left open without close-on-exec, as keepalived's children may have.
        let file = std::fs::File::open("/dev/null").unwrap();
        // SAFETY: dup returns a new descriptor without FD_CLOEXEC, closed below.
        let leaked = unsafe { libc::dup(std::os::fd::AsRawFd::as_raw_fd(&file)) };
        assert!(leaked > 2);
        let pid = spawn_detached(Path::new("/bin/sleep"), &argv(&["5"])).unwrap();
        // SAFETY: closes the descriptor dup'ed above, once.
        unsafe { libc::close(leaked) };
        // Once sleep runs (exec done), its descriptors are final.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_link(format!("/proc/{pid}/exe"))
            .is_ok_and(|exe| !exe.ends_with("sleep"))
        {
            assert!(Instant::now() < deadline, "detached child never ran");
            thread::sleep(Duration::from_millis(5));
        }
        let mut fds: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
            .collect();
        fds.sort_unstable();
        // SAFETY: kill(2) on the child started above.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
            libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0);
        }
        assert_eq!(fds, [0, 1, 2], "inherited {fds:?} (leaked {leaked})");
    }
}
