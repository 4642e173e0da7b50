//! `tcvip cam-policy`: the minimal CAM policy for the configured features, as JSON ready to
//! paste into the CAM console (policy syntax version 2.0).
//!
//! Reads, and DescribeVpcTaskResult (a task is no resource), are granted on `*`. The write
//! actions (MigratePrivateIpAddress; AssignPrivateIpAddresses with
//! `failover.assign_if_unassigned`) are scoped to the nodes' ENIs
//! (`qcs::vpc:REGION:uin/UIN:eni/ENI`) when the account's UIN, the region and at least two ENIs
//! are known (a move names the source and the destination ENI, so every node's ENI must be
//! listed); otherwise they are granted on `*` and stderr says what would scope them.
//! With a `[[vip]] eip`, AssociateAddress and DisassociateAddress get a
//! third statement on `*` and DescribeTaskResult joins the reads (for a HAVIP's `eip`:
//! HaVipAssociateAddressIp and HaVipDisassociateAddressIp; a HAVIP adds DescribeHaVips to the
//! reads, and a HAVIP-only node has no MigratePrivateIpAddress and so no ENI statement); AllocateAddresses (`tcvip eip
//! associate --allocate`, a billed one-off) is not in the node's policy. Nothing is asked of the
//! network: the ENIs come from `--eni`, `node.eni_id` and the identity cached by
//! an earlier run.

use std::process::ExitCode;

use serde_json::json;
use vip_state::StateDir;

use super::doctor_permissions::needed_actions;
use crate::cli::Common;
use crate::config::Config;
use crate::discovery::{IDENTITY_CACHE, Identity};
use crate::exit::{Exit, ExitResultExt as _};

/// `tcvip cam-policy`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = crate::exit::Tool::CamPolicy.help())]
pub struct Args {
    /// The shared options, given before or after the subcommand (filled in by `main`).
    #[arg(skip)]
    pub common: Common,
    /// An ENI the VIP may move to or from (repeat for every node; this node's is added)
    #[arg(long = "eni", value_name = "ENI")]
    pub enis: Vec<String>,
    /// The account's UIN (owner), needed to scope the write actions to the ENIs
    #[arg(long, value_name = "UIN")]
    pub uin: Option<String>,
}

/// Runs `tcvip cam-policy`.
pub fn run(args: &Args) -> ExitCode {
    crate::cli::finish("tcvip", print(args))
}

fn print(args: &Args) -> anyhow::Result<Exit> {
    let mut config = Config::load(args.common.config.as_deref()).or_exit(Exit::Config)?;
    config
        .apply(&args.common.overrides())
        .or_exit(Exit::Config)?;
    let cached: Option<Identity> = StateDir::open(&config.state.dir)
        .ok()
        .and_then(|s| s.read_cache::<Identity>(IDENTITY_CACHE).value)
        .map(|c| c.value);
    let mut enis: Vec<String> = args.enis.clone();
    for e in config
        .node
        .eni_id
        .as_ref()
        .map(|e| e.as_str().to_owned())
        .into_iter()
        .chain(cached.as_ref().map(|i| i.eni_id.as_str().to_owned()))
    {
        if !enis.contains(&e) {
            enis.push(e);
        }
    }
    for e in &enis {
        if !e.starts_with("eni-")
            || e.len() < 5
            || !e.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(crate::exit::exit(
                Exit::Usage,
                anyhow::anyhow!("--eni {e:?} is not an ENI id (eni-...)"),
            ));
        }
    }
    let region = config
        .cloud
        .region
        .as_ref()
        .map(|r| r.as_str().to_owned())
        .or_else(|| cached.as_ref().map(|i| i.region.as_str().to_owned()));
    let policy = policy(&config, region.as_deref(), args.uin.as_deref(), &enis);
    if policy.1 {
        eprintln!(
            "tcvip cam-policy: the write actions are granted on \"*\"; to scope them to the ENIs, give --uin (the account's UIN), the region (cloud.region) and every node's ENI (--eni eni-... for each)"
        );
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&policy.0).unwrap_or_else(|_| policy.0.to_string())
    );
    Ok(Exit::Success)
}

/// The EIP writes (with `[[vip]] eip`): they name an EIP as well as an ENI, so they get their
/// own statement on `*` rather than the ENI-scoped one.
fn is_eip_write(action: &str) -> bool {
    matches!(
        action,
        "AssociateAddress"
            | "DisassociateAddress"
            | "HaVipAssociateAddressIp"
            | "HaVipDisassociateAddressIp"
    )
}

/// The policy, and whether its writes fell back to `*`.
pub fn policy(
    config: &Config,
    region: Option<&str>,
    uin: Option<&str>,
    enis: &[String],
) -> (serde_json::Value, bool) {
    let needs = needed_actions(config);
    let actions = |write: bool| -> Vec<String> {
        needs
            .iter()
            .filter(|n| n.write == write && !is_eip_write(n.action))
            .map(|n| format!("vpc:{}", n.action))
            .collect()
    };
    let scoped: Option<Vec<String>> = match (region, uin) {
        (Some(region), Some(uin)) if enis.len() >= 2 => Some(
            enis.iter()
                .map(|e| format!("qcs::vpc:{region}:uin/{uin}:eni/{e}"))
                .collect(),
        ),
        _ => None,
    };
    let writes = actions(true);
    let fell_back = scoped.is_none() && !writes.is_empty();
    let mut statement =
        vec![json!({ "effect": "allow", "action": actions(false), "resource": ["*"] })];
    // A HAVIP-only node writes nothing to its ENIs: no ENI statement then.
    if !writes.is_empty() {
        statement.push(json!({
            "effect": "allow",
            "action": writes,
            "resource": scoped.unwrap_or_else(|| vec!["*".to_owned()]),
        }));
    }
    let eip: Vec<String> = needs
        .iter()
        .filter(|n| is_eip_write(n.action))
        .map(|n| format!("vpc:{}", n.action))
        .collect();
    if !eip.is_empty() {
        statement.push(json!({ "effect": "allow", "action": eip, "resource": ["*"] }));
    }
    let policy = json!({ "version": "2.0", "statement": statement });
    (policy, fell_back)
}
