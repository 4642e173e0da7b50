//! `tcvip`: the operator's command; see [`tcvip::operator`].

use clap::Parser as _;
use tcvip::operator;

/// The operator's command for tcvip (keepalived never runs it)
#[derive(Debug, clap::Parser)]
#[command(
    name = "tcvip",
    version,
    after_help = "Exit codes: doctor 0 ok, 1 warning, 2 critical, 3 unknown (monitoring-plugin convention); cam-policy as every tcvip binary (tcvip cam-policy --help)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Check this node's configuration, credentials, permissions, endpoint, identity and
    /// keepalived wiring; exit 0 ok, 1 warning, 2 critical, 3 unknown
    Doctor(operator::doctor::Args),
    /// Print the minimal CAM policy (JSON) for the configured features
    CamPolicy(operator::cam_policy::Args),
}

fn main() -> std::process::ExitCode {
    match Cli::parse().command {
        Command::Doctor(args) => operator::doctor::run(&args),
        Command::CamPolicy(args) => operator::cam_policy::run(&args),
    }
}
