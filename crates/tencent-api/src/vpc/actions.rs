//! One method per action on [`Client`].

use super::types::*;
use crate::client::Client;
use crate::error::Error;

/// Largest page the service serves (`Limit` at most 100).
pub const PAGE_LIMIT: u64 = 100;

/// A sensible bound for [`Client::describe_all_network_interfaces`].
pub const DESCRIBE_ALL_MAX_ITEMS: usize = 1000;

fn invalid(action: &str, detail: &str) -> Error {
    Error::InvalidRequest {
        action: action.to_owned(),
        detail: detail.to_owned(),
    }
}

fn check_paging(action: &str, ids: usize, filters: usize, limit: Option<u64>) -> Result<(), Error> {
    if ids > 0 && filters > 0 {
        return Err(invalid(action, "ids and filters cannot be combined"));
    }
    if ids > 100 {
        return Err(invalid(action, "at most 100 ids per request"));
    }
    if limit.is_some_and(|l| l > PAGE_LIMIT) {
        return Err(invalid(action, "Limit is at most 100"));
    }
    Ok(())
}

impl Client {
    /// MigratePrivateIpAddress: moves a secondary IP between ENIs of one subnet. The returned
    /// RequestId is the task id for [`describe_vpc_task_result`](Self::describe_vpc_task_result).
    /// Not idempotent (no ClientToken).
    pub fn migrate_private_ip_address(
        &self,
        req: &MigratePrivateIpAddressRequest,
    ) -> Result<MigratePrivateIpAddressResponse, Error> {
        self.call("MigratePrivateIpAddress", req)
    }

    /// DescribeVpcTaskResult: status of an asynchronous ENI/HAVIP task.
    pub fn describe_vpc_task_result(
        &self,
        req: &DescribeVpcTaskResultRequest,
    ) -> Result<DescribeVpcTaskResultResponse, Error> {
        self.call("DescribeVpcTaskResult", req)
    }

    /// DescribeNetworkInterfaces, one page. Refuses ids together with filters, more than 100
    /// ids, and a Limit above 100 before sending anything.
    pub fn describe_network_interfaces(
        &self,
        req: &DescribeNetworkInterfacesRequest,
    ) -> Result<DescribeNetworkInterfacesResponse, Error> {
        const ACTION: &str = "DescribeNetworkInterfaces";
        check_paging(
            ACTION,
            req.network_interface_ids.len(),
            req.filters.len(),
            req.limit,
        )?;
        self.call(ACTION, req)
    }

    /// Every ENI matching `req`, fetched 100 at a time from `req.offset`. Stops with
    /// [`Error::TooManyResults`] once more than `max_items` have been seen.
    pub fn describe_all_network_interfaces(
        &self,
        req: &DescribeNetworkInterfacesRequest,
        max_items: usize,
    ) -> Result<Vec<NetworkInterface>, Error> {
        let mut out: Vec<NetworkInterface> = Vec::new();
        let mut page_req = req.clone();
        page_req.limit = Some(PAGE_LIMIT);
        let mut offset = req.offset.unwrap_or(0);
        loop {
            page_req.offset = Some(offset);
            let page = self.describe_network_interfaces(&page_req)?;
            let n = page.network_interface_set.len();
            out.extend(page.network_interface_set);
            if out.len() > max_items {
                return Err(Error::TooManyResults {
                    action: "DescribeNetworkInterfaces".into(),
                    limit: max_items,
                });
            }
            let seen = offset.saturating_add(n as u64);
            if n == 0 || (n as u64) < PAGE_LIMIT || seen >= page.total_count {
                return Ok(out);
            }
            offset = seen;
        }
    }

    /// AssignPrivateIpAddresses: adds secondary IPs to an ENI (asynchronous).
    pub fn assign_private_ip_addresses(
        &self,
        req: &AssignPrivateIpAddressesRequest,
    ) -> Result<AssignPrivateIpAddressesResponse, Error> {
        const ACTION: &str = "AssignPrivateIpAddresses";
        if req.private_ip_addresses.is_empty() && req.secondary_private_ip_address_count.is_none() {
            return Err(invalid(
                ACTION,
                "give PrivateIpAddresses or SecondaryPrivateIpAddressCount",
            ));
        }
        if req.private_ip_addresses.len() > 10 {
            return Err(invalid(ACTION, "at most 10 addresses per request"));
        }
        self.call(ACTION, req)
    }

    /// UnassignPrivateIpAddresses: returns secondary IPs of an ENI (asynchronous).
    pub fn unassign_private_ip_addresses(
        &self,
        req: &UnassignPrivateIpAddressesRequest,
    ) -> Result<UnassignPrivateIpAddressesResponse, Error> {
        const ACTION: &str = "UnassignPrivateIpAddresses";
        if req.private_ip_addresses.is_empty() || req.private_ip_addresses.len() > 10 {
            return Err(invalid(ACTION, "give 1 to 10 addresses"));
        }
        self.call(ACTION, req)
    }

    /// DescribeAddresses: elastic IPs, one page.
    pub fn describe_addresses(
        &self,
        req: &DescribeAddressesRequest,
    ) -> Result<DescribeAddressesResponse, Error> {
        const ACTION: &str = "DescribeAddresses";
        check_paging(ACTION, 0, 0, req.limit)?;
        self.call(ACTION, req)
    }

    /// AssociateAddress: binds an EIP; poll the string TaskId with
    /// [`describe_task_result`](Self::describe_task_result) after parsing it as an integer.
    pub fn associate_address(
        &self,
        req: &AssociateAddressRequest,
    ) -> Result<AssociateAddressResponse, Error> {
        const ACTION: &str = "AssociateAddress";
        if req.instance_id.is_some()
            && (req.network_interface_id.is_some() || req.private_ip_address.is_some())
        {
            return Err(invalid(
                ACTION,
                "InstanceId cannot be combined with NetworkInterfaceId/PrivateIpAddress",
            ));
        }
        if req.network_interface_id.is_some() != req.private_ip_address.is_some() {
            return Err(invalid(
                ACTION,
                "NetworkInterfaceId and PrivateIpAddress go together",
            ));
        }
        self.call(ACTION, req)
    }

    /// AllocateAddresses: new EIPs; poll the string TaskId with
    /// [`describe_task_result`](Self::describe_task_result).
    pub fn allocate_addresses(
        &self,
        req: &AllocateAddressesRequest,
    ) -> Result<AllocateAddressesResponse, Error> {
        self.call("AllocateAddresses", req)
    }

    /// DisassociateAddress: unbinds an EIP; returns a string TaskId.
    pub fn disassociate_address(
        &self,
        req: &DisassociateAddressRequest,
    ) -> Result<DisassociateAddressResponse, Error> {
        self.call("DisassociateAddress", req)
    }

    /// DescribeTaskResult: status of an EIP task (integer TaskId).
    pub fn describe_task_result(
        &self,
        req: &DescribeTaskResultRequest,
    ) -> Result<DescribeTaskResultResponse, Error> {
        self.call("DescribeTaskResult", req)
    }

    /// DescribeHaVips: HAVIPs, one page. Refuses ids with filters and Limit above 100.
    pub fn describe_ha_vips(
        &self,
        req: &DescribeHaVipsRequest,
    ) -> Result<DescribeHaVipsResponse, Error> {
        const ACTION: &str = "DescribeHaVips";
        check_paging(ACTION, req.ha_vip_ids.len(), req.filters.len(), req.limit)?;
        self.call(ACTION, req)
    }

    /// HaVipAssociateAddressIp: binds the EIP at `AddressIp` to a HAVIP. Asynchronous: poll
    /// [`describe_vpc_task_result`](Self::describe_vpc_task_result) with the RequestId.
    pub fn ha_vip_associate_address_ip(
        &self,
        req: &HaVipAssociateAddressIpRequest,
    ) -> Result<HaVipAssociateAddressIpResponse, Error> {
        self.call("HaVipAssociateAddressIp", req)
    }

    /// HaVipDisassociateAddressIp: unbinds a HAVIP's EIP. Asynchronous, like the association.
    pub fn ha_vip_disassociate_address_ip(
        &self,
        req: &HaVipDisassociateAddressIpRequest,
    ) -> Result<HaVipDisassociateAddressIpResponse, Error> {
        self.call("HaVipDisassociateAddressIp", req)
    }
}
