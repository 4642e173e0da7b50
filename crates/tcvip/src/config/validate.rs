//! Checks that span keys or need ranges: what serde alone cannot say.

use super::{Config, ConfigError, CredentialSource, VipKind};

/// Upper bounds that catch unit mistakes (milliseconds typed as seconds and the like).
const MAX_CHECK_DEADLINE_MS: u64 = 60_000;
const MIN_CHECK_DEADLINE_MS: u64 = 100;
const MAX_TIMEOUT_MS: u64 = 60_000;
const MAX_FAILOVER_DEADLINE_S: u64 = 3600;
const MAX_TTL_S: u64 = 86_400;

pub(super) fn validate(c: &Config) -> Result<(), ConfigError> {
    if c.vips.is_empty() {
        return Err(ConfigError::invalid(
            c.path.as_path(),
            "vip",
            "no [[vip]] entry; at least one is required, e.g.\n[[vip]]\naddress = \"10.0.1.100\"",
        ));
    }
    validate_setup(c)
}

/// Everything [`validate`] checks but the presence of a `[[vip]]` (for `tcvip allocate`).
pub(super) fn validate_setup(c: &Config) -> Result<(), ConfigError> {
    let path = c.path.as_path();
    let err = |key: String, msg: String| ConfigError::invalid(path, key, msg);

    // [[vip]]
    let named = c.vips.iter().filter(|v| v.instance.is_some()).count();
    for (i, v) in c.vips.iter().enumerate() {
        if let Some(j) = c.vips[..i].iter().position(|w| w.address == v.address) {
            return Err(err(
                format!("vip[{i}].address"),
                format!("{} is already listed as vip[{j}].address", v.address),
            ));
        }
        if let Some(reason) = crate::vip_guard::not_a_vip(v.address) {
            return Err(err(
                format!("vip[{i}].address"),
                format!(
                    "{} is {reason}, never a VIP; set the address keepalived moves between the nodes",
                    v.address
                ),
            ));
        }
        if !(1..=32).contains(&v.prefix_len) {
            return Err(err(
                format!("vip[{i}].prefix_len"),
                format!(
                    "expected a prefix length from 1 to 32, found {}",
                    v.prefix_len
                ),
            ));
        }
        match (v.kind, &v.havip_id) {
            (VipKind::Havip, None) => {
                return Err(err(
                    format!("vip[{i}].havip_id"),
                    format!(
                        "missing: kind = \"havip\" needs the HAVIP's id, e.g. havip_id = \"havip-ohz2bq4e\" (the VPC console's HAVIP list shows the id of {}, as does the DescribeHaVips API)",
                        v.address
                    ),
                ));
            }
            (VipKind::SecondaryIp, Some(id)) => {
                return Err(err(
                    format!("vip[{i}].havip_id"),
                    format!(
                        "{id} is set but kind is \"secondary-ip\" (the default); set kind = \"havip\" for a HAVIP, or remove havip_id"
                    ),
                ));
            }
            (VipKind::Havip, Some(id)) => {
                if let Some(j) = c.vips[..i]
                    .iter()
                    .position(|w| w.havip_id.as_ref() == Some(id))
                {
                    return Err(err(
                        format!("vip[{i}].havip_id"),
                        format!("{id} is already vip[{j}].havip_id; a HAVIP has one address"),
                    ));
                }
            }
            (VipKind::SecondaryIp, None) => {}
        }
        match &v.instance {
            Some(name)
                if name.is_empty()
                    || name.chars().any(|ch| ch.is_whitespace() || ch.is_control()) =>
            {
                return Err(err(
                    format!("vip[{i}].instance"),
                    format!(
                        "expected a keepalived vrrp_instance name like \"VI_1\", found {name:?}"
                    ),
                ));
            }
            None if named > 0 => {
                return Err(err(
                    format!("vip[{i}].instance"),
                    "missing: some [[vip]] entries name their keepalived instance and this one does not; \
                     set instance on every [[vip]] or on none (none = they all follow the only instance)"
                        .into(),
                ));
            }
            _ => {}
        }
    }

    for (i, v) in c.vips.iter().enumerate() {
        if let Some(eip) = &v.eip
            && let Some(j) = c.vips[..i].iter().position(|w| w.eip.as_ref() == Some(eip))
        {
            return Err(err(
                format!("vip[{i}].eip"),
                format!("{eip} is already kept on vip[{j}]; an EIP can point at one VIP only"),
            ));
        }
    }

    // [drain]
    if !c.drain.file.is_absolute() {
        return Err(err(
            "drain.file".into(),
            format!(
                "expected an absolute path like \"/var/lib/tcvip/drain\", found {:?}",
                c.drain.file.display().to_string()
            ),
        ));
    }

    // [metrics]
    if let Some(file) = &c.metrics.textfile {
        let shown = file.display().to_string();
        if !file.is_absolute() || file.file_name().is_none() {
            return Err(err(
                "metrics.textfile".into(),
                format!(
                    "expected an absolute file path like \"/var/lib/node_exporter/textfile_collector/tcvip.prom\", found {shown:?}"
                ),
            ));
        }
        if file.extension().is_none_or(|e| e != "prom") {
            return Err(err(
                "metrics.textfile".into(),
                format!(
                    "expected a name ending in .prom (node_exporter's textfile collector reads only those), found {shown:?}"
                ),
            ));
        }
    }

    // [cloud]
    if !(1..=MAX_TIMEOUT_MS).contains(&c.cloud.timeout_ms) {
        return Err(err(
            "cloud.timeout_ms".into(),
            format!(
                "expected milliseconds from 1 to {MAX_TIMEOUT_MS}, found {}",
                c.cloud.timeout_ms
            ),
        ));
    }

    if let Some(ca) = &c.cloud.ca_file
        && !ca.is_absolute()
    {
        return Err(err(
            "cloud.ca_file".into(),
            format!(
                "expected an absolute path like \"/etc/tcvip/ca.pem\", found {:?}",
                ca.display().to_string()
            ),
        ));
    }

    // [credentials]
    let cr = &c.credentials;
    match (&cr.secret_id, &cr.secret_key) {
        (Some(_), None) => {
            return Err(err(
                "credentials.secret_key".into(),
                "missing: credentials.secret_id is set without it".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(err(
                "credentials.secret_id".into(),
                "missing: credentials.secret_key is set without it".into(),
            ));
        }
        (Some(_), Some(_)) if cr.source != CredentialSource::File => {
            return Err(err(
                "credentials.source".into(),
                format!(
                    "secret_id and secret_key are in this file but source is {:?}; set source = \"file\" \
                     to use them, or remove them",
                    cr.source.as_str()
                ),
            ));
        }
        (None, None) if cr.source == CredentialSource::File => {
            return Err(err(
                "credentials.source".into(),
                "\"file\" needs credentials.secret_id and credentials.secret_key in this file"
                    .into(),
            ));
        }
        (None, None) if cr.token.is_some() => {
            return Err(err(
                "credentials.token".into(),
                "a token needs secret_id and secret_key beside it".into(),
            ));
        }
        _ => {}
    }
    if let Some(p) = &cr.profile_file {
        if !p.is_absolute() {
            return Err(err(
                "credentials.profile_file".into(),
                format!("expected an absolute path, found {p:?}"),
            ));
        }
        if !matches!(
            cr.source,
            CredentialSource::Auto | CredentialSource::Profile
        ) {
            return Err(err(
                "credentials.profile_file".into(),
                format!(
                    "is only read with source = \"profile\" or \"auto\", but source is {:?}",
                    cr.source.as_str()
                ),
            ));
        }
    }

    // [failover]
    if !(1..=MAX_FAILOVER_DEADLINE_S).contains(&c.failover.deadline_s) {
        return Err(err(
            "failover.deadline_s".into(),
            format!(
                "expected seconds from 1 to {MAX_FAILOVER_DEADLINE_S}, found {}",
                c.failover.deadline_s
            ),
        ));
    }
    if !(100..=MAX_TIMEOUT_MS).contains(&c.failover.havip_bind_timeout_ms) {
        return Err(err(
            "failover.havip_bind_timeout_ms".into(),
            format!(
                "expected milliseconds from 100 to {MAX_TIMEOUT_MS}, found {}",
                c.failover.havip_bind_timeout_ms
            ),
        ));
    }
    if c.vips.iter().any(|v| v.kind == VipKind::Havip)
        && c.failover.havip_bind_timeout_ms >= c.failover.deadline_s.saturating_mul(1000)
    {
        return Err(err(
            "failover.havip_bind_timeout_ms".into(),
            format!(
                "{} ms is not below failover.deadline_s ({} s): a new MASTER would never announce a HAVIP the VPC did not learn; set it to a few seconds, below the deadline",
                c.failover.havip_bind_timeout_ms, c.failover.deadline_s
            ),
        ));
    }

    // [check]
    let ck = &c.check;
    if !(MIN_CHECK_DEADLINE_MS..=MAX_CHECK_DEADLINE_MS).contains(&ck.deadline_ms) {
        return Err(err(
            "check.deadline_ms".into(),
            format!(
                "expected milliseconds from {MIN_CHECK_DEADLINE_MS} to {MAX_CHECK_DEADLINE_MS} (keep it below \
                 keepalived's vrrp_script timeout), found {}",
                ck.deadline_ms
            ),
        ));
    }
    if !(1..=MAX_TTL_S).contains(&ck.cloud_ttl_s) {
        return Err(err(
            "check.cloud_ttl_s".into(),
            format!(
                "expected seconds from 1 to {MAX_TTL_S}, found {}",
                ck.cloud_ttl_s
            ),
        ));
    }
    // The cooldown doubles up to this cap (vip-state's MAX_RECONCILE_COOLDOWN_S).
    let max_cooldown = vip_state::MAX_RECONCILE_COOLDOWN_S;
    if !(1..=max_cooldown).contains(&ck.reconcile_cooldown_s) {
        return Err(err(
            "check.reconcile_cooldown_s".into(),
            format!(
                "expected seconds from 1 to {max_cooldown}, found {}",
                ck.reconcile_cooldown_s
            ),
        ));
    }
    for (i, sc) in ck.service_checks.iter().enumerate() {
        if sc.argv.first().is_none_or(|p| p.is_empty()) {
            return Err(err(
                format!("check.service_checks[{i}].argv"),
                "expected a program and its arguments, e.g. [\"systemctl\", \"is-active\", \"--quiet\", \"haproxy\"], \
                 found an empty program"
                    .into(),
            ));
        }
        if sc.timeout_ms == 0 || sc.timeout_ms > ck.deadline_ms {
            return Err(err(
                format!("check.service_checks[{i}].timeout_ms"),
                format!(
                    "expected milliseconds from 1 to check.deadline_ms ({}), found {}",
                    ck.deadline_ms, sc.timeout_ms
                ),
            ));
        }
    }

    // [state]
    if !c.state.dir.is_absolute() {
        return Err(err(
            "state.dir".into(),
            format!("expected an absolute path, found {:?}", c.state.dir),
        ));
    }
    Ok(())
}
