//! The keepalived checks of `tcvip doctor`: the version (`keepalived -v`) against the features
//! keepalived.conf uses, and for each `[[vip]]` the wiring tcvip depends on.

use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::doctor::{Args, Check, Status};
use super::keepalived_conf::{KeepalivedConf, VrrpInstance};
use crate::config::{Config, VipConfig};
use crate::discovery::Identity;

/// A version `major.minor.patch`.
pub type Version = (u32, u32, u32);

/// The first release that knows a keyword (the reference's feature table).
pub const FEATURE_FLOORS: &[(&str, Version)] = &[
    ("enable_script_security", (1, 3, 0)),
    ("vrrp_notify_fifo", (1, 3, 6)),
    ("vrrp_notify_fifo_script", (1, 3, 6)),
    ("notify_fifo", (1, 3, 6)),
    ("notify_fifo_script", (1, 3, 6)),
    ("track_file", (2, 0, 0)),
    ("notify_master_rx_lower_pri", (2, 0, 6)),
    ("notify_deleted", (2, 1, 0)),
    ("down_timer_adverts", (2, 2, 3)),
    ("vrrp_down_timer_adverts", (2, 2, 3)),
    ("fifo_write_vrrp_states_on_reload", (2, 2, 5)),
    ("use_symlink_paths", (2, 3, 0)),
    ("auth_hmac", (2, 4, 0)),
    ("vrrp_delay_after_boot", (2, 4, 0)),
];

/// Track-script `interval` / `timeout` below one second (in ms) from this release.
const FRACTIONAL_TIMERS: Version = (2, 3, 2);
/// `notify_master_rx_lower_pri` from this release.
const RX_LOWER_PRI: Version = (2, 0, 6);

fn v(v: Version) -> String {
    format!("{}.{}.{}", v.0, v.1, v.2)
}

/// Every keepalived check.
pub fn check(args: &Args, config: &Config, identity: Option<&Identity>) -> Vec<Check> {
    let mut out = Vec::new();
    let version = version_check(&args.keepalived, &mut out);
    let path = &args.keepalived_conf;
    let conf = KeepalivedConf::load(path);
    let files = conf
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let looked = if files.is_empty() {
        path.display().to_string()
    } else {
        files
    };
    if conf.files.is_empty() {
        out.push(Check::bad(
            "keepalived",
            Status::Fail,
            conf.problems.join("; "),
            looked,
            "name keepalived's configuration with --keepalived-conf, or write it from keepalived-examples/keepalived-nopreempt.conf",
        ));
        return out;
    }
    for p in &conf.problems {
        out.push(Check::bad(
            "keepalived",
            Status::Fail,
            p.clone(),
            looked.clone(),
            "correct keepalived.conf (keepalived -t -f FILE shows what keepalived makes of it)",
        ));
    }
    features(&conf, version, &looked, &mut out);
    global_defs(&conf, &looked, &mut out);
    let mut script_paths: Vec<(String, String)> = Vec::new();
    for vip in &config.vips {
        wiring(
            vip,
            &conf,
            version,
            config,
            identity,
            &mut script_paths,
            &mut out,
        );
    }
    script_security(args.script_owner_uid, &script_paths, &mut out);
    out
}

/// Runs `keepalived -v` (under a deadline) and reads its version.
fn version_check(binary: &Path, out: &mut Vec<Check>) -> Option<Version> {
    let looked = format!("{} -v", binary.display());
    let text = match run_with_deadline(binary, &["-v"], Duration::from_secs(3)) {
        Ok(t) => t,
        Err(e) => {
            out.push(Check::bad(
                "keepalived",
                Status::Fail,
                format!("cannot run keepalived: {e}"),
                looked,
                "install keepalived (apt-get install keepalived / yum install keepalived), or name it with --keepalived PATH",
            ));
            return None;
        }
    };
    match parse_version(&text) {
        Some(ver) => {
            let overlap = ((2, 1, 3)..(2, 3, 3)).contains(&ver);
            out.push(Check::ok(
                "keepalived",
                format!(
                    "version {}{}",
                    v(ver),
                    if overlap {
                        " (a release that may start a track script while the last run still goes on: 2.1.3 to 2.3.2)"
                    } else {
                        ""
                    }
                ),
                looked,
            ));
            Some(ver)
        }
        None => {
            out.push(Check::bad(
                "keepalived",
                Status::Unknown,
                format!(
                    "no version in its output: {:?}",
                    text.lines().next().unwrap_or("")
                ),
                looked,
                "check that --keepalived names keepalived",
            ));
            None
        }
    }
}

fn run_with_deadline(binary: &Path, args: &[&str], deadline: Duration) -> Result<String, String> {
    let mut child = Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "still running after {} s, killed",
                    deadline.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(e.to_string()),
        }
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    ))
}

/// `Keepalived v2.2.7 (01/16,2022)` → (2, 2, 7).
pub fn parse_version(text: &str) -> Option<Version> {
    let at = text.find("Keepalived v")? + "Keepalived v".len();
    let digits: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mut parts = digits.split('.').map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

fn features(conf: &KeepalivedConf, version: Option<Version>, looked: &str, out: &mut Vec<Check>) {
    let Some(ver) = version else { return };
    let mut too_new: Vec<String> = FEATURE_FLOORS
        .iter()
        .filter(|(k, floor)| conf.keywords.contains(*k) && ver < *floor)
        .map(|(k, floor)| format!("{k} (from {})", v(*floor)))
        .collect();
    if ver < FRACTIONAL_TIMERS {
        for s in &conf.scripts {
            for (name, value) in [("interval", s.interval), ("timeout", s.timeout)] {
                if value.is_some_and(|t| t.fract() != 0.0) {
                    too_new.push(format!(
                        "a fractional {name} in vrrp_script {} (from {})",
                        s.name,
                        v(FRACTIONAL_TIMERS)
                    ));
                }
            }
        }
    }
    if too_new.is_empty() {
        out.push(Check::ok(
            "keepalived",
            format!(
                "keepalived {} knows every feature the configuration uses",
                v(ver)
            ),
            looked.to_owned(),
        ));
    } else {
        out.push(Check::bad(
            "keepalived",
            Status::Fail,
            format!("keepalived {} does not know: {}", v(ver), too_new.join(", ")),
            looked.to_owned(),
            "remove those lines (keepalived-examples/keepalived-1.3.conf for old versions) or upgrade keepalived",
        ));
    }
}

fn global_defs(conf: &KeepalivedConf, looked: &str, out: &mut Vec<Check>) {
    if conf.enable_script_security {
        out.push(Check::ok(
            "keepalived",
            format!(
                "global_defs: enable_script_security, script_user {}",
                conf.script_user.as_deref().unwrap_or("(default)")
            ),
            looked.to_owned(),
        ));
    } else {
        out.push(Check::bad(
            "keepalived",
            Status::Fail,
            "global_defs has no enable_script_security: keepalived runs tcvip's scripts without checking who can replace them",
            looked.to_owned(),
            "add `enable_script_security` and `script_user root` to global_defs",
        ));
    }
}

/// The basename of a command line's program.
fn program(command: &str) -> (&str, &str) {
    let prog = command.split_whitespace().next().unwrap_or("");
    let base = prog.rsplit('/').next().unwrap_or(prog);
    (prog, base)
}

/// The vrrp_instance that carries `vip`: the named one (or a member of the named sync group),
/// else the only one listing the address.
fn instance_for<'a>(
    vip: &VipConfig,
    conf: &'a KeepalivedConf,
) -> Result<&'a VrrpInstance, (String, String)> {
    let has = |i: &VrrpInstance| i.vips.iter().any(|x| x.address == vip.address);
    let addr = vip.address;
    match &vip.instance {
        Some(name) => {
            if let Some(i) = conf.instance(name) {
                return if has(i) {
                    Ok(i)
                } else {
                    Err((
                        format!("vrrp_instance {name} does not list {addr} in virtual_ipaddress"),
                        format!(
                            "add `{addr}/32 dev IFACE` to virtual_ipaddress of vrrp_instance {name}"
                        ),
                    ))
                };
            }
            if let Some(g) = conf.groups.iter().find(|g| &g.name == name) {
                return g
                    .instances
                    .iter()
                    .filter_map(|n| conf.instance(n))
                    .find(|i| has(i))
                    .ok_or_else(|| {
                        (
                            format!("no vrrp_instance of sync group {name} lists {addr}"),
                            format!(
                                "add `{addr}/32 dev IFACE` to virtual_ipaddress of one of {}",
                                g.instances.join(", ")
                            ),
                        )
                    });
            }
            Err((
                format!(
                    "there is no vrrp_instance or vrrp_sync_group {name} (named by [[vip]] instance)"
                ),
                format!(
                    "name the instance as keepalived.conf does in the [[vip]] entry of {addr}, or add vrrp_instance {name}"
                ),
            ))
        }
        None => {
            let found: Vec<&VrrpInstance> = conf.instances.iter().filter(|i| has(i)).collect();
            match found.as_slice() {
                [one] => Ok(one),
                [] => Err((
                    format!("no vrrp_instance lists {addr} in virtual_ipaddress"),
                    format!(
                        "add `{addr}/32 dev IFACE` to virtual_ipaddress of the vrrp_instance that should carry it"
                    ),
                )),
                many => Err((
                    format!(
                        "{addr} is listed by several vrrp_instances ({})",
                        many.iter()
                            .map(|i| i.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    format!(
                        "keep {addr} in one vrrp_instance, and name it with instance = \"...\" in its [[vip]] entry"
                    ),
                )),
            }
        }
    }
}

fn wiring(
    vip: &VipConfig,
    conf: &KeepalivedConf,
    version: Option<Version>,
    config: &Config,
    identity: Option<&Identity>,
    script_paths: &mut Vec<(String, String)>,
    out: &mut Vec<Check>,
) {
    let addr = vip.address;
    let inst = match instance_for(vip, conf) {
        Ok(i) => i,
        Err((summary, fix)) => {
            out.push(Check::bad(
                "keepalived",
                Status::Fail,
                summary,
                "vrrp_instance blocks".to_owned(),
                fix,
            ));
            return;
        }
    };
    let name = &inst.name;
    let at = format!("vrrp_instance {name} ({})", inst.at);

    // virtual_ipaddress on the right device.
    let entry = inst.vips.iter().find(|x| x.address == addr);
    let dev = entry
        .and_then(|e| e.dev.clone())
        .or_else(|| inst.interface.clone());
    let expected = vip
        .interface
        .clone()
        .or_else(|| identity.and_then(|i| i.interface.clone()));
    out.push(match (&dev, &expected) {
        (Some(d), Some(e)) if d == e => Check::ok(
            "keepalived",
            format!("{name}: {addr} in virtual_ipaddress on {d}"),
            at.clone(),
        ),
        (Some(d), Some(e)) => Check::bad(
            "keepalived",
            Status::Fail,
            format!("{name}: {addr} is put on {d}, but tcvip expects it on {e}"),
            at.clone(),
            format!("write `{addr}/32 dev {e}` in virtual_ipaddress, or set interface = \"{d}\" in the [[vip]] entry of {addr}"),
        ),
        (None, _) => Check::bad(
            "keepalived",
            Status::Fail,
            format!("{name}: no device for {addr} (no `dev` and no `interface`)"),
            at.clone(),
            format!("write `{addr}/32 dev IFACE` in virtual_ipaddress"),
        ),
        (Some(d), None) => Check::bad(
            "keepalived",
            Status::Unknown,
            format!("{name}: {addr} is put on {d}; which interface tcvip expects is not known"),
            at.clone(),
            "fix the identity check, or set interface in the [[vip]] entry",
        ),
    });

    // Unicast.
    let own = identity.and_then(|i| i.primary_ipv4);
    let peers_bad: Vec<&String> = inst
        .unicast_peers
        .iter()
        .filter(|p| own.is_some_and(|o| p.parse::<Ipv4Addr>().ok() == Some(o)))
        .collect();
    let src_bad = match (&inst.unicast_src_ip, own) {
        (Some(src), Some(o)) => src.parse::<Ipv4Addr>().ok() != Some(o),
        _ => false,
    };
    let own_text = own.map_or_else(|| "this node's primary IP".to_owned(), |o| o.to_string());
    out.push(if inst.unicast_peers.is_empty() {
        Check::bad(
            "keepalived",
            Status::Fail,
            format!("{name}: no unicast_peer, so VRRP goes multicast, which a VPC does not carry"),
            at.clone(),
            format!("add `unicast_src_ip {own_text}` and `unicast_peer {{ PEER_PRIMARY_IP }}` (one line per peer) to vrrp_instance {name}"),
        )
    } else if !peers_bad.is_empty() {
        Check::bad(
            "keepalived",
            Status::Fail,
            format!("{name}: unicast_peer lists this node's own IP {own_text}"),
            at.clone(),
            "list only the other nodes' primary IPs in unicast_peer",
        )
    } else if src_bad {
        Check::bad(
            "keepalived",
            Status::Fail,
            format!(
                "{name}: unicast_src_ip {} is not this node's primary IP {own_text}",
                inst.unicast_src_ip.as_deref().unwrap_or("")
            ),
            at.clone(),
            format!("set `unicast_src_ip {own_text}` (it differs per node)"),
        )
    } else if inst.unicast_src_ip.is_none() {
        Check::bad(
            "keepalived",
            Status::Warn,
            format!("{name}: unicast_peer set but no unicast_src_ip"),
            at.clone(),
            format!("add `unicast_src_ip {own_text}`, so the source of adverts does not depend on the routing table"),
        )
    } else {
        Check::ok(
            "keepalived",
            format!(
                "{name}: unicast from {} to {}",
                inst.unicast_src_ip.as_deref().unwrap_or(""),
                inst.unicast_peers.join(", ")
            ),
            at.clone(),
        )
    });

    // notify → notify-action (on the instance or its sync group).
    let mut notify = inst.notify.clone();
    for g in conf.groups_of(name) {
        notify.extend(g.notify.iter().cloned());
    }
    let wired = |key: &str| {
        notify
            .iter()
            .find(|(k, c)| k == key && program(c).1 == "notify-action")
            .map(|(_, c)| c.clone())
    };
    for (_, c) in notify
        .iter()
        .filter(|(_, c)| program(c).1 == "notify-action")
    {
        script_paths.push((program(c).0.to_owned(), format!("{name} notify")));
    }
    // FIFO mode: the reader keepalived starts hears every instance's states, the
    // MASTER_RX_LOWER_PRI lines among them.
    if let Some(c) = conf
        .fifo_script
        .as_ref()
        .filter(|c| program(c).1 == "notify-action" && c.split_whitespace().any(|w| w == "--fifo"))
    {
        script_paths.push((
            program(c).0.to_owned(),
            "vrrp_notify_fifo_script".to_owned(),
        ));
        out.push(Check::ok(
            "keepalived",
            format!("{name}: states and MASTER_RX_LOWER_PRI → the FIFO reader {c}"),
            at.clone(),
        ));
    } else {
        let generic = wired("notify");
        let one_word: Vec<&str> = ["notify_master", "notify_backup", "notify_fault"]
            .into_iter()
            .filter(|k| wired(k).is_none())
            .collect();
        out.push(if let Some(c) = generic {
        Check::ok("keepalived", format!("{name}: notify → {c}"), at.clone())
    } else if one_word.is_empty() {
        Check::ok(
            "keepalived",
            format!("{name}: notify_master, notify_backup, notify_fault → notify-action"),
            at.clone(),
        )
    } else if one_word.len() < 3 {
        Check::bad(
            "keepalived",
            Status::Fail,
            format!("{name}: {} not wired to notify-action", one_word.join(", ")),
            at.clone(),
            format!("replace the notify_* lines with `notify \"/usr/local/bin/notify-action\"` in vrrp_instance {name}"),
        )
    } else {
        Check::bad(
            "keepalived",
            Status::Fail,
            format!("{name}: notify is not wired to notify-action, so no state change reaches tcvip and the VIP never moves"),
            at.clone(),
            format!("add `notify \"/usr/local/bin/notify-action\"` to vrrp_instance {name}"),
        )
    });

        // notify_master_rx_lower_pri, where the version has it.
        let rx = wired("notify_master_rx_lower_pri");
        let has_rx = version.is_none_or(|ver| ver >= RX_LOWER_PRI);
        let rx_fix = format!(
            "add `notify_master_rx_lower_pri \"/usr/local/bin/notify-action MASTER_RX_LOWER_PRI\"` to vrrp_instance {name}"
        );
        out.push(match (rx, has_rx) {
        (Some(c), _) if c.split_whitespace().any(|w| w == "MASTER_RX_LOWER_PRI") => {
            Check::ok("keepalived", format!("{name}: notify_master_rx_lower_pri → {c}"), at.clone())
        }
        (Some(c), _) => Check::bad(
            "keepalived",
            Status::Fail,
            format!("{name}: notify_master_rx_lower_pri runs {c:?} without the MASTER_RX_LOWER_PRI argument"),
            at.clone(),
            rx_fix,
        ),
        (None, true) => Check::bad(
            "keepalived",
            Status::Warn,
            format!("{name}: notify_master_rx_lower_pri is not wired: a dual master after a link break is healed only by check-self"),
            at.clone(),
            rx_fix,
        ),
        (None, false) => Check::ok(
            "keepalived",
            format!("{name}: notify_master_rx_lower_pri not available before {}", v(RX_LOWER_PRI)),
            at.clone(),
        ),
    });
    }

    // track_script → check-self, timeout above check.deadline_ms.
    let deadline_ms = config.check.deadline_ms;
    let tracked: Vec<_> = inst
        .track_scripts
        .iter()
        .filter_map(|n| conf.script(n))
        .filter(|s| {
            s.script
                .as_deref()
                .is_some_and(|c| program(c).1 == "check-self")
        })
        .collect();
    let suggested = deadline_ms / 1000 + 1;
    match tracked.first() {
        None => out.push(Check::bad(
            "keepalived",
            Status::Fail,
            format!("{name}: no track_script runs check-self"),
            at.clone(),
            format!("add `vrrp_script tcvip_check {{ script \"/usr/local/bin/check-self\" interval 2 timeout {suggested} }}` and `track_script {{ tcvip_check }}` to vrrp_instance {name}"),
        )),
        Some(s) => {
            if let Some(c) = &s.script {
                script_paths.push((program(c).0.to_owned(), format!("vrrp_script {}", s.name)));
            }
            let timeout_ms = s.effective_timeout() * 1000.0;
            let looked = format!("vrrp_script {} ({}) and check.deadline_ms", s.name, s.at);
            out.push(if timeout_ms > deadline_ms as f64 {
                Check::ok(
                    "keepalived",
                    format!(
                        "{name}: track_script {} → check-self, timeout {} s above check.deadline_ms {deadline_ms}",
                        s.name,
                        s.effective_timeout()
                    ),
                    looked,
                )
            } else {
                Check::bad(
                    "keepalived",
                    Status::Fail,
                    format!(
                        "{name}: vrrp_script {} timeout {} s is not above check.deadline_ms {deadline_ms}: keepalived kills check-self before it answers",
                        s.name,
                        s.effective_timeout()
                    ),
                    looked,
                    format!("set `timeout {suggested}` in vrrp_script {} (keepalived's timeout defaults to interval), or lower check.deadline_ms", s.name),
                )
            });
        }
    }
}

/// keepalived's script security: the program and every directory above it owned by root and
/// writable by no one else.
fn script_security(owner: u32, paths: &[(String, String)], out: &mut Vec<Check>) {
    let mut seen = Vec::new();
    for (prog, used_by) in paths {
        if seen.contains(prog) {
            continue;
        }
        seen.push(prog.clone());
        let looked = format!("{prog} ({used_by}) and each directory above it");
        out.push(match insecure(Path::new(prog), owner) {
            None => Check::ok(
                "keepalived",
                format!("{prog}: owned by {}, writable by nobody else", owner_name(owner)),
                looked,
            ),
            Some(why) => Check::bad(
                "keepalived",
                Status::Fail,
                format!("{prog}: {why}; keepalived (enable_script_security) refuses it"),
                looked,
                format!(
                    "install with scripts/install.sh (root:root 0755 in a root-owned directory), or chown {} and chmod go-w the path",
                    owner_name(owner)
                ),
            ),
        });
    }
}

fn owner_name(uid: u32) -> String {
    if uid == 0 {
        "root".to_owned()
    } else {
        format!("uid {uid}")
    }
}

/// Why `prog` is not safe for keepalived to run, or `None`.
fn insecure(prog: &Path, owner: u32) -> Option<String> {
    if !prog.is_absolute() {
        return Some("not an absolute path".to_owned());
    }
    let meta = match std::fs::metadata(prog) {
        Ok(m) => m,
        Err(e) => return Some(format!("cannot be read: {e}")),
    };
    if meta.mode() & 0o111 == 0 || !meta.is_file() {
        return Some("not an executable file".to_owned());
    }
    let mut path = PathBuf::from(prog);
    loop {
        let m = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => return Some(format!("{} cannot be read: {e}", path.display())),
        };
        // keepalived runs scripts as root and wants root everywhere; `owner` (a test hook) may
        // own parts of the path besides root.
        if m.uid() != owner && m.uid() != 0 {
            return Some(format!("{} is owned by uid {}", path.display(), m.uid()));
        }
        // As keepalived judges it: a root-owned directory with the sticky bit (/tmp) lets nobody
        // else replace what is in it, so its write bits do not matter.
        let sticky_root_dir = m.is_dir() && m.mode() & 0o1000 != 0 && m.uid() == 0;
        if m.mode() & 0o002 != 0 && !sticky_root_dir {
            return Some(format!("{} is writable by others", path.display()));
        }
        if m.mode() & 0o020 != 0 && m.gid() != 0 && !sticky_root_dir {
            return Some(format!(
                "{} is writable by group {}",
                path.display(),
                m.gid()
            ));
        }
        if !path.pop() || path.as_os_str().is_empty() {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_script_under_a_root_owned_sticky_directory_is_secure_as_keepalived_judges_it() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = std::env::temp_dir();
        let meta = std::fs::metadata(&tmp).unwrap();
        // /tmp as every distribution has it: root's, 1777.
        assert!(
            meta.uid() == 0 && meta.mode() & 0o1777 == 0o1777,
            "{}",
            tmp.display()
        );
        let dir = tempfile::tempdir_in(&tmp).unwrap();
        let script = dir.path().join("check-self");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        assert_eq!(insecure(&script, me), None);
        // A world-writable directory without the sticky bit is still refused.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let why = insecure(&script, me).unwrap();
        assert!(why.contains("is writable by others"), "{why}");
    }

    #[test]
    fn versions() {
        assert_eq!(
            parse_version("Keepalived v2.2.7 (01/16,2022)\n"),
            Some((2, 2, 7))
        );
        assert_eq!(
            parse_version("Keepalived v1.3.5 (03/19,2017), git commit v1.3.5-6"),
            Some((1, 3, 5))
        );
        assert_eq!(parse_version("Keepalived v2.3"), Some((2, 3, 0)));
        assert_eq!(parse_version("nothing"), None);
        assert!((2, 0, 6) > (1, 3, 5));
    }

    #[test]
    fn programs() {
        assert_eq!(
            program("/usr/local/bin/notify-action MASTER"),
            ("/usr/local/bin/notify-action", "notify-action")
        );
        assert_eq!(program("check-self"), ("check-self", "check-self"));
    }
}
