//! `vip-query`: see [`tcvip::query`].

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let args = tcvip::query::Args::parse();
    tcvip::cli::finish("vip-query", tcvip::query::run(&args))
}
