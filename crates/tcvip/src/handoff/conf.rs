//! What the hand-over reads from keepalived.conf (read-only, with the parser `tcvip doctor`
//! uses): the instance's peers, VRID, interface and advert interval, and where that file is.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::operator::keepalived_conf::{self, KeepalivedConf, Stmt};

/// The keepalived.conf of the keepalived that runs us: its `-f PATH` / `--use-file=PATH` when
/// the parent process is keepalived and names an absolute path.
pub fn parent_keepalived_conf() -> Option<PathBuf> {
    // SAFETY: getppid has no preconditions and cannot fail.
    let ppid = unsafe { libc::getppid() };
    let comm = std::fs::read_to_string(format!("/proc/{ppid}/comm")).ok()?;
    if comm.trim() != "keepalived" {
        return None;
    }
    let cmdline = std::fs::read(format!("/proc/{ppid}/cmdline")).ok()?;
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    conf_from_argv(&args)
}

/// keepalived's `-f`/`--use-file` value in its argv, when absolute.
fn conf_from_argv(args: &[String]) -> Option<PathBuf> {
    let mut found = None;
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let value = if a == "-f" || a == "--use-file" {
            it.next().cloned()
        } else if let Some(v) = a.strip_prefix("--use-file=") {
            Some(v.to_owned())
        } else {
            a.strip_prefix("-f")
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        if let Some(v) = value {
            found = Some(PathBuf::from(v));
        }
    }
    found.filter(|p| p.is_absolute())
}

/// What the hand-over needs from keepalived.conf about one vrrp_instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceFacts {
    pub name: String,
    pub interface: Option<String>,
    pub vrid: Option<u8>,
    pub advert_int_s: Option<f64>,
    pub src_ip: Option<Ipv4Addr>,
    pub peers: Vec<Ipv4Addr>,
}

/// The facts of `instance` (or of the only vrrp_instance when none has that name).
pub fn instance_facts(path: &Path, instance: &str) -> Result<InstanceFacts, String> {
    let parsed = keepalived_conf::parse_file(path);
    let conf = KeepalivedConf::from_parsed(parsed.clone());
    let chosen = conf
        .instance(instance)
        .or(match conf.instances.as_slice() {
            [only] => Some(only),
            _ => None,
        })
        .ok_or_else(|| {
            format!(
                "{}: no vrrp_instance {instance} (and not exactly one instance){}",
                path.display(),
                conf.problems
                    .first()
                    .map(|p| format!("; {p}"))
                    .unwrap_or_default()
            )
        })?;
    let block: Option<&Stmt> = parsed
        .top
        .iter()
        .find(|s| s.keyword() == "vrrp_instance" && s.arg(0).as_deref() == Some(&chosen.name));
    let arg = |key: &str| block.and_then(|b| b.child(key)).and_then(|s| s.arg(0));
    Ok(InstanceFacts {
        name: chosen.name.clone(),
        interface: chosen.interface.clone(),
        vrid: arg("virtual_router_id").and_then(|v| v.parse().ok()),
        advert_int_s: arg("advert_int").and_then(|v| v.parse().ok()),
        src_ip: chosen
            .unicast_src_ip
            .as_deref()
            .and_then(|v| v.parse().ok()),
        peers: chosen
            .unicast_peers
            .iter()
            .filter_map(|p| p.split_whitespace().next()?.parse().ok())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn keepalived_conf_is_taken_from_keepalived_argv() {
        assert_eq!(
            conf_from_argv(&argv(&["keepalived", "-n", "-f", "/run/k.conf", "-D"])),
            Some(PathBuf::from("/run/k.conf"))
        );
        assert_eq!(
            conf_from_argv(&argv(&["keepalived", "--use-file=/etc/k.conf"])),
            Some(PathBuf::from("/etc/k.conf"))
        );
        assert_eq!(
            conf_from_argv(&argv(&["keepalived", "--use-file", "/etc/k.conf"])),
            Some(PathBuf::from("/etc/k.conf"))
        );
        assert_eq!(
            conf_from_argv(&argv(&["keepalived", "-f/etc/k.conf"])),
            Some(PathBuf::from("/etc/k.conf"))
        );
        // Relative (keepalived's own cwd would be needed) or absent: the default applies.
        assert_eq!(conf_from_argv(&argv(&["keepalived", "-f", "k.conf"])), None);
        assert_eq!(conf_from_argv(&argv(&["keepalived", "-n"])), None);
    }

    #[test]
    fn the_instances_facts_come_from_keepalived_conf() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keepalived.conf");
        std::fs::write(
            &path,
            "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n advert_int 2\n \
             unicast_src_ip 10.0.1.11\n unicast_peer {\n  10.0.1.12\n  10.0.1.13 min_ttl 2\n }\n \
             virtual_ipaddress {\n  10.0.1.100/32 dev eth0\n }\n}\n",
        )
        .unwrap();
        let f = instance_facts(&path, "VI_1").unwrap();
        assert_eq!(f.interface.as_deref(), Some("eth0"));
        assert_eq!(f.vrid, Some(51));
        assert_eq!(f.advert_int_s, Some(2.0));
        assert_eq!(f.src_ip, Some("10.0.1.11".parse().unwrap()));
        assert_eq!(
            f.peers,
            vec![
                "10.0.1.12".parse::<Ipv4Addr>().unwrap(),
                "10.0.1.13".parse().unwrap()
            ]
        );
        // The record name "default" (one-word notify form) finds the only instance.
        assert_eq!(instance_facts(&path, "default").unwrap().name, "VI_1");
        assert!(instance_facts(&dir.path().join("missing.conf"), "VI_1").is_err());
    }
}
