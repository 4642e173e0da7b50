//! `vip-migrate`: see [`tcvip::migrate`].

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let args = tcvip::migrate::Args::parse();
    tcvip::cli::finish("vip-migrate", tcvip::migrate::run(&args))
}
