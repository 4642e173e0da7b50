//! The checks of `tcvip doctor`, in order: configuration, state directory, log target, drain,
//! credentials, identity, endpoint, permissions, VIPs, keepalived. A check that needs what an
//! earlier one could not establish says so (unknown) instead of guessing.

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;

use tencent_api::Client;
use tencent_api::credentials::{
    CredentialProvider, CvmRoleCredentials, EnvCredentials, ProfileCredentials,
};
use vip_state::{StateDir, format_utc};

use super::doctor::{Args, Check, Report, Status};
use super::doctor_permissions::{self as perms, Verdict};
use crate::config::{Config, CredentialSource, PathOrigin, resolve_path};
use crate::discovery::{Discoverer, Identity};
use crate::log::{LogSettings, LogTarget};

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
fn mask_id(id: &str) -> String {
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

/// The providers `credentials.source` tries, in order (as the other binaries use them).
fn providers(config: &Config) -> Vec<Arc<dyn CredentialProvider>> {
    let profile = || -> Arc<dyn CredentialProvider> {
        Arc::new(match &config.credentials.profile_file {
            Some(p) => ProfileCredentials::with_path(p.clone()),
            None => ProfileCredentials::new(),
        })
    };
    let role = || -> Arc<dyn CredentialProvider> {
        Arc::new(CvmRoleCredentials::new(config.metadata_client()))
    };
    match config.credentials.source {
        CredentialSource::Auto => vec![Arc::new(EnvCredentials::new()), profile(), role()],
        CredentialSource::Env => vec![Arc::new(EnvCredentials::new())],
        CredentialSource::Profile => vec![profile()],
        CredentialSource::CvmRole => vec![role()],
        CredentialSource::File => vec![config.credential_provider()],
    }
}

fn credentials(config: &Config, report: &mut Report) -> Option<Arc<dyn CredentialProvider>> {
    let source = config.credentials.source;
    let mut tried = Vec::new();
    for provider in providers(config) {
        let name = if source == CredentialSource::File {
            format!(
                "credentials.secret_id / secret_key in {}",
                config.path.display()
            )
        } else {
            provider.describe()
        };
        match provider.credentials() {
            Ok(creds) => {
                let is_role = name.starts_with("CVM role");
                let (status, expiry, fix) = match (&creds.token, is_role) {
                    (None, _) => (Status::Ok, "long-term keys (no expiry)".to_owned(), None),
                    (Some(_), true) => role_expiry(config),
                    (Some(_), false) => (
                        Status::Warn,
                        "temporary keys (a session token is set) whose expiry tcvip cannot know: they stop working when their session ends".to_owned(),
                        Some("bind a CAM role to the CVM (tcvip refreshes its keys itself), or use long-term keys of a sub-user limited by `tcvip cam-policy`".to_owned()),
                    ),
                };
                let summary = format!(
                    "{name} answered (SecretId {}); {expiry}",
                    mask_id(&creds.secret_id)
                );
                let looked = format!(
                    "credentials.source = {:?}{}",
                    source.as_str(),
                    if tried.is_empty() {
                        String::new()
                    } else {
                        format!("; before it, nothing from: {}", tried.join("; "))
                    }
                );
                let mut check = Check::new("credentials", status, summary, looked);
                check.fix = fix;
                report.push(check);
                return Some(provider);
            }
            Err(e) => tried.push(format!("{name}: {e}")),
        }
    }
    report.push(Check::bad(
        "credentials",
        Status::Fail,
        format!("no usable credentials: {}", tried.join("; ")),
        format!("credentials.source = {:?}", source.as_str()),
        "bind a CAM role to the CVM (best: nothing on disk), or set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY in keepalived's environment, or write /etc/tencentcloud/credentials ([default] secret_id / secret_key)",
    ));
    None
}

/// When the CVM role's current temporary keys expire, from the metadata service.
fn role_expiry(config: &Config) -> (Status, String, Option<String>) {
    let md = config.metadata_client();
    let path = tencent_api::credentials::ROLE_CREDENTIALS_PATH;
    let expiry = md.get(path).map_err(|e| e.to_string()).and_then(|roles| {
        let role = roles.lines().next().unwrap_or("").trim().to_owned();
        let text = md
            .get(&format!("{path}{role}"))
            .map_err(|e| e.to_string())?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
        v["ExpiredTime"]
            .as_i64()
            .map(|t| (role, t))
            .ok_or_else(|| "no ExpiredTime".to_owned())
    });
    match expiry {
        Ok((role, at)) => {
            let now = i64::try_from(vip_state::now_ms() / 1000).unwrap_or(i64::MAX);
            let left = at - now;
            let when = format_utc(u64::try_from(at).unwrap_or(0) * 1000);
            if left <= 0 {
                (
                    Status::Warn,
                    format!("role {role}: temporary keys expired at {when}"),
                    Some("check the metadata service's clock and the role binding; tcvip fetches new keys on every expiry".to_owned()),
                )
            } else {
                (
                    Status::Ok,
                    format!(
                        "role {role}: temporary keys expire at {when} (in {} min); tcvip fetches new ones 5 minutes before",
                        left / 60
                    ),
                    None,
                )
            }
        }
        Err(e) => (
            Status::Warn,
            format!("temporary keys of a CVM role; their expiry could not be read: {e}"),
            Some("check metadata.url".to_owned()),
        ),
    }
}

fn identity(
    config: &Config,
    state: Option<&StateDir>,
    credentials: Option<Arc<dyn CredentialProvider>>,
    report: &mut Report,
) -> Option<Identity> {
    let mut discoverer = Discoverer::new(config).refresh(true);
    if let Some(state) = state {
        discoverer = discoverer.with_state_dir(state);
    }
    if let Some(c) = credentials {
        discoverer = discoverer.with_credentials(c);
    }
    let looked = format!(
        "metadata {} and DescribeNetworkInterfaces",
        config.metadata.url
    );
    match discoverer.discover() {
        Ok(d) => {
            let details: Vec<String> = d
                .facts
                .iter()
                .map(|f| format!("{} = {} (from {})", f.name, f.value, f.source.as_str()))
                .chain(d.warnings.iter().map(|w| format!("warning: {w}")))
                .collect();
            let id = &d.identity;
            let mac = id
                .mac
                .as_ref()
                .map_or_else(|| "?".to_owned(), |m| m.to_string());
            let iface = id.interface.clone();
            let summary = format!(
                "instance {}, ENI {} (MAC {mac} → {}), VPC {}, subnet {}, region {}",
                id.instance_id.as_str(),
                id.eni_id.as_str(),
                iface.as_deref().unwrap_or("no local interface"),
                id.vpc_id.as_str(),
                id.subnet_id.as_ref().map_or("?", |s| s.as_str()),
                id.region.as_str(),
            );
            let unplaced: Vec<String> = config
                .vips
                .iter()
                .filter(|v| v.interface.is_none())
                .map(|v| v.address.to_string())
                .collect();
            let check = if iface.is_none() && !unplaced.is_empty() {
                Check::bad(
                    "identity",
                    Status::Fail,
                    summary,
                    looked,
                    format!(
                        "no local interface carries MAC {mac}, so {} have no interface: set interface in their [[vip]] entries",
                        unplaced.join(", ")
                    ),
                )
            } else {
                Check::ok("identity", summary, looked)
            };
            report.push(check.with_details(details));
            Some(d.identity)
        }
        Err(e) => {
            report.push(Check::bad(
                "identity",
                Status::Fail,
                format!("cannot establish this node's identity: {e}"),
                looked,
                "the message names the [node] key that would supply the missing fact; or check metadata.url and the credentials",
            ));
            None
        }
    }
}

fn permissions(
    config: &Config,
    client: Option<&Client>,
    identity: Option<&Identity>,
    report: &mut Report,
) {
    for need in perms::needed_actions(config) {
        let looked_base = format!("vpc:{} ({})", need.action, need.why);
        let (Some(client), Some(id)) = (client, identity) else {
            report.push(Check::bad(
                "permission",
                Status::Unknown,
                format!("vpc:{} not probed: no API client or identity", need.action),
                looked_base,
                "fix the credentials / identity checks above first",
            ));
            continue;
        };
        let probe = perms::probe(
            client,
            need.action,
            &perms::Target {
                eni_id: id.eni_id.as_str(),
                primary_ip: id.primary_ipv4,
                vip: config.vips.first().map(|v| v.address),
            },
        );
        let looked = format!("{looked_base}: {} {}", need.action, probe.request);
        let check = match probe.verdict {
            Verdict::Allowed(how) => Check::ok(
                "permission",
                format!("vpc:{} allowed: {how}", need.action),
                looked,
            ),
            Verdict::Refused { code, message } => Check::bad(
                "permission",
                Status::Fail,
                format!("vpc:{} refused by CAM ({code}: {message})", need.action),
                looked,
                format!(
                    "grant vpc:{} to these credentials' CAM role or user: `tcvip cam-policy` prints a policy with every action tcvip needs",
                    need.action
                ),
            ),
            Verdict::Unknown(why) => Check::bad(
                "permission",
                Status::Unknown,
                format!("vpc:{} could not be decided: {why}", need.action),
                looked,
                "run doctor again once the endpoint and credentials checks pass",
            ),
        };
        report.push(check);
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

/// Each `[[vip]] eip`: it exists and points at the VIP on the ENI that holds the VIP.
fn eips(
    config: &Config,
    client: Option<&Client>,
    identity: Option<&Identity>,
    report: &mut Report,
) {
    for v in config.vips.iter().filter(|v| v.eip.is_some()) {
        let (vip, id) = (
            v.address,
            v.eip.as_ref().map(|e| e.as_str()).unwrap_or_default(),
        );
        let looked = format!("[[vip]] {vip} eip {id}: DescribeAddresses");
        let (Some(client), Some(node)) = (client, identity) else {
            report.push(Check::bad(
                "eip",
                Status::Unknown,
                format!("{id}: the cloud could not be asked"),
                looked,
                "fix the credentials / identity checks above first",
            ));
            continue;
        };
        let holder = crate::cloud::find_holder(client, node.vpc_id.as_str(), vip);
        let check = match (super::eip::describe_eip(client, id), holder) {
            (Err(e), _) | (_, Err(e)) => Check::bad(
                "eip",
                Status::Unknown,
                format!("{id}: not known: {e}"),
                looked,
                "run doctor again once the endpoint and permission checks pass",
            ),
            (Ok(None), _) => Check::bad(
                "eip",
                Status::Fail,
                format!("{id} does not exist"),
                looked,
                format!(
                    "correct eip in the [[vip]] entry of {vip} (`tcvip eip show` lists what is bound), or bind a new one with `tcvip eip associate --allocate --vip {vip}`"
                ),
            ),
            (Ok(Some(e)), Ok(Some(h))) if e.points_at(&h.eni, vip) => Check::ok(
                "eip",
                format!(
                    "{id} points at {vip} on its holder {}: {}",
                    h.eni,
                    e.describe()
                ),
                looked,
            ),
            (Ok(Some(e)), Ok(h)) => Check::bad(
                "eip",
                Status::Warn,
                format!(
                    "{id} does not point at {vip} on its holder {}: {}",
                    h.map(|h| h.eni.to_string())
                        .unwrap_or_else(|| "(none)".into()),
                    e.describe()
                ),
                looked,
                format!(
                    "`tcvip eip associate --vip {vip}` on the MASTER (vip-migrate and check-self also bind it again there); an EIP bound to another address must be unbound first (`tcvip eip disassociate`)"
                ),
            ),
        };
        report.push(check);
    }
}

/// The subnet of this node's primary IP from the metadata service: (network, prefix).
fn subnet_of(config: &Config, id: &Identity) -> Option<(Ipv4Addr, u32)> {
    let mac = id.mac.as_ref()?;
    let ip = id.primary_ipv4?;
    let md = config.metadata_client();
    let mask: Ipv4Addr = md
        .get(&format!(
            "network/interfaces/macs/{}/local-ipv4s/{ip}/subnet-mask",
            mac.as_str().to_ascii_lowercase()
        ))
        .or_else(|_| {
            md.get(&format!(
                "network/interfaces/macs/{}/local-ipv4s/{ip}/subnet-mask",
                mac.as_str()
            ))
        })
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let bits = u32::from(mask);
    Some((Ipv4Addr::from(u32::from(ip) & bits), bits.count_ones()))
}

fn in_subnet(vip: Ipv4Addr, (net, prefix): (Ipv4Addr, u32)) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    u32::from(vip) & mask == u32::from(net)
}

fn vips(
    config: &Config,
    client: Option<&Client>,
    identity: Option<&Identity>,
    report: &mut Report,
) {
    let subnet = identity.and_then(|id| subnet_of(config, id));
    for v in &config.vips {
        let vip = v.address;
        let looked = format!("[[vip]] {vip}: DescribeNetworkInterfaces (address-ip, exact)");
        let (Some(client), Some(id)) = (client, identity) else {
            report.push(Check::bad(
                "vip",
                Status::Unknown,
                format!("{vip}: the cloud could not be asked"),
                looked,
                "fix the credentials / identity checks above first",
            ));
            continue;
        };
        let mut problems: Vec<(Status, String, String)> = Vec::new();
        let mut facts = Vec::new();
        match subnet {
            Some(s) if in_subnet(vip, s) => facts.push(format!("inside {}/{}", s.0, s.1)),
            Some(s) => problems.push((
                Status::Fail,
                format!("{vip} is outside this node's subnet {}/{}", s.0, s.1),
                "a VIP must be a secondary IP of this node's subnet (MigratePrivateIpAddress moves only within one subnet): allocate one there".to_owned(),
            )),
            None => facts.push("subnet mask not known (metadata)".to_owned()),
        }
        if Some(vip) == id.primary_ipv4 {
            problems.push((
                Status::Fail,
                format!("{vip} is this node's own primary IP"),
                "a primary IP can never move: use a secondary IP as the VIP".to_owned(),
            ));
        }
        match crate::cloud::find_holder(client, id.vpc_id.as_str(), vip) {
            Ok(Some(h)) if h.primary => problems.push((
                Status::Fail,
                format!("{vip} is the primary IP of {}", h.eni),
                "a primary IP can never move: choose a free address of the subnet as the VIP (tcvip allocate / AssignPrivateIpAddresses)".to_owned(),
            )),
            Ok(Some(h)) => facts.push(format!(
                "held by {}{} ({}){}",
                h.eni,
                h.instance.as_ref().map(|i| format!(" on {i}")).unwrap_or_default(),
                h.state,
                if h.eni == id.eni_id.as_str() { ", this node" } else { "" }
            )),
            Ok(None) if config.failover.assign_if_unassigned => {
                facts.push("assigned to no ENI (vip-migrate will assign it)".to_owned());
            }
            Ok(None) => problems.push((
                Status::Warn,
                format!("{vip} is assigned to no ENI"),
                "assign it to the master's ENI (AssignPrivateIpAddresses), or set failover.assign_if_unassigned = true".to_owned(),
            )),
            Err(e) => problems.push((
                Status::Unknown,
                format!("where the cloud has {vip} is not known: {e}"),
                "run doctor again once the endpoint check passes".to_owned(),
            )),
        }
        let check = match problems.iter().max_by_key(|p| p.0) {
            None => Check::ok("vip", format!("{vip}: {}", facts.join(", ")), looked),
            Some((status, _, _)) => {
                let summary = problems
                    .iter()
                    .map(|p| p.1.clone())
                    .collect::<Vec<_>>()
                    .join("; ");
                let fix = problems
                    .iter()
                    .map(|p| p.2.clone())
                    .collect::<Vec<_>>()
                    .join("; ");
                Check::bad("vip", *status, summary, looked, fix).with_details(facts)
            }
        };
        report.push(check);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_and_masks() {
        let net = (Ipv4Addr::new(198, 18, 1, 0), 24);
        assert!(in_subnet(Ipv4Addr::new(198, 18, 1, 100), net));
        assert!(!in_subnet(Ipv4Addr::new(198, 18, 2, 100), net));
        assert!(in_subnet(
            Ipv4Addr::new(1, 2, 3, 4),
            (Ipv4Addr::UNSPECIFIED, 0)
        ));
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
