//! The configuration file (`tcvip.toml`) shared by every binary.
//!
//! Resolution: `--config PATH`, else `$TCVIP_CONFIG`, else `/etc/keepalived/tcvip.toml`; command
//! line flags then override file values ([`Overrides`]). The keys are fixed by the design
//! document and documented with their defaults in `keepalived-examples/tcvip.toml`.
//!
//! Parsing is strict: an unknown key or a bad value is an error naming the file, the dotted key
//! (`vip[1].address`) and what was expected. A file holding secret keys is refused unless it is
//! owned by root and closed to group and others. Values are parsed once, into the types their
//! users take: the endpoint into tencent-api's `Endpoint`, `[log]` into the logging module's
//! `LogTarget` and `Level`.
//!
//! Topics: the sections here, reading the file in `load`, the flags in `overrides`, values in
//! `values`, cross-key rules in `validate`.
//!
//! This module does no network I/O and never logs: values it cannot know (region, ids, the
//! interface) stay `None` for discovery to fill in.

mod cloud;
mod error;
mod load;
mod locate;
mod overrides;
mod secrets;
mod validate;
mod values;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

pub use cloud::METADATA_TIMEOUT;
pub use error::ConfigError;
pub use load::{LoadOptions, PathOrigin, resolve_path};
pub use overrides::Overrides;
pub use secrets::Secret;
pub use values::{
    CredentialSource, EipId, Endpoint, EniId, HaVipId, InstanceId, Language, LogLevel,
    OnCloudError, Region, SubnetId, VipKind, VpcId, parse_interface, parse_ipv4, parse_log_level,
    parse_log_target, parse_metadata_url,
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
    /// `[metrics]`: Prometheus exposition (nothing is written when absent).
    #[serde(default)]
    pub metrics: MetricsConfig,
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
    /// `cloud.ca_file`: a PEM file of CA certificates trusted beside the built-in roots
    /// (a TLS-inspecting proxy's CA; the rehearsal's fake-vpc CA).
    pub ca_file: Option<std::path::PathBuf>,
}

impl Default for CloudConfig {
    fn default() -> Self {
        CloudConfig {
            region: None,
            endpoint: Endpoint::default(),
            language: Language::EnUs,
            timeout_ms: 3000,
            ca_file: None,
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
    /// `vip.kind`, default `"secondary-ip"`; `"havip"` needs `havip_id`.
    #[serde(default)]
    pub kind: VipKind,
    /// `vip.havip_id`: the HAVIP whose address `address` is (kind `"havip"` only).
    #[serde(default)]
    pub havip_id: Option<HaVipId>,
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
    /// `failover.havip_bind_timeout_ms`, default 2000: how long a MASTER waits for the VPC to
    /// show a HAVIP bound to this node after a gratuitous ARP (keepalived's, then tcvip's own)
    /// before it sends another one.
    pub havip_bind_timeout_ms: u64,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        FailoverConfig {
            deadline_s: 60,
            assign_if_unassigned: false,
            havip_bind_timeout_ms: 2000,
        }
    }
}

impl FailoverConfig {
    /// `deadline_s` as a duration.
    pub fn deadline(&self) -> Duration {
        Duration::from_secs(self.deadline_s)
    }

    /// `havip_bind_timeout_ms` as a duration.
    pub fn havip_bind_timeout(&self) -> Duration {
        Duration::from_millis(self.havip_bind_timeout_ms)
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

/// `[metrics]`: where the Prometheus exposition goes. Both keys are optional; with neither,
/// nothing is collected or written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// `metrics.textfile`: the node_exporter textfile-collector file every binary rewrites
    /// (atomically, mode 0644) when its content changed; an absolute path ending in `.prom`.
    pub textfile: Option<PathBuf>,
    /// `metrics.listen`: `ADDRESS:PORT` on which the FIFO reader serves `GET /metrics`.
    #[serde(deserialize_with = "values::de_opt_socket_addr")]
    pub listen: Option<std::net::SocketAddr>,
}

impl MetricsConfig {
    /// Whether any output is configured.
    pub fn enabled(&self) -> bool {
        self.textfile.is_some() || self.listen.is_some()
    }
}

/// `[log]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `log.target`, default `syslog`: `syslog`, `stderr` or `file:/absolute/path`.
    #[serde(deserialize_with = "values::de_log_target")]
    pub target: crate::log::LogTarget,
    /// `log.level`, default `info`.
    #[serde(deserialize_with = "values::de_log_level")]
    pub level: LogLevel,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            target: crate::log::LogTarget::Syslog,
            level: LogLevel::Info,
        }
    }
}

impl Config {
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
