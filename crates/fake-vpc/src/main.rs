//! `fake-vpc`: the simulator as a process, for rehearsals and shell scripts.
//!
//! ```text
//! fake-vpc --topology FILE [--listen ADDR] [--lag-ms N] [--calls-log FILE]
//!          [--credential-lifetime-s N] [--tls-listen ADDR [--tls-cert-out PATH]]
//!          [--havip-learn-ms N] [--garp-listen IFACE]... [--on-change CMD ARGS...]
//! ```
//! Prints `listening on ADDR` to stdout once it serves (and, with `--tls-listen`, a second line
//! `tls listening on ADDR`), then a line per gratuitous ARP seen
//! (`garp ip=IP mac=MAC eni=ENI|none verdict=learned|ignored|unknown-mac|not-a-havip|superseded`);
//! runs until killed.
//! The control endpoint is on the same listener under `/_control/` (see the crate docs).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use fake_vpc::{FakeVpc, Options, Topology};

/// A simulator of the Tencent Cloud VPC API and the CVM metadata service.
#[derive(Debug, Parser)]
#[command(name = "fake-vpc", version)]
struct Cli {
    /// The topology TOML file (VPCs, subnets, instances, ENIs, EIPs, HAVIPs, keys).
    #[arg(long, value_name = "FILE")]
    topology: PathBuf,
    /// Address to listen on (API at `/`, metadata at `/latest/meta-data/`, control at
    /// `/_control/`).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// How long migrations, assignments and unassignments take to land.
    #[arg(long, value_name = "N", default_value_t = 2000)]
    lag_ms: u64,
    /// Append every API call as a JSON line to this file.
    #[arg(long, value_name = "FILE")]
    calls_log: Option<PathBuf>,
    /// Lifetime of temporary credentials served by the metadata service.
    #[arg(long, value_name = "N", default_value_t = 3600)]
    credential_lifetime_s: u64,
    /// Run CMD ARGS... IP ENI INSTANCE-PRIMARY-IP (no shell) whenever an IP lands, and once per
    /// secondary IP at start. Takes the rest of the command line, so it must come last.
    #[arg(long, value_name = "CMD", num_args = 1.., allow_hyphen_values = true)]
    on_change: Option<Vec<String>>,
    /// Also serve the API over TLS on ADDR, with a certificate made at start for localhost,
    /// 127.0.0.1 and ::1.
    #[arg(long, value_name = "ADDR")]
    tls_listen: Option<SocketAddr>,
    /// Write the PEM of the CA that signed the TLS certificate here (for a client's ca_file).
    #[arg(long, value_name = "PATH", requires = "tls_listen")]
    tls_cert_out: Option<PathBuf>,
    /// How long after a gratuitous ARP for a HAVIP's address the HAVIP is bound to the ENI
    /// with the sender's MAC (the last GARP wins).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    havip_learn_ms: u64,
    /// Listen for gratuitous ARPs on IFACE (repeatable; an AF_PACKET socket: needs root or
    /// CAP_NET_RAW). In a rehearsal: the router's links to the nodes.
    #[arg(long, value_name = "IFACE")]
    garp_listen: Vec<String>,
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let topology = Topology::load(&cli.topology).context("loading the topology")?;
    // Held until the `listening on` line is out, so that a GARP line cannot come first.
    let mut out = std::io::stdout().lock();
    let handle = FakeVpc::start(
        topology,
        Options {
            listen: cli.listen,
            lag: Duration::from_millis(cli.lag_ms),
            calls_log: cli.calls_log,
            on_change: cli.on_change,
            credential_lifetime: Duration::from_secs(cli.credential_lifetime_s),
            tls_listen: cli.tls_listen,
            havip_learn: Duration::from_millis(cli.havip_learn_ms),
            garp_listen: cli.garp_listen,
            log_garps: true,
            ..Options::default()
        },
    )
    .context("starting the simulator")?;
    if let (Some(path), Some(pem)) = (&cli.tls_cert_out, handle.ca_pem()) {
        std::fs::write(path, pem).with_context(|| format!("writing {}", path.display()))?;
    }
    writeln!(out, "listening on {}", handle.addr()).context("writing to stdout")?;
    if let Some(addr) = handle.tls_addr() {
        writeln!(out, "tls listening on {addr}").context("writing to stdout")?;
    }
    out.flush().context("writing to stdout")?;
    drop(out);
    loop {
        std::thread::park();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fake-vpc: {e:#}");
            ExitCode::FAILURE
        }
    }
}
