//! `tcvip drain` / `tcvip undrain`: the maintenance switch.
//!
//! Draining writes the file `drain.file` (default `/var/lib/tcvip/drain`, on disk so that it
//! survives a reboot) with the reason, the time and who asked. While it exists check-self fails,
//! so keepalived takes the node out of MASTER (the instance goes to FAULT, its peer takes the
//! VIP) without being restarted; `tcvip undrain` removes the file and the next check passes
//! again. The file's presence is the switch: one that cannot be read still drains the node.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use vip_state::{KeepalivedState, format_utc, now_ms};

use crate::cli::Common;
use crate::config::Config;
use crate::context::Context;
use crate::exit::{Exit, ExitResultExt as _};

/// Between two looks of `--wait`.
const POLL: Duration = Duration::from_millis(500);
/// Longest reason kept (a reason is one line for logs and `status`).
const MAX_REASON: usize = 500;

/// `tcvip drain`.
#[derive(Debug, clap::Args)]
pub struct DrainArgs {
    /// The shared options, given before or after the subcommand (filled in by `main`).
    #[arg(skip)]
    pub common: Common,
    /// Why (shown by `tcvip status`, `vip-query --status` and in check-self's log)
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Wait until keepalived has left MASTER and the cloud has the VIPs on another ENI (exit 0),
    /// or the deadline passes (exit 3)
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, 1 to 3600 seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub deadline_s: u64,
}

/// `tcvip undrain`.
#[derive(Debug, clap::Args)]
pub struct UndrainArgs {
    /// The shared options, given before or after the subcommand (filled in by `main`).
    #[arg(skip)]
    pub common: Common,
}

/// A drain in force, as its file tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drain {
    /// The file that holds the switch.
    #[serde(skip)]
    pub file: PathBuf,
    #[serde(default)]
    pub reason: String,
    /// When it was drained (milliseconds since the epoch); 0 when unknown.
    #[serde(default)]
    pub since_ms: u64,
    /// Who drained it: the user (and the sudo user behind it).
    #[serde(default)]
    pub by: String,
    /// Why the file's contents could not be read, when they could not.
    #[serde(skip)]
    pub problem: Option<String>,
}

impl Drain {
    /// One line: `drained since … by …: reason (file)`.
    pub fn describe(&self) -> String {
        let mut out = String::from("drained");
        if self.since_ms > 0 {
            out.push_str(&format!(" since {}", format_utc(self.since_ms)));
        }
        if !self.by.is_empty() {
            out.push_str(&format!(" by {}", self.by));
        }
        if !self.reason.is_empty() {
            out.push_str(&format!(": {}", self.reason));
        }
        if let Some(problem) = &self.problem {
            out.push_str(&format!(" ({problem})"));
        }
        out.push_str(&format!(" [{}]", self.file.display()));
        out
    }

    /// check-self's failure text: why it fails and how to end it.
    pub fn check_failure(&self) -> String {
        format!(
            "{}; this node stays out of MASTER until `tcvip undrain`",
            self.describe()
        )
    }
}

/// The drain in force for `config`, if any (the file exists).
pub fn current(config: &Config) -> Option<Drain> {
    read(&config.drain.file)
}

/// The drain `file` holds, if it exists.
pub fn read(file: &Path) -> Option<Drain> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            return Some(Drain {
                file: file.to_owned(),
                reason: String::new(),
                since_ms: 0,
                by: String::new(),
                problem: Some(format!("unreadable: {e}")),
            });
        }
    };
    let mut drain = serde_json::from_str::<Drain>(&text).unwrap_or_else(|e| Drain {
        file: PathBuf::new(),
        reason: text
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(MAX_REASON)
            .collect(),
        since_ms: 0,
        by: String::new(),
        problem: Some(format!("not a tcvip drain record: {e}")),
    });
    drain.file = file.to_owned();
    Some(drain)
}

/// The user name of `uid` from the password database, if it has one.
fn user_name(uid: libc::uid_t) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: `passwd` is plain data (integers and pointers); all-zero is a valid value.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call, and `buf.len()` is the buffer's true size;
    // on success `pwd.pw_name` points into `buf`, which outlives its use below.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r succeeded, so pw_name is a NUL-terminated string inside `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

/// Who is asking: the effective user (from the password database, else `$USER`), and
/// `$SUDO_USER` behind it when sudo was used.
fn who() -> String {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let user = user_name(uid)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| format!("uid {uid}"));
    match std::env::var("SUDO_USER") {
        Ok(sudo) if !sudo.is_empty() && sudo != user => format!("{sudo} (as {user})"),
        _ => user,
    }
}

/// Writes the drain record atomically (a temporary file renamed into place), creating the
/// directory (0700) when missing.
fn write(file: &Path, drain: &Drain) -> anyhow::Result<()> {
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("/"));
    if !dir.exists() {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {} (the directory of drain.file)", dir.display()))?;
    }
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "drain".into());
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let body = serde_json::to_string(drain).context("encoding the drain record")?;
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(body.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {} (drain.file)", file.display()))
}

/// Runs `tcvip drain`.
pub fn run_drain(args: &DrainArgs) -> anyhow::Result<Exit> {
    let ctx = Context::load(&args.common, "tcvip")?;
    let reason: String = args
        .reason
        .as_deref()
        .unwrap_or("")
        .split(['\n', '\r'])
        .next()
        .unwrap_or("")
        .chars()
        .take(MAX_REASON)
        .collect();
    let file = ctx.config.drain.file.clone();
    if let Some(previous) = read(&file) {
        println!("already {}; record updated", previous.describe());
    }
    let drain = Drain {
        file: file.clone(),
        reason,
        since_ms: now_ms(),
        by: who(),
        problem: None,
    };
    write(&file, &drain).or_exit(Exit::Failure)?;
    crate::warn!(
        "drained",
        file = file.display(),
        by = drain.by,
        reason = drain.reason
    );
    println!("{}", drain.describe());
    for line in state_lines(&ctx) {
        println!("{line}");
    }
    if args.wait {
        return wait_handed_over(&ctx, Instant::now() + Duration::from_secs(args.deadline_s));
    }
    Ok(Exit::Success)
}

/// `--wait`: polls the recorded keepalived states and the cloud until no instance is MASTER
/// and no VIP is on this node's ENI (or being changed), twice a second, up to `deadline`.
fn wait_handed_over(ctx: &Context, deadline: Instant) -> anyhow::Result<Exit> {
    let started = Instant::now();
    loop {
        let pending = pending_handover(ctx);
        if pending.is_empty() {
            let secs = started.elapsed().as_secs_f64();
            println!(
                "handed over after {secs:.1}s: not MASTER, and the cloud has every VIP elsewhere"
            );
            crate::info!(
                "drain_handed_over",
                elapsed_ms = started.elapsed().as_millis()
            );
            return Ok(Exit::Success);
        }
        if Instant::now() + POLL >= deadline {
            return Err(crate::exit::exit(
                Exit::Unknown,
                anyhow::anyhow!(
                    "still drained, but not handed over before the deadline: {}; is check-self keepalived's track_script (`tcvip doctor`)?",
                    pending.join("; ")
                ),
            ));
        }
        std::thread::sleep(POLL);
    }
}

/// The keepalived instances whose recorded state a drain is about: those tcvip.toml names, or
/// the one default record when it names none.
fn state_keys(ctx: &Context) -> Vec<String> {
    let names = ctx.config.instance_names();
    if names.is_empty() {
        return vec![crate::context::DEFAULT_INSTANCE.to_owned()];
    }
    names.into_iter().map(str::to_owned).collect()
}

/// What still stands between this node and a finished handover.
fn pending_handover(ctx: &Context) -> Vec<String> {
    let mut out = Vec::new();
    for name in &state_keys(ctx) {
        if ctx.state.read_state(name).state == KeepalivedState::Master {
            out.push(format!("keepalived {name} is still MASTER"));
        }
    }
    let cloud = (|| -> anyhow::Result<Vec<String>> {
        let identity = ctx.identity()?;
        let client = ctx.client()?;
        let mut here = Vec::new();
        for vip in &ctx.config.vips {
            // A HAVIP's holder is the ENI DescribeHaVips shows it bound to.
            match crate::cloud::holder_of(client, identity.vpc_id.as_str(), vip)? {
                Some(h) if h.is_changing() => here.push(format!("{} is {}", vip.address, h.state)),
                Some(h) if h.eni == identity.eni_id.as_str() => {
                    here.push(format!(
                        "{} is still on this node's ENI {}",
                        vip.address, h.eni
                    ));
                }
                _ => {}
            }
        }
        Ok(here)
    })();
    match cloud {
        Ok(here) => out.extend(here),
        Err(e) => out.push(format!(
            "the cloud cannot be asked ({})",
            crate::cli::error_text(&e)
        )),
    }
    out
}

/// Runs `tcvip undrain`.
pub fn run_undrain(args: &UndrainArgs) -> anyhow::Result<Exit> {
    let ctx = Context::load(&args.common, "tcvip")?;
    let file = &ctx.config.drain.file;
    let Some(previous) = read(file) else {
        println!("not drained ({} does not exist)", file.display());
        return Ok(Exit::Success);
    };
    std::fs::remove_file(file)
        .with_context(|| format!("removing {} (drain.file)", file.display()))?;
    crate::warn!("undrained", file = file.display(), by = who());
    println!("undrained (was {})", previous.describe());
    println!(
        "check-self passes again from its next run; keepalived brings the instance back as BACKUP"
    );
    Ok(Exit::Success)
}

/// What draining means for each keepalived instance of this node right now.
fn state_lines(ctx: &Context) -> Vec<String> {
    state_keys(ctx)
        .iter()
        .map(|name| {
            let state = ctx.state.read_state(name).state;
            let who = if name == crate::context::DEFAULT_INSTANCE {
                "keepalived".to_owned()
            } else {
                format!("keepalived {name}")
            };
            match state {
                KeepalivedState::Master => format!(
                    "{who}: MASTER now; check-self fails from its next run, and after the track script's `fall` count keepalived hands the VIP to a peer"
                ),
                other => format!("{who}: {other}; it will not become MASTER while drained"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_written_record_reads_back_and_an_unreadable_one_still_drains() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/drain");
        assert_eq!(read(&file), None);
        let drain = Drain {
            file: file.clone(),
            reason: "kernel update".into(),
            since_ms: 1_700_000_000_000,
            by: "alice (as root)".into(),
            problem: None,
        };
        write(&file, &drain).unwrap();
        assert_eq!(read(&file), Some(drain));
        assert_eq!(
            std::fs::read_dir(dir.path().join("sub")).unwrap().count(),
            1
        );
        std::fs::write(&file, "maintenance\n").unwrap();
        let garbled = read(&file).unwrap();
        assert_eq!(garbled.reason, "maintenance");
        assert!(garbled.problem.is_some());
        assert!(garbled.check_failure().contains("tcvip undrain"));
    }
}
