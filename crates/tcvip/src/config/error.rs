//! Configuration errors: each names the file, the key and what was expected.

use std::path::PathBuf;

/// A configuration that cannot be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be opened or read.
    #[error("{}: cannot read the configuration file ({origin}): {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// How the path was chosen (`--config`, `$TCVIP_CONFIG` or the default path).
        origin: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key holds a bad value, is unknown, or the TOML does not parse.
    #[error("{}: {}{message}{}", path.display(), key_prefix(key), line_suffix(*line))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Dotted key, e.g. `vip[1].address`; empty for a TOML syntax error.
        key: String,
        /// What was expected and what was found.
        message: String,
        /// 1-based line in the file, when known.
        line: Option<usize>,
    },
    /// The file holds secret keys but others could read or change it.
    #[error(
        "{}: holds {key} but {problem}; a file with secret keys must be owned by root and readable \
         by nobody else. Fix: {fix} (or move the keys out of this file and use credentials.source \
         = \"env\", \"profile\" or \"cvm-role\")",
        path.display()
    )]
    InsecureSecretFile {
        /// The file.
        path: PathBuf,
        /// The secret key found, e.g. `credentials.secret_key`.
        key: String,
        /// What is wrong with owner and mode.
        problem: String,
        /// The command that fixes it.
        fix: String,
    },
}

impl ConfigError {
    /// The dotted key an `Invalid` error is about (empty for a syntax error).
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            ConfigError::InsecureSecretFile { key, .. } => Some(key),
            _ => None,
        }
    }

    pub(crate) fn invalid(
        path: &std::path::Path,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ConfigError::Invalid {
            path: path.to_owned(),
            key: key.into(),
            message: message.into(),
            line: None,
        }
    }
}

fn key_prefix(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("{key}: ")
    }
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|l| format!(" (line {l})")).unwrap_or_default()
}
