//! The EIP calls: where an EIP points (DescribeAddresses), binding and unbinding it
//! (AssociateAddress / DisassociateAddress, polled and verified), and [`ensure`], which makes an
//! EIP point at a VIP without ever taking it from another address.

use std::net::Ipv4Addr;
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tencent_api::vpc::{
    Address, AssociateAddressRequest, DescribeAddressesRequest, DescribeTaskResultRequest,
    DisassociateAddressRequest, Filter, TaskStatus,
};
use tencent_api::{Client, RetryClass};

use crate::exit::{Exit, api_error, exit};

/// Between two looks at an EIP task or status.
pub(super) const POLL: Duration = Duration::from_millis(300);

/// Where an EIP points, as DescribeAddresses says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EipView {
    pub address_id: String,
    pub address_ip: String,
    /// `BIND`, `UNBIND`, `BINDING`, `UNBINDING`, …
    pub status: String,
    pub eni: Option<String>,
    pub private_ip: Option<Ipv4Addr>,
    /// The HAVIP it is bound to (`InstanceType` HAVIP, `InstanceId` havip-…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub havip: Option<String>,
}

impl EipView {
    pub(crate) fn of(a: &Address) -> EipView {
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        let havip = some(&a.instance_id).filter(|i| {
            a.instance_type.trim().eq_ignore_ascii_case("HAVIP") || i.starts_with("havip-")
        });
        EipView {
            havip,
            address_id: a.address_id.clone(),
            address_ip: a.address_ip.clone(),
            status: a.address_status.clone(),
            eni: some(&a.network_interface_id),
            private_ip: a.private_address_ip.trim().parse().ok(),
        }
    }

    /// Bound (`BIND` or `BIND_ENI`) to `vip` on `eni`.
    pub fn points_at(&self, eni: &str, vip: Ipv4Addr) -> bool {
        self.is_bound() && self.private_ip == Some(vip) && self.eni.as_deref() == Some(eni)
    }

    /// Bound to HAVIP `id` (whose address is `vip`, when DescribeAddresses names one).
    pub fn on_havip(&self, id: &str, vip: Ipv4Addr) -> bool {
        self.is_bound()
            && self.havip.as_deref() == Some(id)
            && self.private_ip.is_none_or(|ip| ip == vip)
    }

    pub(crate) fn is_bound(&self) -> bool {
        matches!(self.status.as_str(), "BIND" | "BIND_ENI")
    }

    pub(crate) fn is_settling(&self) -> bool {
        matches!(self.status.as_str(), "BINDING" | "UNBINDING" | "CREATING")
    }

    /// `198.19.0.10 (eip-…) BIND → eni-… 10.0.1.100`.
    pub fn describe(&self) -> String {
        let target = match (&self.eni, self.private_ip) {
            (None, Some(ip)) if self.havip.is_some() => {
                format!(" → {} {ip}", self.havip.as_deref().unwrap_or_default())
            }
            (Some(eni), Some(ip)) => format!(" → {eni} {ip}"),
            (Some(eni), None) => format!(" → {eni}"),
            (None, Some(ip)) => format!(" → {ip}"),
            (None, None) => String::new(),
        };
        format!(
            "{} ({}) {}{target}",
            self.address_ip, self.address_id, self.status
        )
    }
}

/// The EIP `id`, if it exists.
pub fn describe_eip(client: &Client, id: &str) -> Result<Option<EipView>, tencent_api::Error> {
    let request = DescribeAddressesRequest {
        address_ids: vec![id.to_owned()],
        ..DescribeAddressesRequest::default()
    };
    match client.describe_addresses(&request) {
        Ok(r) => Ok(r
            .address_set
            .iter()
            .find(|a| a.address_id == id)
            .map(EipView::of)),
        Err(e) if e.code() == Some("InvalidAddressId.NotFound") => Ok(None),
        Err(e) => Err(e),
    }
}

/// The EIP bound to `vip`, if any (exact comparison of the private IP).
pub fn eip_on(client: &Client, vip: Ipv4Addr) -> Result<Option<EipView>, tencent_api::Error> {
    let request = DescribeAddressesRequest {
        filters: vec![Filter::one("private-ip-address", vip.to_string())],
        ..DescribeAddressesRequest::default()
    };
    let r = client.describe_addresses(&request)?;
    Ok(r.address_set
        .iter()
        .map(EipView::of)
        .find(|v| v.private_ip == Some(vip)))
}

/// Waits for an EIP task: DescribeTaskResult on the integer TaskId until SUCCESS or FAILED.
/// Without a usable TaskId there is nothing to poll (the caller watches the EIP instead).
pub(super) fn wait_task(
    client: &Client,
    task_id: &str,
    deadline: Instant,
    what: &str,
) -> anyhow::Result<()> {
    let Ok(id) = task_id.trim().parse::<u64>() else {
        crate::debug!("eip_task_unusable", task_id = task_id);
        return Ok(());
    };
    loop {
        match client.describe_task_result(&DescribeTaskResultRequest::task(id)) {
            Ok(r) if r.result == TaskStatus::Success => return Ok(()),
            Ok(r) if r.result == TaskStatus::Failed => {
                return Err(exit(
                    Exit::Failure,
                    anyhow::anyhow!("{what}: the cloud reports task {id} FAILED"),
                ));
            }
            Ok(_) => {}
            Err(e) if e.retry_class() != RetryClass::Fatal => {
                crate::warn!("eip_task_poll_failed", task_id = id, error = e);
            }
            Err(e) => return Err(api_error(e).context(format!("{what}: polling task {id}"))),
        }
        pause(deadline, what)?;
    }
}

pub(crate) fn pause(deadline: Instant, what: &str) -> anyhow::Result<()> {
    if Instant::now() + POLL >= deadline {
        return Err(exit(
            Exit::Unknown,
            anyhow::anyhow!("{what}: not finished before the deadline"),
        ));
    }
    thread::sleep(POLL);
    Ok(())
}

/// Watches EIP `id` with DescribeAddresses until `done` holds (or the deadline passes).
pub(crate) fn watch(
    client: &Client,
    id: &str,
    deadline: Instant,
    what: &str,
    done: impl Fn(&EipView) -> bool,
) -> anyhow::Result<EipView> {
    loop {
        match describe_eip(client, id) {
            Ok(Some(v)) if done(&v) => return Ok(v),
            Ok(Some(v)) if !v.is_settling() => {
                return Err(exit(
                    Exit::Failure,
                    anyhow::anyhow!("{what}: the EIP is now {}", v.describe()),
                ));
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(exit(
                    Exit::Config,
                    anyhow::anyhow!("{what}: the EIP {id} does not exist"),
                ));
            }
            Err(e) if e.retry_class() != RetryClass::Fatal => {}
            Err(e) => return Err(api_error(e).context(format!("{what}: DescribeAddresses"))),
        }
        pause(deadline, what)?;
    }
}

/// Binds EIP `id` (which must be `UNBIND`) to `vip` on `eni`: AssociateAddress, the task, and
/// a DescribeAddresses that shows the binding.
pub fn associate(
    client: &Client,
    id: &str,
    eni: &str,
    vip: Ipv4Addr,
    deadline: Instant,
) -> anyhow::Result<EipView> {
    let what = format!("binding {id} to {vip} on {eni}");
    let request = AssociateAddressRequest {
        address_id: id.to_owned(),
        network_interface_id: Some(eni.to_owned()),
        private_ip_address: Some(vip),
        ..AssociateAddressRequest::default()
    };
    let response = client
        .associate_address(&request)
        .map_err(|e| api_error(e).context(format!("{what}: AssociateAddress")))?;
    crate::info!(
        "eip_associate",
        eip = id,
        vip = vip,
        eni = eni,
        task_id = response.task_id,
        request_id = response.request_id
    );
    wait_task(client, &response.task_id, deadline, &what)?;
    watch(client, id, deadline, &what, |v| v.points_at(eni, vip))
}

/// Unbinds EIP `id`: DisassociateAddress, the task, and a DescribeAddresses showing `UNBIND`.
pub fn disassociate(client: &Client, id: &str, deadline: Instant) -> anyhow::Result<EipView> {
    let what = format!("unbinding {id}");
    let response = client
        .disassociate_address(&DisassociateAddressRequest {
            address_id: id.to_owned(),
            reallocate_normal_public_ip: None,
        })
        .map_err(|e| api_error(e).context(format!("{what}: DisassociateAddress")))?;
    crate::info!("eip_disassociate", eip = id, request_id = response.task_id);
    wait_task(client, &response.task_id, deadline, &what)?;
    watch(client, id, deadline, &what, |v| v.status == "UNBIND")
}

/// What [`ensure`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ensured {
    /// The EIP pointed at the VIP already: no call made.
    Already(EipView),
    /// It was bound again (it was unbound, or bound to the VIP on another ENI).
    Rebound { before: EipView, after: EipView },
}

/// Makes EIP `id` point at `vip` on `eni`. `may_write` is asked before each write call (it
/// says why not, e.g. no longer MASTER). An EIP bound to another address is not taken.
pub fn ensure(
    client: &Client,
    id: &str,
    eni: &str,
    vip: Ipv4Addr,
    deadline: Instant,
    may_write: &dyn Fn() -> Result<(), String>,
) -> anyhow::Result<Ensured> {
    let what = format!("keeping {id} on {vip}");
    let mut before = match describe_eip(client, id) {
        Ok(Some(v)) => v,
        Ok(None) => {
            return Err(exit(
                Exit::Config,
                anyhow::anyhow!(
                    "{what}: the EIP {id} does not exist; check eip in the [[vip]] entry of {vip}"
                ),
            ));
        }
        Err(e) => return Err(api_error(e).context(format!("{what}: DescribeAddresses"))),
    };
    if before.is_settling() {
        before = watch(client, id, deadline, &what, |v| !v.is_settling())?;
    }
    if before.points_at(eni, vip) {
        return Ok(Ensured::Already(before));
    }
    let refuse = |why: String| exit(Exit::NotMaster, anyhow::anyhow!("{what}: {why}"));
    if before.is_bound() {
        if before.private_ip != Some(vip) {
            return Err(exit(
                Exit::Failure,
                anyhow::anyhow!(
                    "{what}: it is bound elsewhere ({}); tcvip does not take an EIP from another address: unbind it first (`tcvip eip disassociate`, or the console)",
                    before.describe()
                ),
            ));
        }
        // Bound to the VIP on the ENI it left: the binding is stale.
        may_write().map_err(refuse)?;
        disassociate(client, id, deadline)?;
    }
    may_write().map_err(refuse)?;
    let after = associate(client, id, eni, vip, deadline)?;
    Ok(Ensured::Rebound { before, after })
}
