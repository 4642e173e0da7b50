//! The exit codes of every tcvip binary — one table, used everywhere.
//!
//! | code | [`Exit`]      | meaning                                                         |
//! |-----:|---------------|-----------------------------------------------------------------|
//! |    0 | `Success`     | success; for `vip-query`: the VIP is on this node               |
//! |    1 | `Failure`     | failure; for `vip-query`: the VIP is elsewhere or unassigned    |
//! |    2 | `Usage`       | bad command line                                                |
//! |    3 | `Unknown`     | the answer is unknown (cloud API or metadata unreachable)       |
//! |    4 | `NotMaster`   | aborted because this node is no longer MASTER                   |
//! |   77 | `Auth`        | permission or authentication refused (`EX_NOPERM`)              |
//! |   78 | `Config`      | configuration error (`EX_CONFIG`)                               |
//!
//! `check-self` is a keepalived track script: it maps everything onto 0 or non-zero itself.
//!
//! Every mapping onto these codes lives here: [`api_exit`] (an API or credential error that ends
//! a command), [`combine`] (several VIPs that ended differently: the most serious).
//!
//! A binary's `run()` returns `anyhow::Result<Exit>`; an error picks its code by being wrapped
//! with [`exit`] (or [`ExitResultExt::or_exit`]), anywhere below any number of `.context()`
//! layers, and [`exit_of`] finds it (an unmarked error is [`Exit::Failure`]):
//!
//! ```
//! use tcvip::exit::{Exit, ExitResultExt as _, exit, exit_of};
//! use anyhow::Context as _;
//!
//! fn load() -> anyhow::Result<u32> {
//!     "x".parse::<u32>().or_exit(Exit::Config)
//! }
//! fn run() -> anyhow::Result<Exit> {
//!     let n = load().context("reading /etc/keepalived/tcvip.toml")?;
//!     if n == 0 {
//!         return Err(exit(Exit::Usage, anyhow::anyhow!("n must not be 0")));
//!     }
//!     Ok(Exit::Success)
//! }
//! let code = match run() {
//!     Ok(code) => code,
//!     Err(err) => exit_of(&err),
//! };
//! assert_eq!(code, Exit::Config);
//! let _status: std::process::ExitCode = code.into();
//! ```

use std::fmt;

/// A tcvip exit code. See the module documentation for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Exit {
    /// 0: success; for `vip-query`, the VIP is on this node.
    Success = 0,
    /// 1: failure; for `vip-query`, the VIP is elsewhere or unassigned.
    Failure = 1,
    /// 2: bad command line.
    Usage = 2,
    /// 3: the answer is unknown (cloud API or metadata unreachable).
    Unknown = 3,
    /// 4: aborted because this node is no longer MASTER.
    NotMaster = 4,
    /// 77: permission or authentication refused.
    Auth = 77,
    /// 78: configuration error.
    Config = 78,
}

impl Exit {
    /// Every code, in table order.
    pub const ALL: [Exit; 7] = [
        Exit::Success,
        Exit::Failure,
        Exit::Usage,
        Exit::Unknown,
        Exit::NotMaster,
        Exit::Auth,
        Exit::Config,
    ];

    /// The numeric process exit status.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The code for a numeric exit status, if it is one of ours.
    pub fn from_code(code: i32) -> Option<Exit> {
        Exit::ALL.into_iter().find(|e| i32::from(e.code()) == code)
    }

    /// A short snake_case name, e.g. `not_master` (for logs: `exit=not_master`).
    pub fn name(self) -> &'static str {
        match self {
            Exit::Success => "success",
            Exit::Failure => "failure",
            Exit::Usage => "usage",
            Exit::Unknown => "unknown",
            Exit::NotMaster => "not_master",
            Exit::Auth => "auth",
            Exit::Config => "config",
        }
    }

    /// What the code means, for every binary: the README's exit-code table holds exactly these
    /// lines (a test compares them, backticks aside).
    pub fn description(self) -> &'static str {
        match self {
            Exit::Success => "success; vip-query: the VIP is on this node",
            Exit::Failure => "failure; vip-query: the VIP is elsewhere or unassigned",
            Exit::Usage => "bad command line",
            Exit::Unknown => {
                "unknown: the cloud API or the metadata service is unreachable (vip-migrate: \
                 still unreachable at its deadline, or credentials whose source cannot be reached)"
            }
            Exit::NotMaster => "aborted because this node is no longer MASTER",
            Exit::Auth => {
                "permission or authentication refused: CAM refuses the call, the key is wrong or \
                 unknown, no credentials at all (every source answered \"none\"), or this node's \
                 clock is more than 5 minutes off (the API refuses the signature's time); \
                 vip-migrate --dry-run when CAM refuses a write it would make; for a HAVIP, \
                 sending its gratuitous ARP refused locally (a raw socket needs root or \
                 CAP_NET_RAW)"
            }
            Exit::Config => {
                "configuration error: tcvip.toml (missing, not a regular file, a bad key or \
                 value), a credentials file others may read, or a state.dir that cannot be used"
            }
        }
    }

    /// The whole table as text (every code, for every binary). A binary's `--help` shows
    /// its own codes instead: [`Tool::help`].
    pub fn help_table() -> String {
        let mut out = String::from("Exit codes:\n");
        for e in Exit::ALL {
            out.push_str(&format!("  {:>3}  {}\n", e.code(), e.description()));
        }
        out
    }
}

/// A command whose `--help` lists the exit codes it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `notify-action`
    NotifyAction,
    /// `vip-migrate`
    VipMigrate,
    /// `vip-query`
    VipQuery,
    /// `check-self`
    CheckSelf,
    /// `tcvip cam-policy`
    CamPolicy,
}

impl Tool {
    /// Every tool with this table (`tcvip doctor` has its own codes).
    pub const ALL: [Tool; 5] = [
        Tool::NotifyAction,
        Tool::VipMigrate,
        Tool::VipQuery,
        Tool::CheckSelf,
        Tool::CamPolicy,
    ];

    /// The command as typed.
    pub fn name(self) -> &'static str {
        match self {
            Tool::NotifyAction => "notify-action",
            Tool::VipMigrate => "vip-migrate",
            Tool::VipQuery => "vip-query",
            Tool::CheckSelf => "check-self",
            Tool::CamPolicy => "tcvip cam-policy",
        }
    }

    /// The codes this tool returns, each with what it means here.
    pub fn codes(self) -> &'static [(Exit, &'static str)] {
        use Exit::*;
        match self {
            Tool::NotifyAction => &[
                (
                    Success,
                    "the state was recorded (or, when it could not be, logged) and on MASTER vip-migrate started",
                ),
                (Failure, "failure"),
                (Usage, "bad command line or notification words"),
                (Config, "configuration error (tcvip.toml or state.dir)"),
            ],
            Tool::VipMigrate => &[
                (
                    Success,
                    "every VIP is on this node's ENI (moved, or already there); a run already in flight was joined",
                ),
                (Failure, "failure: a move failed or was refused"),
                (Usage, "bad command line"),
                (
                    Unknown,
                    "unknown: the API or the metadata service still unreachable at the deadline, or a credential source that cannot be reached",
                ),
                (NotMaster, "aborted because this node is no longer MASTER"),
                (
                    Auth,
                    "permission or authentication refused (CAM, the key, no credentials, a clock more than 5 minutes off; --dry-run: a write CAM would refuse)",
                ),
                (
                    Config,
                    "configuration error (tcvip.toml, credentials file or state.dir)",
                ),
            ],
            Tool::VipQuery => &[
                (Success, "true: the VIP is on this node"),
                (Failure, "false: the VIP is elsewhere or unassigned"),
                (Usage, "bad command line"),
                (
                    Unknown,
                    "unknown: the cloud API or the metadata service is unreachable",
                ),
                (
                    Auth,
                    "permission or authentication refused (also: no credentials)",
                ),
                (
                    Config,
                    "configuration error (tcvip.toml, credentials file or state.dir)",
                ),
            ],
            Tool::CheckSelf => &[
                (
                    Success,
                    "fit to be MASTER: keepalived keeps this node's priority",
                ),
                (
                    Failure,
                    "not fit: a service check failed, the node is drained, the state directory cannot be written or its record is behind keepalived, a VIP is an ENI's primary IP, or check.on_cloud_error = \"fail\" and the cloud cannot be asked",
                ),
                (Usage, "bad command line"),
                (
                    Config,
                    "configuration error: tcvip.toml is broken (the node goes to FAULT)",
                ),
            ],
            Tool::CamPolicy => &[
                (Success, "the policy was printed"),
                (Failure, "failure"),
                (Usage, "bad command line (an --eni that is not an ENI id)"),
                (Config, "configuration error (tcvip.toml)"),
            ],
        }
    }

    /// Its codes as text for a `--help` footer (clap's `after_help`).
    pub fn help(self) -> String {
        let mut out = String::from("Exit codes:\n");
        for (e, meaning) in self.codes() {
            out.push_str(&format!("  {:>3}  {meaning}\n", e.code()));
        }
        out
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.name())
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

/// An error that says which exit code it should end the process with.
///
/// Its `Display` is the wrapped error's message and its `source()` the wrapped error's cause,
/// so `{:#}` prints the same chain as without the wrapper.
#[derive(Debug)]
pub struct ExitError {
    exit: Exit,
    source: anyhow::Error,
}

impl ExitError {
    /// Marks `err` to end the process with `exit`.
    pub fn new(exit: Exit, err: impl Into<anyhow::Error>) -> ExitError {
        ExitError {
            exit,
            source: err.into(),
        }
    }

    /// The exit code.
    pub fn exit(&self) -> Exit {
        self.exit
    }

    /// The wrapped error.
    pub fn error(&self) -> &anyhow::Error {
        &self.source
    }
}

impl fmt::Display for ExitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

impl std::error::Error for ExitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.source()
    }
}

/// `err`, marked to end the process with `code`: `return Err(exit(Exit::Config, err))`.
pub fn exit(code: Exit, err: impl Into<anyhow::Error>) -> anyhow::Error {
    anyhow::Error::new(ExitError::new(code, err))
}

/// The exit code an error asks for: the outermost [`ExitError`] in its chain (looking through
/// `.context()` layers), else [`Exit::Failure`].
pub fn exit_of(err: &anyhow::Error) -> Exit {
    if let Some(e) = err.downcast_ref::<ExitError>() {
        return e.exit;
    }
    err.chain()
        .find_map(|e| e.downcast_ref::<ExitError>())
        .map_or(Exit::Failure, ExitError::exit)
}

/// The exit code for an API error that ends a command: credentials refused for their file's
/// permissions are a configuration error, credentials whose source cannot be reached are
/// unknown, an authentication or CAM refusal is [`Exit::Auth`], an unreachable API is unknown,
/// and anything else a failure.
pub fn api_exit(err: &tencent_api::Error) -> Exit {
    use tencent_api::Error as E;
    if let E::Credentials(c) = err {
        if c.is_config() {
            return Exit::Config;
        }
        if c.is_transient() {
            return Exit::Unknown;
        }
    }
    if err.is_auth() || err.code() == Some("UnauthorizedOperation") {
        return Exit::Auth;
    }
    match err {
        E::Timeout { .. }
        | E::DeadlineReached { .. }
        | E::Connect { .. }
        | E::Transport { .. }
        | E::Http { .. } => Exit::Unknown,
        _ => Exit::Failure,
    }
}

/// An API error that ends a command, marked with its code ([`api_exit`]).
pub fn api_error(err: tencent_api::Error) -> anyhow::Error {
    exit(api_exit(&err), err)
}

/// The exit code for several outcomes (one per VIP): the most serious one, in the order
/// success < unknown < failure < not MASTER < usage < auth < config; none is success.
pub fn combine(exits: impl IntoIterator<Item = Exit>) -> Exit {
    let rank = |e: Exit| match e {
        Exit::Success => 0,
        Exit::Unknown => 1,
        Exit::Failure => 2,
        Exit::NotMaster => 3,
        Exit::Usage => 4,
        Exit::Auth => 5,
        Exit::Config => 6,
    };
    exits
        .into_iter()
        .max_by_key(|e| rank(*e))
        .unwrap_or(Exit::Success)
}

/// `.or_exit(code)` on any result whose error converts into `anyhow::Error`.
pub trait ExitResultExt<T> {
    /// Marks the error, if any, to end the process with `code`.
    fn or_exit(self, code: Exit) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> ExitResultExt<T> for Result<T, E> {
    fn or_exit(self, code: Exit) -> anyhow::Result<T> {
        self.map_err(|e| exit(code, e))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use anyhow::{Context as _, anyhow};

    use super::*;

    #[test]
    fn codes_match_the_documented_table() {
        let table: Vec<(u8, &str)> = Exit::ALL.iter().map(|e| (e.code(), e.name())).collect();
        assert_eq!(
            table,
            [
                (0, "success"),
                (1, "failure"),
                (2, "usage"),
                (3, "unknown"),
                (4, "not_master"),
                (77, "auth"),
                (78, "config")
            ]
        );
        for e in Exit::ALL {
            assert_eq!(Exit::from_code(i32::from(e.code())), Some(e));
            assert!(Exit::help_table().contains(e.description()));
        }
        assert_eq!(Exit::from_code(5), None);
        assert_eq!(Exit::from_code(-1), None);
    }

    #[test]
    fn every_tool_lists_its_codes_in_table_order_with_success_and_usage() {
        for tool in Tool::ALL {
            let codes: Vec<Exit> = tool.codes().iter().map(|(e, _)| *e).collect();
            let in_order: Vec<Exit> = Exit::ALL
                .into_iter()
                .filter(|e| codes.contains(e))
                .collect();
            assert_eq!(codes, in_order, "{}", tool.name());
            // clap ends every one of them with 2 on a bad command line.
            assert!(codes.contains(&Exit::Success) && codes.contains(&Exit::Usage));
            assert!(tool.help().starts_with("Exit codes:\n"));
        }
    }

    #[test]
    fn the_code_survives_context_layers() {
        let err = Err::<(), _>(std::io::Error::other("denied"))
            .or_exit(Exit::Auth)
            .context("calling DescribeNetworkInterfaces")
            .context("finding the holder of 10.0.1.100")
            .unwrap_err();
        assert_eq!(exit_of(&err), Exit::Auth);
        assert_eq!(
            format!("{err:#}"),
            "finding the holder of 10.0.1.100: calling DescribeNetworkInterfaces: denied"
        );
    }

    #[test]
    fn the_outermost_mark_wins_and_unmarked_is_failure() {
        let inner = exit(Exit::Unknown, anyhow!("timeout"));
        let outer = exit(Exit::Config, inner.context("reading config"));
        assert_eq!(exit_of(&outer), Exit::Config);
        assert_eq!(exit_of(&anyhow!("plain")), Exit::Failure);
    }

    #[test]
    fn the_wrapper_does_not_change_the_message_chain() {
        let plain = anyhow!("root cause").context("outer");
        let marked = exit(Exit::Unknown, anyhow!("root cause").context("outer"));
        assert_eq!(format!("{marked:#}"), format!("{plain:#}"));
        assert_eq!(format!("{marked}"), "outer");
    }

    fn api(code: &str) -> tencent_api::Error {
        tencent_api::Error::Api(tencent_api::ApiError {
            code: code.into(),
            message: "m".into(),
            request_id: "r".into(),
            action: "MigratePrivateIpAddress".into(),
        })
    }

    #[test]
    fn api_errors_map_to_their_class_of_code() {
        assert_eq!(api_exit(&api("AuthFailure.SignatureFailure")), Exit::Auth);
        assert_eq!(api_exit(&api("UnauthorizedOperation")), Exit::Auth);
        assert_eq!(api_exit(&api("InvalidParameterValue")), Exit::Failure);
        let timeout = tencent_api::Error::Timeout {
            action: "DescribeNetworkInterfaces".into(),
            after: std::time::Duration::from_secs(3),
        };
        assert_eq!(api_exit(&timeout), Exit::Unknown);
        let marked = api_error(api("AuthFailure")).context("moving 10.0.1.100");
        assert_eq!(exit_of(&marked), Exit::Auth);
    }

    #[test]
    fn several_outcomes_end_with_the_most_serious() {
        use Exit::*;
        assert_eq!(combine([]), Success);
        assert_eq!(combine([Success, Unknown]), Unknown);
        assert_eq!(combine([Unknown, Failure, Success]), Failure);
        assert_eq!(combine([NotMaster, Failure]), NotMaster);
        assert_eq!(combine([Auth, NotMaster, Usage]), Auth);
        assert_eq!(combine([Config, Auth]), Config);
    }
}
