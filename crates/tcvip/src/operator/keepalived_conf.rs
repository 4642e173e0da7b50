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

/// How deep `include`s may nest (keepalived's own limit is similar).
const MAX_INCLUDE_DEPTH: usize = 16;
/// A keepalived.conf larger than this is not read.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// One statement: its words, and its block when it opens one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stmt {
    pub words: Vec<String>,
    pub block: Option<Vec<Stmt>>,
    /// `file:line`, for messages.
    pub at: String,
}

impl Stmt {
    /// The keyword (first word), or "".
    pub fn keyword(&self) -> &str {
        self.words.first().map_or("", String::as_str)
    }

    /// The word after the keyword, unquoted.
    pub fn arg(&self, i: usize) -> Option<String> {
        self.words.get(i + 1).map(|w| unquote(w))
    }

    /// The statements of its block (none when it opens none).
    pub fn children(&self) -> &[Stmt] {
        self.block.as_deref().unwrap_or(&[])
    }

    /// The first child statement with `keyword`.
    pub fn child(&self, keyword: &str) -> Option<&Stmt> {
        self.children().iter().find(|s| s.keyword() == keyword)
    }

    /// The rest of the statement after the keyword, unquoted, as one command line.
    pub fn command(&self) -> String {
        self.words[1.min(self.words.len())..]
            .iter()
            .map(|w| unquote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn unquote(w: &str) -> String {
    w.strip_prefix('"')
        .and_then(|w| w.strip_suffix('"'))
        .unwrap_or(w)
        .to_owned()
}

/// keepalived.conf, read.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// Every file read, the main one first.
    pub files: Vec<PathBuf>,
    /// The top-level statements, includes expanded.
    pub top: Vec<Stmt>,
    /// What could not be read or made sense of.
    pub problems: Vec<String>,
}

/// Reads `path` and everything it includes.
pub fn parse_file(path: &Path) -> Parsed {
    let mut p = Parser::default();
    p.read(path, 0);
    p.close_all();
    Parsed {
        files: p.files,
        top: p.stack.pop().unwrap_or_default(),
        problems: p.problems,
    }
}

/// Parses `text` as if it were the file `origin` (includes are read from disk).
pub fn parse_str(text: &str, origin: &Path) -> Parsed {
    let mut p = Parser::default();
    p.files.push(origin.to_owned());
    p.text(text, origin, 0);
    p.close_all();
    Parsed {
        files: p.files,
        top: p.stack.pop().unwrap_or_default(),
        problems: p.problems,
    }
}

struct Parser {
    files: Vec<PathBuf>,
    /// The blocks being filled; the first is the top level.
    stack: Vec<Vec<Stmt>>,
    /// The statements that opened the blocks on the stack (one fewer than `stack`).
    open: Vec<(Vec<String>, String)>,
    problems: Vec<String>,
    reading: Vec<PathBuf>,
}

impl Default for Parser {
    fn default() -> Parser {
        Parser {
            files: Vec::new(),
            stack: vec![Vec::new()],
            open: Vec::new(),
            problems: Vec::new(),
            reading: Vec::new(),
        }
    }
}

impl Parser {
    fn read(&mut self, path: &Path, depth: usize) {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_owned());
        if self.reading.contains(&canonical) {
            self.problems
                .push(format!("{} includes itself", path.display()));
            return;
        }
        let text = match std::fs::metadata(path) {
            Ok(m) if m.len() > MAX_FILE_BYTES => {
                self.problems
                    .push(format!("{}: larger than 4 MiB, not read", path.display()));
                return;
            }
            Ok(_) => match std::fs::read(path) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) => {
                    self.problems
                        .push(format!("cannot read {}: {e}", path.display()));
                    return;
                }
            },
            Err(e) => {
                self.problems
                    .push(format!("cannot read {}: {e}", path.display()));
                return;
            }
        };
        self.files.push(path.to_owned());
        self.reading.push(canonical);
        self.text(&text, path, depth);
        self.reading.pop();
    }

    fn text(&mut self, text: &str, file: &Path, depth: usize) {
        for (n, line) in text.lines().enumerate() {
            let at = format!("{}:{}", file.display(), n + 1);
            let mut words: Vec<String> = Vec::new();
            for token in tokens(line) {
                match token.as_str() {
                    "{" => {
                        self.open.push((std::mem::take(&mut words), at.clone()));
                        self.stack.push(Vec::new());
                    }
                    "}" => {
                        self.flush(&mut words, &at, file, depth);
                        self.close(&at);
                    }
                    _ => words.push(token),
                }
            }
            self.flush(&mut words, &at, file, depth);
        }
    }

    fn flush(&mut self, words: &mut Vec<String>, at: &str, file: &Path, depth: usize) {
        if words.is_empty() {
            return;
        }
        let words = std::mem::take(words);
        if words[0] == "include" {
            match words.get(1) {
                Some(pattern) => self.include(&unquote(pattern), file, depth, at),
                None => self.problems.push(format!("{at}: include without a file")),
            }
            return;
        }
        if let Some(block) = self.stack.last_mut() {
            block.push(Stmt {
                words,
                block: None,
                at: at.to_owned(),
            });
        }
    }

    fn close(&mut self, at: &str) {
        if self.stack.len() < 2 {
            self.problems.push(format!("{at}: `}}` closes no block"));
            return;
        }
        let children = self.stack.pop().unwrap_or_default();
        let (words, opened) = self.open.pop().unwrap_or_default();
        if let Some(parent) = self.stack.last_mut() {
            parent.push(Stmt {
                words,
                block: Some(children),
                at: opened,
            });
        }
    }

    fn close_all(&mut self) {
        while self.stack.len() > 1 {
            let opened = self
                .open
                .last()
                .map(|(_, at)| at.clone())
                .unwrap_or_default();
            self.problems.push(format!(
                "{opened}: block not closed before the end of the file"
            ));
            self.close(&opened);
        }
    }

    fn include(&mut self, pattern: &str, file: &Path, depth: usize, at: &str) {
        if depth >= MAX_INCLUDE_DEPTH {
            self.problems.push(format!(
                "{at}: includes nested deeper than {MAX_INCLUDE_DEPTH}"
            ));
            return;
        }
        let base = file.parent().unwrap_or(Path::new("/"));
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            base.join(pattern)
        };
        let matches = glob_last(&full);
        if matches.is_empty() {
            self.problems
                .push(format!("{at}: include {pattern} matches no file"));
        }
        for m in matches {
            self.read(&m, depth + 1);
        }
    }
}

/// The files matching `pattern`, whose last component may hold `*` and `?`, sorted.
fn glob_last(pattern: &Path) -> Vec<PathBuf> {
    let name = pattern
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return if pattern.is_file() {
            vec![pattern.to_owned()]
        } else {
            Vec::new()
        };
    }
    let dir = pattern.parent().unwrap_or(Path::new("/"));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| wildcard(&name, &e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Shell-style `*` / `?` match of a whole name.
fn wildcard(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The words of one line: quoted strings whole, braces apart, comments dropped.
fn tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                cur.push('"');
                for q in chars.by_ref() {
                    cur.push(q);
                    if q == '"' {
                        break;
                    }
                }
            }
            '#' | '!' if cur.is_empty() => break,
            '{' | '}' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

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
