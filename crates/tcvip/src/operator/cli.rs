//! The `tcvip` command line: its subcommands and their dispatch (`src/bin/tcvip.rs` only calls
//! [`main`]); here so that man pages and completions are made from the same definition.

use clap::Parser as _;

use crate::operator;

/// `tcvip [OPTIONS] <SUBCOMMAND>`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "tcvip",
    version,
    about = "The operator's command for tcvip (keepalived never runs it)",
    after_help = "Exit codes: doctor 0 ok, 1 warning, 2 critical, 3 unknown (monitoring-plugin \
                  convention); every other subcommand as every tcvip binary (see `tcvip \
                  <subcommand> --help`)."
)]
pub struct Cli {
    #[command(flatten)]
    common: crate::cli::Common,
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
    /// Assign a new secondary private IP to this node's ENI and print its [[vip]] block
    Allocate(operator::allocate::Args),
    /// Show, bind or unbind the EIP of each VIP
    Eip(operator::eip::Args),
    /// Maintenance: keep this node out of MASTER (it hands the VIP to a peer) until undrained
    Drain(operator::drain::DrainArgs),
    /// End a drain
    Undrain(operator::drain::UndrainArgs),
    /// The whole picture of this node: keepalived, NIC, cloud, drain, EIP
    Status(operator::status::Args),
}

/// Parses argv and runs the subcommand: the whole of the `tcvip` binary.
pub fn main() -> std::process::ExitCode {
    let Cli { common, command } = Cli::parse();
    let result = match command {
        // doctor maps its findings onto the monitoring-plugin codes itself.
        Command::Doctor(mut args) => {
            args.common = common;
            return operator::doctor::run(&args);
        }
        Command::CamPolicy(mut args) => {
            args.common = common;
            return operator::cam_policy::run(&args);
        }
        Command::Allocate(mut args) => {
            args.common = common;
            operator::allocate::run(&args)
        }
        Command::Eip(mut args) => {
            args.common = common;
            operator::eip::run(&args)
        }
        Command::Drain(mut args) => {
            args.common = common;
            operator::drain::run_drain(&args)
        }
        Command::Undrain(mut args) => {
            args.common = common;
            operator::drain::run_undrain(&args)
        }
        Command::Status(mut args) => {
            args.common = common;
            operator::status::run(&args)
        }
    };
    crate::cli::finish("tcvip", result)
}
