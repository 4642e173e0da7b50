//! The hand-over: a node that leaves MASTER while the cloud still routes the VIP to it gives the
//! VIP to the node that is MASTER now.
//!
//! Why: when a split brain heals, the losing master often hears the winner first and goes BACKUP
//! without another advert reaching the winner, so the winner gets no MASTER_RX_LOWER_PRI; and a
//! master that stops while cut off sends its last advert into the void. Either way the winner
//! believes all is well while the cloud routes the VIP to a node that has just removed it from
//! its NIC — until check-self's cached view and grown cooldown let it reconcile (tens of seconds
//! to minutes). The node that leaves MASTER knows at once, so it acts.
//!
//! notify-action starts this run detached (`notify-action --hand-over`) when it records BACKUP,
//! FAULT or STOP over a MASTER record of the same keepalived life ([`rules::starts_hand_over`]),
//! and returns at once. The run, under one deadline ([`DEADLINE`]):
//! 1. reads the instance's `unicast_peer`s, `virtual_router_id`, `interface` and `advert_int`
//!    from keepalived.conf (the `-f` of the keepalived that ran notify-action, or
//!    `--keepalived-conf`). With several peers it opens a raw socket for VRRP on the interface
//!    at once, so that adverts queue while it asks the cloud; with one it waits [`SETTLE`]
//!    (a reload's BACKUP-then-MASTER flap);
//! 2. looks up where the cloud has each VIP of the instance, fresh; a VIP not on this node's ENI
//!    is none of its business;
//! 3. picks the peer: the only `unicast_peer`, or with several, the source of the first advert
//!    of a MASTER of the instance's `virtual_router_id` within about two advert intervals
//!    ([`rules::listen_window`]); nothing heard: it gives up and says so (the other side's
//!    MASTER reconciles on its own);
//! 4. finds that peer's ENI by its primary IP (DescribeNetworkInterfaces `address-ip` with
//!    `ip-exact-match`, as for the VIP);
//! 5. re-checks on fresh facts ([`rules::may_write`]): the latest record still not MASTER, the
//!    cloud still has the VIP, settled, on this ENI — then MigratePrivateIpAddress to the peer,
//!    DescribeVpcTaskResult until it ends, and a Describe that confirms the landing.
//!
//! One run per instance at a time (a `handoff-<instance>.lock` flight); it never holds the VIP's
//! migration lock, so a vip-migrate started because this node became MASTER again is never held
//! back by it.

pub mod conf;
pub mod listen;
pub mod rules;

pub use conf::{InstanceFacts, instance_facts, parent_keepalived_conf};

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tencent_api::vpc::{DescribeVpcTaskResultRequest, MigratePrivateIpAddressRequest, TaskStatus};
use tencent_api::{Client, RetryClass};
use vip_state::{FlightAttempt, KeepalivedState, StateDir, now_ms};

use crate::cli::Common;
use crate::cloud::{self, Holder};
use crate::context::Context;
use crate::exit::Exit;
use rules::{Choice, Plan};

/// The whole hand-over run ends by then.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// How long the run waits before it looks: a reload may report BACKUP and MASTER again at once.
pub const SETTLE: Duration = Duration::from_millis(300);
/// keepalived.conf when neither `--keepalived-conf` nor keepalived's own `-f` names one.
pub const DEFAULT_KEEPALIVED_CONF: &str = "/etc/keepalived/keepalived.conf";

/// Starts the hand-over run for `instance`, detached, as a child of no one (keepalived must not
/// wait for it, and SIGKILLs a STOP script after 1 s).
pub fn start(
    ctx: &Context,
    common: &Common,
    instance: &str,
    keepalived_conf: Option<&Path>,
) -> anyhow::Result<u32> {
    let program = std::env::current_exe().context("finding this program's path")?;
    let mut argv = common.forwarded(&ctx.config.path);
    argv.push("--hand-over".into());
    argv.push(format!("--instance={instance}").into());
    if let Some(conf) = keepalived_conf {
        let mut arg = std::ffi::OsString::from("--keepalived-conf=");
        arg.push(conf.as_os_str());
        argv.push(arg);
    }
    crate::proc::spawn_detached(&program, &argv)
        .with_context(|| format!("starting {} --hand-over", program.display()))
}

/// Runs `notify-action --hand-over --instance KEY`.
pub fn run(common: &Common, instance: Option<&str>, conf: Option<&Path>) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let deadline = started + DEADLINE;
    let ctx = Context::load(common, "notify-action")?;
    let key = ctx.instance_key(instance)?;
    let _flight = match ctx.state.try_flight("handoff", &key)? {
        FlightAttempt::Alone(flight) => flight,
        FlightAttempt::Busy(_) => {
            crate::info!(
                "handoff_skip",
                instance = key,
                reason = "another hand-over of this instance is under way"
            );
            return Ok(Exit::Success);
        }
    };
    if ctx
        .vips_of(&key)
        .iter()
        .all(|v| v.kind == crate::config::VipKind::Havip)
    {
        crate::info!(
            "handoff_skip",
            instance = key,
            reason = "every VIP of the instance is a HAVIP, which follows the MASTER's gratuitous ARP: nothing to hand over"
        );
        return Ok(Exit::Success);
    }
    let conf_path = conf.map_or_else(|| PathBuf::from(DEFAULT_KEEPALIVED_CONF), Path::to_owned);
    let facts = match instance_facts(&conf_path, &key) {
        Ok(f) => f,
        Err(e) => {
            crate::warn!(
                "handoff_skip",
                instance = key,
                reason =
                    format!("cannot read keepalived.conf: {e}; name it with --keepalived-conf")
            );
            return Ok(Exit::Failure);
        }
    };
    // With several peers the MASTER is learned from its adverts: the socket opens first, so that
    // the adverts queue while the cloud is asked; the listening replaces the settling wait.
    let plan = rules::plan(&facts.peers, facts.advert_int_s);
    let listener = match (&plan, facts.vrid) {
        (Plan::Listen(window), Some(vrid)) => {
            let listener = listen::Listener::open(facts.interface.as_deref())
                .context("opening a raw socket for the MASTER's VRRP adverts")?;
            Some((listener, vrid, Instant::now() + *window, *window))
        }
        (Plan::Listen(_), None) => {
            crate::warn!(
                "handoff_skip",
                instance = key,
                reason =
                    "no virtual_router_id in keepalived.conf: cannot tell the MASTER's adverts"
            );
            return Ok(Exit::Failure);
        }
        _ => {
            thread::sleep(SETTLE);
            None
        }
    };
    let latest = ctx.state.read_state(&key).state;
    if latest == KeepalivedState::Master {
        crate::info!(
            "handoff_skip",
            instance = key,
            reason = rules::Hold::MasterAgain.reason()
        );
        return Ok(Exit::Success);
    }
    // A HAVIP is never handed over: the VPC binds it to the node whose gratuitous ARP it saw
    // last, and the MASTER's keepalived (then its tcvip) announces it.
    let (havips, vips): (Vec<_>, Vec<_>) = ctx
        .vips_of(&key)
        .into_iter()
        .partition(|v| v.kind == crate::config::VipKind::Havip);
    for v in &havips {
        crate::info!(
            "handoff_skip",
            instance = key,
            vip = v.address,
            reason = "a HAVIP follows the MASTER's gratuitous ARP: nothing to hand over"
        );
    }
    let vips: Vec<Ipv4Addr> = vips.iter().map(|v| v.address).collect();
    let identity = ctx.identity_until(deadline)?;
    let (vpc, own_eni) = (identity.vpc_id.as_str(), identity.eni_id.as_str());
    let client = ctx.client()?;
    // Only the VIPs the cloud still routes here are handed over.
    let mut here = Vec::new();
    for vip in vips {
        let mut holder = bounded(client, deadline, |c| cloud::find_holder(c, vpc, vip))
            .with_context(|| format!("looking up the holder of {vip}"))?;
        // A move in flight (a peer's reconcile just before it stepped down too) may land here.
        while let Err(hold) = rules::may_write(latest, holder.as_ref(), own_eni)
            && rules::waits_for(hold, Instant::now(), deadline)
        {
            thread::sleep(rules::CHANGE_POLL);
            holder = bounded(client, deadline, |c| cloud::find_holder(c, vpc, vip))
                .with_context(|| format!("looking up the holder of {vip}"))?;
        }
        match rules::may_write(latest, holder.as_ref(), own_eni) {
            Ok(()) => here.push(vip),
            Err(hold) => crate::info!(
                "handoff_skip",
                instance = key,
                vip = vip,
                holder = holder.as_ref().map(|h| h.eni.as_str()).unwrap_or("none"),
                reason = hold.reason()
            ),
        }
    }
    if here.is_empty() {
        return Ok(Exit::Success);
    }
    let own_ip = facts.src_ip.or(identity.primary_ipv4);
    let peer = match (plan, listener) {
        (Plan::Peer(p), _) => p,
        (Plan::Listen(_), Some((listener, vrid, until, window))) => {
            let heard = listener
                .first_master_advert(vrid, own_ip, &facts.peers, until.min(deadline))
                .context("listening for the MASTER's VRRP adverts")?;
            match rules::choose(heard.map(|a| a.source)) {
                Choice::HandTo(p) => p,
                Choice::GiveUp(reason) => {
                    crate::info!(
                        "handoff_skip",
                        instance = key,
                        window_ms = window.as_millis(),
                        reason = reason
                    );
                    return Ok(Exit::Success);
                }
            }
        }
        _ => {
            crate::info!(
                "handoff_skip",
                instance = key,
                reason = "no unicast_peer in keepalived.conf: nobody to hand to"
            );
            return Ok(Exit::Success);
        }
    };
    let found = bounded(client, deadline, |c| cloud::find_holder(c, vpc, peer))
        .with_context(|| format!("looking up the ENI of the peer {peer}"))?;
    let Some(peer_eni) = rules::peer_eni(found.as_ref(), own_eni) else {
        crate::warn!(
            "handoff_skip",
            instance = key,
            peer = peer,
            reason = "no other ENI has the peer's address as its primary IP"
        );
        return Ok(Exit::Failure);
    };
    crate::info!(
        "handoff_target",
        instance = key,
        peer = peer,
        eni = peer_eni,
        elapsed_ms = started.elapsed().as_millis()
    );
    let mut exit = Exit::Success;
    for vip in here {
        let hand = Hand {
            client,
            state: &ctx.state,
            instance: &key,
            vpc,
            vip,
            own_eni,
            to_eni: &peer_eni,
            deadline,
        };
        match hand.run() {
            Ok(Some(request_id)) => {
                crate::info!(
                    "handoff_done",
                    instance = key,
                    vip = vip,
                    eni = peer_eni,
                    request_id = request_id,
                    elapsed_ms = started.elapsed().as_millis()
                );
                let view = vip_state::CloudView {
                    vip,
                    holder_eni: Some(peer_eni.clone()),
                    holder_instance: found.as_ref().and_then(|h| h.instance.clone()),
                    ip_state: Some("AVAILABLE".to_owned()),
                    learned_at_ms: now_ms(),
                };
                if let Err(e) = ctx.state.write_cloud_view(&view) {
                    crate::warn!("state_write_failed", vip = vip, error = e);
                }
            }
            Ok(None) => {}
            Err(e) => {
                crate::error!(
                    "handoff_failed",
                    instance = key,
                    vip = vip,
                    eni = peer_eni,
                    elapsed_ms = started.elapsed().as_millis(),
                    reason = e
                );
                exit = Exit::Failure;
            }
        }
    }
    Ok(exit)
}

/// Calls `f` with a client whose requests end by `deadline` (the shared one when a whole
/// request fits in what is left).
fn bounded<T>(client: &Client, deadline: Instant, f: impl FnOnce(&Client) -> T) -> T {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let config = client.config();
    if left >= config.timeout {
        return f(client);
    }
    let short = config
        .clone()
        .with_timeouts(config.connect_timeout.min(left), left);
    match Client::new(short, client.credentials().clone()) {
        Ok(short) => f(&short),
        Err(_) => f(client),
    }
}

/// One VIP's move to the peer.
struct Hand<'a> {
    client: &'a Client,
    state: &'a StateDir,
    instance: &'a str,
    vpc: &'a str,
    vip: Ipv4Addr,
    own_eni: &'a str,
    to_eni: &'a str,
    deadline: Instant,
}

impl Hand<'_> {
    /// `Ok(Some(request id))` when moved and confirmed; `Ok(None)` when a re-check said no.
    fn run(&self) -> Result<Option<String>, String> {
        let mut retries = 0u32;
        let request_id = loop {
            let holder = self.holder()?;
            let latest = self.state.read_state(self.instance).state;
            if let Err(hold) = rules::may_write(latest, holder.as_ref(), self.own_eni) {
                if rules::waits_for(hold, Instant::now(), self.deadline) {
                    thread::sleep(rules::CHANGE_POLL);
                    continue;
                }
                crate::info!(
                    "handoff_skip",
                    instance = self.instance,
                    vip = self.vip,
                    reason = hold.reason()
                );
                return Ok(None);
            }
            crate::info!(
                "handoff_call",
                vip = self.vip,
                action = format!(
                    "MigratePrivateIpAddress(SourceNetworkInterfaceId={}, DestinationNetworkInterfaceId={}, PrivateIpAddress={})",
                    self.own_eni, self.to_eni, self.vip
                ),
                attempt = retries + 1
            );
            let request = MigratePrivateIpAddressRequest {
                source_network_interface_id: self.own_eni.to_owned(),
                destination_network_interface_id: self.to_eni.to_owned(),
                private_ip_address: self.vip,
            };
            match bounded(self.client, self.deadline, |c| {
                c.migrate_private_ip_address(&request)
            }) {
                Ok(reply) => break reply.request_id,
                Err(e) if e.retry_class() == RetryClass::Fatal => {
                    return Err(format!("MigratePrivateIpAddress: {e}"));
                }
                Err(e) => {
                    retries += 1;
                    crate::warn!(
                        "api_error",
                        action = "MigratePrivateIpAddress",
                        attempt = retries,
                        error = e
                    );
                    self.pause(Duration::from_millis(300 * u64::from(retries.min(5))))?;
                }
            }
        };
        let task = DescribeVpcTaskResultRequest {
            task_id: request_id.clone(),
        };
        loop {
            self.pause(Duration::from_millis(200))?;
            match bounded(self.client, self.deadline, |c| {
                c.describe_vpc_task_result(&task)
            }) {
                Ok(reply) if reply.status == TaskStatus::Success => break,
                Ok(reply) if reply.status.is_finished() => {
                    return Err(format!(
                        "the move (request {request_id}) ended {:?}",
                        reply.status
                    ));
                }
                Ok(_) => {}
                Err(e) => {
                    crate::warn!("api_error", action = "DescribeVpcTaskResult", error = e);
                }
            }
        }
        match self.holder()? {
            Some(h) if h.eni == self.to_eni => Ok(Some(request_id)),
            other => Err(format!(
                "the move (request {request_id}) succeeded but the cloud says {} holds {}",
                other.map_or_else(|| "no ENI".to_owned(), |h| h.eni),
                self.vip
            )),
        }
    }

    fn holder(&self) -> Result<Option<Holder>, String> {
        bounded(self.client, self.deadline, |c| {
            cloud::find_holder(c, self.vpc, self.vip)
        })
        .map_err(|e| format!("DescribeNetworkInterfaces: {e}"))
    }

    fn pause(&self, d: Duration) -> Result<(), String> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left <= d {
            return Err(format!(
                "deadline of {} s reached before the move of {} was confirmed",
                DEADLINE.as_secs(),
                self.vip
            ));
        }
        thread::sleep(d);
        Ok(())
    }
}
