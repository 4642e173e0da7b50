//! `tcvip doctor`'s cloud-side checks of this node: which credentials it would use (and when a
//! role's keys expire), the identity discovery finds, and what CAM lets it do.

use std::sync::Arc;

use tencent_api::Client;
use tencent_api::credentials::{
    CredentialProvider, CvmRoleCredentials, EnvCredentials, ProfileCredentials,
};
use vip_state::{StateDir, format_utc};

use super::doctor::{Check, Report, Status};
use super::doctor_node::mask_id;
use super::doctor_permissions::{self as perms, Verdict};
use crate::config::{Config, CredentialSource};
use crate::discovery::{Discoverer, Identity};

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

pub(super) fn credentials(
    config: &Config,
    report: &mut Report,
) -> Option<Arc<dyn CredentialProvider>> {
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

pub(super) fn identity(
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

pub(super) fn permissions(
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
                havip_id: config.vips.iter().find_map(super::havip::havip_id_of),
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
