//! `check-self`: see [`tcvip::check`].

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let args = tcvip::check::Args::parse();
    tcvip::cli::finish("check-self", tcvip::check::run(&args))
}
