//! Prometheus metrics (`[metrics]`): a text exposition written atomically to a node_exporter
//! textfile-collector file by every binary when its content changed, and served on
//! `GET /metrics` by the FIFO reader when `metrics.listen` is set.
//!
//! Every binary is a short process in fork mode, so the exposition is rendered from persistent
//! facts: the state records, cloud views, migration, check and reconcile records of the state
//! directory, and the counters of [`counters`] kept there. [`install`], called when a context is
//! built, makes [`observer`] the default of every API client of the process and turns on
//! [`note_credentials`]; a run merges what they saw when its context ends ([`publish`]).
//! Without `[metrics]` nothing is collected, read or written.

pub mod counters;
pub mod render;
pub mod serve;
pub mod textfile;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tencent_api::credentials::Provenance;
use tencent_api::observe::Observer;
use vip_state::StateDir;

use crate::config::{Config, MetricsConfig};
use crate::discovery::{IDENTITY_CACHE, Identity};
use counters::{Counters, CredentialFact, Delta};
use render::{InstanceFacts, Snapshot, VipFacts};

/// The cache (`cache-metrics.json`) holding the counters.
pub const COUNTERS_CACHE: &str = "metrics";
/// The lock file serializing the counters' writers.
pub const LOCK_FILE: &str = "metrics.lock";
/// How long a run waits for the counters' lock (short: check-self runs under keepalived's
/// script timeout); past it, what this process saw is not counted and a warning logged.
const LOCK_WAIT: Duration = Duration::from_millis(100);

static DELTA: Mutex<Option<Delta>> = Mutex::new(None);
static LAST: Mutex<Option<Arc<String>>> = Mutex::new(None);

fn with_delta(f: impl FnOnce(&mut Delta)) {
    let mut guard = DELTA.lock().unwrap_or_else(|p| p.into_inner());
    f(guard.get_or_insert_with(Delta::default));
}

static ENABLED: AtomicBool = AtomicBool::new(false);

/// The observer to set on API clients, when metrics are configured.
pub fn observer(config: &MetricsConfig) -> Option<Observer> {
    if !config.enabled() {
        return None;
    }
    Some(Observer(Arc::new(|action, outcome, took| {
        with_delta(|d| d.observe_call(action, outcome.code(), took));
    })))
}

/// When metrics are configured: every API client of this process reports its calls, and
/// [`note_credentials`] keeps what it is told. Otherwise nothing is collected.
pub fn install(config: &MetricsConfig) {
    if let Some(observer) = observer(config) {
        tencent_api::observe::set_default(observer);
        ENABLED.store(true, Ordering::Relaxed);
    }
}

/// Remembers where the credentials just used came from (after [`install`]).
pub fn note_credentials(provenance: Option<Provenance>) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let Some(p) = provenance else { return };
    // StaticCredentials only ever come from tcvip.toml.
    let source = if p.source == "static" {
        "file"
    } else {
        p.source
    };
    let fact = CredentialFact {
        source: source.to_owned(),
        expires_unix: p.expires_unix,
    };
    with_delta(|d| d.credentials = Some(fact));
}

/// The exposition last rendered in this process (what `/metrics` serves).
pub fn last_rendered() -> Option<Arc<String>> {
    LAST.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Merges what this process observed into the state directory's counters, renders the
/// exposition and writes the textfile if its content changed. Does nothing without
/// `[metrics]`; a failure is logged, never returned (metrics never fail a command).
pub fn publish(config: &Config, state: &StateDir) {
    if !config.metrics.enabled() {
        return;
    }
    let delta = DELTA
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .unwrap_or_default();
    let counters = match merge(config, state, &delta, LOCK_WAIT) {
        Ok(counters) => counters,
        Err(e) => {
            // Kept for the next publish of this process.
            let mut guard = DELTA.lock().unwrap_or_else(|p| p.into_inner());
            let mut back = guard.take().unwrap_or_default();
            back.merge_from(delta);
            *guard = Some(back);
            crate::warn!("metrics_failed", error = e);
            return;
        }
    };
    let text = Arc::new(render::render(&snapshot(config, state, counters)));
    *LAST.lock().unwrap_or_else(|p| p.into_inner()) = Some(text.clone());
    if let Some(path) = &config.metrics.textfile {
        match textfile::write_if_changed(path, text.as_bytes()) {
            Ok(_) => {}
            Err(e) => crate::warn!("metrics_write_failed", file = path.display(), error = e),
        }
    }
}

/// Under the lock (waited for at most `wait`): read the counters, add `delta` and the records
/// not yet counted, store them if that changed anything. A lock not had in time changes nothing.
fn merge(
    config: &Config,
    state: &StateDir,
    delta: &Delta,
    wait: Duration,
) -> Result<Counters, String> {
    let _lock = textfile::lock(&state.path().join(LOCK_FILE), wait)?;
    let before = state
        .read_cache::<Counters>(COUNTERS_CACHE)
        .value
        .map(|c| c.value)
        .unwrap_or_default();
    let mut counters = before.clone();
    counters.merge(delta);
    for vip in &config.vips {
        if let Some(record) = state.read_migration(vip.address).value {
            counters.count_migration(&record);
        }
    }
    if let Some(check) = state.read_check().value {
        counters.count_check(&check);
    }
    if counters != before {
        state
            .write_cache(COUNTERS_CACHE, &counters)
            .map_err(|e| e.to_string())?;
    }
    Ok(counters)
}

/// The facts of the state directory.
fn snapshot(config: &Config, state: &StateDir, counters: Counters) -> Snapshot {
    let named = config.instance_names();
    let only = state
        .read_cache::<String>("only-instance")
        .value
        .map(|c| c.value);
    // (record key, label)
    let instances: Vec<(String, String)> = if named.is_empty() {
        let key = crate::context::DEFAULT_INSTANCE.to_owned();
        vec![(key.clone(), only.unwrap_or(key))]
    } else {
        named
            .iter()
            .map(|n| (n.to_string(), n.to_string()))
            .collect()
    };
    let eni = state
        .read_cache::<Identity>(IDENTITY_CACHE)
        .value
        .map(|c| c.value.eni_id.to_string());
    let label_of = |instance: Option<&str>| -> String {
        match instance {
            Some(name) => name.to_owned(),
            None => instances.first().map(|i| i.1.clone()).unwrap_or_default(),
        }
    };
    let vips = config
        .vips
        .iter()
        .map(|v| {
            let view = state.read_cloud_view(v.address).value;
            VipFacts {
                vip: v.address,
                iname: label_of(v.instance.as_deref()),
                kind: v.kind.as_str(),
                havip_id: crate::operator::havip::havip_id_of(v).map(str::to_owned),
                here: view
                    .as_ref()
                    .zip(eni.as_ref())
                    .map(|(view, eni)| view.holder_eni.as_deref() == Some(eni.as_str())),
                cloud_view_at_ms: view.as_ref().map(|v| v.learned_at_ms),
                reconcile: state.read_reconcile(v.address).value,
            }
        })
        .collect();
    let instances = instances
        .iter()
        .map(|(key, label)| {
            let read = state.read_state(key);
            InstanceFacts {
                iname: label.clone(),
                state: read.state,
                recorded_at_ms: read.record.map(|r| r.recorded_at_ms),
            }
        })
        .collect();
    Snapshot {
        instances,
        vips,
        check: state.read_check().value,
        counters,
    }
}

impl Delta {
    fn merge_from(&mut self, other: Delta) {
        let mut c = Counters {
            api_calls: std::mem::take(&mut self.api_calls),
            api_latency: std::mem::take(&mut self.api_latency),
            ..Counters::default()
        };
        c.merge(&other);
        self.api_calls = c.api_calls;
        self.api_latency = c.api_latency;
        if other.credentials.is_some() {
            self.credentials = other.credentials;
        }
    }
}

#[cfg(test)]
mod tests;
