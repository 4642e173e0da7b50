//! `vip-query`: see [`tcvip::query`].

fn main() -> std::process::ExitCode {
    let args: tcvip::query::Args = tcvip::cli::parse(tcvip::exit::Tool::VipQuery);
    tcvip::cli::finish("vip-query", tcvip::query::run(&args))
}
