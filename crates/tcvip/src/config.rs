//! The configuration file (`tcvip.toml`) shared by every binary.
//!
//! Resolution: `--config PATH`, else `$TCVIP_CONFIG`, else `/etc/keepalived/tcvip.toml`; command
//! line flags then override file values ([`Overrides`]). The keys are fixed by the design
//! document and documented with their defaults in `keepalived-examples/tcvip.toml`.
//!
//! Parsing is strict: an unknown key or a bad value is an error naming the file, the dotted key
//! (`vip[1].address`) and what was expected. A file holding secret keys is refused unless it is
//! owned by root and closed to group and others. `log.target` stays a validated string here
//! (`syslog`, `stderr`, `file:/abs/path`); the logging module owns its typed form.
//!
//! This module does no network I/O and never logs: values it cannot know (region, ids, the
//! interface) stay `None` for discovery to fill in.

mod cloud;
mod error;
mod locate;
mod secrets;
mod validate;
mod values;

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::net::Ipv4Addr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use cloud::METADATA_TIMEOUT;
pub use error::ConfigError;
pub use secrets::Secret;
pub use values::{
    CredentialSource, EipId, Endpoint, EniId, InstanceId, Language, LogLevel, OnCloudError, Region,
    SubnetId, VpcId, parse_interface, parse_ipv4, parse_log_target,
};

/// The path used when neither `--config` nor `$TCVIP_CONFIG` names one.
pub const DEFAULT_PATH: &str = "/etc/keepalived/tcvip.toml";
/// The environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "TCVIP_CONFIG";
/// Default `cloud.endpoint`.
pub const DEFAULT_ENDPOINT: &str = "vpc.tencentcloudapi.com";
/// Default `metadata.url`.
pub const DEFAULT_METADATA_URL: &str = "http://metadata.tencentyun.com/latest/meta-data/";
/// Default `state.dir`.
pub const DEFAULT_STATE_DIR: &str = "/run/tcvip";
/// Configuration files larger than this are refused (a real one is a few KiB).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The whole configuration, parsed and validated.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The file this came from (for messages).
    #[serde(skip)]
    pub path: PathBuf,
    /// `[cloud]`
    #[serde(default)]
    pub cloud: CloudConfig,
    /// `[credentials]`
    #[serde(default)]
    pub credentials: CredentialsConfig,
    /// `[metadata]`
    #[serde(default)]
    pub metadata: MetadataConfig,
    /// `[node]`: overrides for discovery.
    #[serde(default)]
    pub node: NodeConfig,
    /// `[[vip]]`: at least one.
    #[serde(default, rename = "vip")]
    pub vips: Vec<VipConfig>,
    /// `[failover]`
    #[serde(default)]
    pub failover: FailoverConfig,
    /// `[check]`
    #[serde(default)]
    pub check: CheckConfig,
    /// `[state]`
    #[serde(default)]
    pub state: StateConfig,
    /// `[log]`
    #[serde(default)]
    pub log: LogConfig,
    /// `[drain]`: the maintenance switch of `tcvip drain`.
    #[serde(default)]
    pub drain: DrainConfig,
}

/// `[cloud]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CloudConfig {
    /// `cloud.region`; `None` = discovered from the metadata service.
    pub region: Option<Region>,
    /// `cloud.endpoint`, default `vpc.tencentcloudapi.com` (HTTPS).
    pub endpoint: Endpoint,
    /// `cloud.language`, default `en-US`.
    pub language: Language,
    /// `cloud.timeout_ms`, default 3000: per request, connect + response.
    pub timeout_ms: u64,
}

impl Default for CloudConfig {
    fn default() -> Self {
        CloudConfig {
            region: None,
            endpoint: Endpoint::default(),
            language: Language::EnUs,
            timeout_ms: 3000,
        }
    }
}

impl CloudConfig {
    /// `timeout_ms` as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// `[credentials]`. `Debug` never shows the secrets.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CredentialsConfig {
    /// `credentials.source`, default `auto` (env → profile file → CVM role).
    pub source: CredentialSource,
    /// `credentials.secret_id` (only with `source = "file"`).
    pub secret_id: Option<Secret>,
    /// `credentials.secret_key` (only with `source = "file"`).
    pub secret_key: Option<Secret>,
    /// `credentials.token`: a session token for temporary keys (only with `source = "file"`).
    pub token: Option<Secret>,
    /// `credentials.profile_file`; `None` = the SDK locations (`~/.tencentcloud/credentials`, then
    /// `/etc/tencentcloud/credentials`).
    pub profile_file: Option<PathBuf>,
}

// The enum comes from a macro that cannot derive Default with a chosen variant.
#[allow(clippy::derivable_impls)]
impl Default for CredentialSource {
    fn default() -> Self {
        CredentialSource::Auto
    }
}

impl CredentialsConfig {
    /// The first secret-bearing key present in the file, if any.
    pub fn secret_key_name(&self) -> Option<&'static str> {
        if self.secret_key.is_some() {
            Some("credentials.secret_key")
        } else if self.token.is_some() {
            Some("credentials.token")
        } else if self.secret_id.is_some() {
            Some("credentials.secret_id")
        } else {
            None
        }
    }
}

/// `[metadata]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataConfig {
    /// `metadata.url`: base URL ending in `/`; never reached through a proxy.
    #[serde(deserialize_with = "values::de_metadata_url")]
    pub url: String,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig {
            url: DEFAULT_METADATA_URL.to_owned(),
        }
    }
}

/// `[node]`: values that override discovery (and avoid the calls it would make).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// `node.instance_id`
    pub instance_id: Option<InstanceId>,
    /// `node.eni_id`: the ENI that should hold the VIPs (default: the ENI whose MAC is the
    /// instance's primary MAC).
    pub eni_id: Option<EniId>,
    /// `node.vpc_id`
    pub vpc_id: Option<VpcId>,
}

/// One `[[vip]]` entry.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VipConfig {
    /// `vip.address`
    #[serde(deserialize_with = "values::de_ipv4")]
    pub address: Ipv4Addr,
    /// `vip.instance`: the keepalived vrrp_instance this VIP follows; `None` = the only one.
    #[serde(default)]
    pub instance: Option<String>,
    /// `vip.interface`: default the NIC whose MAC is the node's primary ENI.
    #[serde(default, deserialize_with = "values::de_opt_interface")]
    pub interface: Option<String>,
    /// `vip.prefix_len`, default 32: the prefix check-self uses when it puts a vanished VIP back
    /// on the NIC (keepalived itself adds it as `virtual_ipaddress` says).
    #[serde(default = "default_prefix_len")]
    pub prefix_len: u8,
    /// `vip.eip`: an EIP kept on this VIP (checked after every move and by check-self).
    #[serde(default)]
    pub eip: Option<EipId>,
}

fn default_prefix_len() -> u8 {
    32
}

/// `[failover]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailoverConfig {
    /// `failover.deadline_s`, default 60: the overall deadline of one migration.
    pub deadline_s: u64,
    /// `failover.assign_if_unassigned`, default false: assign the VIP to this ENI when nobody
    /// holds it.
    pub assign_if_unassigned: bool,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        FailoverConfig {
            deadline_s: 60,
            assign_if_unassigned: false,
        }
    }
}

impl FailoverConfig {
    /// `deadline_s` as a duration.
    pub fn deadline(&self) -> Duration {
        Duration::from_secs(self.deadline_s)
    }
}

/// `[check]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckConfig {
    /// `check.deadline_ms`, default 2000; keep below keepalived's vrrp_script timeout.
    pub deadline_ms: u64,
    /// `check.cloud_ttl_s`, default 30: how old a cached cloud view may be.
    pub cloud_ttl_s: u64,
    /// `check.reconcile_cooldown_s`, default 10: the first cooldown between reconcile attempts.
    pub reconcile_cooldown_s: u64,
    /// `check.on_cloud_error`, default `pass`.
    pub on_cloud_error: OnCloudError,
    /// `check.remove_stray_vip`, default true.
    pub remove_stray_vip: bool,
    /// `check.service_checks`, default none.
    pub service_checks: Vec<ServiceCheck>,
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            deadline_ms: 2000,
            cloud_ttl_s: 30,
            reconcile_cooldown_s: 10,
            on_cloud_error: OnCloudError::Pass,
            remove_stray_vip: true,
            service_checks: Vec::new(),
        }
    }
}

impl CheckConfig {
    /// `deadline_ms` as a duration.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }
    /// `cloud_ttl_s` as a duration.
    pub fn cloud_ttl(&self) -> Duration {
        Duration::from_secs(self.cloud_ttl_s)
    }
    /// `reconcile_cooldown_s` as a duration.
    pub fn reconcile_cooldown(&self) -> Duration {
        Duration::from_secs(self.reconcile_cooldown_s)
    }
}

/// One entry of `check.service_checks`: a command run as argv (never through a shell).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceCheck {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// Kill it after this long, default 1000 ms.
    #[serde(default = "default_service_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_service_timeout_ms() -> u64 {
    1000
}

impl ServiceCheck {
    /// `timeout_ms` as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// `[state]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// `state.dir`, default `/run/tcvip`.
    pub dir: PathBuf,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            dir: PathBuf::from(DEFAULT_STATE_DIR),
        }
    }
}

/// Default `drain.file`: on disk that survives a reboot (not under `/run`).
pub const DEFAULT_DRAIN_FILE: &str = "/var/lib/tcvip/drain";

/// `[drain]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DrainConfig {
    /// `drain.file`, default `/var/lib/tcvip/drain`: while it exists the node stays out of MASTER.
    pub file: PathBuf,
}

impl Default for DrainConfig {
    fn default() -> Self {
        DrainConfig {
            file: PathBuf::from(DEFAULT_DRAIN_FILE),
        }
    }
}

/// `[log]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `log.target`, default `syslog`: `syslog`, `stderr` or `file:/absolute/path` (validated).
    #[serde(deserialize_with = "values::de_log_target")]
    pub target: String,
    /// `log.level`, default `info`.
    pub level: LogLevel,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            target: "syslog".to_owned(),
            level: LogLevel::Info,
        }
    }
}

/// Command-line values that override the file. Strings are parsed and validated by
/// [`Config::apply`] exactly as the file's values are.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--region` → `cloud.region`
    pub region: Option<String>,
    /// `--endpoint` → `cloud.endpoint`
    pub endpoint: Option<String>,
    /// `--state-dir` → `state.dir`
    pub state_dir: Option<PathBuf>,
    /// `--log` → `log.target`
    pub log_target: Option<String>,
    /// `--log-level` → `log.level`
    pub log_level: Option<String>,
}

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

    /// Applies command-line overrides, validating each value as if it were in the file.
    pub fn apply(&mut self, o: &Overrides) -> Result<(), ConfigError> {
        let path = self.path.clone();
        let bad = |key: &str, msg: String| {
            ConfigError::invalid(&path, format!("{key} (from the command line)"), msg)
        };
        if let Some(v) = &o.region {
            self.cloud.region = Some(v.parse().map_err(|m| bad("cloud.region", m))?);
        }
        if let Some(v) = &o.endpoint {
            self.cloud.endpoint = v.parse().map_err(|m| bad("cloud.endpoint", m))?;
        }
        if let Some(v) = &o.state_dir {
            if !v.is_absolute() {
                return Err(bad(
                    "state.dir",
                    format!("expected an absolute path, found {v:?}"),
                ));
            }
            self.state.dir = v.clone();
        }
        if let Some(v) = &o.log_target {
            self.log.target = parse_log_target(v).map_err(|m| bad("log.target", m))?;
        }
        if let Some(v) = &o.log_level {
            self.log.level = v.parse().map_err(|m| bad("log.level", m))?;
        }
        Ok(())
    }

    /// The keepalived instance names that `vip.instance` mentions, in file order, without
    /// duplicates. Empty when every VIP omits `instance` (they follow "the only instance").
    pub fn instance_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for name in self.vips.iter().filter_map(|v| v.instance.as_deref()) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// The VIP entry for `address`, if configured.
    pub fn vip(&self, address: Ipv4Addr) -> Option<&VipConfig> {
        self.vips.iter().find(|v| v.address == address)
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
