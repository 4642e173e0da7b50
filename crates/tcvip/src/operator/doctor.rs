//! `tcvip doctor`: is this node ready for its first real failover?
//!
//! Every check says ok / warn / fail (or unknown when it could not be decided), what it looked
//! at, and the fix. The exit code follows the monitoring-plugin convention, so doctor can also
//! run as a Nagios/Icinga check: 0 ok, 1 warning, 2 critical, 3 unknown; a critical check
//! outranks a warning, which outranks an unknown. The first line of the text output is the
//! plugin's status line.
//!
//! The checks: the configuration (which file, every key's effective value, secrets masked);
//! the state directory and the log target; the drain switch (a drained node warns, naming
//! `tcvip undrain`); the credentials (which source answered, when
//! temporary keys expire); the endpoint (reachable, TLS, median latency of three calls, clock
//! skew against its `Date` header); this node's identity (instance, ENI, VPC, subnet, MAC →
//! interface); the permission for each action the configured features need, probed without
//! changing anything ([`super::doctor_permissions`]); each VIP (inside this node's subnet, no
//! ENI's primary IP, where the cloud has it now; a HAVIP: it exists, has the configured address,
//! is in this node's subnet, where it is bound, its EIP on it); and keepalived (its version against the
//! features keepalived.conf uses, and the wiring of each VIP: [`super::doctor_keepalived`]).
//!
//! Nothing here writes to the cloud. Locally it writes one cache entry in the state directory
//! (to prove it is writable) and appends to the log target.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use crate::cli::Common;

/// `tcvip doctor`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The shared options, given before or after the subcommand (filled in by `main`).
    #[arg(skip)]
    pub common: Common,
    /// keepalived's configuration, read with its includes
    #[arg(
        long,
        value_name = "PATH",
        default_value = "/etc/keepalived/keepalived.conf"
    )]
    pub keepalived_conf: PathBuf,
    /// The keepalived binary asked for its version (`keepalived -v`)
    #[arg(long, value_name = "PATH", default_value = "keepalived")]
    pub keepalived: PathBuf,
    /// One JSON object instead of text
    #[arg(long)]
    pub json: bool,
    /// The uid that must own the scripts keepalived runs (root; tests run as themselves)
    #[arg(long, value_name = "UID", default_value_t = 0, hide = true)]
    pub script_owner_uid: u32,
}

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Ok,
    Unknown,
    Warn,
    Fail,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Unknown => "unknown",
        }
    }
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// `configuration`, `credentials`, `endpoint`, `identity`, `permission`, `vip`,
    /// `keepalived`, `state`, `log`.
    pub area: &'static str,
    pub status: Status,
    /// One line: the finding.
    pub summary: String,
    /// What was looked at (file, URL, request, command).
    pub looked_at: String,
    /// How to fix it (for warn / fail / unknown).
    pub fix: Option<String>,
    /// More lines (e.g. every configuration key).
    pub details: Vec<String>,
}

impl Check {
    pub fn new(
        area: &'static str,
        status: Status,
        summary: impl Into<String>,
        looked_at: impl Into<String>,
    ) -> Check {
        Check {
            area,
            status,
            summary: summary.into(),
            looked_at: looked_at.into(),
            fix: None,
            details: Vec::new(),
        }
    }

    pub fn ok(
        area: &'static str,
        summary: impl Into<String>,
        looked_at: impl Into<String>,
    ) -> Check {
        Check::new(area, Status::Ok, summary, looked_at)
    }

    /// A warn / fail / unknown check with its fix.
    pub fn bad(
        area: &'static str,
        status: Status,
        summary: impl Into<String>,
        looked_at: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            fix: Some(fix.into()),
            ..Check::new(area, status, summary, looked_at)
        }
    }

    pub fn with_details(mut self, details: Vec<String>) -> Check {
        self.details = details;
        self
    }
}

/// Every check, in the order made.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn push(&mut self, check: Check) {
        self.checks.push(check);
    }

    /// The monitoring-plugin exit code: 2 if any check failed, else 1 if any warned, else 3 if
    /// any is unknown, else 0.
    pub fn exit_code(&self) -> u8 {
        match self.worst() {
            Status::Fail => 2,
            Status::Warn => 1,
            Status::Unknown => 3,
            Status::Ok => 0,
        }
    }

    fn worst(&self) -> Status {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Ok)
    }

    fn count(&self, s: Status) -> usize {
        self.checks.iter().filter(|c| c.status == s).count()
    }

    /// The plugin status line: `TCVIP DOCTOR CRITICAL - 1 critical, ...: first problem`.
    pub fn status_line(&self) -> String {
        let word = match self.exit_code() {
            0 => "OK",
            1 => "WARNING",
            2 => "CRITICAL",
            _ => "UNKNOWN",
        };
        let worst = self.worst();
        let first = self
            .checks
            .iter()
            .find(|c| c.status == worst && worst != Status::Ok)
            .map(|c| format!(": {}: {}", c.area, c.summary))
            .unwrap_or_default();
        format!(
            "TCVIP DOCTOR {word} - {} critical, {} warning, {} unknown, {} ok{first}",
            self.count(Status::Fail),
            self.count(Status::Warn),
            self.count(Status::Unknown),
            self.count(Status::Ok)
        )
    }

    /// The text report.
    pub fn text(&self) -> String {
        let mut out = self.status_line();
        out.push('\n');
        for c in &self.checks {
            out.push_str(&format!(
                "{:<8}{:<12}{}\n",
                c.status.word(),
                c.area,
                c.summary
            ));
            let pad = " ".repeat(20);
            if !c.looked_at.is_empty() {
                out.push_str(&format!("{pad}looked at: {}\n", c.looked_at));
            }
            for d in &c.details {
                out.push_str(&format!("{pad}{d}\n"));
            }
            if let Some(fix) = &c.fix {
                out.push_str(&format!("{pad}fix: {fix}\n"));
            }
        }
        out
    }

    /// The JSON report.
    pub fn json(&self) -> serde_json::Value {
        let code = self.exit_code();
        let status = ["ok", "warning", "critical", "unknown"][usize::from(code.min(3))];
        json!({
            "status": status,
            "exit": code,
            "summary": self.status_line(),
            "checks": self.checks.iter().map(|c| json!({
                "area": c.area,
                "status": c.status.word(),
                "summary": c.summary,
                "looked_at": c.looked_at,
                "details": c.details,
                "fix": c.fix,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Runs `tcvip doctor`: prints the report, exits with its monitoring-plugin code.
pub fn run(args: &Args) -> ExitCode {
    let report = super::doctor_node::diagnose(args);
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    crate::info!(
        "doctor_done",
        exit = report.exit_code(),
        status = report.status_line()
    );
    ExitCode::from(report.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(statuses: &[Status]) -> Report {
        Report {
            checks: statuses
                .iter()
                .map(|s| Check::new("x", *s, format!("{s:?}"), ""))
                .collect(),
        }
    }

    #[test]
    fn exit_codes_follow_the_monitoring_plugin_convention() {
        use Status::*;
        assert_eq!(report(&[]).exit_code(), 0);
        assert_eq!(report(&[Ok, Ok]).exit_code(), 0);
        assert_eq!(report(&[Ok, Unknown]).exit_code(), 3);
        assert_eq!(report(&[Unknown, Warn]).exit_code(), 1);
        assert_eq!(report(&[Warn, Fail, Unknown]).exit_code(), 2);
        let r = report(&[Ok, Warn, Fail]);
        assert_eq!(
            r.status_line(),
            "TCVIP DOCTOR CRITICAL - 1 critical, 1 warning, 0 unknown, 1 ok: x: Fail"
        );
        assert_eq!(r.json()["status"], "critical");
        assert_eq!(r.json()["exit"], 2);
    }
}
