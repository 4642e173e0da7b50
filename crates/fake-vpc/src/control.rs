//! The control endpoint, on the same listener under `/_control/` (unauthenticated: the
//! simulator is a test tool; bind it to a private address).
//!
//! | Request | Effect / answer |
//! |---|---|
//! | `GET /_control/state` | JSON: `ips` (ip → `{eni, state, primary}`), `enis`, `eips`, `havips`, `instances`, `tasks`, `lag_ms`, `metadata_available`, `faults`, `calls` (count), `havip_learn_ms`, `ignore_garps` (count left), `garps` (the GARPs seen, oldest first, at most 1000: `{seq, time (unix ms), ip, mac, eni, havip, via, verdict}`) |
//! | `GET /_control/holder/<ip>` | text: the holder ENI id and the IP state (`eni-node0001 AVAILABLE`), or `none` |
//! | `GET /_control/calls` | JSON array of call records (as in the calls log) |
//! | `POST /_control/clear-calls` | forget recorded calls |
//! | `POST /_control/fault` | body `{"action": "MigratePrivateIpAddress" \| null, "count": 1, "fault": F}`; F is `{"kind":"api_error","code":"...","message":"..."}`, `{"kind":"http500"}`, `{"kind":"garbage"}`, `{"kind":"delay","ms":N}` or `{"kind":"drop"}`; `"action":"metadata"` targets metadata requests. Or body `{"ignore_garps": N}`: the next N GARPs that would bind a HAVIP are seen but ignored (verdict `ignored`; replaces the count left) |
//! | `POST /_control/garp` | body `{"ip": "198.18.1.200", "mac": "52:54:00:00:01:11"}`: the VPC sees a gratuitous ARP for `ip` from `mac` (as from `--garp-listen`); answers its record `{seq, time, ip, mac, eni, havip, via: "control", verdict}` |
//! | `POST /_control/havip-learn` | body `{"ms": N}`: the HAVIP learning delay from now on |
//! | `POST /_control/deny` | body `{"actions": ["MigratePrivateIpAddress", ...], "code": C}`: every later call of those actions, by any key or role of the account, is refused as CAM refuses it (`C`: `AuthFailure.UnauthorizedOperation`, the default, or `UnauthorizedOperation`); see `deny.rs` |
//! | `POST /_control/clear-faults` | drop queued faults, CAM refusals and the `ignore_garps` count |
//! | `POST /_control/lag` | body `{"ms": N}` |
//! | `POST /_control/fail-next-task` | the next task ends FAILED |
//! | `POST /_control/metadata` | body `{"available": true\|false}` |
//! | `POST /_control/expire-credentials` | every temporary credential issued so far expires now |
//!
//! Answers are `{"ok":true}` (or the JSON asked for); a bad request gets HTTP 400 with
//! `{"error": "..."}`.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::{FaultJson, FaultSpec};
use crate::http::{Reply, Request};
use crate::net::Mac;
use crate::shared::Shared;

fn bad(msg: impl Into<String>) -> Reply {
    Reply::Http {
        status: 400,
        content_type: "application/json",
        body: json!({ "error": msg.into() }).to_string().into_bytes(),
    }
}

fn ok() -> Reply {
    Reply::json(&json!({ "ok": true }))
}

fn body<T: for<'de> Deserialize<'de>>(req: &Request) -> Result<T, Reply> {
    serde_json::from_slice(&req.body).map_err(|e| bad(format!("bad JSON body: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultBody {
    #[serde(default)]
    action: Option<String>,
    #[serde(default = "one")]
    count: u32,
    fault: FaultJson,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DenyBody {
    actions: Vec<String>,
    #[serde(default)]
    code: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LagBody {
    ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IgnoreGarpsBody {
    ignore_garps: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GarpBody {
    ip: String,
    mac: String,
}

fn garp(shared: &Shared, b: &GarpBody) -> Reply {
    let Ok(ip) = b.ip.parse::<Ipv4Addr>() else {
        return bad(format!("ip {:?} is not an IPv4 address", b.ip));
    };
    let Ok(mac) = b.mac.parse::<Mac>() else {
        return bad(format!(
            "mac {:?} is not a MAC address; write it as 52:54:00:00:01:11",
            b.mac
        ));
    };
    let record = shared.garp(ip, mac, "control");
    Reply::json(&json!(record))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetadataBody {
    available: bool,
}

fn deny(shared: &Shared, b: &DenyBody) -> Reply {
    let code = b.code.as_deref().unwrap_or(crate::deny::DEFAULT_CODE);
    if !crate::deny::CODES.contains(&code) {
        return bad(format!(
            "code {code:?} is not a CAM refusal; use one of {:?}",
            crate::deny::CODES
        ));
    }
    if let Some(a) = b
        .actions
        .iter()
        .find(|a| crate::api::rate_limit(a).is_none())
    {
        return bad(format!("{a:?} is not an action this simulator serves"));
    }
    for action in &b.actions {
        shared.deny(action, code);
    }
    ok()
}

pub(crate) fn handle(shared: &Shared, req: &Request) -> Reply {
    let path = req.path().trim_start_matches("/_control");
    match (req.method.as_str(), path) {
        ("GET", "/state") => {
            let mut state = shared.world_advanced(Instant::now()).to_json();
            if let Some(map) = state.as_object_mut() {
                let faults: Vec<String> = shared
                    .pending_faults()
                    .iter()
                    .map(|f| format!("{f:?}"))
                    .collect();
                map.insert("faults".into(), json!(faults));
                map.insert("denied".into(), json!(shared.denied()));
                map.insert("calls".into(), json!(shared.calls().len()));
            }
            Reply::json(&state)
        }
        ("GET", "/calls") => {
            let calls: Vec<Value> = shared.calls().iter().map(|c| c.to_json()).collect();
            Reply::json(&Value::Array(calls))
        }
        ("GET", p) if p.starts_with("/holder/") => {
            let Ok(ip) = p.trim_start_matches("/holder/").parse::<Ipv4Addr>() else {
                return bad("not an IPv4 address");
            };
            let w = shared.world_advanced(Instant::now());
            match (w.holder_of(ip), w.ip_state(ip)) {
                (Some(eni), Some(state)) => Reply::text(200, format!("{eni} {}\n", state.as_str())),
                _ => Reply::text(200, "none\n"),
            }
        }
        ("POST", "/clear-calls") => {
            shared.clear_calls();
            ok()
        }
        ("POST", "/fault")
            if serde_json::from_slice::<Value>(&req.body)
                .is_ok_and(|v| v.get("ignore_garps").is_some()) =>
        {
            match body::<IgnoreGarpsBody>(req) {
                Ok(b) => {
                    shared.world().set_ignore_garps(b.ignore_garps);
                    ok()
                }
                Err(r) => r,
            }
        }
        ("POST", "/garp") => match body::<GarpBody>(req) {
            Ok(b) => garp(shared, &b),
            Err(r) => r,
        },
        ("POST", "/havip-learn") => match body::<LagBody>(req) {
            Ok(b) => {
                shared.world().set_havip_learn(Duration::from_millis(b.ms));
                ok()
            }
            Err(r) => r,
        },
        ("POST", "/fault") => match body::<FaultBody>(req) {
            Ok(b) => {
                shared.inject(FaultSpec {
                    action: b.action,
                    count: b.count,
                    fault: b.fault.into(),
                });
                ok()
            }
            Err(r) => r,
        },
        ("POST", "/deny") => match body::<DenyBody>(req) {
            Ok(b) => deny(shared, &b),
            Err(r) => r,
        },
        ("POST", "/clear-faults") => {
            shared.clear_faults();
            ok()
        }
        ("POST", "/lag") => match body::<LagBody>(req) {
            Ok(b) => {
                shared.world().set_lag(Duration::from_millis(b.ms));
                ok()
            }
            Err(r) => r,
        },
        ("POST", "/fail-next-task") => {
            shared.world().fail_next_task();
            ok()
        }
        ("POST", "/metadata") => match body::<MetadataBody>(req) {
            Ok(b) => {
                shared.world().set_metadata_available(b.available);
                ok()
            }
            Err(r) => r,
        },
        ("POST", "/expire-credentials") => {
            shared.world().expire_temp_credentials();
            ok()
        }
        _ => Reply::text(404, "unknown control request\n"),
    }
}
