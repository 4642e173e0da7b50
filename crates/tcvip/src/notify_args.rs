//! The arguments keepalived passes to a notify script, in both of the forms it uses.
//!
//! - `notify_master "notify-action MASTER"` (one state word; the instance comes from the config
//!   or `--instance`), and `notify_master_rx_lower_pri "notify-action MASTER_RX_LOWER_PRI"`;
//! - the generic `notify "notify-action"`, to which keepalived appends
//!   `INSTANCE|GROUP <name> <state> <priority>`.

use std::fmt;
use std::str::FromStr;

/// A state word keepalived sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyState {
    Master,
    Backup,
    Fault,
    Stop,
    /// The instance was removed on reload; handled like STOP.
    Deleted,
    /// Already MASTER and a lower-priority advert arrived: another node thinks it is master.
    MasterRxLowerPri,
}

impl FromStr for NotifyState {
    type Err = ();
    fn from_str(word: &str) -> Result<Self, ()> {
        Ok(match word {
            "MASTER" => Self::Master,
            "BACKUP" => Self::Backup,
            "FAULT" => Self::Fault,
            "STOP" => Self::Stop,
            "DELETED" => Self::Deleted,
            "MASTER_RX_LOWER_PRI" => Self::MasterRxLowerPri,
            _ => return Err(()),
        })
    }
}

impl fmt::Display for NotifyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Master => "MASTER",
            Self::Backup => "BACKUP",
            Self::Fault => "FAULT",
            Self::Stop => "STOP",
            Self::Deleted => "DELETED",
            Self::MasterRxLowerPri => "MASTER_RX_LOWER_PRI",
        })
    }
}

/// Whether keepalived named a VRRP instance or a sync group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Instance,
    Group,
}

/// One parsed notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub kind: Kind,
    /// The instance or group name; `None` in the one-word form (taken from config).
    pub name: Option<String>,
    pub state: NotifyState,
    pub priority: Option<u32>,
}

/// Why the arguments were refused; the message is shown with the usage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    #[error(
        "unknown state {0:?}: expected MASTER, BACKUP, FAULT, STOP, DELETED or MASTER_RX_LOWER_PRI"
    )]
    State(String),
    #[error("unknown type {0:?}: expected INSTANCE or GROUP")]
    Kind(String),
    #[error("priority {0:?} is not a number from 0 to 255")]
    Priority(String),
    #[error("expected 1 argument (STATE) or 4 (INSTANCE|GROUP NAME STATE PRIORITY), got {0}")]
    Count(usize),
}

/// Parses the positional arguments (after options).
pub fn parse(args: &[String]) -> Result<Notification, ArgsError> {
    match args {
        [state] => Ok(Notification {
            kind: Kind::Instance,
            name: None,
            state: parse_state(state)?,
            priority: None,
        }),
        [kind, name, state, priority] => {
            let kind = match kind.as_str() {
                "INSTANCE" => Kind::Instance,
                "GROUP" => Kind::Group,
                _ => return Err(ArgsError::Kind(kind.clone())),
            };
            let state = parse_state(state)?;
            let priority = priority
                .parse::<u32>()
                .ok()
                .filter(|p| *p <= 255)
                .ok_or_else(|| ArgsError::Priority(priority.clone()))?;
            Ok(Notification {
                kind,
                name: Some(name.clone()),
                state,
                priority: Some(priority),
            })
        }
        other => Err(ArgsError::Count(other.len())),
    }
}

fn parse_state(word: &str) -> Result<NotifyState, ArgsError> {
    word.parse().map_err(|()| ArgsError::State(word.to_owned()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn both_keepalived_forms() {
        let one = parse(&args(&["MASTER"])).unwrap();
        assert_eq!(
            (one.name, one.state, one.priority),
            (None, NotifyState::Master, None)
        );
        let generic = parse(&args(&["INSTANCE", "VI_1", "BACKUP", "100"])).unwrap();
        assert_eq!(generic.kind, Kind::Instance);
        assert_eq!(generic.name.as_deref(), Some("VI_1"));
        assert_eq!(generic.state, NotifyState::Backup);
        assert_eq!(generic.priority, Some(100));
        let group = parse(&args(&["GROUP", "G1", "FAULT", "0"])).unwrap();
        assert_eq!(group.kind, Kind::Group);
        assert_eq!(
            parse(&args(&["MASTER_RX_LOWER_PRI"])).unwrap().state,
            NotifyState::MasterRxLowerPri
        );
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert_eq!(
            parse(&args(&["master"])),
            Err(ArgsError::State("master".into()))
        );
        assert_eq!(parse(&args(&[])), Err(ArgsError::Count(0)));
        assert_eq!(parse(&args(&["MASTER", "VI_1"])), Err(ArgsError::Count(2)));
        assert_eq!(
            parse(&args(&["VRRP", "VI_1", "MASTER", "100"])),
            Err(ArgsError::Kind("VRRP".into()))
        );
        assert_eq!(
            parse(&args(&["INSTANCE", "VI_1", "MASTER", "300"])),
            Err(ArgsError::Priority("300".into()))
        );
    }
}
