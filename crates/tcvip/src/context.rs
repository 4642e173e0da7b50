//! Everything a command needs, built once per process and only as far as it is used: the
//! configuration, the log, the state directory, this node's identity and the API client.
//!
//! A healthy check-self touches only the first three; discovery and the client (and with them
//! credentials and the network) come into play on first use.

use std::cell::{Cell, OnceCell};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tencent_api::Client;
use tencent_api::credentials::{CredentialError, CredentialProvider, Credentials, Provenance};
use tencent_api::retry::{Classification, Decision, Policy, Retry, SystemTimer};
use vip_state::{KeepalivedState, StateDir};

use crate::cli::Common;
use crate::config::{Config, VipConfig};
use crate::discovery::{Discoverer, DiscoveryError, Identity};
use crate::exit::{Exit, ExitResultExt as _, exit, exit_of};
use crate::log::LogSettings;

/// The record name used for the keepalived instance when no `[[vip]]` names one.
pub const DEFAULT_INSTANCE: &str = "default";

/// The cache that remembers which keepalived instance is "the only one".
const ONLY_INSTANCE_CACHE: &str = "only-instance";

/// One command's view of the world.
#[derive(Debug)]
pub struct Context {
    pub config: Config,
    pub state: StateDir,
    credentials: OnceCell<Arc<Announced>>,
    identity: OnceCell<Identity>,
    /// Why discovery failed, so that it is not tried again (with its timeouts) in this process.
    identity_failure: OnceCell<(Exit, String)>,
    client: OnceCell<Client>,
    /// The command's overall deadline, once set: discovery, credentials and API calls end by it.
    deadline: Cell<Option<Instant>>,
}

impl Context {
    /// Loads the configuration (exit 78 on any error), applies the command-line overrides,
    /// starts the log and opens the state directory.
    pub fn load(common: &Common, binary: &'static str) -> anyhow::Result<Context> {
        let mut config = Config::load(common.config.as_deref()).or_exit(Exit::Config)?;
        config.apply(&common.overrides()).or_exit(Exit::Config)?;
        Self::with_config(config, binary)
    }

    /// As [`load`](Self::load), from a configuration already in hand.
    pub fn with_config(config: Config, binary: &'static str) -> anyhow::Result<Context> {
        // Parsed once, with the rest of the file: nothing here can fail.
        crate::log::init(LogSettings::new(
            binary,
            config.log.target.clone(),
            config.log.level,
        ));
        crate::metrics::install(&config.metrics);
        // A state directory that cannot be opened (not a directory, unsafe, cannot be created)
        // is fixed in tcvip.toml or on the node: a configuration error.
        let state = StateDir::open(&config.state.dir)
            .or_exit(Exit::Config)
            .with_context(|| {
                format!(
                    "opening the state directory (state.dir in {})",
                    config.path.display()
                )
            })?;
        Ok(Context {
            config,
            state,
            credentials: OnceCell::new(),
            identity: OnceCell::new(),
            identity_failure: OnceCell::new(),
            client: OnceCell::new(),
            deadline: Cell::new(None),
        })
    }

    /// Bounds everything this context does on the network from now on — discovery, metadata
    /// reads, credential fetches and the calls of [`client`](Self::client) — by `deadline`
    /// (the earliest of those set wins).
    pub fn set_deadline(&self, deadline: Instant) {
        let earliest = match self.deadline.get() {
            Some(d) => d.min(deadline),
            None => deadline,
        };
        self.deadline.set(Some(earliest));
        if let Some(announced) = self.credentials.get() {
            announced.bound_by(earliest);
        }
    }

    /// The command's overall deadline, when one was set.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline.get()
    }

    /// The credential provider `credentials.source` names; the first credentials it gives are
    /// logged (where from, until when), once.
    pub fn credentials(&self) -> Arc<dyn CredentialProvider> {
        self.credentials
            .get_or_init(|| {
                let announced = Announced::new(self.config.credential_provider());
                if let Some(deadline) = self.deadline() {
                    announced.bound_by(deadline);
                }
                Arc::new(announced)
            })
            .clone()
    }

    /// This node's identity: configuration overrides, the cache, then the metadata service and
    /// DescribeNetworkInterfaces. Each fact learned from outside is logged once; a failure is
    /// remembered and returned again, not retried.
    pub fn identity(&self) -> anyhow::Result<&Identity> {
        if let Some(identity) = self.identity.get() {
            return Ok(identity);
        }
        if let Some((code, message)) = self.identity_failure.get() {
            return Err(exit(*code, anyhow::anyhow!("{message}")));
        }
        match self.discover() {
            Ok(identity) => Ok(identity),
            Err(err) => {
                let err = discovery_exit(err);
                let _ = self
                    .identity_failure
                    .set((exit_of(&err), crate::cli::error_text(&err)));
                Err(err)
            }
        }
    }

    /// As [`identity`](Self::identity), but bounded by `deadline` (see
    /// [`set_deadline`](Self::set_deadline)), and a transient failure (metadata or API
    /// unreachable, throttled, a 5xx) is tried again by the retry engine until then: a failover
    /// after a reboot (nothing cached yet) must not give up on one dropped request.
    pub fn identity_until(&self, deadline: Instant) -> anyhow::Result<&Identity> {
        self.set_deadline(deadline);
        if let Some(identity) = self.identity.get() {
            return Ok(identity);
        }
        let mut retry = Retry::new(deadline, Policy::new(DISCOVERY_BACKOFF));
        let found = retry.run(
            &SystemTimer,
            |_| self.discover(),
            discovery_class,
            |err, attempt, decision| {
                if let Decision::Retry(next) = decision {
                    crate::warn!(
                        "discovery_retry",
                        error = err,
                        attempt = attempt.number,
                        retry_in_ms = next.wait.as_millis()
                    );
                    if next.refresh_credentials {
                        self.credentials().invalidate();
                    }
                }
            },
        );
        match found {
            Ok(identity) => Ok(identity),
            Err(exhausted) => match exhausted.error {
                Some(err) => Err(discovery_exit(err)),
                None => Err(exit(
                    Exit::Unknown,
                    anyhow::anyhow!(
                        "the deadline passed before this node's identity could be looked up; set [node] in {} or allow more time",
                        self.config.path.display()
                    ),
                )),
            },
        }
    }

    /// One discovery; on success the identity is kept and each discovered fact logged.
    fn discover(&self) -> Result<&Identity, DiscoveryError> {
        let mut discoverer = Discoverer::new(&self.config)
            .with_state_dir(&self.state)
            .with_credentials(self.credentials());
        if let Some(deadline) = self.deadline() {
            discoverer = discoverer.with_deadline(deadline);
        }
        let discovery = discoverer.discover()?;
        for fact in discovery.discovered() {
            crate::info!(
                "discovered",
                fact = fact.name,
                value = fact.value,
                source = fact.source.as_str()
            );
        }
        for warning in &discovery.warnings {
            crate::warn!("discovery_warning", message = warning);
        }
        Ok(self.identity.get_or_init(|| discovery.identity))
    }

    /// The API client for this node's region; its calls end by the context's deadline, when
    /// one was set before the first use.
    pub fn client(&self) -> anyhow::Result<&Client> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let region = match &self.config.cloud.region {
            Some(region) => region.clone(),
            None => self.identity()?.region.clone(),
        };
        let mut client = Client::new(self.config.client_config(&region), self.credentials())
            .or_exit(Exit::Config)?;
        if let Some(deadline) = self.deadline() {
            client = client.until(deadline);
        }
        Ok(self.client.get_or_init(|| client))
    }

    /// The name under which keepalived instance `given` is recorded; `None` (the one-word
    /// notify form, or a command run by hand) means the only configured instance.
    ///
    /// When no `[[vip]]` names an instance, the VIPs follow "the only instance": the first name
    /// keepalived notifies is bound to them, and a notification from another instance while that
    /// one runs is refused (exit 78, naming the fix) instead of overwriting its state. Once the
    /// bound instance has stopped (a reload that renames it), the next name takes its place.
    pub fn instance_key(&self, given: Option<&str>) -> anyhow::Result<String> {
        let names = self.config.instance_names();
        if names.is_empty() {
            if let Some(name) = given.filter(|n| *n != DEFAULT_INSTANCE) {
                self.bind_only_instance(name)?;
            }
            return Ok(DEFAULT_INSTANCE.to_owned());
        }
        match given {
            Some(name) => Ok(name.to_owned()),
            None if names.len() == 1 => Ok(names[0].to_owned()),
            None => Err(exit(
                Exit::Config,
                anyhow::anyhow!(
                    "{}: several keepalived instances are configured ({}); say which with --instance",
                    self.config.path.display(),
                    names.join(", ")
                ),
            )),
        }
    }

    fn bind_only_instance(&self, name: &str) -> anyhow::Result<()> {
        let bound = self
            .state
            .read_cache::<String>(ONLY_INSTANCE_CACHE)
            .value
            .map(|c| c.value);
        let running = || {
            !matches!(
                self.state.read_state(DEFAULT_INSTANCE).state,
                KeepalivedState::Stop | KeepalivedState::Unknown
            )
        };
        match bound {
            Some(bound) if bound == name => Ok(()),
            Some(bound) if running() => Err(exit(
                Exit::Config,
                anyhow::anyhow!(
                    "keepalived instance {name:?} is not followed by any VIP: the [[vip]] entries of {} name no instance, so they follow the only one, {bound:?}; with several vrrp_instances set instance = \"...\" on each [[vip]]",
                    self.config.path.display()
                ),
            )),
            _ => {
                if let Err(e) = self.state.write_cache(ONLY_INSTANCE_CACHE, &name) {
                    crate::warn!(
                        "state_write_failed",
                        record = ONLY_INSTANCE_CACHE,
                        error = e
                    );
                }
                Ok(())
            }
        }
    }

    /// The VIPs that follow the instance recorded as `key`.
    pub fn vips_of(&self, key: &str) -> Vec<&VipConfig> {
        crate::vips::of_instance(&self.config, key)
    }

    /// The interface a VIP lives on: `vip.interface`, else the one discovered.
    pub fn interface_of(&self, vip: &VipConfig) -> anyhow::Result<String> {
        if let Some(interface) = &vip.interface {
            return Ok(interface.clone());
        }
        let identity = self.identity()?;
        identity
            .interface_for(vip)
            .map(str::to_owned)
            .ok_or_else(|| {
                exit(
                    Exit::Config,
                    anyhow::anyhow!(
                        "no local interface is known for {}; set interface in its [[vip]] entry",
                        vip.address
                    ),
                )
            })
    }
}

/// The run is over: its metrics are merged and the textfile rewritten if it changed.
impl Drop for Context {
    fn drop(&mut self) {
        crate::metrics::publish(&self.config, &self.state);
    }
}

/// A credential provider that logs, at info and once per process, which source gave the first
/// credentials: `credentials source=cvm-role role=... expires=...`. Never the secrets.
///
/// It also holds the command's deadline: a fetch (a CVM role's metadata reads) ends by it even
/// for a client that was built without one.
#[derive(Debug)]
struct Announced {
    inner: Arc<dyn CredentialProvider>,
    announced: AtomicBool,
    deadline: Mutex<Option<Instant>>,
}

impl Announced {
    fn new(inner: Arc<dyn CredentialProvider>) -> Announced {
        Announced {
            inner,
            announced: AtomicBool::new(false),
            deadline: Mutex::new(None),
        }
    }

    /// Every fetch from now on ends by `deadline`.
    fn bound_by(&self, deadline: Instant) {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner()) = Some(deadline);
    }

    /// The earlier of the caller's deadline and the command's.
    fn deadline_for(&self, asked: Option<Instant>) -> Option<Instant> {
        let own = *self.deadline.lock().unwrap_or_else(|p| p.into_inner());
        match (asked, own) {
            (Some(a), Some(o)) => Some(a.min(o)),
            (a, o) => a.or(o),
        }
    }
}

impl CredentialProvider for Announced {
    fn credentials(&self) -> Result<Credentials, CredentialError> {
        self.credentials_until(None)
    }

    fn credentials_until(&self, deadline: Option<Instant>) -> Result<Credentials, CredentialError> {
        let credentials = self.inner.credentials_until(self.deadline_for(deadline))?;
        crate::metrics::note_credentials(self.inner.provenance());
        if !self.announced.swap(true, Ordering::SeqCst) {
            let provenance = self.inner.provenance();
            // StaticCredentials only ever come from tcvip.toml (`source = "file"`).
            let source = match provenance.as_ref().map(|p| p.source) {
                Some("static") => "file",
                Some(source) => source,
                None => "unknown",
            };
            let detail = match (source, provenance.as_ref().and_then(|p| p.detail.clone())) {
                ("file", _) => "the keys in tcvip.toml".to_owned(),
                (_, Some(detail)) => detail,
                (_, None) => String::new(),
            };
            let expires = provenance
                .as_ref()
                .and_then(|p| p.expires_unix)
                .and_then(|t| u64::try_from(t).ok())
                .map(|t| vip_state::format_utc(t.saturating_mul(1000)))
                .unwrap_or_else(|| "never".to_owned());
            crate::info!(
                "credentials",
                source = source,
                from = detail,
                expires = expires
            );
        }
        Ok(credentials)
    }

    fn invalidate(&self) {
        self.inner.invalidate();
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn provenance(&self) -> Option<Provenance> {
        self.inner.provenance()
    }
}

/// Waits between discovery attempts: 200 ms doubling up to 2 s.
const DISCOVERY_BACKOFF: tencent_api::retry::Backoff =
    tencent_api::retry::Backoff::new(Duration::from_millis(200), Duration::from_secs(2));

/// How the retry engine treats a discovery failure: the metadata service or the API
/// unreachable, slow, throttled or answering 5xx may pass by itself; anything else is fatal.
fn discovery_class(err: &DiscoveryError) -> Classification {
    match err {
        DiscoveryError::Metadata { source, .. }
        | DiscoveryError::MetadataTooSlow { source, .. } => Classification::from(source),
        DiscoveryError::Api { source, .. } => Classification::from(source),
        _ => Classification::fatal(),
    }
}

/// Discovery failures: unreachable metadata is "unknown" (3), an API refusal keeps the API's
/// class, anything else is a configuration problem the message names.
fn discovery_exit(err: DiscoveryError) -> anyhow::Error {
    let code = match &err {
        DiscoveryError::Metadata { source, .. } if source.is_transient() => Exit::Unknown,
        DiscoveryError::MetadataTooSlow { .. } => Exit::Unknown,
        DiscoveryError::Api { source, .. } => api_exit(source),
        _ => Exit::Config,
    };
    exit(code, err)
}

// One home for exit-code mapping: see crate::exit.
pub use crate::exit::api_exit;
