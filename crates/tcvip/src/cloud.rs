//! The questions tcvip asks the VPC API, answered exactly.
//!
//! The `address-ip` filter of DescribeNetworkInterfaces is a suffix match when given one value,
//! so every lookup also sends `ip-exact-match=TRUE` and then compares the addresses itself:
//! 10.0.1.10 is never mistaken for 10.0.1.100.

use std::net::Ipv4Addr;

use tencent_api::vpc::{
    DescribeAddressesRequest, DescribeHaVipsRequest, DescribeNetworkInterfacesRequest, Filter,
    HaVip,
};
use tencent_api::{Client, Error};

/// `PrivateIpAddressSpecification.State` while a move is in flight.
pub const MIGRATING: &str = "MIGRATING";
/// `PrivateIpAddressSpecification.State` while an assignment is in flight.
pub const PENDING: &str = "PENDING";
/// `PrivateIpAddressSpecification.State` while an unassignment is in flight.
pub const DELETING: &str = "DELETING";

/// The ENI that holds a VIP, as the cloud sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub eni: String,
    pub instance: Option<String>,
    /// `AVAILABLE`, `MIGRATING`, `PENDING`, `DELETING`, as the API reports it.
    pub state: String,
    /// Whether the address is the ENI's primary IP (which can never be moved).
    pub primary: bool,
}

impl Holder {
    /// Whether a move of this address is in flight.
    pub fn is_moving(&self) -> bool {
        self.state.eq_ignore_ascii_case(MIGRATING)
    }

    /// Whether any change of this address is in flight: a move (`MIGRATING`), an assignment
    /// (`PENDING`) or an unassignment (`DELETING`). Until it ends, where the address will be
    /// is not known.
    pub fn is_changing(&self) -> bool {
        [MIGRATING, PENDING, DELETING]
            .iter()
            .any(|s| self.state.eq_ignore_ascii_case(s))
    }
}

/// Which ENI of `vpc_id` holds `vip`; `None` when no ENI does.
pub fn find_holder(client: &Client, vpc_id: &str, vip: Ipv4Addr) -> Result<Option<Holder>, Error> {
    let request = DescribeNetworkInterfacesRequest::holder_of(vpc_id, vip);
    let response = client.describe_all_network_interfaces(&request, 1000)?;
    Ok(response.into_iter().find_map(|eni| {
        let spec = eni.private_ip(vip)?;
        Some(Holder {
            instance: eni.instance_id().map(str::to_owned),
            state: spec.state.clone(),
            primary: spec.primary,
            eni: eni.network_interface_id.clone(),
        })
    }))
}

/// The HAVIP `havip_id` as DescribeHaVips(HaVipIds=[id]) shows it; `None` when the API knows
/// no such HAVIP (an empty set, or a `ResourceNotFound` / `InvalidParameterValue` naming it).
pub fn find_havip(client: &Client, havip_id: &str) -> Result<Option<HaVip>, Error> {
    let request = DescribeHaVipsRequest {
        ha_vip_ids: vec![havip_id.to_owned()],
        ..DescribeHaVipsRequest::default()
    };
    match client.describe_ha_vips(&request) {
        Ok(response) => Ok(response
            .ha_vip_set
            .into_iter()
            .find(|h| h.ha_vip_id == havip_id)),
        Err(e) if e.code().is_some_and(is_not_found_code) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Codes with which DescribeHaVips says an id it was given does not exist.
fn is_not_found_code(code: &str) -> bool {
    code.starts_with("ResourceNotFound") || code == "InvalidParameterValue.NotFound"
}

/// Why a HAVIP cannot be the VIP it is configured as: a configuration problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HaVipProblem {
    /// DescribeHaVips knows no such HAVIP.
    #[error(
        "{havip_id} (vip {vip}'s havip_id) does not exist in this region: create the HAVIP for {vip} in the VPC console, or set [[vip]] havip_id to the id DescribeHaVips shows for it"
    )]
    Missing { havip_id: String, vip: Ipv4Addr },
    /// The HAVIP's address is another one.
    #[error(
        "{havip_id} has address {actual}, not {vip}: set [[vip]] havip_id to the HAVIP whose address is {vip}, or set address = \"{actual}\""
    )]
    OtherVip {
        havip_id: String,
        vip: Ipv4Addr,
        actual: String,
    },
}

/// The holder of a HAVIP: the ENI `havip` is bound to ([`HaVip::is_bound`]; `UNBIND` and
/// `UNBOUND` are unbound: `None`), once the HAVIP is known to exist and to be `vip`.
pub fn havip_holder(
    havip: Option<&HaVip>,
    havip_id: &str,
    vip: Ipv4Addr,
) -> Result<Option<Holder>, HaVipProblem> {
    let Some(h) = havip else {
        return Err(HaVipProblem::Missing {
            havip_id: havip_id.to_owned(),
            vip,
        });
    };
    if h.vip.trim().parse::<Ipv4Addr>().ok() != Some(vip) {
        return Err(HaVipProblem::OtherVip {
            havip_id: havip_id.to_owned(),
            vip,
            actual: h.vip.clone(),
        });
    }
    if !h.is_bound() {
        return Ok(None);
    }
    Ok(Some(Holder {
        eni: h.network_interface_id.clone(),
        instance: Some(h.instance_id.clone()).filter(|i| !i.is_empty()),
        state: if h.state.is_empty() {
            "AVAILABLE".to_owned()
        } else {
            h.state.clone()
        },
        primary: false,
    }))
}

/// Why the holder of a VIP is not known: the API failed, or the configuration is wrong.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(transparent)]
    Api(#[from] Error),
    #[error(transparent)]
    HaVip(#[from] HaVipProblem),
}

/// The holder of the configured `vip`, whatever its kind: for `kind = "havip"` the ENI
/// DescribeHaVips shows the HAVIP bound to ([`find_havip_holder`]), else [`find_holder`].
pub fn holder_of(
    client: &Client,
    vpc_id: &str,
    vip: &crate::config::VipConfig,
) -> Result<Option<Holder>, LookupError> {
    match &vip.havip_id {
        Some(id) if vip.kind == crate::config::VipKind::Havip => {
            find_havip_holder(client, id.as_ref(), vip.address)
        }
        _ => Ok(find_holder(client, vpc_id, vip.address)?),
    }
}

/// The ENI the HAVIP `havip_id` (configured for `vip`) is bound to; `None` when unbound.
pub fn find_havip_holder(
    client: &Client,
    havip_id: &str,
    vip: Ipv4Addr,
) -> Result<Option<Holder>, LookupError> {
    let havip = find_havip(client, havip_id)?;
    Ok(havip_holder(havip.as_ref(), havip_id, vip)?)
}

/// The EIP bound to `vip`, if any: (address id, public IP).
pub fn eip_of(client: &Client, vip: Ipv4Addr) -> Result<Option<(String, String)>, Error> {
    let request = DescribeAddressesRequest {
        filters: vec![Filter::one("private-ip-address", vip.to_string())],
        ..DescribeAddressesRequest::default()
    };
    let response = client.describe_addresses(&request)?;
    Ok(response
        .address_set
        .into_iter()
        .find(|a| a.private_address_ip.trim().parse::<Ipv4Addr>().ok() == Some(vip))
        .map(|a| (a.address_id, a.address_ip)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 100);

    fn havip(vip: &str, eni: &str, state: &str) -> HaVip {
        HaVip {
            ha_vip_id: "havip-1".to_owned(),
            vip: vip.to_owned(),
            network_interface_id: eni.to_owned(),
            instance_id: if eni.is_empty() {
                String::new()
            } else {
                "ins-1".to_owned()
            },
            state: state.to_owned(),
            ..HaVip::default()
        }
    }

    #[test]
    fn a_bound_havip_is_held_by_its_eni() {
        let h = havip("198.18.1.100", "eni-a", "AVAILABLE");
        let holder = havip_holder(Some(&h), "havip-1", VIP).unwrap().unwrap();
        assert_eq!(holder.eni, "eni-a");
        assert_eq!(holder.instance.as_deref(), Some("ins-1"));
        assert!(!holder.primary && !holder.is_changing());
    }

    #[test]
    fn unbind_and_unbound_are_both_unbound() {
        for state in ["UNBIND", "UNBOUND", "unbind"] {
            let h = havip("198.18.1.100", "eni-a", state);
            assert_eq!(
                havip_holder(Some(&h), "havip-1", VIP).unwrap(),
                None,
                "{state}"
            );
        }
        let h = havip("198.18.1.100", "", "AVAILABLE");
        assert_eq!(havip_holder(Some(&h), "havip-1", VIP).unwrap(), None);
    }

    #[test]
    fn a_missing_or_other_havip_is_a_config_problem_naming_the_fix() {
        let e = havip_holder(None, "havip-1", VIP).unwrap_err();
        assert!(
            e.to_string().contains("havip-1") && e.to_string().contains("havip_id"),
            "{e}"
        );
        let h = havip("198.18.1.10", "eni-a", "AVAILABLE");
        let e = havip_holder(Some(&h), "havip-1", VIP).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("198.18.1.10,") && text.contains("not 198.18.1.100"),
            "{text}"
        );
        assert!(text.contains("havip_id"), "{text}");
    }
}
