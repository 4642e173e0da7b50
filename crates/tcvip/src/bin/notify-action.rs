//! `notify-action`: see [`tcvip::notify`].

fn main() -> std::process::ExitCode {
    let args: tcvip::notify::Args = tcvip::cli::parse(tcvip::exit::Tool::NotifyAction);
    tcvip::cli::finish("notify-action", tcvip::notify::run(&args))
}
