//! What every binary shares on its command line, and the one place where a result becomes an
//! exit code.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::Overrides;
use crate::exit::{Exit, Tool, exit_of};
use crate::log::{Level, LogSettings, LogTarget};

/// Options every binary takes. Each overrides the matching configuration key.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
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

    /// The arguments that hand these options on to another tcvip binary (notify-action and
    /// check-self starting vip-migrate), with `config` as its configuration file: the file this
    /// run actually read, so the child reads the same one whatever its environment. Each value
    /// goes as `--flag=VALUE`, so a value that starts with `-` stays a value. The destructuring
    /// names every field: a new option that is not forwarded does not compile.
    pub fn forwarded(&self, config: &Path) -> Vec<OsString> {
        let Common {
            config: _,
            state_dir,
            log,
            log_level,
            region,
            endpoint,
        } = self;
        let mut argv = vec![flag_value("--config", config.as_os_str())];
        let passed = [
            ("--state-dir", state_dir.as_ref().map(|p| p.as_os_str())),
            ("--log", log.as_deref().map(OsStr::new)),
            ("--log-level", log_level.as_deref().map(OsStr::new)),
            ("--region", region.as_deref().map(OsStr::new)),
            ("--endpoint", endpoint.as_deref().map(OsStr::new)),
        ];
        for (flag, value) in passed {
            if let Some(value) = value {
                argv.push(flag_value(flag, value));
            }
        }
        argv
    }
}

/// `--flag=VALUE` as one argument.
fn flag_value(flag: &str, value: &OsStr) -> OsString {
    let mut arg = OsString::from(flag);
    arg.push("=");
    arg.push(value);
    arg
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

/// `A`'s command line with `tool`'s exit codes as its `--help` footer: what the binary parses
/// and what its man page shows.
pub fn command<A: clap::CommandFactory>(tool: Tool) -> clap::Command {
    A::command().after_help(tool.help())
}

/// Parses this process's arguments as [`command`] defines them (on a bad command line: the
/// message and exit 2, as clap does).
pub fn parse<A: clap::Parser>(tool: Tool) -> A {
    let matches = command::<A>(tool).get_matches();
    A::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use clap::Parser as _;

    use super::*;

    /// Every option set, each to a value that is easy to mangle (a leading `-`, a space, `=`).
    fn every_option() -> Common {
        // A struct literal without `..`: a new option must be added here too.
        Common {
            config: Some(PathBuf::from("/etc/keepalived/tc vip.toml")),
            state_dir: Some(PathBuf::from("/run/tcvip=test")),
            log: Some("file:/tmp/-tcvip.log".into()),
            log_level: Some("-debug".into()),
            region: Some("ap-guangzhou".into()),
            endpoint: Some("http://127.0.0.1:4567/?a=b".into()),
        }
    }

    fn migrate_args(argv: Vec<OsString>) -> crate::migrate::Args {
        crate::migrate::Args::try_parse_from(
            std::iter::once(OsString::from("vip-migrate")).chain(argv),
        )
        .unwrap()
    }

    #[test]
    fn every_common_option_reaches_vip_migrate_unchanged() {
        let all = every_option();
        let config = all.config.clone().unwrap();
        assert_eq!(migrate_args(all.forwarded(&config)).common, all);
    }

    #[test]
    fn options_not_given_are_not_forwarded_and_the_config_read_is() {
        let argv = Common::default().forwarded(Path::new("/etc/keepalived/tcvip.toml"));
        assert_eq!(
            argv,
            [OsString::from("--config=/etc/keepalived/tcvip.toml")]
        );
        // The file this run read wins over the --config it was given (it may have come from
        // $TCVIP_CONFIG, which the child's environment need not have).
        let given = Common {
            config: Some(PathBuf::from("relative.toml")),
            ..Common::default()
        };
        let back = migrate_args(given.forwarded(Path::new("/abs/relative.toml"))).common;
        assert_eq!(back.config, Some(PathBuf::from("/abs/relative.toml")));
    }

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
