//! CAM refusals: actions the simulated account's policy does not allow.
//!
//! `POST /_control/deny {"actions": ["MigratePrivateIpAddress"], "code": "..."}` makes every
//! later call of those actions, by any key or role of the account (a topology is one account),
//! fail after its signature is verified and before its parameters are looked at — where the
//! real API's authorization sits — with a CAM refusal. `code` is one of the two codes Tencent
//! answers a CAM refusal with: `AuthFailure.UnauthorizedOperation` (the default; the common
//! error code "请求未授权") or `UnauthorizedOperation` (the code VPC actions list). The message
//! has the real service's shape: "you are not authorized to perform operation (vpc:ACTION)".
//! `/_control/clear-faults` allows everything again.

use std::collections::BTreeMap;

use crate::api_error::ApiError;

/// The default refusal code.
pub const DEFAULT_CODE: &str = "AuthFailure.UnauthorizedOperation";
/// The codes a refusal may be answered with.
pub const CODES: &[&str] = &[DEFAULT_CODE, "UnauthorizedOperation"];

/// The refused actions of the account, each with the code it is refused with.
#[derive(Debug, Default, Clone)]
pub(crate) struct Denials {
    actions: BTreeMap<String, String>,
}

impl Denials {
    /// Refuses `action` with `code` from now on.
    pub fn deny(&mut self, action: &str, code: &str) {
        self.actions.insert(action.to_owned(), code.to_owned());
    }

    pub fn clear(&mut self) {
        self.actions.clear();
    }

    /// The refused actions, sorted.
    pub fn actions(&self) -> Vec<String> {
        self.actions.keys().cloned().collect()
    }

    /// The refusal for a call of `action` in `region`, when the policy refuses it.
    pub fn check(&self, action: &str, region: &str, request_id: &str) -> Result<(), ApiError> {
        let Some(code) = self.actions.get(action) else {
            return Ok(());
        };
        Err(ApiError::new(
            code,
            format!(
                "You are not authorized to perform this operation. Check your CAM policies, and ensure that you are using the correct access keys. [request id:{request_id}]you are not authorized to perform operation (vpc:{action})\nresource (qcs::vpc:{region}:uin/100000000001:*) has no permission\n"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn refuses_only_the_denied_actions_until_cleared() {
        let mut d = Denials::default();
        assert!(
            d.check("MigratePrivateIpAddress", "ap-guangzhou", "r")
                .is_ok()
        );
        d.deny("MigratePrivateIpAddress", DEFAULT_CODE);
        d.deny("DescribeAddresses", "UnauthorizedOperation");
        let e = d
            .check("MigratePrivateIpAddress", "ap-guangzhou", "r1")
            .unwrap_err();
        assert_eq!(e.code, "AuthFailure.UnauthorizedOperation");
        assert!(
            e.message.contains(
                "you are not authorized to perform operation (vpc:MigratePrivateIpAddress)"
            ),
            "{}",
            e.message
        );
        assert_eq!(
            d.check("DescribeAddresses", "ap-guangzhou", "r")
                .unwrap_err()
                .code,
            "UnauthorizedOperation"
        );
        assert!(
            d.check("DescribeNetworkInterfaces", "ap-guangzhou", "r")
                .is_ok()
        );
        assert_eq!(
            d.actions(),
            ["DescribeAddresses", "MigratePrivateIpAddress"]
        );
        d.clear();
        assert!(
            d.check("MigratePrivateIpAddress", "ap-guangzhou", "r")
                .is_ok()
        );
    }
}
