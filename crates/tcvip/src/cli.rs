//! What every binary shares on its command line, and the one place where a result becomes an
//! exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Overrides;
use crate::exit::{Exit, exit_of};

/// Options every binary takes. Each overrides the matching configuration key.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Common {
    /// Configuration file [default: $TCVIP_CONFIG, else /etc/keepalived/tcvip.toml]
    #[arg(long, short = 'c', value_name = "PATH", global = true)]
    pub config: Option<PathBuf>,
    /// State directory (state.dir)
    #[arg(long, value_name = "DIR", global = true)]
    pub state_dir: Option<PathBuf>,
    /// Log target: syslog, stderr or file:/PATH (log.target)
    #[arg(long, value_name = "TARGET", global = true)]
    pub log: Option<String>,
    /// Log level: error, warn, info or debug (log.level)
    #[arg(long, value_name = "LEVEL", global = true)]
    pub log_level: Option<String>,
    /// API region (cloud.region)
    #[arg(long, value_name = "REGION", global = true)]
    pub region: Option<String>,
    /// API endpoint, a host or a URL (cloud.endpoint)
    #[arg(long, value_name = "URL", global = true)]
    pub endpoint: Option<String>,
}

impl Common {
    /// The configuration overrides these options stand for.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            region: self.region.clone(),
            endpoint: self.endpoint.clone(),
            state_dir: self.state_dir.clone(),
            log_target: self.log.clone(),
            log_level: self.log_level.clone(),
            ..Overrides::default()
        }
    }
}

/// Runs a binary's `run` and turns its result into the process exit code: the error chain goes
/// to the log and to stderr.
pub fn finish(binary: &str, result: anyhow::Result<Exit>) -> ExitCode {
    match result {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(err) => {
            let exit = exit_of(&err);
            let message = format!("{err:#}");
            crate::error!("failed", exit = exit.code(), error = message);
            if !crate::log::writes_stderr() {
                eprintln!("{binary}: {message}");
            }
            ExitCode::from(exit.code())
        }
    }
}

/// The exit-code table, for `--help`.
pub fn exit_codes_help() -> String {
    Exit::help_table()
}
