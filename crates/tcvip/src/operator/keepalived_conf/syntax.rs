//! keepalived.conf's syntax: lines into statements and blocks, quoted words, comments, and
//! `include` globs read in place (bounded in depth and file size).

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

pub(super) fn unquote(w: &str) -> String {
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
pub(super) fn wildcard(pattern: &str, name: &str) -> bool {
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
