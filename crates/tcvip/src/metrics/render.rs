//! The Prometheus text exposition (format 0.0.4) of a [`Snapshot`]: a pure function, so the
//! exact lines are tested without a state directory.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use vip_state::{CheckRecord, CheckResult, KeepalivedState, ReconcileRecord};

use super::counters::{Counters, LATENCY_BOUNDS_S};

/// What one exposition shows: facts read from the state directory and the persisted counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Each keepalived instance (`iname`) and its recorded state, with when it was recorded.
    pub instances: Vec<InstanceFacts>,
    /// Each configured VIP.
    pub vips: Vec<VipFacts>,
    /// The last check-self verdict.
    pub check: Option<CheckRecord>,
    /// Counters kept across runs.
    pub counters: Counters,
}

/// One keepalived instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceFacts {
    /// The vrrp_instance name.
    pub iname: String,
    /// Its recorded state.
    pub state: KeepalivedState,
    /// When that was recorded (unix ms), if a record exists.
    pub recorded_at_ms: Option<u64>,
}

/// One configured VIP.
#[derive(Debug, Clone, PartialEq)]
pub struct VipFacts {
    /// The address.
    pub vip: Ipv4Addr,
    /// The instance it follows.
    pub iname: String,
    /// `vip.kind`: `secondary-ip` or `havip`.
    pub kind: &'static str,
    /// `vip.havip_id` of a HAVIP.
    pub havip_id: Option<String>,
    /// Whether the cloud's last view has it on this node's ENI (`None`: not known).
    pub here: Option<bool>,
    /// When that view was learned (unix ms).
    pub cloud_view_at_ms: Option<u64>,
    /// The reconcile bookkeeping, when a reconcile happened.
    pub reconcile: Option<ReconcileRecord>,
}

/// keepalived-exporter's numbers for `keepalived_vrrp_state` (0 INIT, 1 BACKUP, 2 MASTER,
/// 3 FAULT); tcvip adds 4 for a stopped instance. Nothing recorded reads as 0.
pub fn state_number(state: KeepalivedState) -> u8 {
    match state {
        KeepalivedState::Unknown => 0,
        KeepalivedState::Backup => 1,
        KeepalivedState::Master => 2,
        KeepalivedState::Fault => 3,
        KeepalivedState::Stop => 4,
    }
}

/// Builds an exposition: one `# HELP`/`# TYPE` pair per family, then its samples.
/// A family's header is written with its first sample: a family without samples is left out.
#[derive(Default)]
struct Out {
    text: String,
    pending: Option<String>,
}

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        self.pending = Some(format!(
            "# HELP {name} {}\n# TYPE {name} {kind}\n",
            escape_help(help)
        ));
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        if let Some(header) = self.pending.take() {
            self.text.push_str(&header);
        }
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape_label(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", number(value));
    }
}

/// A label value: backslash, double quote and line feed escaped.
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for ch in v.chars() {
        match ch {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// A HELP text: backslash and line feed escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value as Prometheus parses it: `+Inf`, `-Inf`, `NaN`, or the shortest decimal.
pub fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// The whole exposition.
pub fn render(s: &Snapshot) -> String {
    let mut o = Out::default();
    let c = &s.counters;

    o.family(
        "tcvip_keepalived_vrrp_state",
        "gauge",
        "keepalived state recorded per instance: 0=INIT/unknown, 1=BACKUP, 2=MASTER, 3=FAULT, 4=STOP.",
    );
    for i in &s.instances {
        o.sample(
            "tcvip_keepalived_vrrp_state",
            &[("iname", &i.iname)],
            f64::from(state_number(i.state)),
        );
    }
    o.family(
        "tcvip_keepalived_state_recorded_timestamp_seconds",
        "gauge",
        "When the instance's state was last recorded (unix time).",
    );
    for i in &s.instances {
        if let Some(at) = i.recorded_at_ms {
            o.sample(
                "tcvip_keepalived_state_recorded_timestamp_seconds",
                &[("iname", &i.iname)],
                seconds(at),
            );
        }
    }

    o.family(
        "tcvip_vip_here",
        "gauge",
        "1 if the cloud's last view has the VIP on this node's ENI (a HAVIP: bound to it), 0 if elsewhere or unassigned.",
    );
    for v in &s.vips {
        if let Some(here) = v.here {
            let vip = v.vip.to_string();
            o.sample(
                "tcvip_vip_here",
                &[("vip", &vip), ("iname", &v.iname)],
                if here { 1.0 } else { 0.0 },
            );
        }
    }
    o.family(
        "tcvip_vip_cloud_view_timestamp_seconds",
        "gauge",
        "When the cloud's view of the VIP was learned (unix time).",
    );
    for v in &s.vips {
        if let Some(at) = v.cloud_view_at_ms {
            let vip = v.vip.to_string();
            o.sample(
                "tcvip_vip_cloud_view_timestamp_seconds",
                &[("vip", &vip)],
                seconds(at),
            );
        }
    }

    o.family(
        "tcvip_vip_info",
        "gauge",
        "Each configured VIP, always 1: its kind (secondary-ip or havip) and HAVIP id (empty for a secondary IP).",
    );
    for v in &s.vips {
        let vip = v.vip.to_string();
        o.sample(
            "tcvip_vip_info",
            &[
                ("vip", &vip),
                ("iname", &v.iname),
                ("kind", v.kind),
                ("havip_id", v.havip_id.as_deref().unwrap_or_default()),
            ],
            1.0,
        );
    }

    o.family(
        "tcvip_migrations_total",
        "counter",
        "Finished migrations of the VIP to this node, by outcome.",
    );
    for (vip, outcomes) in &c.migrations {
        for (outcome, n) in outcomes {
            o.sample(
                "tcvip_migrations_total",
                &[("vip", vip), ("outcome", outcome)],
                *n as f64,
            );
        }
    }
    o.family(
        "tcvip_last_move_duration_seconds",
        "gauge",
        "Duration of the last successful move of the VIP, from the request to the move confirmed.",
    );
    for (vip, ms) in &c.last_move_ms {
        o.sample(
            "tcvip_last_move_duration_seconds",
            &[("vip", vip)],
            seconds(*ms),
        );
    }
    o.family(
        "tcvip_last_migration_end_timestamp_seconds",
        "gauge",
        "When the last migration of the VIP ended (unix time).",
    );
    for (vip, ms) in &c.migration_seen_ms {
        o.sample(
            "tcvip_last_migration_end_timestamp_seconds",
            &[("vip", vip)],
            seconds(*ms),
        );
    }

    o.family(
        "tcvip_api_calls_total",
        "counter",
        "Tencent Cloud API calls, by action and error code (ok, the API's code, or a failure kind).",
    );
    for (action, codes) in &c.api_calls {
        for (code, n) in codes {
            o.sample(
                "tcvip_api_calls_total",
                &[("action", action), ("code", code)],
                *n as f64,
            );
        }
    }
    o.family(
        "tcvip_api_call_duration_seconds",
        "histogram",
        "Duration of Tencent Cloud API calls, by action.",
    );
    for (action, h) in &c.api_latency {
        let mut cumulative = 0u64;
        for (i, bound) in LATENCY_BOUNDS_S.iter().enumerate() {
            cumulative += h.buckets.get(i).copied().unwrap_or(0);
            o.sample(
                "tcvip_api_call_duration_seconds_bucket",
                &[("action", action), ("le", &number(*bound))],
                cumulative as f64,
            );
        }
        o.sample(
            "tcvip_api_call_duration_seconds_bucket",
            &[("action", action), ("le", "+Inf")],
            h.count as f64,
        );
        o.sample(
            "tcvip_api_call_duration_seconds_sum",
            &[("action", action)],
            h.sum_s,
        );
        o.sample(
            "tcvip_api_call_duration_seconds_count",
            &[("action", action)],
            h.count as f64,
        );
    }

    o.family(
        "tcvip_check_self_total",
        "counter",
        "check-self verdicts, by result.",
    );
    for (result, n) in &c.checks {
        o.sample("tcvip_check_self_total", &[("result", result)], *n as f64);
    }
    if let Some(check) = &s.check {
        let pass = check.result == CheckResult::Pass;
        o.family(
            "tcvip_check_self_healthy",
            "gauge",
            "1 if the last check-self passed, 0 if it failed.",
        );
        o.sample(
            "tcvip_check_self_healthy",
            &[],
            if pass { 1.0 } else { 0.0 },
        );
        o.family(
            "tcvip_check_self_last_timestamp_seconds",
            "gauge",
            "When check-self last concluded (unix time).",
        );
        o.sample(
            "tcvip_check_self_last_timestamp_seconds",
            &[],
            seconds(check.at_ms),
        );
    }

    let reconciles: Vec<(String, &ReconcileRecord)> = s
        .vips
        .iter()
        .filter_map(|v| v.reconcile.as_ref().map(|r| (v.vip.to_string(), r)))
        .collect();
    o.family(
        "tcvip_reconcile_cooldown_seconds",
        "gauge",
        "The wait before the next reconcile of the VIP may start, counted from the last attempt.",
    );
    for (vip, r) in &reconciles {
        o.sample(
            "tcvip_reconcile_cooldown_seconds",
            &[("vip", vip)],
            r.cooldown_s as f64,
        );
    }
    o.family(
        "tcvip_reconcile_last_attempt_timestamp_seconds",
        "gauge",
        "When the last reconcile of the VIP started (unix time).",
    );
    for (vip, r) in &reconciles {
        o.sample(
            "tcvip_reconcile_last_attempt_timestamp_seconds",
            &[("vip", vip)],
            seconds(r.last_attempt_at_ms),
        );
    }
    o.family(
        "tcvip_reconcile_repeats",
        "gauge",
        "Reconciles in a row that met the same conflicting holder.",
    );
    for (vip, r) in &reconciles {
        o.sample(
            "tcvip_reconcile_repeats",
            &[("vip", vip)],
            f64::from(r.repeats),
        );
    }

    if let Some(cred) = &c.credentials {
        o.family(
            "tcvip_credentials_info",
            "gauge",
            "Where the last API credentials came from (env, profile, cvm-role, file).",
        );
        o.sample("tcvip_credentials_info", &[("source", &cred.source)], 1.0);
        if let Some(exp) = cred.expires_unix {
            o.family(
                "tcvip_credentials_expiry_timestamp_seconds",
                "gauge",
                "When the temporary credentials last used expire (unix time).",
            );
            o.sample(
                "tcvip_credentials_expiry_timestamp_seconds",
                &[("source", &cred.source)],
                exp as f64,
            );
        }
    }
    o.text
}
