//! The operator's view of a `kind = "havip"` VIP: one HAVIP described (DescribeHaVips), and its
//! EIP bound or unbound (HaVipAssociateAddressIp / HaVipDisassociateAddressIp, each polled with
//! DescribeVpcTaskResult to its end and verified with DescribeHaVips).
//!
//! A HAVIP's EIP is named by its *address*, not its id; the EIP stays with the HAVIP wherever
//! the VPC routes it, so nothing here is redone after a failover. An EIP bound to something
//! else is never taken: that is reported, as for a secondary IP.

use std::net::Ipv4Addr;
use std::time::Instant;

use tencent_api::vpc::{
    DescribeVpcTaskResultRequest, HaVip, HaVipAssociateAddressIpRequest,
    HaVipDisassociateAddressIpRequest, TaskStatus,
};
use tencent_api::{Client, RetryClass};

use super::eip::binding::{EipView, pause};
use crate::config::{VipConfig, VipKind};
use crate::exit::{Exit, api_error, exit};

/// The HAVIP id of `vip` when it is `kind = "havip"`.
pub fn havip_id_of(vip: &VipConfig) -> Option<&str> {
    match (vip.kind, &vip.havip_id) {
        (VipKind::Havip, Some(id)) => Some(id.as_str()),
        _ => None,
    }
}

/// The HAVIP `id` as DescribeHaVips shows it; `None` when the API knows no such HAVIP
/// ([`crate::cloud::find_havip`], the one lookup the failover path uses too).
pub fn describe_havip(client: &Client, id: &str) -> Result<Option<HaVip>, tencent_api::Error> {
    crate::cloud::find_havip(client, id)
}

/// `FlushedTime` for people: `never` for the API's zero time or an empty one.
pub fn flushed(h: &HaVip) -> &str {
    match h.flushed_time.trim() {
        "" | "0000-00-00 00:00:00" => "never",
        t => t,
    }
}

/// `havip-… 198.18.1.100 AVAILABLE → eni-… on ins-…, binding last changed …`.
pub fn describe(h: &HaVip) -> String {
    let bound = if h.is_bound() {
        format!(
            " → {}{}",
            h.network_interface_id,
            Some(&h.instance_id)
                .filter(|i| !i.is_empty())
                .map(|i| format!(" on {i}"))
                .unwrap_or_default()
        )
    } else {
        String::new()
    };
    let state = if h.state.is_empty() {
        "state unknown"
    } else {
        &h.state
    };
    format!(
        "{} {} {state}{bound}, binding last changed {}",
        h.ha_vip_id,
        h.vip,
        flushed(h)
    )
}

/// Waits for an asynchronous HAVIP call: DescribeVpcTaskResult on its RequestId until SUCCESS
/// or FAILED (retryable errors are retried until the deadline).
fn wait_vpc_task(
    client: &Client,
    request_id: &str,
    deadline: Instant,
    what: &str,
) -> anyhow::Result<()> {
    let request = DescribeVpcTaskResultRequest {
        task_id: request_id.to_owned(),
    };
    loop {
        match client.describe_vpc_task_result(&request) {
            Ok(r) if r.status == TaskStatus::Success => return Ok(()),
            Ok(r) if r.status == TaskStatus::Failed => {
                return Err(exit(
                    Exit::Failure,
                    anyhow::anyhow!(
                        "{what}: the cloud reports task {request_id} FAILED ({})",
                        r.output
                    ),
                ));
            }
            Ok(_) => {}
            Err(e) if e.retry_class() != RetryClass::Fatal => {
                crate::warn!("havip_task_poll_failed", task_id = request_id, error = e);
            }
            Err(e) => {
                return Err(api_error(e).context(format!("{what}: polling task {request_id}")));
            }
        }
        pause(deadline, what)?;
    }
}

/// Watches HAVIP `id` with DescribeHaVips until its `AddressIp` satisfies `done`.
fn watch_address(
    client: &Client,
    id: &str,
    deadline: Instant,
    what: &str,
    done: impl Fn(&str) -> bool,
) -> anyhow::Result<HaVip> {
    loop {
        match describe_havip(client, id) {
            Ok(Some(h)) if done(h.address_ip.trim()) => return Ok(h),
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(exit(
                    Exit::Config,
                    anyhow::anyhow!("{what}: the HAVIP {id} does not exist"),
                ));
            }
            Err(e) if e.retry_class() != RetryClass::Fatal => {}
            Err(e) => return Err(api_error(e).context(format!("{what}: DescribeHaVips"))),
        }
        pause(deadline, what)?;
    }
}

/// Binds the EIP at `address` to HAVIP `id`: HaVipAssociateAddressIp, its task, and a
/// DescribeHaVips whose `AddressIp` is `address`.
pub fn associate(
    client: &Client,
    id: &str,
    address: &str,
    deadline: Instant,
) -> anyhow::Result<HaVip> {
    let what = format!("binding the EIP {address} to {id}");
    let response = client
        .ha_vip_associate_address_ip(&HaVipAssociateAddressIpRequest {
            ha_vip_id: id.to_owned(),
            address_ip: address.to_owned(),
        })
        .map_err(|e| api_error(e).context(format!("{what}: HaVipAssociateAddressIp")))?;
    crate::info!(
        "havip_eip_associate",
        havip = id,
        address = address,
        request_id = response.request_id
    );
    wait_vpc_task(client, &response.request_id, deadline, &what)?;
    watch_address(client, id, deadline, &what, |a| a == address)
}

/// Unbinds the EIP of HAVIP `id`: HaVipDisassociateAddressIp, its task, and a DescribeHaVips
/// with no `AddressIp`.
pub fn disassociate(client: &Client, id: &str, deadline: Instant) -> anyhow::Result<HaVip> {
    let what = format!("unbinding the EIP of {id}");
    let response = client
        .ha_vip_disassociate_address_ip(&HaVipDisassociateAddressIpRequest {
            ha_vip_id: id.to_owned(),
        })
        .map_err(|e| api_error(e).context(format!("{what}: HaVipDisassociateAddressIp")))?;
    crate::info!(
        "havip_eip_disassociate",
        havip = id,
        request_id = response.request_id
    );
    wait_vpc_task(client, &response.request_id, deadline, &what)?;
    watch_address(client, id, deadline, &what, str::is_empty)
}

/// What [`ensure_eip`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HaVipEip {
    /// The EIP was on the HAVIP already: no call made.
    Already(EipView),
    /// It was bound now.
    Bound { before: EipView, after: EipView },
}

/// Makes EIP `eip_id` the EIP of HAVIP `havip_id` (address `vip`). `may_write` is asked before
/// the write (it says why not). An EIP bound elsewhere, or a HAVIP with another EIP, is not
/// changed: that is an error naming the fix.
pub fn ensure_eip(
    client: &Client,
    eip_id: &str,
    havip_id: &str,
    vip: Ipv4Addr,
    deadline: Instant,
    may_write: &dyn Fn() -> Result<(), String>,
) -> anyhow::Result<HaVipEip> {
    use super::eip::binding::{describe_eip, watch};
    let what = format!("keeping {eip_id} on {havip_id} ({vip})");
    let mut before = match describe_eip(client, eip_id) {
        Ok(Some(v)) => v,
        Ok(None) => {
            return Err(exit(
                Exit::Config,
                anyhow::anyhow!(
                    "{what}: the EIP {eip_id} does not exist; check eip in the [[vip]] entry of {vip}"
                ),
            ));
        }
        Err(e) => return Err(api_error(e).context(format!("{what}: DescribeAddresses"))),
    };
    if before.is_settling() {
        before = watch(client, eip_id, deadline, &what, |v| !v.is_settling())?;
    }
    if before.on_havip(havip_id, vip) {
        return Ok(HaVipEip::Already(before));
    }
    if before.is_bound() {
        return Err(exit(
            Exit::Failure,
            anyhow::anyhow!(
                "{what}: it is bound elsewhere ({}); tcvip does not take an EIP from another address: unbind it first (`tcvip eip disassociate`, or the console)",
                before.describe()
            ),
        ));
    }
    let havip = describe_havip(client, havip_id)
        .map_err(|e| api_error(e).context(format!("{what}: DescribeHaVips")))?
        .ok_or_else(|| {
            exit(
                Exit::Config,
                anyhow::anyhow!(
                    "{what}: the HAVIP {havip_id} does not exist: correct havip_id in the [[vip]] entry of {vip}"
                ),
            )
        })?;
    if !havip.address_ip.trim().is_empty() {
        return Err(exit(
            Exit::Failure,
            anyhow::anyhow!(
                "{what}: {havip_id} already has the EIP {}; unbind it first (`tcvip eip disassociate --vip {vip}`) to bind {eip_id} instead",
                havip.address_ip.trim()
            ),
        ));
    }
    may_write().map_err(|why| exit(Exit::NotMaster, anyhow::anyhow!("{what}: {why}")))?;
    associate(client, havip_id, &before.address_ip, deadline)?;
    let after = watch(client, eip_id, deadline, &what, |v| {
        v.on_havip(havip_id, vip)
    })?;
    Ok(HaVipEip::Bound { before, after })
}

/// The EIP whose public address is `address`, if any (DescribeAddresses, `address-ip`).
pub fn eip_by_address(
    client: &Client,
    address: &str,
) -> Result<Option<EipView>, tencent_api::Error> {
    let request = tencent_api::vpc::DescribeAddressesRequest {
        filters: vec![tencent_api::vpc::Filter::one(
            "address-ip",
            address.to_owned(),
        )],
        ..tencent_api::vpc::DescribeAddressesRequest::default()
    };
    let r = client.describe_addresses(&request)?;
    Ok(r.address_set
        .iter()
        .find(|a| a.address_ip.trim() == address)
        .map(EipView::of))
}

/// The EIP bound to HAVIP `h`: found by the `AddressIp` DescribeHaVips shows, else by the
/// HAVIP's address as DescribeAddresses' private IP; `None` when it has none.
pub fn eip_of_havip(
    client: &Client,
    h: &HaVip,
    vip: Ipv4Addr,
) -> Result<Option<EipView>, tencent_api::Error> {
    let address = h.address_ip.trim();
    if !address.is_empty()
        && let Some(v) = eip_by_address(client, address)?
    {
        return Ok(Some(v));
    }
    Ok(super::eip::eip_on(client, vip)?.filter(|v| v.havip.as_deref() == Some(&h.ha_vip_id)))
}

#[cfg(test)]
mod tests {
    use tencent_api::vpc::Address;

    use super::*;

    const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 200);

    fn address(instance_type: &str, instance_id: &str, private: &str, status: &str) -> Address {
        Address {
            address_id: "eip-1".into(),
            address_ip: "198.19.0.11".into(),
            address_status: status.into(),
            instance_id: instance_id.into(),
            instance_type: instance_type.into(),
            private_address_ip: private.into(),
            ..Address::default()
        }
    }

    #[test]
    fn an_eip_is_on_a_havip_only_when_bound_to_that_havip() {
        let on = EipView::of(&address("HAVIP", "havip-a", "198.18.1.200", "BIND"));
        assert_eq!(on.havip.as_deref(), Some("havip-a"));
        assert!(on.on_havip("havip-a", VIP));
        assert!(!on.on_havip("havip-b", VIP));
        assert!(!on.on_havip("havip-a", Ipv4Addr::new(198, 18, 1, 201)));
        assert_eq!(
            on.describe(),
            "198.19.0.11 (eip-1) BIND → havip-a 198.18.1.200"
        );
        // Without a private IP in the answer, the HAVIP id decides.
        assert!(EipView::of(&address("HAVIP", "havip-a", "", "BIND")).on_havip("havip-a", VIP));
        // Being bound, or bound to an instance, is not on the HAVIP.
        assert!(
            !EipView::of(&address("HAVIP", "havip-a", "198.18.1.200", "BINDING"))
                .on_havip("havip-a", VIP)
        );
        let cvm = EipView::of(&address("CVM", "ins-1", "198.18.1.200", "BIND"));
        assert_eq!(cvm.havip, None);
        assert!(!cvm.on_havip("havip-a", VIP));
    }

    #[test]
    fn a_havip_is_described_with_its_binding_and_flushed_time() {
        let mut h = HaVip {
            ha_vip_id: "havip-a".into(),
            vip: "198.18.1.200".into(),
            network_interface_id: "eni-1".into(),
            instance_id: "ins-1".into(),
            state: "AVAILABLE".into(),
            flushed_time: "0000-00-00 00:00:00".into(),
            ..HaVip::default()
        };
        assert_eq!(
            describe(&h),
            "havip-a 198.18.1.200 AVAILABLE → eni-1 on ins-1, binding last changed never"
        );
        h.state = "UNBOUND".into();
        h.flushed_time = "2026-12-02 19:00:00".into();
        assert_eq!(
            describe(&h),
            "havip-a 198.18.1.200 UNBOUND, binding last changed 2026-12-02 19:00:00"
        );
    }
}
