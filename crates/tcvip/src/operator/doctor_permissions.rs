//! Whether CAM lets this node's credentials call each action tcvip needs — found out without
//! changing anything.
//!
//! Read actions are simply called, read-only. A write action is called with a request that
//! cannot succeed and would change nothing if it did:
//!
//! | action | probe request | what the real API answers when CAM allows it |
//! |---|---|---|
//! | DescribeNetworkInterfaces | `NetworkInterfaceIds = [this ENI]` | the ENI |
//! | DescribeVpcTaskResult | `TaskId` = the nil UUID (no such task) | `ResourceNotFound` / `InvalidParameterValue` |
//! | DescribeAddresses | filter `private-ip-address` = the VIP | the EIPs (often none) |
//! | MigratePrivateIpAddress | this ENI → this same ENI, `PrivateIpAddress` = its own primary IP | a parameter error: source equals destination, and a primary IP cannot be migrated |
//! | AssignPrivateIpAddresses | this ENI, `PrivateIpAddresses` = [its own primary IP] | a parameter error: the address is already this ENI's primary |
//! | AssociateAddress (with `[[vip]] eip`) | `AddressId` = `eip-00000000` (no such EIP), this ENI, its primary IP | `InvalidAddressId.NotFound` |
//! | DisassociateAddress (with `[[vip]] eip`) | `AddressId` = `eip-00000000` | `InvalidAddressId.NotFound` |
//! | DescribeTaskResult (with `[[vip]] eip`) | `TaskId` = 0 (no such task) | `ResourceNotFound` |
//! | DescribeHaVips (with a HAVIP) | `HaVipIds` = [the configured HAVIP] | the HAVIP |
//! | HaVipAssociateAddressIp (HAVIP with `eip`) | `HaVipId` = `havip-00000000` (no such HAVIP), `AddressIp` = 0.0.0.0 | `ResourceNotFound` / a parameter error |
//! | HaVipDisassociateAddressIp (HAVIP with `eip`) | `HaVipId` = `havip-00000000` | `ResourceNotFound` |
//!
//! The answer is read as: exactly `AuthFailure.UnauthorizedOperation` or
//! `UnauthorizedOperation` (Tencent's two codes for a CAM refusal) → refused; any other API
//! answer, success or error, → allowed (the request got past authorization to the product,
//! which then judged its parameters). `UnauthorizedOperation.AttachmentNotFound` and
//! `UnauthorizedOperation.PrimaryIp` are *not* refusals: despite the prefix they are the product
//! judging the parameters. A transport error, throttling, an internal error, an authentication
//! failure, or what the gateway answers before authorization (an unknown action or region, an
//! IP allow-list) proves nothing either way (unknown).
//!
//! What this assumes about the real API: that CAM authorizes a request (action and the resources
//! it names) before the product validates its parameters, so that a request which cannot
//! succeed is still refused when the policy refuses it — which is how Tencent's API gateway is
//! documented to work (authentication and authorization, then the product) and how fake-vpc
//! models it; and that a MigratePrivateIpAddress of a primary IP from an ENI to itself, or an
//! AssignPrivateIpAddresses of an ENI's own primary IP, never takes effect (both are documented
//! as impossible). What it proves: the action is allowed on *this node's ENI*. A policy scoped to
//! listed ENIs must also list the peers' ENIs (a move names both), which this probe does not
//! prove; `tcvip cam-policy` prints a policy that covers them. Conditions on the source IP or
//! the time of day are evaluated as for any other call, at the time of the probe.

use std::net::Ipv4Addr;

use serde_json::{Value, json};
use tencent_api::{Client, Error};

use crate::exit::{Exit, exit};

/// An action tcvip needs, and what for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    pub action: &'static str,
    pub why: &'static str,
    /// Whether it changes the cloud (and so may be scoped to ENIs in a policy).
    pub write: bool,
}

/// The actions the configured features need. A secondary-IP VIP (`kind = "secondary-ip"`, the
/// default, and a configuration without VIPs) needs MigratePrivateIpAddress; a HAVIP needs
/// DescribeHaVips instead (the VPC follows gratuitous ARP, nothing is migrated), and with an
/// `eip` HaVipAssociateAddressIp / HaVipDisassociateAddressIp.
pub fn needed_actions(config: &crate::config::Config) -> Vec<Need> {
    let is_havip = |v: &crate::config::VipConfig| super::havip::havip_id_of(v).is_some();
    let secondary = config.vips.is_empty() || config.vips.iter().any(|v| !is_havip(v));
    let havip = config.vips.iter().any(is_havip);
    let havip_eip = config.vips.iter().any(|v| is_havip(v) && v.eip.is_some());
    let mut out = vec![Need {
        action: "DescribeNetworkInterfaces",
        why: "discovery, finding the VIP's holder, check-self's cloud view",
        write: false,
    }];
    if secondary {
        out.push(Need {
            action: "MigratePrivateIpAddress",
            why: "moving the VIP to this node",
            write: true,
        });
    }
    if secondary || havip_eip {
        out.push(Need {
            action: "DescribeVpcTaskResult",
            why: if secondary {
                "following a move until it lands"
            } else {
                "following a HAVIP's EIP task until it lands"
            },
            write: false,
        });
    }
    out.push(Need {
        action: "DescribeAddresses",
        why: "the EIP on the VIP (vip-query --json, --status)",
        write: false,
    });
    if havip {
        out.push(Need {
            action: "DescribeHaVips",
            why: "kind = \"havip\": which ENI the HAVIP is bound to (vip-migrate, check-self, vip-query)",
            write: false,
        });
    }
    if havip_eip {
        out.extend([
            Need {
                action: "HaVipAssociateAddressIp",
                why: "[[vip]] eip on a HAVIP: binding the EIP to the HAVIP",
                write: true,
            },
            Need {
                action: "HaVipDisassociateAddressIp",
                why: "[[vip]] eip on a HAVIP: `tcvip eip disassociate`",
                write: true,
            },
        ]);
    }
    if config.vips.iter().any(|v| !is_havip(v) && v.eip.is_some()) {
        out.extend([
            Need {
                action: "AssociateAddress",
                why: "[[vip]] eip: binding the EIP to the VIP again after a move",
                write: true,
            },
            Need {
                action: "DisassociateAddress",
                why: "[[vip]] eip: unbinding an EIP left on the ENI the VIP moved from",
                write: true,
            },
            Need {
                action: "DescribeTaskResult",
                why: "[[vip]] eip: following an EIP task until it lands",
                write: false,
            },
        ]);
    }
    if config.failover.assign_if_unassigned && secondary {
        out.push(Need {
            action: "AssignPrivateIpAddresses",
            why: "failover.assign_if_unassigned: assigning an unassigned VIP here",
            write: true,
        });
    }
    out
}

/// Tencent's codes for a CAM refusal.
pub const CAM_REFUSALS: &[&str] = &["AuthFailure.UnauthorizedOperation", "UnauthorizedOperation"];

/// A TaskId no task has.
const NO_TASK: &str = "00000000-0000-0000-0000-000000000000";

/// An EIP id no EIP has.
const NO_EIP: &str = "eip-00000000";

/// A HAVIP id no HAVIP has.
const NO_HAVIP: &str = "havip-00000000";

/// The answer to one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// CAM let the request through; how we know.
    Allowed(String),
    /// CAM refused it: the code and message.
    Refused { code: String, message: String },
    /// The answer proves nothing (transport, throttling, authentication, or a fact missing).
    Unknown(String),
}

/// One action, probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub action: &'static str,
    /// The request sent, for the report.
    pub request: String,
    pub verdict: Verdict,
}

/// Whether `err` is a CAM refusal (and not a parameter error with a look-alike prefix).
pub fn is_cam_refusal(err: &Error) -> bool {
    err.code().is_some_and(|c| CAM_REFUSALS.contains(&c))
}

/// What a probe needs to know about this node.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub eni_id: &'a str,
    /// This ENI's primary IP, when known (it is looked up otherwise).
    pub primary_ip: Option<Ipv4Addr>,
    /// A VIP, for the DescribeAddresses filter.
    pub vip: Option<Ipv4Addr>,
    /// A configured HAVIP, for the DescribeHaVips read.
    pub havip_id: Option<&'a str>,
}

/// Reads an answer: success or a non-CAM error is allowed.
fn judge(result: Result<Value, Error>, expected: &str) -> Verdict {
    match result {
        Ok(_) => Verdict::Allowed(format!("answered without error ({expected})")),
        Err(e) if is_cam_refusal(&e) => {
            let api = e.api();
            Verdict::Refused {
                code: api.map(|a| a.code.clone()).unwrap_or_default(),
                message: api
                    .map(|a| a.message.split_whitespace().collect::<Vec<_>>().join(" "))
                    .unwrap_or_default(),
            }
        }
        Err(Error::Api(api)) if !proves_nothing(&api.code) => Verdict::Allowed(format!(
            "past authorization: the product judged the parameters ({}, as expected: {expected})",
            api.code
        )),
        Err(e) => Verdict::Unknown(e.to_string()),
    }
}

/// Codes answered before (or instead of) authorization, or that leave it open: failed
/// authentication, throttling, internal errors, and what the gateway refuses before CAM looks
/// (an unknown action, version, region or protocol, an address list).
const PROVE_NOTHING: &[&str] = &[
    "AuthFailure",
    "RequestLimitExceeded",
    "LimitExceeded.ActionLimited",
    "InternalError",
    "InternalServerError",
    "ServiceUnavailable",
    "ResourceUnavailable",
    "InvalidAction",
    "ActionOffline",
    "NoSuchVersion",
    "NoSuchProduct",
    "UnsupportedRegion",
    "UnsupportedProtocol",
    "RequestSizeLimitExceeded",
    "IpInBlacklist",
    "IpNotInWhitelist",
];

fn proves_nothing(code: &str) -> bool {
    PROVE_NOTHING.iter().any(|family| {
        code.strip_prefix(family)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    })
}

/// This ENI's primary IP, from DescribeNetworkInterfaces.
pub fn primary_ip_of(client: &Client, eni_id: &str) -> Result<Option<Ipv4Addr>, Error> {
    let v = client.call_json_refresh_once(
        "DescribeNetworkInterfaces",
        &json!({ "NetworkInterfaceIds": [eni_id] }),
    )?;
    Ok(v["NetworkInterfaceSet"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|eni| eni["PrivateIpAddressSet"].as_array().into_iter().flatten())
        .find(|ip| ip["Primary"].as_bool() == Some(true))
        .and_then(|ip| ip["PrivateIpAddress"].as_str()?.trim().parse().ok()))
}

/// Probes `action`.
pub fn probe(client: &Client, action: &'static str, target: &Target<'_>) -> Probe {
    let eni = target.eni_id;
    let call = |body: Value, expected: &str| {
        let request = body.to_string();
        let verdict = judge(client.call_json_refresh_once(action, &body), expected);
        Probe {
            action,
            request,
            verdict,
        }
    };
    let primary = || match target.primary_ip {
        Some(ip) => Ok(ip),
        None => match primary_ip_of(client, eni) {
            Ok(Some(ip)) => Ok(ip),
            Ok(None) => Err(format!("the primary IP of {eni} is not known")),
            Err(e) => Err(format!("the primary IP of {eni} is not known: {e}")),
        },
    };
    let unknown = |why: String| Probe {
        action,
        request: String::new(),
        verdict: Verdict::Unknown(why),
    };
    match action {
        "DescribeNetworkInterfaces" => call(
            json!({ "NetworkInterfaceIds": [eni] }),
            "a read of this node's ENI",
        ),
        "DescribeVpcTaskResult" => call(json!({ "TaskId": NO_TASK }), "there is no such task"),
        "DescribeAddresses" => match target.vip {
            Some(vip) => call(
                json!({ "Filters": [{ "Name": "private-ip-address", "Values": [vip.to_string()] }] }),
                "a read of the EIPs on the VIP",
            ),
            None => call(json!({ "Limit": 1 }), "a read of one EIP"),
        },
        "MigratePrivateIpAddress" => match primary() {
            Ok(ip) => call(
                json!({
                    "SourceNetworkInterfaceId": eni,
                    "DestinationNetworkInterfaceId": eni,
                    "PrivateIpAddress": ip.to_string(),
                }),
                "source equals destination and a primary IP cannot move",
            ),
            Err(why) => unknown(why),
        },
        "AssignPrivateIpAddresses" => match primary() {
            Ok(ip) => call(
                json!({
                    "NetworkInterfaceId": eni,
                    "PrivateIpAddresses": [{ "PrivateIpAddress": ip.to_string() }],
                }),
                "the address is already this ENI's primary IP",
            ),
            Err(why) => unknown(why),
        },
        "AssociateAddress" => match primary() {
            Ok(ip) => call(
                json!({
                    "AddressId": NO_EIP,
                    "NetworkInterfaceId": eni,
                    "PrivateIpAddress": ip.to_string(),
                }),
                "there is no such EIP",
            ),
            Err(why) => unknown(why),
        },
        "DisassociateAddress" => call(json!({ "AddressId": NO_EIP }), "there is no such EIP"),
        "DescribeHaVips" => match target.havip_id {
            Some(id) => call(
                json!({ "HaVipIds": [id] }),
                "a read of the configured HAVIP",
            ),
            None => call(json!({ "Limit": 1 }), "a read of one HAVIP"),
        },
        "HaVipAssociateAddressIp" => call(
            json!({ "HaVipId": NO_HAVIP, "AddressIp": "0.0.0.0" }),
            "there is no such HAVIP",
        ),
        "HaVipDisassociateAddressIp" => {
            call(json!({ "HaVipId": NO_HAVIP }), "there is no such HAVIP")
        }
        "DescribeTaskResult" => call(json!({ "TaskId": 0 }), "there is no such task"),
        other => unknown(format!("no probe is defined for {other}")),
    }
}

/// For `vip-migrate --dry-run`: the write calls a real run would make must be allowed. A CAM
/// refusal ends the run with exit 77 naming the fix; an answer that proves nothing is logged
/// and the dry run goes on.
pub fn require_write_permissions(
    client: &Client,
    eni_id: &str,
    primary_ip: Option<Ipv4Addr>,
    assign_too: bool,
) -> anyhow::Result<()> {
    let target = Target {
        eni_id,
        primary_ip,
        vip: None,
        havip_id: None,
    };
    let mut actions = vec!["MigratePrivateIpAddress"];
    if assign_too {
        actions.push("AssignPrivateIpAddresses");
    }
    for action in actions {
        let p = probe(client, action, &target);
        match p.verdict {
            Verdict::Allowed(_) => {}
            Verdict::Refused { code, message } => {
                return Err(exit(
                    Exit::Auth,
                    anyhow::anyhow!(
                        "dry run: {action} would be refused by CAM ({code}: {message}); grant vpc:{action} to these credentials (tcvip cam-policy prints the policy)"
                    ),
                ));
            }
            Verdict::Unknown(why) => {
                crate::warn!("permission_unknown", action = action, reason = why);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test fails loudly on a bad fixture
    use super::*;
    use tencent_api::ApiError;

    fn api(code: &str) -> Error {
        Error::Api(ApiError {
            code: code.into(),
            message: "m\nx".into(),
            request_id: "r".into(),
            action: "A".into(),
        })
    }

    fn actions(vips: &str) -> Vec<&'static str> {
        let config = crate::config::Config::from_toml_str(
            &format!("[failover]\nassign_if_unassigned = true\n{vips}"),
            std::path::Path::new("/etc/tcvip.toml"),
        )
        .unwrap();
        needed_actions(&config).iter().map(|n| n.action).collect()
    }

    #[test]
    fn a_havip_needs_describe_ha_vips_and_no_migrate() {
        const HAVIP: &str =
            "[[vip]]\naddress = \"10.0.1.200\"\nkind = \"havip\"\nhavip_id = \"havip-ohz2bq4e\"\n";
        const SECONDARY: &str = "[[vip]]\naddress = \"10.0.1.100\"\n";
        assert_eq!(
            actions(HAVIP),
            [
                "DescribeNetworkInterfaces",
                "DescribeAddresses",
                "DescribeHaVips"
            ]
        );
        assert_eq!(
            actions(&format!("{HAVIP}eip = \"eip-m44ku5d2\"\n")),
            [
                "DescribeNetworkInterfaces",
                "DescribeVpcTaskResult",
                "DescribeAddresses",
                "DescribeHaVips",
                "HaVipAssociateAddressIp",
                "HaVipDisassociateAddressIp"
            ]
        );
        // Beside a secondary IP: both kinds' actions; the EIP actions of the one with an eip.
        assert_eq!(
            actions(&format!("{SECONDARY}eip = \"eip-m44ku5d2\"\n{HAVIP}")),
            [
                "DescribeNetworkInterfaces",
                "MigratePrivateIpAddress",
                "DescribeVpcTaskResult",
                "DescribeAddresses",
                "DescribeHaVips",
                "AssociateAddress",
                "DisassociateAddress",
                "DescribeTaskResult",
                "AssignPrivateIpAddresses"
            ]
        );
    }

    #[test]
    fn only_the_two_cam_codes_are_refusals() {
        for code in CAM_REFUSALS {
            assert!(matches!(
                judge(Err(api(code)), "e"),
                Verdict::Refused { .. }
            ));
        }
        for code in [
            "UnauthorizedOperation.AttachmentNotFound",
            "UnauthorizedOperation.PrimaryIp",
            "UnsupportedOperation.PrimaryIp",
            "InvalidParameterValue",
            "ResourceNotFound",
        ] {
            assert!(
                matches!(judge(Err(api(code)), "e"), Verdict::Allowed(_)),
                "{code}"
            );
        }
        for code in [
            "AuthFailure.SignatureFailure",
            "AuthFailure.SecretIdNotFound",
            "RequestLimitExceeded",
            "InternalError",
            "InvalidAction",
            "UnsupportedRegion",
            "IpNotInWhitelist",
        ] {
            assert!(
                matches!(judge(Err(api(code)), "e"), Verdict::Unknown(_)),
                "{code}"
            );
        }
        assert!(matches!(judge(Ok(json!({})), "e"), Verdict::Allowed(_)));
        assert_eq!(
            judge(Err(api("UnauthorizedOperation")), "e"),
            Verdict::Refused {
                code: "UnauthorizedOperation".into(),
                message: "m x".into()
            }
        );
    }
}
