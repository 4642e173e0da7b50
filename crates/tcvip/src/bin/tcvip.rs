//! `tcvip`: the operator's command; see [`tcvip::operator::cli`].

fn main() -> std::process::ExitCode {
    tcvip::operator::cli::main()
}
