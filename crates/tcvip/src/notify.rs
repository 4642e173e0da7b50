//! notify-action: keepalived's notify hook.
//!
//! Records the new state with the next sequence number (atomically, under the instance lock)
//! and returns at once. On MASTER it starts `vip-migrate` detached (its own session, so
//! keepalived never waits for it; a migration already in flight is joined by vip-migrate
//! itself). MASTER_RX_LOWER_PRI is not a state change: nothing is recorded, and when the latest
//! record says MASTER it starts `vip-migrate --reconcile`. keepalived neither waits for nor
//! orders notify scripts, so two quick transitions (MASTER, then BACKUP 1 ms later) race for the
//! instance lock. Each record keeps the launch of the process that wrote it (start tick and pid,
//! both assigned in keepalived's fork order), and a notification launched before the latest
//! record is not recorded: a MASTER that reaches the lock after the BACKUP launched after it
//! neither becomes the latest state nor starts a move. vip-migrate's re-read of the latest
//! record before every write call covers the other order.
//!
//! A BACKUP, FAULT or STOP recorded over a MASTER record of the same keepalived life also starts
//! the hand-over detached (`notify-action --hand-over`, [`crate::handoff`]): while the cloud
//! still routes the VIP here, it is given to the node that is MASTER now.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use vip_state::{KeepalivedState, Launch, Recorded, Source};

use crate::cli::Common;
use crate::context::Context;
use crate::exit::Exit;
use crate::notify_args::{self, NotifyState};

/// How long a STOP waits for the instance lock (another notify-action recording).
const STOP_LOCK_TIMEOUT: Duration = Duration::from_millis(400);

/// `notify-action`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "notify-action",
    version,
    about = "keepalived notify hook: record the VRRP state, start the VIP move on MASTER",
    override_usage = "notify-action [OPTIONS] MASTER|BACKUP|FAULT|STOP|MASTER_RX_LOWER_PRI\n       \
notify-action [OPTIONS] INSTANCE|GROUP <NAME> <STATE> <PRIORITY>",
    long_about = "keepalived notify hook. Wire it as the generic `notify` (keepalived appends \
INSTANCE|GROUP NAME STATE PRIORITY) or as notify_master/notify_backup/notify_fault/notify_stop with \
one state word, and as notify_master_rx_lower_pri with MASTER_RX_LOWER_PRI. It records the state \
and returns at once; on MASTER it starts vip-migrate detached.",
    after_help = crate::exit::Exit::help_table()
)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// keepalived vrrp_instance, for the one-word form [default: the only one configured]
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
    /// keepalived.conf, read for the hand-over's peers [default: the -f of the keepalived that
    /// runs this, else /etc/keepalived/keepalived.conf]
    #[arg(long, value_name = "PATH")]
    pub keepalived_conf: Option<PathBuf>,
    /// The hand-over run notify-action starts itself, detached, when this node leaves MASTER
    /// (not for keepalived.conf): give the VIP to the MASTER if the cloud still routes it here
    #[arg(long)]
    pub hand_over: bool,
    /// Run as keepalived's long-lived FIFO reader (vrrp_notify_fifo_script "notify-action
    /// --fifo": keepalived appends the FIFO's path) instead of handling one notification
    #[arg(long, value_name = "PATH")]
    pub fifo: Option<PathBuf>,
    /// The state word, or INSTANCE|GROUP NAME STATE PRIORITY as keepalived appends them
    #[arg(value_name = "ARGS", num_args = 0.., allow_hyphen_values = true, trailing_var_arg = true)]
    pub words: Vec<String>,
}

/// Runs `notify-action`.
pub fn run(args: &Args) -> anyhow::Result<Exit> {
    if args.hand_over {
        return crate::handoff::run(
            &args.common,
            args.instance.as_deref(),
            args.keepalived_conf.as_deref(),
        );
    }
    if let Some(path) = &args.fifo {
        if !args.words.is_empty() {
            eprintln!("notify-action: --fifo PATH takes no other arguments");
            return Ok(Exit::Usage);
        }
        let ctx = Context::load(&args.common, "notify-action")?;
        let hand_over = crate::fifo::HandOver {
            common: args.common.clone(),
            keepalived_conf: args
                .keepalived_conf
                .clone()
                .or_else(crate::handoff::parent_keepalived_conf),
        };
        return crate::fifo::run(&ctx, path, hand_over);
    }
    let notification = match notify_args::parse(&args.words) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("notify-action: {e}");
            eprintln!(
                "usage: notify-action [OPTIONS] MASTER|BACKUP|FAULT|STOP|MASTER_RX_LOWER_PRI"
            );
            eprintln!("       notify-action [OPTIONS] INSTANCE|GROUP <NAME> <STATE> <PRIORITY>");
            return Ok(Exit::Usage);
        }
    };
    let ctx = Context::load(&args.common, "notify-action")?;
    let given = notification.name.as_deref().or(args.instance.as_deref());
    let key = ctx.instance_key(given)?;
    let rx_lower = notification.state == NotifyState::MasterRxLowerPri;
    let seq = if rx_lower {
        // Not a state change (keepalived stays MASTER): nothing is recorded, and only a node
        // whose latest record is MASTER reconciles — a late MASTER_RX_LOWER_PRI must not undo a
        // newer BACKUP or FAULT.
        let read = ctx.state.read_state(&key);
        if read.state != KeepalivedState::Master {
            crate::info!(
                "rx_lower_pri_ignored",
                instance = key,
                recorded = read.state,
                seq = read.seq
            );
            return Ok(Exit::Success);
        }
        read.seq
    } else {
        let state = match notification.state {
            NotifyState::Master | NotifyState::MasterRxLowerPri => KeepalivedState::Master,
            NotifyState::Backup => KeepalivedState::Backup,
            NotifyState::Fault => KeepalivedState::Fault,
            NotifyState::Stop | NotifyState::Deleted => KeepalivedState::Stop,
        };
        // keepalived SIGKILLs a STOP script after 1 s: never wait that long for the instance lock.
        let dir = if state == KeepalivedState::Stop {
            ctx.state.clone().with_lock_timeout(STOP_LOCK_TIMEOUT)
        } else {
            ctx.state.clone()
        };
        let previous = previous_state(&ctx, &key);
        let recorded = match dir.record_notification_from(
            &key,
            state,
            notification.priority,
            Source::Notify,
            Launch::of_self(),
            crate::keepalived::parent_keepalived().map(|k| k.launch),
        ) {
            Ok(recorded) => recorded,
            Err(e) => return unrecorded(&ctx, &args.common, &key, state, e),
        };
        let record = match recorded {
            Recorded::Written(record) => record,
            Recorded::Superseded(latest) => {
                // keepalived launched a later notification, and it was recorded first: this
                // one is older news. Recording it would undo the newer state (a MASTER that
                // arrives after the BACKUP launched 1 ms later would move the VIP here).
                crate::info!(
                    "state_superseded",
                    instance = key,
                    state = notification.state,
                    latest = latest.state,
                    seq = latest.seq,
                    reason = "keepalived launched a later notification, already recorded"
                );
                return Ok(Exit::Success);
            }
        };
        crate::info!(
            "state",
            instance = key,
            state = notification.state,
            seq = record.seq,
            priority = notification
                .priority
                .map(|p| p.to_string())
                .unwrap_or_default()
        );
        if state != KeepalivedState::Master {
            if crate::handoff::rules::starts_hand_over(previous, state)
                && !ctx.vips_of(&key).is_empty()
            {
                start_hand_over(&ctx, args, &key);
            }
            return Ok(Exit::Success);
        }
        record.seq
    };
    let vips = ctx.vips_of(&key);
    if vips.is_empty() {
        crate::warn!(
            "no_vip",
            instance = key,
            reason = "no [[vip]] follows this instance"
        );
        return Ok(Exit::Success);
    }
    // vip-migrate is always started: it joins a migration already in flight itself. A quick
    // look at the lock from here could mistake another process's quick look for a migration.
    let reconcile = rx_lower;
    let pid = start_migration(&ctx, &args.common, &key, reconcile)?;
    crate::info!(
        "migrate_started",
        instance = key,
        seq = seq,
        pid = pid,
        reconcile = reconcile
    );
    Ok(Exit::Success)
}

/// The latest recorded state of `key`, unless it speaks of a previous keepalived life (written
/// before the keepalived that runs us started).
fn previous_state(ctx: &Context, key: &str) -> Option<KeepalivedState> {
    let record = ctx.state.read_state(key).record?;
    match crate::keepalived::parent_keepalived() {
        Some(parent) if crate::keepalived::record_predates(&record, &parent) => None,
        _ => Some(record.state),
    }
}

/// Starts the hand-over run (logged; a failure to start it is only logged: the record is made).
fn start_hand_over(ctx: &Context, args: &Args, key: &str) {
    let conf = args
        .keepalived_conf
        .clone()
        .or_else(crate::handoff::parent_keepalived_conf);
    match crate::handoff::start(ctx, &args.common, key, conf.as_deref()) {
        Ok(pid) => crate::info!("handoff_started", instance = key, pid = pid),
        Err(e) => crate::error!(
            "handoff_start_failed",
            instance = key,
            error = crate::cli::error_text(&e)
        ),
    }
}

/// A notification that could not be recorded (the state directory full or read-only, the
/// instance lock held too long) is not lost: a note says so (check-self then fails: the record
/// is behind keepalived), and a MASTER still starts the move, telling vip-migrate on its command
/// line that it is MASTER as of the record it could not replace. The error is still the result.
fn unrecorded(
    ctx: &Context,
    common: &Common,
    key: &str,
    state: KeepalivedState,
    err: vip_state::StateError,
) -> anyhow::Result<Exit> {
    let err = anyhow::Error::new(err).context(format!("recording {state} for instance {key}"));
    let text = crate::cli::error_text(&err);
    crate::error!(
        "state_not_recorded",
        instance = key,
        state = state,
        error = text
    );
    let note = vip_state::Unrecorded {
        instance: key.to_owned(),
        state,
        at_ms: vip_state::now_ms(),
        error: text,
        launch: Launch::of_self(),
    };
    if let Err(e) = ctx.state.write_unrecorded(&note) {
        crate::error!(
            "state_not_recorded",
            instance = key,
            note = "none",
            error = e
        );
    }
    if state == KeepalivedState::Master && !ctx.vips_of(key).is_empty() {
        let seq = ctx.state.read_state(key).seq;
        match start_migration_as(ctx, common, key, false, Some(seq)) {
            Ok(pid) => crate::info!(
                "migrate_started",
                instance = key,
                pid = pid,
                notified_master_after_seq = seq
            ),
            Err(e) => crate::error!(
                "migrate_start_failed",
                instance = key,
                error = crate::cli::error_text(&e)
            ),
        }
    }
    Err(err)
}

/// Starts `vip-migrate` for `instance`, detached, with the same configuration and overrides.
pub fn start_migration(
    ctx: &Context,
    common: &Common,
    instance: &str,
    reconcile: bool,
) -> anyhow::Result<u32> {
    start_migration_as(ctx, common, instance, reconcile, None)
}

/// As [`start_migration`]; with `notified_master = Some(seq)`, vip-migrate takes this node as
/// MASTER while the latest record is still `seq` (the MASTER notification could not replace it).
fn start_migration_as(
    ctx: &Context,
    common: &Common,
    instance: &str,
    reconcile: bool,
    notified_master: Option<u64>,
) -> anyhow::Result<u32> {
    let program = sibling("vip-migrate")?;
    let mut argv = common.forwarded(&ctx.config.path);
    argv.push(format!("--instance={instance}").into());
    if reconcile {
        argv.push("--reconcile".into());
    }
    if let Some(seq) = notified_master {
        argv.push(format!("--notified-master={seq}").into());
    }
    crate::proc::spawn_detached(&program, &argv)
        .with_context(|| format!("starting {}", program.display()))
}

/// A binary installed beside this one.
fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("finding this program's path")?;
    let dir = me
        .parent()
        .with_context(|| format!("{} has no parent directory", me.display()))?;
    Ok(dir.join(name))
}
