//! The questions tcvip asks the VPC API, answered exactly.
//!
//! The `address-ip` filter of DescribeNetworkInterfaces is a suffix match when given one value,
//! so every lookup also sends `ip-exact-match=TRUE` and then compares the addresses itself:
//! 10.0.1.10 is never mistaken for 10.0.1.100.

use std::net::Ipv4Addr;

use tencent_api::vpc::{DescribeAddressesRequest, DescribeNetworkInterfacesRequest, Filter};
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
