//! Reading keepalived.conf for `tcvip doctor`: the statements keepalived would see, `include`s
//! followed, and the parts tcvip's wiring depends on (global_defs, vrrp_script, vrrp_instance,
//! vrrp_sync_group).
//!
//! The syntax is keepalived's: one statement per line, `{` `}` open and close blocks (also on
//! the same line: `unicast_peer { 10.0.1.12 }`), `#` and `!` start a comment, a double-quoted
//! string is one word, and `include PATTERN` (a glob in the last path component; relative to the
//! including file's directory) is read in place. It refuses to evaluate anything else: no
//! `$VARIABLE` expansion, no `@` conditionals. What it cannot read is reported, never panics.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

mod syntax;

use syntax::unquote;
#[cfg(test)]
use syntax::wildcard;
pub use syntax::{Parsed, Stmt, parse_file, parse_str};

/// A `vrrp_script` block.
#[derive(Debug, Clone, PartialEq)]
pub struct VrrpScript {
    pub name: String,
    /// The `script` command line, unquoted.
    pub script: Option<String>,
    /// Seconds; keepalived's default is 1.
    pub interval: Option<f64>,
    /// Seconds; keepalived's default is the interval.
    pub timeout: Option<f64>,
    pub at: String,
}

impl VrrpScript {
    /// The timeout keepalived applies: `timeout`, else `interval`, else 1 s.
    pub fn effective_timeout(&self) -> f64 {
        self.timeout.or(self.interval).unwrap_or(1.0)
    }
}

/// One `virtual_ipaddress` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualIp {
    pub address: Ipv4Addr,
    pub prefix: Option<u8>,
    /// `dev IFACE`, when given (else the instance's `interface`).
    pub dev: Option<String>,
}

/// A `vrrp_instance` block.
#[derive(Debug, Clone, PartialEq)]
pub struct VrrpInstance {
    pub name: String,
    pub interface: Option<String>,
    pub vips: Vec<VirtualIp>,
    pub unicast_src_ip: Option<String>,
    pub unicast_peers: Vec<String>,
    pub track_scripts: Vec<String>,
    /// `(keyword, command line)` of every `notify*` statement.
    pub notify: Vec<(String, String)>,
    pub at: String,
}

/// A `vrrp_sync_group` block.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncGroup {
    pub name: String,
    pub instances: Vec<String>,
    pub notify: Vec<(String, String)>,
}

/// What tcvip's wiring depends on.
#[derive(Debug, Clone, Default)]
pub struct KeepalivedConf {
    pub files: Vec<PathBuf>,
    pub problems: Vec<String>,
    pub enable_script_security: bool,
    pub script_user: Option<String>,
    /// `vrrp_notify_fifo_script` (or `notify_fifo_script`): the FIFO reader's command.
    pub fifo_script: Option<String>,
    pub scripts: Vec<VrrpScript>,
    pub instances: Vec<VrrpInstance>,
    pub groups: Vec<SyncGroup>,
    /// Every keyword used anywhere, for the version's feature floors.
    pub keywords: BTreeSet<String>,
}

impl KeepalivedConf {
    /// Reads and interprets `path`.
    pub fn load(path: &Path) -> KeepalivedConf {
        KeepalivedConf::from_parsed(parse_file(path))
    }

    /// Interprets parsed statements.
    pub fn from_parsed(parsed: Parsed) -> KeepalivedConf {
        let mut conf = KeepalivedConf {
            files: parsed.files,
            problems: parsed.problems,
            ..KeepalivedConf::default()
        };
        collect_keywords(&parsed.top, &mut conf.keywords);
        for stmt in &parsed.top {
            match stmt.keyword() {
                "global_defs" => {
                    for s in stmt.children() {
                        match s.keyword() {
                            "enable_script_security" => conf.enable_script_security = true,
                            "script_user" => conf.script_user = s.arg(0),
                            "vrrp_notify_fifo_script" | "notify_fifo_script" => {
                                conf.fifo_script = s.arg(0);
                            }
                            _ => {}
                        }
                    }
                }
                "vrrp_script" => conf.scripts.push(script_of(stmt)),
                "vrrp_instance" => conf.instances.push(instance_of(stmt, &mut conf.problems)),
                "vrrp_sync_group" => conf.groups.push(SyncGroup {
                    name: stmt.arg(0).unwrap_or_default(),
                    instances: stmt
                        .child("group")
                        .map(|g| g.children().iter().map(|s| s.command_all()).collect())
                        .unwrap_or_default(),
                    notify: notify_of(stmt),
                }),
                _ => {}
            }
        }
        conf
    }

    pub fn script(&self, name: &str) -> Option<&VrrpScript> {
        self.scripts.iter().find(|s| s.name == name)
    }

    pub fn instance(&self, name: &str) -> Option<&VrrpInstance> {
        self.instances.iter().find(|i| i.name == name)
    }

    /// The sync groups `instance` belongs to.
    pub fn groups_of(&self, instance: &str) -> Vec<&SyncGroup> {
        self.groups
            .iter()
            .filter(|g| g.instances.iter().any(|i| i == instance))
            .collect()
    }
}

impl Stmt {
    /// Every word, unquoted, joined (a line inside a list block).
    fn command_all(&self) -> String {
        self.words
            .iter()
            .map(|w| unquote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn collect_keywords(stmts: &[Stmt], out: &mut BTreeSet<String>) {
    for s in stmts {
        if !s.keyword().is_empty() {
            out.insert(s.keyword().to_owned());
        }
        collect_keywords(s.children(), out);
    }
}

fn seconds(s: &Stmt) -> Option<f64> {
    s.arg(0)?.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn script_of(stmt: &Stmt) -> VrrpScript {
    VrrpScript {
        name: stmt.arg(0).unwrap_or_default(),
        script: stmt.child("script").map(Stmt::command),
        interval: stmt.child("interval").and_then(seconds),
        timeout: stmt.child("timeout").and_then(seconds),
        at: stmt.at.clone(),
    }
}

fn notify_of(stmt: &Stmt) -> Vec<(String, String)> {
    stmt.children()
        .iter()
        .filter(|s| s.keyword().starts_with("notify"))
        .map(|s| (s.keyword().to_owned(), s.command()))
        .collect()
}

fn instance_of(stmt: &Stmt, problems: &mut Vec<String>) -> VrrpInstance {
    let mut vips = Vec::new();
    for list in ["virtual_ipaddress", "virtual_ipaddress_excluded"] {
        for entry in stmt.child(list).map(Stmt::children).unwrap_or_default() {
            let words: Vec<String> = entry.words.iter().map(|w| unquote(w)).collect();
            let Some(first) = words.first() else { continue };
            let (addr, prefix) = match first.split_once('/') {
                Some((a, p)) => (a, p.parse::<u8>().ok()),
                None => (first.as_str(), None),
            };
            let Ok(address) = addr.parse::<Ipv4Addr>() else {
                problems.push(format!("{}: {first:?} is not an IPv4 address", entry.at));
                continue;
            };
            let dev = words
                .iter()
                .position(|w| w == "dev")
                .and_then(|i| words.get(i + 1).cloned());
            vips.push(VirtualIp {
                address,
                prefix,
                dev,
            });
        }
    }
    let list = |name: &str| -> Vec<String> {
        stmt.child(name)
            .map(|b| {
                b.children()
                    .iter()
                    .filter_map(|s| s.words.first().map(|w| unquote(w)))
                    .collect()
            })
            .unwrap_or_default()
    };
    VrrpInstance {
        name: stmt.arg(0).unwrap_or_default(),
        interface: stmt.child("interface").and_then(|s| s.arg(0)),
        vips,
        unicast_src_ip: stmt.child("unicast_src_ip").and_then(|s| s.arg(0)),
        unicast_peers: list("unicast_peer"),
        track_scripts: list("track_script"),
        notify: notify_of(stmt),
        at: stmt.at.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const CONF: &str = r#"
global_defs {
    router_id n1   # a comment
    enable_script_security
    script_user root
}
! another comment
vrrp_script tcvip_check {
    script "/usr/local/bin/check-self --instance VI_1"
    interval 2
    timeout 3
}
vrrp_instance VI_1 {
    interface eth0
    unicast_src_ip 10.0.1.11
    unicast_peer { 10.0.1.12 }
    virtual_ipaddress {
        10.0.1.100/32 dev eth1
        10.0.1.101
    }
    track_script {
        tcvip_check
    }
    notify "/usr/local/bin/notify-action"
    notify_master_rx_lower_pri "/usr/local/bin/notify-action MASTER_RX_LOWER_PRI"
}
vrrp_sync_group G1 {
    group {
        VI_1
    }
    notify /usr/local/bin/notify-action
}
"#;

    #[test]
    fn reads_the_parts_tcvip_depends_on() {
        let conf = KeepalivedConf::from_parsed(parse_str(CONF, Path::new("/k.conf")));
        assert!(conf.problems.is_empty(), "{:?}", conf.problems);
        assert!(conf.enable_script_security);
        assert_eq!(conf.script_user.as_deref(), Some("root"));
        let s = conf.script("tcvip_check").unwrap();
        assert_eq!(
            s.script.as_deref(),
            Some("/usr/local/bin/check-self --instance VI_1")
        );
        assert_eq!((s.interval, s.timeout), (Some(2.0), Some(3.0)));
        let i = conf.instance("VI_1").unwrap();
        assert_eq!(i.interface.as_deref(), Some("eth0"));
        assert_eq!(i.unicast_src_ip.as_deref(), Some("10.0.1.11"));
        assert_eq!(i.unicast_peers, ["10.0.1.12"]);
        assert_eq!(i.track_scripts, ["tcvip_check"]);
        assert_eq!(
            i.vips,
            [
                VirtualIp {
                    address: "10.0.1.100".parse().unwrap(),
                    prefix: Some(32),
                    dev: Some("eth1".into())
                },
                VirtualIp {
                    address: "10.0.1.101".parse().unwrap(),
                    prefix: None,
                    dev: None
                }
            ]
        );
        assert_eq!(
            i.notify,
            [
                (
                    "notify".to_owned(),
                    "/usr/local/bin/notify-action".to_owned()
                ),
                (
                    "notify_master_rx_lower_pri".to_owned(),
                    "/usr/local/bin/notify-action MASTER_RX_LOWER_PRI".to_owned()
                )
            ]
        );
        assert_eq!(conf.groups_of("VI_1")[0].name, "G1");
        assert!(conf.keywords.contains("notify_master_rx_lower_pri"));
        assert!(!conf.keywords.contains("router_id n1"));
    }

    #[test]
    fn the_fifo_reader_in_global_defs() {
        let conf = KeepalivedConf::from_parsed(parse_str(
            "global_defs {\n vrrp_notify_fifo /run/k.fifo\n vrrp_notify_fifo_script \"/usr/local/bin/notify-action --fifo\"\n}\n",
            Path::new("keepalived.conf"),
        ));
        assert_eq!(
            conf.fifo_script.as_deref(),
            Some("/usr/local/bin/notify-action --fifo")
        );
        let none = KeepalivedConf::from_parsed(parse_str(
            "global_defs {\n router_id n1\n}\n",
            Path::new("keepalived.conf"),
        ));
        assert_eq!(none.fifo_script, None);
    }

    #[test]
    fn follows_includes_relative_and_globbed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("conf.d")).unwrap();
        std::fs::write(
            dir.path().join("keepalived.conf"),
            "global_defs {\n enable_script_security\n}\ninclude conf.d/*.conf\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("conf.d/a.conf"),
            "vrrp_instance VI_A {\n virtual_ipaddress {\n 10.0.1.100\n }\n}\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("conf.d/b.conf"),
            "vrrp_script s {\n include ../timeout.inc\n}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("conf.d/skip.txt"), "garbage {").unwrap();
        std::fs::write(dir.path().join("timeout.inc"), "timeout 5\n").unwrap();
        let conf = KeepalivedConf::load(&dir.path().join("keepalived.conf"));
        assert!(conf.problems.is_empty(), "{:?}", conf.problems);
        assert_eq!(conf.files.len(), 4, "{:?}", conf.files);
        assert_eq!(conf.instance("VI_A").unwrap().vips.len(), 1);
        assert_eq!(conf.script("s").unwrap().timeout, Some(5.0));
    }

    #[test]
    fn problems_are_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("k.conf");
        std::fs::write(
            &main,
            "include k.conf\ninclude missing-*.conf\nvrrp_instance X {\n virtual_ipaddress {\n not-an-ip\n }\n",
        )
        .unwrap();
        let conf = KeepalivedConf::load(&main);
        let text = conf.problems.join("\n");
        assert!(text.contains("includes itself"), "{text}");
        assert!(text.contains("matches no file"), "{text}");
        assert!(text.contains("not an IPv4 address"), "{text}");
        assert!(text.contains("not closed"), "{text}");
        assert_eq!(conf.instances.len(), 1);
        let none = KeepalivedConf::load(&dir.path().join("absent.conf"));
        assert!(
            none.problems[0].contains("cannot read"),
            "{:?}",
            none.problems
        );
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*.conf", "a.conf"));
        assert!(!wildcard("*.conf", "a.conf.bak"));
        assert!(wildcard("a?c", "abc"));
        assert!(wildcard("*", ""));
    }
}
