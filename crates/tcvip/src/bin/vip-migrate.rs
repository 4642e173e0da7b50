//! `vip-migrate`: see [`tcvip::migrate`].

fn main() -> std::process::ExitCode {
    let args: tcvip::migrate::Args = tcvip::cli::parse(tcvip::exit::Tool::VipMigrate);
    tcvip::cli::finish("vip-migrate", tcvip::migrate::run(&args))
}
