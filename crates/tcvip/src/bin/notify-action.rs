//! `notify-action`: see [`tcvip::notify`].

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let args = tcvip::notify::Args::parse();
    tcvip::cli::finish("notify-action", tcvip::notify::run(&args))
}
