//! The API side: `POST /` with a signed JSON body, answered in the real envelope
//! (`{"Response":{...,"RequestId"}}`, errors as HTTP 200 with `Response.Error`).
//!
//! Checks run in this order, each answering the first problem found: injected fault; headers
//! `X-TC-Action` / `X-TC-Version` present; signature (Authorization parsed, timestamp within
//! 300 s, SecretId known, signature, then X-TC-Token for temporary credentials); version;
//! action; region; CAM refusal (`/_control/deny`); rate limit; body and parameters; the action itself.

mod eip;
mod eni;
mod havip;
pub(crate) mod params;

use std::time::{Instant, SystemTime};

use serde_json::{Value, json};

pub use crate::api_error::ApiError;
use crate::auth::{self, Caller};
use crate::calls::CallRecord;
use crate::faults::Fault;
use crate::http::{Reply, Request};
use crate::ids;
use crate::shared::Shared;
use crate::world::World;

/// The rate limiter's key: the one account a topology describes.
const ACCOUNT: &str = "account";

/// The only API version served.
pub const VERSION: &str = "2017-03-12";

/// Actions served, with their documented per-account rate limits (requests per second).
pub const ACTIONS: &[(&str, u32)] = &[
    ("MigratePrivateIpAddress", 50),
    ("DescribeVpcTaskResult", 20),
    ("DescribeNetworkInterfaces", 100),
    ("AssignPrivateIpAddresses", 100),
    ("UnassignPrivateIpAddresses", 100),
    ("DescribeAddresses", 20),
    ("AssociateAddress", 10),
    ("AllocateAddresses", 10),
    ("DisassociateAddress", 10),
    ("DescribeTaskResult", 20),
    ("DescribeHaVips", 20),
    // Documented 20/s; HaVipAssociateAddressIp's limit is not documented (20/s assumed).
    ("HaVipAssociateAddressIp", 20),
    ("HaVipDisassociateAddressIp", 20),
];

/// The per-second limit of `action`, if it is served.
pub fn rate_limit(action: &str) -> Option<u32> {
    ACTIONS.iter().find(|(a, _)| *a == action).map(|(_, l)| *l)
}

/// What an action handler needs besides the parameters and the world.
pub(crate) struct Ctx<'a> {
    pub request_id: &'a str,
    pub now: Instant,
    #[allow(dead_code)]
    pub caller: &'a Caller,
}

/// The success envelope around `fields`.
pub(crate) fn ok_envelope(mut fields: Value, request_id: &str) -> Value {
    if let Some(map) = fields.as_object_mut() {
        map.insert("RequestId".into(), Value::String(request_id.to_string()));
    }
    json!({ "Response": fields })
}

/// The error envelope.
pub(crate) fn error_envelope(e: &ApiError, request_id: &str) -> Value {
    json!({
        "Response": {
            "Error": { "Code": e.code, "Message": e.message },
            "RequestId": request_id,
        }
    })
}

/// Answers one API request and records it.
pub(crate) fn handle(shared: &Shared, req: &Request) -> Reply {
    let started = Instant::now();
    let time = SystemTime::now();
    let action = req.header("x-tc-action").unwrap_or("").to_string();
    let request_id = ids::request_id();
    let recorded_params = match serde_json::from_slice::<Value>(&req.body) {
        Ok(v) => v,
        Err(_) => Value::String(format!("<{} bytes, not JSON>", req.body.len())),
    };
    let mut secret_id = auth::claimed_secret_id(req);

    let (reply, outcome) = match shared.take_fault(&action) {
        Some(Fault::ApiError(code, message)) => {
            let e = ApiError::new(&code, message);
            (Reply::json(&error_envelope(&e, &request_id)), code)
        }
        Some(Fault::Http500) => (
            Reply::Http {
                status: 500,
                content_type: "text/html",
                body: b"<html><body><h1>500 Internal Server Error</h1></body></html>".to_vec(),
            },
            "HTTP500".to_string(),
        ),
        Some(Fault::Garbage) => (
            Reply::Http {
                status: 200,
                content_type: "application/json",
                body: b"{\"Response\": {\"RequestId\": \x00garbage\xff".to_vec(),
            },
            "GARBAGE".to_string(),
        ),
        Some(Fault::Drop) => (Reply::Drop, "DROP".to_string()),
        Some(Fault::Delay(d)) => {
            shared.sleep(d);
            serve(shared, req, &action, &request_id, &mut secret_id)
        }
        None => serve(shared, req, &action, &request_id, &mut secret_id),
    };
    shared.record(CallRecord {
        time,
        action,
        params: recorded_params,
        secret_id,
        outcome,
        latency: started.elapsed(),
        request_id,
    });
    reply
}

fn serve(
    shared: &Shared,
    req: &Request,
    action: &str,
    request_id: &str,
    secret_id: &mut Option<String>,
) -> (Reply, String) {
    let result = process(shared, req, action, request_id, secret_id);
    match result {
        Ok(fields) => (
            Reply::json(&ok_envelope(fields, request_id)),
            "OK".to_string(),
        ),
        Err(e) => (Reply::json(&error_envelope(&e, request_id)), e.code),
    }
}

fn process(
    shared: &Shared,
    req: &Request,
    action: &str,
    request_id: &str,
    secret_id: &mut Option<String>,
) -> Result<Value, ApiError> {
    if req.method != "POST" {
        return Err(ApiError::new(
            "InvalidRequest",
            "This simulator serves API 3.0 as POST with a JSON body only.",
        ));
    }
    if action.is_empty() {
        return Err(ApiError::new(
            "MissingParameter",
            "The request is missing a required parameter `Action`.",
        ));
    }
    let Some(version) = req.header("x-tc-version") else {
        return Err(ApiError::new(
            "MissingParameter",
            "The request is missing a required parameter `Version`.",
        ));
    };
    let now = Instant::now();
    let mut world = shared.world_advanced(now);
    let caller = auth::verify(req, &world, ids::unix_now())?;
    *secret_id = Some(caller.secret_id.clone());
    if version != VERSION {
        return Err(ApiError::new(
            "NoSuchVersion",
            format!("The requested version `{version}` of service `vpc` does not exist."),
        ));
    }
    let Some(limit) = rate_limit(action) else {
        return Err(ApiError::new(
            "InvalidAction",
            format!("The action `{action}` is invalid or not found."),
        ));
    };
    match req.header("x-tc-region") {
        None | Some("") => {
            return Err(ApiError::new(
                "MissingParameter",
                "The request is missing a required parameter `Region`.",
            ));
        }
        Some(r) if r != world.region => {
            return Err(ApiError::new(
                "UnsupportedRegion",
                format!(
                    "The region `{r}` is not served here (only `{}`).",
                    world.region
                ),
            ));
        }
        Some(_) => {}
    }
    // CAM: the account's policy is looked at once the caller is known, before anything the
    // request asks for (see `/_control/deny`).
    shared.check_denied(action, &world.region, request_id)?;
    // The documented limits are per account and action; a topology is one account, whose API
    // keys and role credentials all draw on the same allowance.
    if !shared.rate_ok(ACCOUNT, action, limit, now) {
        return Err(ApiError::new(
            "RequestLimitExceeded",
            format!(
                "Your current request times equals to `{}` in a second, which exceeds the frequency limit `{limit}` for a second. Please reduce the frequency of calls.",
                limit + 1
            ),
        ));
    }
    let body: Value = if req.body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&req.body)
            .map_err(|_| ApiError::new("InvalidParameter", "The request body is not valid JSON."))?
    };
    let Value::Object(mut p) = body else {
        return Err(ApiError::new(
            "InvalidParameter",
            "The request body must be a JSON object.",
        ));
    };
    // Absent and null mean the same.
    p.retain(|_, v| !v.is_null());
    let ctx = Ctx {
        request_id,
        now,
        caller: &caller,
    };
    let w: &mut World = &mut world;
    let out = match action {
        "MigratePrivateIpAddress" => eni::migrate(&p, w, &ctx),
        "DescribeVpcTaskResult" => eni::describe_vpc_task_result(&p, w, &ctx),
        "DescribeNetworkInterfaces" => eni::describe_network_interfaces(&p, w, &ctx),
        "AssignPrivateIpAddresses" => eni::assign(&p, w, &ctx),
        "UnassignPrivateIpAddresses" => eni::unassign(&p, w, &ctx),
        "DescribeAddresses" => eip::describe_addresses(&p, w, &ctx),
        "AssociateAddress" => eip::associate(&p, w, &ctx),
        "AllocateAddresses" => eip::allocate(&p, w, &ctx),
        "DisassociateAddress" => eip::disassociate(&p, w, &ctx),
        "DescribeTaskResult" => eip::describe_task_result(&p, w, &ctx),
        "DescribeHaVips" => havip::describe_ha_vips(&p, w, &ctx),
        "HaVipAssociateAddressIp" => havip::associate_address_ip(&p, w, &ctx),
        "HaVipDisassociateAddressIp" => havip::disassociate_address_ip(&p, w, &ctx),
        _ => Err(ApiError::new(
            "InvalidAction",
            format!("The action `{action}` is invalid or not found."),
        )),
    };
    drop(world);
    // Landings due now (lag zero) reach the hook promptly.
    shared.advance_now();
    out
}
