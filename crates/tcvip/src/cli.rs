//! What every binary shares on its command line, and the one place where a result becomes an
//! exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Overrides;
use crate::exit::{Exit, exit_of};
use crate::log::{Level, LogSettings, LogTarget};

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
    /// The configuration overrides these options stand for. Every field is named (no
    /// `..Default::default()`), so an override without a flag does not compile.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            region: self.region.clone(),
            endpoint: self.endpoint.clone(),
            state_dir: self.state_dir.clone(),
            log_target: self.log.clone(),
            log_level: self.log_level.clone(),
        }
    }
}

/// Runs a binary's `run` and turns its result into the process exit code: the error chain goes
/// to the log and to stderr. An error that came before the log was set up (tcvip.toml does not
/// parse, so `log.target` is unknown) goes to syslog under the binary's name: under keepalived
/// stderr is /dev/null.
pub fn finish(binary: &'static str, result: anyhow::Result<Exit>) -> ExitCode {
    match result {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(err) => {
            if !crate::log::is_initialized() {
                crate::log::init(LogSettings::new(binary, LogTarget::Syslog, Level::Info));
            }
            let exit = exit_of(&err);
            let message = error_text(&err);
            crate::error!("failed", exit = exit.code(), error = message);
            if !crate::log::writes_stderr() {
                eprintln!("{binary}: {message}");
            }
            ExitCode::from(exit.code())
        }
    }
}

/// An error and its causes on one line, as `{:#}` prints them, except that a cause whose text
/// the line already holds is left out: an error that prints its source in its own message would
/// otherwise show the same words two or three times.
pub fn error_text(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// The exit-code table, for `--help`.
pub fn exit_codes_help() -> String {
    Exit::help_table()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("no credentials file")]
    struct Inner;

    #[derive(Debug, thiserror::Error)]
    #[error("no usable credentials: {0}")]
    struct Middle(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("cannot find the ENI: {source}; set node.eni_id")]
    struct Outer {
        source: Middle,
    }

    #[test]
    fn causes_already_in_the_message_are_not_repeated() {
        let err = anyhow::Error::new(Outer {
            source: Middle(Inner),
        })
        .context("vip-query");
        assert_eq!(
            error_text(&err),
            "vip-query: cannot find the ENI: no usable credentials: no credentials file; set node.eni_id"
        );
        let plain = anyhow::anyhow!("refused").context("calling DescribeNetworkInterfaces");
        assert_eq!(
            error_text(&plain),
            "calling DescribeNetworkInterfaces: refused"
        );
    }
}
