//! Benchmark helper for `scripts/bench.py`: runs a command `--repeat N` times and prints, per
//! run, `elapsed_us exit_code peak_rss_kib` (the peak RSS from wait4).
//!
//! It exists because a child's peak RSS includes the memory of the process it was forked from
//! until it execs: measured from a Python driver, every binary would look as large as the
//! interpreter. This launcher is small, so the figure is the command's own (plus, at most, the
//! launcher's ~1–2 MiB, which a run of `true` shows).

use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut repeat = 1usize;
    if args.first().map(String::as_str) == Some("--repeat") && args.len() >= 2 {
        repeat = args[1].parse().unwrap_or(1);
        args.drain(..2);
    }
    let Some((program, rest)) = args.split_first() else {
        eprintln!("usage: peak_rss [--repeat N] PROGRAM [ARGS...]");
        return ExitCode::from(2);
    };
    for _ in 0..repeat {
        let started = Instant::now();
        let child = match Command::new(program)
            .args(rest)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                eprintln!("peak_rss: cannot run {program}: {e}");
                return ExitCode::from(2);
            }
        };
        let Ok(pid) = libc::pid_t::try_from(child.id()) else {
            return ExitCode::from(2);
        };
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain data, fully written by wait4 on success.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our own child, not yet reaped; the out-pointers are valid.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        let elapsed = started.elapsed();
        if rc != pid {
            eprintln!(
                "peak_rss: wait4 failed: {}",
                std::io::Error::last_os_error()
            );
            return ExitCode::from(2);
        }
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        };
        println!("{} {} {}", elapsed.as_micros(), code, usage.ru_maxrss);
    }
    ExitCode::SUCCESS
}
