//! The checks of `tcvip doctor`, in order: configuration, state directory, log target, drain,
//! credentials, identity, endpoint, permissions, VIPs, keepalived. A check that needs what an
//! earlier one could not establish says so (unknown) instead of guessing. This file holds the
//! local checks; credentials, identity and permissions are in `doctor_identity`, the VIPs and
//! their EIPs in `doctor_vips`.

use std::path::Path;
use std::sync::Arc;

use tencent_api::Client;
use vip_state::StateDir;

use super::doctor::{Args, Check, Report, Status};
use crate::config::{Config, PathOrigin, resolve_path};
use crate::log::{LogSettings, LogTarget};

use super::doctor_identity::{credentials, identity, permissions};
use super::doctor_vips::{eips, vips};

/// Runs every check.
pub fn diagnose(args: &Args) -> Report {
    let mut report = Report::default();
    let Some(config) = configuration(args, &mut report) else {
        return report;
    };
    let state = state_dir(&config, &mut report);
    log_target(&config, &mut report);
    report.push(drain(&config));
    let credentials = credentials(&config, &mut report);
    let identity = identity(&config, state.as_ref(), credentials.clone(), &mut report);
    let region = config
        .cloud
        .region
        .clone()
        .or_else(|| identity.as_ref().map(|i| i.region.clone()));
    let client = match (&region, &credentials) {
        (Some(region), Some(creds)) => {
            Client::new(config.client_config(region), Arc::clone(creds)).ok()
        }
        _ => None,
    };
    report.checks.extend(super::doctor_endpoint::check(
        &config,
        region.as_ref().map(|r| r.as_str()),
    ));
    permissions(&config, client.as_ref(), identity.as_ref(), &mut report);
    vips(&config, client.as_ref(), identity.as_ref(), &mut report);
    eips(&config, client.as_ref(), identity.as_ref(), &mut report);
    report.checks.extend(super::doctor_keepalived::check(
        args,
        &config,
        identity.as_ref(),
    ));
    report
}

fn configuration(args: &Args, report: &mut Report) -> Option<Config> {
    let env = std::env::var_os(crate::config::CONFIG_ENV);
    let (path, origin) = resolve_path(args.common.config.as_deref(), env.as_deref());
    let origin = match origin {
        PathOrigin::Flag => "named by --config",
        PathOrigin::Env => "named by $TCVIP_CONFIG",
        PathOrigin::Default => "the default path",
    };
    let looked = format!("{} ({origin})", path.display());
    let loaded = Config::load(args.common.config.as_deref()).and_then(|mut c| {
        c.apply(&args.common.overrides())?;
        Ok(c)
    });
    match loaded {
        Ok(config) => {
            report.push(
                Check::ok(
                    "config",
                    format!("{} parsed; effective values:", path.display()),
                    looked,
                )
                .with_details(effective_values(&config)),
            );
            Some(config)
        }
        Err(e) => {
            report.push(Check::bad(
                "config",
                Status::Fail,
                format!("cannot be used: {e}"),
                looked,
                "correct what the message names: a missing file is created from keepalived-examples/tcvip.toml (or named with --config / $TCVIP_CONFIG), a bad key is fixed as that file documents it; nothing else can be checked until then",
            ));
            None
        }
    }
}

/// `key = value` for every key, secrets masked.
pub fn effective_values(c: &Config) -> Vec<String> {
    let opt =
        |v: Option<&str>, default: &str| v.map_or_else(|| default.to_owned(), |v| format!("{v:?}"));
    let masked = |s: Option<&crate::config::Secret>| {
        if s.is_some() {
            "(set, masked)".to_owned()
        } else {
            "(not set)".to_owned()
        }
    };
    let mut out = vec![
        format!(
            "cloud.region = {}",
            opt(c.cloud.region.as_ref().map(|r| r.as_str()), "(discovered)")
        ),
        format!("cloud.endpoint = {:?}", c.cloud.endpoint.url()),
        format!("cloud.language = {:?}", c.cloud.language.as_str()),
        format!("cloud.timeout_ms = {}", c.cloud.timeout_ms),
        format!("credentials.source = {:?}", c.credentials.source.as_str()),
        format!(
            "credentials.secret_id = {}",
            c.credentials
                .secret_id
                .as_ref()
                .map_or_else(|| "(not set)".to_owned(), |s| mask_id(s.expose()))
        ),
        format!(
            "credentials.secret_key = {}",
            masked(c.credentials.secret_key.as_ref())
        ),
        format!(
            "credentials.token = {}",
            masked(c.credentials.token.as_ref())
        ),
        format!(
            "credentials.profile_file = {}",
            c.credentials.profile_file.as_ref().map_or_else(
                || "(~/.tencentcloud/credentials, /etc/tencentcloud/credentials)".to_owned(),
                |p| format!("{:?}", p.display().to_string())
            )
        ),
        format!("metadata.url = {:?}", c.metadata.url),
        format!(
            "node.instance_id = {}",
            opt(
                c.node.instance_id.as_ref().map(|v| v.as_str()),
                "(discovered)"
            )
        ),
        format!(
            "node.eni_id = {}",
            opt(c.node.eni_id.as_ref().map(|v| v.as_str()), "(discovered)")
        ),
        format!(
            "node.vpc_id = {}",
            opt(c.node.vpc_id.as_ref().map(|v| v.as_str()), "(discovered)")
        ),
    ];
    for (i, v) in c.vips.iter().enumerate() {
        out.push(format!(
            "vip[{i}]: address = \"{}\", instance = {}, interface = {}, prefix_len = {}",
            v.address,
            opt(v.instance.as_deref(), "(the only one)"),
            opt(v.interface.as_deref(), "(discovered)"),
            v.prefix_len
        ));
    }
    out.extend([
        format!("failover.deadline_s = {}", c.failover.deadline_s),
        format!(
            "failover.assign_if_unassigned = {}",
            c.failover.assign_if_unassigned
        ),
        format!("check.deadline_ms = {}", c.check.deadline_ms),
        format!("check.cloud_ttl_s = {}", c.check.cloud_ttl_s),
        format!(
            "check.reconcile_cooldown_s = {}",
            c.check.reconcile_cooldown_s
        ),
        format!(
            "check.on_cloud_error = {:?}",
            c.check.on_cloud_error.as_str()
        ),
        format!("check.remove_stray_vip = {}", c.check.remove_stray_vip),
    ]);
    if c.check.service_checks.is_empty() {
        out.push("check.service_checks = (none)".to_owned());
    }
    for (i, s) in c.check.service_checks.iter().enumerate() {
        out.push(format!(
            "check.service_checks[{i}] = argv {:?}, timeout_ms {}",
            s.argv, s.timeout_ms
        ));
    }
    out.extend([
        format!("state.dir = {:?}", c.state.dir.display().to_string()),
        format!("log.target = {:?}", c.log.target.to_string()),
        format!("log.level = {:?}", c.log.level.as_str()),
    ]);
    out
}

/// A SecretId shown by its first four and last four characters.
pub(super) fn mask_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 8 {
        return "(set, masked)".to_owned();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("\"{head}…{tail}\" (masked)")
}

fn state_dir(config: &Config, report: &mut Report) -> Option<StateDir> {
    let looked = format!("state.dir {}", config.state.dir.display());
    let opened = StateDir::open(&config.state.dir)
        .map_err(|e| e.to_string())
        .and_then(|s| {
            s.write_cache("doctor", &"state directory writable")
                .map_err(|e| e.to_string())?;
            Ok(s)
        });
    match opened {
        Ok(s) => {
            report.push(Check::ok(
                "state",
                format!("{} is usable (opened, written)", config.state.dir.display()),
                looked,
            ));
            Some(s)
        }
        Err(e) => {
            report.push(Check::bad(
                "state",
                Status::Fail,
                format!("{} is not usable: {e}", config.state.dir.display()),
                looked,
                "let tcvip create it (a missing directory is created root-owned 0700), or make it owned by root and writable by nobody else, or set state.dir",
            ));
            None
        }
    }
}

fn log_target(config: &Config, report: &mut Report) {
    let looked = format!("log.target {:?}", config.log.target.to_string());
    let target = config.log.target.clone();
    let check = match &target {
        LogTarget::Syslog => {
            let socket = Path::new("/dev/log");
            use std::os::unix::fs::FileTypeExt as _;
            if std::fs::metadata(socket).is_ok_and(|m| m.file_type().is_socket()) {
                Check::ok("log", "syslog: /dev/log accepts log lines", looked)
            } else {
                Check::bad(
                    "log",
                    Status::Warn,
                    "syslog: no socket at /dev/log, log lines are lost",
                    looked,
                    "run journald or rsyslog, or set log.target = \"file:/var/log/tcvip.log\"",
                )
            }
        }
        LogTarget::Stderr => Check::bad(
            "log",
            Status::Warn,
            "stderr: keepalived sends its scripts' stderr to /dev/null, so their log is lost",
            looked,
            "set log.target = \"syslog\" (the default) or \"file:/var/log/tcvip.log\"",
        ),
        LogTarget::File(path) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(_) => Check::ok(
                "log",
                format!("{} can be appended to", path.display()),
                looked,
            ),
            Err(e) => Check::bad(
                "log",
                Status::Fail,
                format!("cannot append to {}: {e}", path.display()),
                looked,
                "create its directory (root-owned), or choose another file:/path or syslog",
            ),
        },
    };
    let usable = check.status == Status::Ok;
    report.push(check);
    if usable {
        crate::log::init(LogSettings::new("tcvip", target, config.log.level));
    }
}

/// Whether this node is drained (`tcvip drain`): a warning naming who, when and why.
fn drain(config: &Config) -> Check {
    let looked = format!("drain.file {}", config.drain.file.display());
    match super::drain::current(config) {
        None => Check::ok("drain", "not drained", looked),
        Some(d) => Check::bad(
            "drain",
            Status::Warn,
            format!("{}: this node stays out of MASTER", d.describe()),
            looked,
            "`tcvip undrain` once the maintenance is over",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_masked() {
        assert_eq!(
            mask_id("AKIDTCVIPDEMO00000000000000000000000"),
            "\"AKID…0000\" (masked)"
        );
        assert_eq!(mask_id("short"), "(set, masked)");
    }

    #[test]
    fn effective_values_mask_secrets() {
        let c = Config::from_toml_str(
            "[credentials]\nsource = \"file\"\nsecret_id = \"AKIDabcdefgh12345678\"\nsecret_key = \"sEcReTkEy\"\n[[vip]]\naddress = \"10.0.1.100\"\n",
            Path::new("/t.toml"),
        )
        .map_err(|e| e.to_string());
        let Ok(c) = c else {
            panic!("{c:?}");
        };
        let text = effective_values(&c).join("\n");
        assert!(!text.contains("sEcReTkEy"), "{text}");
        assert!(!text.contains("AKIDabcdefgh12345678"), "{text}");
        assert!(
            text.contains("credentials.secret_key = (set, masked)"),
            "{text}"
        );
        assert!(text.contains("vip[0]: address = \"10.0.1.100\""), "{text}");
        assert!(text.contains("check.deadline_ms = 2000"), "{text}");
    }
}
