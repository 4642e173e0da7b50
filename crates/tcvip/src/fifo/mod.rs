//! `notify-action --fifo PATH`: the long-lived reader of keepalived's notify FIFO, started by
//! `vrrp_notify_fifo_script` (keepalived creates the FIFO, passes its path as the last argument,
//! SIGTERMs the reader on reload and stop and SIGKILLs it 1 s later).
//!
//! Two threads. The reading thread (this one) reads every line in order as it comes, records
//! each state line exactly as notify-action does in fork mode (source `fifo`, so check-self and
//! vip-query work unchanged), and wakes the worker; it never waits on the cloud, so keepalived,
//! which drops a line when the pipe is full, is read promptly. The worker ([`worker`]) acts on
//! the latest recorded state of each instance through the failover core. Memory is bounded: a
//! line is at most [`MAX_LINE`] bytes (longer ones are skipped), and the worker's queue holds one
//! coalesced slot per instance ([`pending`]).
//!
//! It exits 0 at the end of the FIFO (keepalived closed it: a reload or a stop), when its parent
//! (keepalived) is gone, and within [`STOP_WITHIN`] of SIGTERM or SIGINT, recording a move it
//! cut short. On start it re-derives the truth: every instance recorded MASTER whose VIP is on
//! the NIC is reconciled (a reload may not re-send the states).

pub mod line;
pub mod pending;
pub mod worker;
pub use worker::HandOver;

use std::fs::OpenOptions;
use std::io::Read as _;
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use vip_state::{KeepalivedState, Recorded, Source};

use crate::context::Context;
use crate::exit::{Exit, exit};
use line::{FifoState, Kind, Piece, Splitter};
use pending::Want;

/// The longest line kept (keepalived's are far shorter: one write below PIPE_BUF).
pub const MAX_LINE: usize = 4096;
/// How soon after SIGTERM the reader is gone (keepalived SIGKILLs after 1 s).
pub const STOP_WITHIN: Duration = Duration::from_millis(700);
/// How long recording a line waits for the instance lock (check-self may hold it a moment).
const RECORD_LOCK_TIMEOUT: Duration = Duration::from_millis(400);
/// How often the loop looks at the stop flag and the parent while the FIFO is quiet.
const TICK_MS: libc::c_int = 50;

/// Runs the reader on `path` until keepalived closes the FIFO, goes away, or stops it.
pub fn run(ctx: &Context, path: &Path, hand_over: worker::HandOver) -> anyhow::Result<Exit> {
    crate::signal::install();
    let parent = std::os::unix::process::parent_id();
    let file = open_fifo(path)?;
    let state = ctx.state.clone().with_lock_timeout(RECORD_LOCK_TIMEOUT);
    let shared = Arc::new(worker::Shared::default());
    let handle = worker::spawn(ctx.config.clone(), shared.clone(), hand_over)
        .context("starting the FIFO reader's worker thread")?;
    crate::info!("fifo_start", path = path.display(), parent = parent);
    for instance in instances(ctx) {
        let at_start = state.read_state(&instance).seq;
        shared.push(
            &instance,
            Want {
                startup: Some(at_start),
                ..Want::default()
            },
        );
    }
    let mut splitter = Splitter::new(MAX_LINE);
    let mut buf = [0u8; 4096];
    let mut metrics = Metrics::start(ctx);
    let why = loop {
        metrics.tick(ctx, &state);
        if crate::signal::stop_requested() {
            break "SIGTERM";
        }
        if std::os::unix::process::parent_id() != parent {
            break "keepalived gone";
        }
        let mut pfd = libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, TICK_MS) };
        if n <= 0 {
            continue; // timeout, or EINTR (a signal): look at the flags again
        }
        if pfd.revents & libc::POLLIN == 0 && pfd.revents & libc::POLLHUP != 0 {
            break "end of the FIFO";
        }
        match (&file).read(&mut buf) {
            Ok(0) => break "end of the FIFO",
            Ok(n) => {
                for piece in splitter.feed(&buf[..n]) {
                    match piece {
                        Piece::Line(text) => {
                            on_line(ctx, &state, &shared, &text);
                            metrics.due = Instant::now();
                        }
                        Piece::TooLong => crate::warn!(
                            "fifo_line_skipped",
                            reason = format!("longer than {MAX_LINE} bytes")
                        ),
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                return Err(exit(
                    Exit::Failure,
                    anyhow::Error::new(e).context(format!("reading {}", path.display())),
                ));
            }
        }
    };
    stop(&state, &shared, handle, why);
    Ok(Exit::Success)
}

/// The reader's metrics: `/metrics` served when `metrics.listen` is set, the exposition
/// published after each line and at least every [`METRICS_EVERY`] (the worker's API calls and
/// records land between lines).
struct Metrics {
    enabled: bool,
    due: Instant,
}

/// How often the reader republishes the metrics while the FIFO is quiet.
const METRICS_EVERY: Duration = Duration::from_secs(1);

impl Metrics {
    fn start(ctx: &Context) -> Metrics {
        if let Some(addr) = ctx.config.metrics.listen {
            match crate::metrics::serve::spawn(addr) {
                Ok(local) => crate::info!("metrics_listen", address = local),
                Err(e) => crate::error!("metrics_listen_failed", address = addr, error = e),
            }
        }
        Metrics {
            enabled: ctx.config.metrics.enabled(),
            due: Instant::now(),
        }
    }

    fn tick(&mut self, ctx: &Context, state: &vip_state::StateDir) {
        if self.enabled && Instant::now() >= self.due {
            crate::metrics::publish(&ctx.config, state);
            self.due = Instant::now() + METRICS_EVERY;
        }
    }
}

/// Opens the FIFO for reading without waiting for a writer (keepalived opens it after starting
/// the reader). Anything but a FIFO is refused.
fn open_fifo(path: &Path) -> anyhow::Result<std::fs::File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            exit(
                Exit::Usage,
                anyhow::Error::new(e).context(format!(
                    "opening the notify FIFO {} (keepalived creates it: name the same path as vrrp_notify_fifo)",
                    path.display()
                )),
            )
        })?;
    let meta = file
        .metadata()
        .with_context(|| format!("reading {}", path.display()))?;
    if !meta.file_type().is_fifo() {
        return Err(exit(
            Exit::Usage,
            anyhow::anyhow!(
                "{} is not a FIFO: --fifo takes the path of keepalived's vrrp_notify_fifo",
                path.display()
            ),
        ));
    }
    Ok(file)
}

/// The instances whose records the start looks at: every one a `[[vip]]` names, else the
/// default one.
fn instances(ctx: &Context) -> Vec<String> {
    let mut names: Vec<String> = ctx
        .config
        .vips
        .iter()
        .filter_map(|v| v.instance.clone())
        .collect();
    if names.is_empty()
        && let Ok(key) = ctx.instance_key(None)
    {
        names.push(key);
    }
    names.sort();
    names.dedup();
    names
}

/// One line: logged and skipped when malformed; a state recorded as fork mode records it.
fn on_line(ctx: &Context, state: &vip_state::StateDir, shared: &worker::Shared, text: &str) {
    let parsed = match line::parse(text) {
        Ok(parsed) => parsed,
        Err(e) => {
            crate::warn!("fifo_line_skipped", line = text, reason = e);
            return;
        }
    };
    if parsed.kind == Kind::Group
        && !ctx
            .config
            .vips
            .iter()
            .any(|v| v.instance.as_deref() == Some(parsed.name.as_str()))
    {
        crate::debug!(
            "fifo_group_ignored",
            group = parsed.name,
            state = parsed.state
        );
        return;
    }
    let recorded = match &parsed.state {
        FifoState::Master => KeepalivedState::Master,
        FifoState::Backup => KeepalivedState::Backup,
        FifoState::Fault => KeepalivedState::Fault,
        FifoState::Stop | FifoState::Deleted => KeepalivedState::Stop,
        FifoState::MasterRxLowerPri => {
            match ctx.instance_key(Some(&parsed.name)) {
                Ok(key) => {
                    if !shared.push(
                        &key,
                        Want {
                            reconcile: true,
                            ..Want::default()
                        },
                    ) {
                        crate::warn!("fifo_queue_full", instance = key);
                    }
                }
                Err(e) => crate::warn!(
                    "fifo_line_skipped",
                    line = text,
                    reason = crate::cli::error_text(&e)
                ),
            }
            return;
        }
        // Not transitions, and on 2.3.3 a reload reported a MASTER as BACKUP_PRIORITY: the
        // state they imply is not recorded.
        FifoState::MasterPriority | FifoState::BackupPriority => {
            crate::info!(
                "fifo_priority",
                instance = parsed.name,
                state = parsed.state,
                priority = parsed.priority
            );
            return;
        }
        FifoState::Unknown(word) => {
            crate::warn!(
                "fifo_line_skipped",
                line = text,
                reason = format!("unknown state {word:?}")
            );
            return;
        }
    };
    let key = match ctx.instance_key(Some(&parsed.name)) {
        Ok(key) => key,
        Err(e) => {
            crate::warn!(
                "fifo_line_skipped",
                line = text,
                reason = crate::cli::error_text(&e)
            );
            return;
        }
    };
    match state.record_notification_from(
        &key,
        recorded,
        Some(parsed.priority),
        Source::Fifo,
        None,
        reader_parent(),
    ) {
        Ok(Recorded::Written(record) | Recorded::Superseded(record)) => crate::info!(
            "state",
            instance = key,
            state = parsed.state,
            seq = record.seq,
            priority = parsed.priority,
            source = "fifo"
        ),
        Err(e) => {
            // As in fork mode: a note that the record is behind keepalived (check-self then
            // fails, and the core lets the note have the last word).
            crate::error!(
                "state_not_recorded",
                instance = key,
                state = recorded,
                error = e
            );
            let note = vip_state::Unrecorded {
                instance: key.clone(),
                state: recorded,
                at_ms: vip_state::now_ms(),
                error: e.to_string(),
                launch: None,
            };
            if let Err(e) = state.write_unrecorded(&note) {
                crate::error!(
                    "state_not_recorded",
                    instance = key,
                    note = "none",
                    error = e
                );
            }
        }
    }
    if !shared.push(
        &key,
        Want {
            level: true,
            ..Want::default()
        },
    ) {
        crate::warn!("fifo_queue_full", instance = key);
    }
}

/// Stops the worker, waiting at most [`STOP_WITHIN`]; a move still running then is recorded as
/// cut short by the stop, and the process goes.
fn stop(
    state: &vip_state::StateDir,
    shared: &worker::Shared,
    handle: std::thread::JoinHandle<()>,
    why: &str,
) {
    shared.stop();
    let until = Instant::now() + STOP_WITHIN;
    while !handle.is_finished() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    match shared.doing() {
        Some(doing) if !handle.is_finished() => {
            worker::record_stopped(state, &doing, why);
            crate::info!(
                "fifo_stop",
                reason = why,
                cut_short = format!("{} of instance {}", doing.purpose, doing.instance)
            );
        }
        _ => crate::info!("fifo_stop", reason = why),
    }
}

/// The keepalived that started this reader (read once: the reader ends when its parent does), so
/// that a move it recorded stops when that keepalived is killed.
fn reader_parent() -> Option<vip_state::Launch> {
    static PARENT: std::sync::OnceLock<Option<vip_state::Launch>> = std::sync::OnceLock::new();
    PARENT
        .get_or_init(|| crate::keepalived::parent_keepalived().map(|k| k.launch))
        .clone()
}
