//! Records of API calls: time, action, parameters, caller SecretId, outcome code and latency.
//! Never secrets, never the Authorization header.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::ids;

/// One API call as the simulator saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    pub time: SystemTime,
    /// `X-TC-Action` as sent (empty when missing).
    pub action: String,
    /// The JSON body (or a placeholder string when it was not JSON).
    pub params: Value,
    /// The SecretId from the Authorization header's Credential, when one was given.
    pub secret_id: Option<String>,
    /// `OK`, an error code, or for injected faults `HTTP500`, `GARBAGE`, `DROP`.
    pub outcome: String,
    pub latency: Duration,
    pub request_id: String,
}

impl CallRecord {
    /// The JSON-lines form written by `--calls-log`.
    pub fn to_json(&self) -> Value {
        let unix_ms = self
            .time
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        json!({
            "time": ids::rfc3339(ids::unix_secs(self.time)),
            "unix_ms": unix_ms,
            "action": self.action,
            "params": self.params,
            "secret_id": self.secret_id,
            "outcome": self.outcome,
            "latency_ms": self.latency.as_secs_f64() * 1000.0,
            "request_id": self.request_id,
        })
    }

    pub fn is_ok(&self) -> bool {
        self.outcome == "OK"
    }
}

/// One metadata request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataRecord {
    pub time: SystemTime,
    /// The instance the request was answered for, if any.
    pub instance: Option<String>,
    /// The path below `latest/meta-data/`.
    pub path: String,
    pub status: u16,
}
