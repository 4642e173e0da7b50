//! Starting the simulator, the shared state behind it, and the handle tests program against.

use std::fs::OpenOptions;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::calls::{CallRecord, MetadataRecord};
use crate::faults::FaultSpec;
use crate::hook::Hook;
use crate::http::{Handler, Reply, Request, Server};
use crate::net::Mac;
use crate::shared::Shared;
use crate::tls::TlsIdentity;
use crate::topology::{Topology, TopologyError};
use crate::world::{GarpRecord, IpState, World};
use crate::{api, control, metadata};

/// How the simulator runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to listen; default `127.0.0.1:0` (an ephemeral port).
    pub listen: SocketAddr,
    /// How long an asynchronous operation takes to land; default zero (it still lands after
    /// the call returns, never inside it).
    pub lag: Duration,
    /// Append every API call as a JSON line to this file.
    pub calls_log: Option<PathBuf>,
    /// The data-plane hook argv (see the crate docs); also run at start for every secondary IP.
    pub on_change: Option<Vec<String>>,
    /// How long temporary credentials from the metadata service live; default one hour.
    pub credential_lifetime: Duration,
    /// A hook run is killed after this long; default 10 s.
    pub hook_timeout: Duration,
    /// Also serve the same API over TLS here, with a certificate made at start (see
    /// [`FakeVpcHandle::ca_pem`]).
    pub tls_listen: Option<SocketAddr>,
    /// How long after a gratuitous ARP a HAVIP is bound to its sender; default 1 s.
    pub havip_learn: Duration,
    /// Listen for gratuitous ARPs on these interfaces (AF_PACKET: root or CAP_NET_RAW).
    pub garp_listen: Vec<String>,
    /// Print a line per GARP seen to stdout (`garp ip=... mac=... eni=... verdict=...`).
    pub log_garps: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            lag: Duration::ZERO,
            calls_log: None,
            on_change: None,
            credential_lifetime: Duration::from_secs(3600),
            hook_timeout: Duration::from_secs(10),
            tls_listen: None,
            havip_learn: Duration::from_secs(1),
            garp_listen: Vec::new(),
            log_garps: false,
        }
    }
}

/// Why the simulator did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Topology(#[from] TopologyError),
    #[error("listening on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("opening calls log {path}: {source}")]
    CallsLog {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("on-change: {0}")]
    Hook(String),
    #[error("making the TLS certificate: {0}")]
    Tls(String),
    #[error("starting a thread: {0}")]
    Thread(std::io::Error),
    #[error(transparent)]
    GarpListen(#[from] crate::garp::ListenError),
}

struct Router(Arc<Shared>);

impl Handler for Router {
    fn handle(&self, req: &Request) -> Reply {
        let path = req.path();
        if path == "/_control" || path.starts_with("/_control/") {
            control::handle(&self.0, req)
        } else if path == "/" {
            api::handle(&self.0, req)
        } else if metadata::split(path).is_some() {
            metadata::handle(&self.0, req)
        } else {
            Reply::text(404, "404 - Not Found\n")
        }
    }
}

/// The simulator.
#[derive(Debug)]
pub struct FakeVpc;

impl FakeVpc {
    /// Validates `topology`, binds `options.listen` and serves until the handle is dropped.
    pub fn start(topology: Topology, options: Options) -> Result<FakeVpcHandle, StartError> {
        topology.validate()?;
        let mut world = World::from_topology(&topology);
        world.set_lag(options.lag);
        world.set_credential_lifetime(options.credential_lifetime);
        world.set_havip_learn(options.havip_learn);
        // Every interface is opened before anything serves, so a bad one is a start error.
        let garp_sockets = options
            .garp_listen
            .iter()
            .map(|iface| Ok((iface.clone(), crate::garp::open(iface)?)))
            .collect::<Result<Vec<_>, crate::garp::ListenError>>()?;
        let calls_log = match &options.calls_log {
            None => None,
            Some(path) => Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| StartError::CallsLog {
                        path: path.clone(),
                        source,
                    })?,
            ),
        };
        let hook = match &options.on_change {
            None => None,
            Some(argv) if argv.is_empty() => {
                return Err(StartError::Hook("the command is empty".into()));
            }
            Some(argv) => {
                let hook =
                    Hook::start(argv.clone(), options.hook_timeout).map_err(StartError::Thread)?;
                // Bring the data plane in line with the starting state.
                for (ip, eni, _) in world.secondary_ips() {
                    hook.fire(&world.landing_for(ip, Some(&eni)));
                }
                for h in world.havips() {
                    if let Some(eni) = &h.eni {
                        hook.fire(&world.landing_for(h.vip, Some(eni)));
                    }
                }
                Some(hook)
            }
        };
        let shared = Arc::new(Shared::new(world, calls_log, hook, options.log_garps));
        let server = Server::start(options.listen, Arc::new(Router(Arc::clone(&shared)))).map_err(
            |source| StartError::Bind {
                addr: options.listen,
                source,
            },
        )?;
        let tls = match options.tls_listen {
            None => None,
            Some(addr) => {
                let identity = TlsIdentity::generate().map_err(StartError::Tls)?;
                let router: Arc<dyn Handler> = Arc::new(Router(Arc::clone(&shared)));
                let server = Server::start_with(addr, router, Some(Arc::clone(&identity.config)))
                    .map_err(|source| StartError::Bind { addr, source })?;
                Some((server, identity))
            }
        };
        let ticker = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("fake-vpc-ticker".into())
                .spawn(move || {
                    // Lands due operations even when no request arrives, so the hook fires on
                    // time.
                    while !shared.stopping() {
                        shared.advance_now();
                        shared.sleep(Duration::from_millis(5));
                    }
                })
                .map_err(StartError::Thread)?
        };
        let mut garp_listeners = Vec::new();
        for (iface, fd) in garp_sockets {
            match crate::garp::spawn(Arc::clone(&shared), iface, fd) {
                Ok(t) => garp_listeners.push(t),
                Err(e) => {
                    shared.stop();
                    return Err(StartError::Thread(e));
                }
            }
        }
        Ok(FakeVpcHandle {
            shared,
            server,
            tls,
            ticker: Some(ticker),
            garp_listeners,
        })
    }
}

/// A running simulator. Dropping it stops the server and closes every connection.
#[derive(Debug)]
pub struct FakeVpcHandle {
    shared: Arc<Shared>,
    server: Server,
    tls: Option<(Server, TlsIdentity)>,
    ticker: Option<JoinHandle<()>>,
    garp_listeners: Vec<JoinHandle<()>>,
}

impl FakeVpcHandle {
    /// `http://ADDR` — the API endpoint (`POST /`) and the metadata root.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `https://127.0.0.1:PORT` — the API over TLS, when started with `tls_listen`.
    pub fn tls_url(&self) -> Option<String> {
        self.tls
            .as_ref()
            .map(|(s, _)| format!("https://{}", s.addr()))
    }

    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().map(|(s, _)| s.addr())
    }

    /// The PEM of the CA that signed the TLS certificate: what a client must trust.
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|(_, id)| id.ca_pem.as_str())
    }

    /// `http://ADDR/<instance-id>/latest/meta-data/`: the metadata service as that instance
    /// sees it, whatever the caller's address.
    pub fn metadata_url(&self, instance_id: &str) -> String {
        format!("{}/{instance_id}/latest/meta-data/", self.url())
    }

    /// Every API call so far, oldest first.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.shared.calls()
    }

    /// The calls of one action.
    pub fn calls_of(&self, action: &str) -> Vec<CallRecord> {
        self.calls()
            .into_iter()
            .filter(|c| c.action == action)
            .collect()
    }

    /// Every metadata request so far.
    pub fn metadata_requests(&self) -> Vec<MetadataRecord> {
        self.shared.metadata_calls()
    }

    /// Forgets the recorded API calls and metadata requests.
    pub fn clear_calls(&self) {
        self.shared.clear_calls();
    }

    /// The ENI whose PrivateIpAddressSet lists `ip` now (in any state).
    pub fn holder_of(&self, ip: Ipv4Addr) -> Option<String> {
        self.shared.world_advanced(Instant::now()).holder_of(ip)
    }

    /// The `PrivateIpAddressSpecification.State` of `ip` now.
    pub fn ip_state(&self, ip: Ipv4Addr) -> Option<IpState> {
        self.shared.world_advanced(Instant::now()).ip_state(ip)
    }

    /// A snapshot of the whole state.
    pub fn world(&self) -> World {
        self.shared.world_advanced(Instant::now()).clone()
    }

    /// Runs `f` on the live state (e.g. to put an IP on an ENI directly). Direct changes do
    /// not run the on-change hook.
    pub fn with_world<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        let mut w = self.shared.world_advanced(Instant::now());
        f(&mut w)
    }

    /// Polls (every 5 ms) until `cond` holds or `timeout` passes; returns whether it held.
    pub fn wait_until(&self, timeout: Duration, mut cond: impl FnMut(&World) -> bool) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            if cond(&self.shared.world_advanced(Instant::now())) {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Queues a fault for the next `spec.count` matching calls.
    pub fn inject(&self, spec: FaultSpec) {
        self.shared.inject(spec);
    }

    /// Drops every queued fault and every CAM refusal.
    pub fn clear_faults(&self) {
        self.shared.clear_faults();
    }

    /// Refuses every later call of each of `actions`, by any key or role of the account, with
    /// the CAM refusal `AuthFailure.UnauthorizedOperation` (see `/_control/deny`), until
    /// [`clear_faults`](Self::clear_faults).
    pub fn deny(&self, actions: &[&str]) {
        for action in actions {
            self.shared.deny(action, crate::deny::DEFAULT_CODE);
        }
    }

    /// Sets how long later asynchronous operations take to land.
    pub fn set_lag(&self, lag: Duration) {
        self.shared.world().set_lag(lag);
    }

    /// The next task created ends `FAILED`, and its IPs stay where they were.
    pub fn fail_next_task(&self) {
        self.shared.world().fail_next_task();
    }

    /// When false, metadata requests get their connection closed without an answer.
    pub fn set_metadata_available(&self, available: bool) {
        self.shared.world().set_metadata_available(available);
    }

    /// Sees a gratuitous ARP for `ip` from `mac`, as `POST /_control/garp` does; returns its
    /// record (the verdict says whether it will bind the HAVIP).
    pub fn garp(&self, ip: Ipv4Addr, mac: Mac) -> GarpRecord {
        self.shared.garp(ip, mac, "control")
    }

    /// The next `n` GARPs that would be learned are ignored (the `ignore_garps` fault).
    pub fn ignore_garps(&self, n: u32) {
        self.shared.world().set_ignore_garps(n);
    }

    /// Sets how long after a gratuitous ARP a HAVIP is bound.
    pub fn set_havip_learn(&self, d: Duration) {
        self.shared.world().set_havip_learn(d);
    }

    /// Sets the lifetime of temporary credentials issued from now on.
    pub fn set_credential_lifetime(&self, lifetime: Duration) {
        self.shared.world().set_credential_lifetime(lifetime);
    }
}

impl Drop for FakeVpcHandle {
    fn drop(&mut self) {
        self.shared.stop();
        self.server.stop();
        if let Some((s, _)) = self.tls.as_mut() {
            s.stop();
        }
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
        for t in self.garp_listeners.drain(..) {
            let _ = t.join();
        }
    }
}
