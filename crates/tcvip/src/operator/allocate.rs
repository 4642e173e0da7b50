//! `tcvip allocate`: step 1 of the guide — a new secondary private IP on this node's ENI
//! (AssignPrivateIpAddresses), waited for until the cloud lists it `AVAILABLE`, printed with a
//! ready `[[vip]]` block.
//!
//! A taken address is refused before anything is written, naming the ENI and instance that
//! hold it; a full ENI is refused with the number of IPs it holds and the fix; an address
//! configured as a HAVIP (`kind = "havip"`) is refused before any call (a HAVIP is created in
//! the console, never allocated). Runs with a
//! tcvip.toml that has no `[[vip]]` yet, or with none at all (everything discovered).

use std::net::Ipv4Addr;
use std::thread;
use std::time::{Duration, Instant};

use tencent_api::Client;
use tencent_api::vpc::{
    AssignPrivateIpAddressesRequest, DescribeNetworkInterfacesRequest, NetworkInterface,
    PrivateIpAddressInput,
};

use crate::cli::Common;
use crate::cloud;
use crate::config::Config;
use crate::context::Context;
use crate::exit::{Exit, ExitResultExt as _, exit};
use crate::exit::{api_error, api_exit};

/// `tcvip allocate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shared options, given before or after the subcommand (filled in by `main`).
    #[arg(skip)]
    pub common: Common,
    /// How many new addresses, 1 to 10 (the cloud picks them in this node's subnet)
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=10), conflicts_with = "ip")]
    pub count: u64,
    /// This exact address (it must be free and inside this node's subnet)
    #[arg(long, value_name = "ADDR")]
    pub ip: Option<Ipv4Addr>,
    /// Say what would be called; assign nothing
    #[arg(long)]
    pub dry_run: bool,
    /// How long to wait for the address to become AVAILABLE, 1 to 3600 [default: failover.deadline_s]
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub deadline_s: Option<u64>,
}

/// Runs `tcvip allocate`.
pub fn run(args: &Args) -> anyhow::Result<Exit> {
    let (mut config, found) =
        Config::load_for_setup(args.common.config.as_deref()).or_exit(Exit::Config)?;
    config
        .apply(&args.common.overrides())
        .or_exit(Exit::Config)?;
    if let Some(ip) = args.ip {
        refuse_havip(&config, ip)?;
    }
    let deadline_s = args.deadline_s.unwrap_or(config.failover.deadline_s);
    let ctx = Context::with_config(config, "tcvip")?;
    if !found {
        eprintln!(
            "tcvip: {} does not exist: using defaults and discovery",
            ctx.config.path.display()
        );
    }
    let deadline = Instant::now() + Duration::from_secs(deadline_s);
    let identity = ctx.identity()?;
    let client = ctx.client()?;
    let eni = identity.eni_id.as_str();
    let vpc = identity.vpc_id.as_str();
    let where_ = format!("{eni} ({})", identity.instance_id);

    if let Some(ip) = args.ip {
        let holder = cloud::find_holder(client, vpc, ip)
            .map_err(api_error)
            .map_err(|e| e.context(format!("looking up who holds {ip}")))?;
        match holder {
            Some(h) if h.eni == eni => {
                println!("# {ip} is already on {where_} ({}): nothing to do", h.state);
                print_block(&[ip]);
                return Ok(Exit::Success);
            }
            Some(h) => {
                return Err(exit(
                    Exit::Failure,
                    anyhow::anyhow!(
                        "{ip} is taken: {} holds it{}{}; choose another address, or leave out --ip to let the cloud pick one",
                        h.eni,
                        h.instance
                            .as_deref()
                            .map(|i| format!(" (instance {i})"))
                            .unwrap_or_default(),
                        if h.primary { " as its primary IP" } else { "" },
                    ),
                ));
            }
            None => {}
        }
    }
    let mine = describe_eni(client, eni)?;
    let held = mine.private_ip_address_set.len();
    let what = match args.ip {
        Some(ip) => format!("{ip}"),
        None => format!("{} new address(es)", args.count),
    };
    if args.dry_run {
        println!(
            "# would call AssignPrivateIpAddresses on {where_} for {what}; it holds {held} private IP(s) now"
        );
        return Ok(Exit::Success);
    }
    let request = AssignPrivateIpAddressesRequest {
        network_interface_id: eni.to_owned(),
        private_ip_addresses: args
            .ip
            .map(|ip| vec![PrivateIpAddressInput::from(ip)])
            .unwrap_or_default(),
        secondary_private_ip_address_count: args.ip.is_none().then_some(args.count),
        client_token: Some(format!(
            "tcvip-allocate-{}-{}",
            vip_state::now_ms(),
            std::process::id()
        )),
        ..AssignPrivateIpAddressesRequest::default()
    };
    let response = match client.assign_private_ip_addresses(&request) {
        Ok(response) => response,
        Err(e) => return Err(explain(e, eni, held, args.ip)),
    };
    let ips: Vec<Ipv4Addr> = response
        .private_ip_address_set
        .iter()
        .filter_map(|p| p.ipv4())
        .collect();
    crate::info!(
        "assign_requested",
        eni = eni,
        ips = ips
            .iter()
            .map(Ipv4Addr::to_string)
            .collect::<Vec<_>>()
            .join(","),
        request_id = response.request_id
    );
    if ips.is_empty() {
        return Err(exit(
            Exit::Failure,
            anyhow::anyhow!(
                "AssignPrivateIpAddresses on {eni} returned no address (request {})",
                response.request_id
            ),
        ));
    }
    wait_available(client, eni, &ips, deadline)?;
    for ip in &ips {
        println!("# {ip}: assigned to {where_}, AVAILABLE");
    }
    print_block(&ips);
    Ok(Exit::Success)
}

fn describe_eni(client: &Client, eni: &str) -> anyhow::Result<NetworkInterface> {
    let response = client
        .describe_network_interfaces(&DescribeNetworkInterfacesRequest::by_ids([eni]))
        .map_err(api_error)
        .map_err(|e| e.context(format!("describing {eni}")))?;
    response
        .network_interface_set
        .into_iter()
        .find(|n| n.network_interface_id == eni)
        .ok_or_else(|| {
            exit(
                Exit::Config,
                anyhow::anyhow!("the cloud does not know this node's ENI {eni}; check node.eni_id"),
            )
        })
}

/// `--ip` naming a `kind = "havip"` VIP: a HAVIP is not a secondary IP, and allocate cannot
/// create one (CreateHaVip is the console's, once per VPC): refused before any call.
fn refuse_havip(config: &Config, ip: Ipv4Addr) -> anyhow::Result<()> {
    let Some(id) = config.vip(ip).and_then(super::havip::havip_id_of) else {
        return Ok(());
    };
    Err(exit(
        Exit::Usage,
        anyhow::anyhow!(
            "{ip} is configured as kind = \"havip\" ({id}) in {}: tcvip allocate assigns secondary IPs and never creates a HAVIP; a HAVIP is created once in the VPC console (or CreateHaVip) and needs nothing allocated on the ENI, so there is nothing to do here (`tcvip doctor` checks it)",
            config.path.display()
        ),
    ))
}

/// An Assign refusal in the user's terms: which limit, which holder, what to do.
fn explain(err: tencent_api::Error, eni: &str, held: usize, ip: Option<Ipv4Addr>) -> anyhow::Error {
    let code = err.code().unwrap_or_default().to_owned();
    let hint = match code.as_str() {
        "LimitExceeded" | "InvalidParameterValue.LimitExceeded" => format!(
            "the ENI {eni} is at its quota of private IPs (it holds {held}, primary included; the limit per ENI depends on the instance type): free one with UnassignPrivateIpAddresses, or use an instance type that allows more"
        ),
        "ResourceInUse" => format!(
            "{} is already in use in this subnet (by an ENI, or a HAVIP, or a reserved service)",
            ip.map(|i| i.to_string())
                .unwrap_or_else(|| "the address".into())
        ),
        "ResourceInsufficient.Subnet" | "ResourceInsufficient" => {
            "this node's subnet has no free address left: free one, or allocate in a larger subnet"
                .into()
        }
        "InvalidParameterValue.Range" => {
            "the address is not inside this node's subnet: pick one from its CIDR block".into()
        }
        "InvalidParameterValue.Reserved" => {
            "the address is reserved by the VPC (network, gateway, broadcast and the like)".into()
        }
        _ => String::new(),
    };
    let code_exit = api_exit(&err);
    let err = anyhow::Error::new(err).context(format!("AssignPrivateIpAddresses on {eni}"));
    let err = if hint.is_empty() {
        err
    } else {
        err.context(hint)
    };
    exit(code_exit, err)
}

/// Polls DescribeNetworkInterfaces until every one of `ips` is `AVAILABLE` on `eni`.
fn wait_available(
    client: &Client,
    eni: &str,
    ips: &[Ipv4Addr],
    deadline: Instant,
) -> anyhow::Result<()> {
    loop {
        let last = match client
            .describe_network_interfaces(&DescribeNetworkInterfacesRequest::by_ids([eni]))
        {
            Ok(response) => {
                let eni_now = response
                    .network_interface_set
                    .iter()
                    .find(|n| n.network_interface_id == eni);
                let states: Vec<String> = ips
                    .iter()
                    .map(|ip| {
                        eni_now
                            .and_then(|n| n.private_ip(*ip))
                            .map(|p| p.state.clone())
                            .unwrap_or_else(|| "missing".into())
                    })
                    .collect();
                if states.iter().all(|s| s.eq_ignore_ascii_case("AVAILABLE")) {
                    return Ok(());
                }
                ips.iter()
                    .zip(&states)
                    .map(|(ip, s)| format!("{ip} {s}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
            Err(e) if e.retry_class() != tencent_api::RetryClass::Fatal => {
                format!("last lookup failed: {e}")
            }
            Err(e) => return Err(api_error(e).context("waiting for the new address")),
        };
        if Instant::now() + Duration::from_millis(500) >= deadline {
            return Err(exit(
                Exit::Unknown,
                anyhow::anyhow!(
                    "the new address is not AVAILABLE on {eni} before the deadline ({last}); look again with `tcvip status`, or raise --deadline-s"
                ),
            ));
        }
        thread::sleep(Duration::from_millis(500));
    }
}

/// The `[[vip]]` block for `ips`, ready to paste into tcvip.toml (valid TOML as a whole).
fn print_block(ips: &[Ipv4Addr]) {
    for ip in ips {
        println!("\n[[vip]]\naddress = \"{ip}\"");
    }
}
