//! `tcvip-docs list` prints the packaged binaries, one a line; `tcvip-docs generate DIR` writes
//! their man pages and completions under DIR (see [`tcvip_docs::write_all`]).

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["list"] => {
            for b in tcvip_docs::BINARIES {
                println!("{}", b.name);
            }
            ExitCode::SUCCESS
        }
        ["generate", dir] => match tcvip_docs::write_all(Path::new(dir)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tcvip-docs: writing under {dir}: {e}");
                ExitCode::from(1)
            }
        },
        _ => {
            eprintln!("usage: tcvip-docs list | tcvip-docs generate DIR");
            ExitCode::from(2)
        }
    }
}
