//! Finding and reading the configuration file: `--config`, `$TCVIP_CONFIG` or the default
//! path; a regular file of at most 1 MiB, opened without blocking; errors mapped to the key.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use super::{CONFIG_ENV, Config, ConfigError, DEFAULT_PATH, locate, secrets, validate};

/// Configuration files larger than this are refused (a real one is a few KiB).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// How the configuration path was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathOrigin {
    /// `--config PATH`
    Flag,
    /// `$TCVIP_CONFIG`
    Env,
    /// `/etc/keepalived/tcvip.toml`
    Default,
}

impl PathOrigin {
    fn describe(self) -> &'static str {
        match self {
            PathOrigin::Flag => "named by --config",
            PathOrigin::Env => "named by $TCVIP_CONFIG",
            PathOrigin::Default => "the default path; name another with --config or $TCVIP_CONFIG",
        }
    }
}

/// What [`Config::load_with`] takes from its surroundings, injectable for tests.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// The value of `$TCVIP_CONFIG` (empty counts as unset).
    pub config_env: Option<OsString>,
    /// The uid that must own a file holding secrets: 0 (root) in production.
    pub secret_owner_uid: u32,
}

impl LoadOptions {
    /// The real environment: `$TCVIP_CONFIG` from the process, secrets owned by root.
    pub fn from_process() -> Self {
        LoadOptions {
            config_env: std::env::var_os(CONFIG_ENV),
            secret_owner_uid: 0,
        }
    }
}

/// Chooses the configuration path: `explicit`, else a non-empty `config_env`, else
/// [`DEFAULT_PATH`].
pub fn resolve_path(explicit: Option<&Path>, config_env: Option<&OsStr>) -> (PathBuf, PathOrigin) {
    if let Some(p) = explicit {
        return (p.to_owned(), PathOrigin::Flag);
    }
    match config_env {
        Some(v) if !v.is_empty() => (PathBuf::from(v), PathOrigin::Env),
        _ => (PathBuf::from(DEFAULT_PATH), PathOrigin::Default),
    }
}

impl Config {
    /// Loads the configuration from `--config PATH` (`explicit`), else `$TCVIP_CONFIG`, else
    /// `/etc/keepalived/tcvip.toml`.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_with(explicit, &LoadOptions::from_process())
    }

    /// [`Config::load`] with the environment and the secret-file owner given.
    pub fn load_with(explicit: Option<&Path>, opts: &LoadOptions) -> Result<Config, ConfigError> {
        Config::load_inner(explicit, opts, true)
    }

    /// As [`Config::load`], for a setup command that runs before any VIP exists
    /// (`tcvip allocate`): a file without `[[vip]]` is accepted, and so is no file at all
    /// (every key at its default). The flag says whether a file was read.
    pub fn load_for_setup(explicit: Option<&Path>) -> Result<(Config, bool), ConfigError> {
        let opts = LoadOptions::from_process();
        let (path, _) = resolve_path(explicit, opts.config_env.as_deref());
        if !path.exists() {
            let config = Config {
                path,
                ..Config::default()
            };
            return Ok((config, false));
        }
        Ok((Config::load_inner(explicit, &opts, false)?, true))
    }

    fn load_inner(
        explicit: Option<&Path>,
        opts: &LoadOptions,
        require_vip: bool,
    ) -> Result<Config, ConfigError> {
        let (path, origin) = resolve_path(explicit, opts.config_env.as_deref());
        let read_err = |source| ConfigError::Read {
            path: path.clone(),
            origin: origin.describe().to_owned(),
            source,
        };
        // O_NONBLOCK: opening a FIFO (or a device) for reading would otherwise wait for a writer,
        // and every binary with it, check-self past its deadline. It changes nothing for a
        // regular file, the only kind read.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&path)
            .map_err(read_err)?;
        // The permission check uses the metadata of the handle that is read, not of the path.
        let meta = file.metadata().map_err(read_err)?;
        if !meta.is_file() {
            return Err(read_err(std::io::Error::other(format!(
                "not a regular file (a {}); point it at a tcvip.toml file",
                file_kind(&meta)
            ))));
        }
        let mut text = String::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(read_err)?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(read_err(std::io::Error::other("larger than 1 MiB")));
        }
        let config = if require_vip {
            Config::from_toml_str(&text, &path)?
        } else {
            let mut config: Config =
                toml::from_str(&text).map_err(|e| toml_error(&path, &text, &e))?;
            config.path = path.clone();
            validate::validate_setup(&config)?;
            config
        };
        if let Some(key) = config.credentials.secret_key_name() {
            secrets::check_secret_file(&path, &meta, key, opts.secret_owner_uid)?;
        }
        Ok(config)
    }

    /// Parses and validates `text`; `origin` names the file in errors. No permission check (the
    /// caller has no file): [`Config::load`] does that.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| toml_error(origin, text, &e))?;
        config.path = origin.to_owned();
        validate::validate(&config)?;
        Ok(config)
    }
}

/// What kind of file `meta` describes, for a message.
fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    let t = meta.file_type();
    if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else {
        "special file"
    }
}

/// Maps a TOML/serde error to the dotted key at its span, with a user-clear message.
fn toml_error(path: &Path, text: &str, err: &toml::de::Error) -> ConfigError {
    let span = err.span();
    let key = span
        .as_ref()
        .and_then(|s| locate::key_at(text, s))
        .unwrap_or_default();
    let line = span.map(|s| locate::line_of(text, s.start));
    let mut message = err.message().trim().to_owned();
    for (from, to) in [
        ("unknown field", "unknown key"),
        ("expected u64", "expected a whole number"),
        ("expected u32", "expected a whole number"),
        ("expected u8", "expected a whole number"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected a table"),
        ("missing field", "missing key"),
    ] {
        message = message.replace(from, to);
    }
    if key.is_empty() {
        message = format!("not valid TOML: {message}");
    }
    ConfigError::Invalid {
        path: path.to_owned(),
        key,
        message,
        line,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn resolution_order() {
        let env = OsString::from("/tmp/env.toml");
        assert_eq!(
            resolve_path(Some(Path::new("/a.toml")), Some(&env)),
            (PathBuf::from("/a.toml"), PathOrigin::Flag)
        );
        assert_eq!(
            resolve_path(None, Some(&env)),
            (PathBuf::from("/tmp/env.toml"), PathOrigin::Env)
        );
        assert_eq!(
            resolve_path(None, Some(OsStr::new(""))),
            (PathBuf::from(DEFAULT_PATH), PathOrigin::Default)
        );
        assert_eq!(
            resolve_path(None, None),
            (PathBuf::from(DEFAULT_PATH), PathOrigin::Default)
        );
    }
}
