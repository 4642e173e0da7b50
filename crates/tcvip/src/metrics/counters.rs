//! Counters that outlive a process: in fork mode every binary is a short run, so what it adds is
//! merged into `cache-metrics.json` in the state directory under `metrics.lock`. Migrations and
//! check-self verdicts are counted from the records those runs leave (a record newer than the
//! last one counted adds one), so neither needs its own hook.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vip_state::{CheckRecord, MigrationOutcome, MigrationRecord};

/// Upper bounds of the API latency histogram's buckets, in seconds (`+Inf` is implied).
pub const LATENCY_BOUNDS_S: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A latency histogram: per-bucket (not cumulative) counts, the last slot for `+Inf`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Observations per bucket; index `i` counts those above bound `i - 1` and at most `i`.
    pub buckets: Vec<u64>,
    /// Sum of the observations in seconds.
    pub sum_s: f64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    /// Adds one observation.
    pub fn observe(&mut self, took: Duration) {
        let s = took.as_secs_f64();
        self.buckets.resize(LATENCY_BOUNDS_S.len() + 1, 0);
        let i = LATENCY_BOUNDS_S
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(LATENCY_BOUNDS_S.len());
        self.buckets[i] += 1;
        self.sum_s += s;
        self.count += 1;
    }

    fn add(&mut self, other: &Histogram) {
        self.buckets.resize(LATENCY_BOUNDS_S.len() + 1, 0);
        for (i, n) in other.buckets.iter().enumerate().take(self.buckets.len()) {
            self.buckets[i] += n;
        }
        self.sum_s += other.sum_s;
        self.count += other.count;
    }
}

/// Where the last credentials came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialFact {
    /// `env`, `profile`, `cvm-role` or `file`.
    pub source: String,
    /// When they expire (unix seconds), for temporary ones.
    #[serde(default)]
    pub expires_unix: Option<i64>,
}

/// Everything counted, as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    /// action → code → calls.
    pub api_calls: BTreeMap<String, BTreeMap<String, u64>>,
    /// action → latency.
    pub api_latency: BTreeMap<String, Histogram>,
    /// VIP → outcome → finished migrations.
    pub migrations: BTreeMap<String, BTreeMap<String, u64>>,
    /// VIP → end (unix ms) of the last migration counted.
    pub migration_seen_ms: BTreeMap<String, u64>,
    /// VIP → duration (ms) of the last successful move.
    pub last_move_ms: BTreeMap<String, u64>,
    /// result → check-self verdicts.
    pub checks: BTreeMap<String, u64>,
    /// `at_ms` of the last check record counted.
    pub check_seen_ms: u64,
    /// The last credentials' source and expiry.
    pub credentials: Option<CredentialFact>,
}

/// What this process observed since it last merged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delta {
    /// action → code → calls.
    pub api_calls: BTreeMap<String, BTreeMap<String, u64>>,
    /// action → latency.
    pub api_latency: BTreeMap<String, Histogram>,
    /// The credentials last fetched.
    pub credentials: Option<CredentialFact>,
}

impl Delta {
    /// One API call.
    pub fn observe_call(&mut self, action: &str, code: &str, took: Duration) {
        *self
            .api_calls
            .entry(action.to_owned())
            .or_default()
            .entry(code.to_owned())
            .or_default() += 1;
        self.api_latency
            .entry(action.to_owned())
            .or_default()
            .observe(took);
    }

    /// Whether there is nothing to merge.
    pub fn is_empty(&self) -> bool {
        self.api_calls.is_empty() && self.credentials.is_none()
    }
}

impl Counters {
    /// Adds `delta`.
    pub fn merge(&mut self, delta: &Delta) {
        for (action, codes) in &delta.api_calls {
            let mine = self.api_calls.entry(action.clone()).or_default();
            for (code, n) in codes {
                *mine.entry(code.clone()).or_default() += n;
            }
        }
        for (action, h) in &delta.api_latency {
            self.api_latency.entry(action.clone()).or_default().add(h);
        }
        if let Some(cred) = &delta.credentials {
            self.credentials = Some(cred.clone());
        }
    }

    /// Counts `record` once: when it has ended later than the last one counted for its VIP.
    pub fn count_migration(&mut self, record: &MigrationRecord) {
        let Some(ended) = record.ended_at_ms else {
            return;
        };
        let vip = record.vip.to_string();
        if self
            .migration_seen_ms
            .get(&vip)
            .is_some_and(|seen| *seen >= ended)
        {
            return;
        }
        self.migration_seen_ms.insert(vip.clone(), ended);
        *self
            .migrations
            .entry(vip.clone())
            .or_default()
            .entry(record.outcome.as_str().to_owned())
            .or_default() += 1;
        if record.outcome == MigrationOutcome::Success {
            self.last_move_ms
                .insert(vip, ended.saturating_sub(record.started_at_ms));
        }
    }

    /// Counts `record` once: when it is newer than the last one counted.
    pub fn count_check(&mut self, record: &CheckRecord) {
        if record.at_ms <= self.check_seen_ms {
            return;
        }
        self.check_seen_ms = record.at_ms;
        *self.checks.entry(record.result.to_string()).or_default() += 1;
    }
}
