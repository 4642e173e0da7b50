//! Finds the local interface that carries a MAC, through `/sys/class/net/*/address`.

use std::path::{Path, PathBuf};

use super::NicError;

/// Where the kernel lists network interfaces.
pub const SYS_CLASS_NET: &str = "/sys/class/net";

/// The interface under `sys_class_net` (normally [`SYS_CLASS_NET`]) whose MAC is `mac`
/// (compared case-insensitively), or `None` when no interface has it.
///
/// VLANs, bridges and bonds share their lower device's MAC: interfaces enslaved to another
/// (`master` link) are skipped, then a physical device (`device` link) is preferred. When several
/// remain, the answer is [`NicError::AmbiguousMac`].
pub fn interface_by_mac(sys_class_net: &Path, mac: &str) -> Result<Option<String>, NicError> {
    let sysfs_err = |path: PathBuf| move |source| NicError::Sysfs { path, source };
    let entries = std::fs::read_dir(sys_class_net).map_err(sysfs_err(sys_class_net.to_owned()))?;
    let mut matches: Vec<(String, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(sysfs_err(sys_class_net.to_owned()))?;
        let dir = entry.path();
        // An interface that vanished or has no address file is simply not a match.
        let Ok(addr) = std::fs::read_to_string(dir.join("address")) else {
            continue;
        };
        if addr.trim().eq_ignore_ascii_case(mac.trim()) {
            matches.push((entry.file_name().to_string_lossy().into_owned(), dir));
        }
    }
    matches.sort();
    let free: Vec<&(String, PathBuf)> = matches
        .iter()
        .filter(|(_, d)| !d.join("master").exists())
        .collect();
    let candidates = if free.is_empty() {
        matches.iter().collect()
    } else {
        free
    };
    if candidates.len() <= 1 {
        return Ok(candidates.first().map(|(n, _)| n.clone()));
    }
    let physical: Vec<&&(String, PathBuf)> = candidates
        .iter()
        .filter(|(_, d)| d.join("device").exists())
        .collect();
    if let [only] = physical.as_slice() {
        return Ok(Some(only.0.clone()));
    }
    Err(NicError::AmbiguousMac {
        mac: mac.to_owned(),
        candidates: candidates.iter().map(|(n, _)| n.clone()).collect(),
    })
}
