//! `check-self`: see [`tcvip::check`].

fn main() -> std::process::ExitCode {
    let args: tcvip::check::Args = tcvip::cli::parse(tcvip::exit::Tool::CheckSelf);
    tcvip::cli::finish("check-self", tcvip::check::run(&args))
}
