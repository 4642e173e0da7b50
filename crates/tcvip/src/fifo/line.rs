//! One line of keepalived's notify FIFO, parsed: `TYPE "NAME" STATE PRIORITY`.
//!
//! keepalived formats it with `%s "%s" %s %d` and does not escape quotes inside NAME, so the
//! line is taken apart from the right: the priority, then the state, then `TYPE "…"` with the
//! name between the first and the last quote. Every state keepalived writes is accepted, and an
//! unknown one is kept as such (the caller logs and skips it) rather than refused.

use std::fmt;

/// What keepalived named: a VRRP instance or a sync group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Instance,
    Group,
}

/// The STATE word of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FifoState {
    Master,
    Backup,
    Fault,
    Stop,
    Deleted,
    /// A MASTER heard a lower-priority advert (not a transition).
    MasterRxLowerPri,
    /// The effective priority changed while MASTER (not a transition).
    MasterPriority,
    /// The effective priority changed while BACKUP (not a transition).
    BackupPriority,
    /// A word this reader does not know (`{UNKNOWN}` from keepalived, or a newer state).
    Unknown(String),
}

impl FifoState {
    fn from_word(word: &str) -> FifoState {
        match word {
            "MASTER" => FifoState::Master,
            "BACKUP" => FifoState::Backup,
            "FAULT" => FifoState::Fault,
            "STOP" => FifoState::Stop,
            "DELETED" => FifoState::Deleted,
            "MASTER_RX_LOWER_PRI" => FifoState::MasterRxLowerPri,
            "MASTER_PRIORITY" => FifoState::MasterPriority,
            "BACKUP_PRIORITY" => FifoState::BackupPriority,
            other => FifoState::Unknown(other.to_owned()),
        }
    }
}

impl fmt::Display for FifoState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FifoState::Master => "MASTER",
            FifoState::Backup => "BACKUP",
            FifoState::Fault => "FAULT",
            FifoState::Stop => "STOP",
            FifoState::Deleted => "DELETED",
            FifoState::MasterRxLowerPri => "MASTER_RX_LOWER_PRI",
            FifoState::MasterPriority => "MASTER_PRIORITY",
            FifoState::BackupPriority => "BACKUP_PRIORITY",
            FifoState::Unknown(word) => word,
        })
    }
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub kind: Kind,
    pub name: String,
    pub state: FifoState,
    pub priority: u32,
}

/// Why a line was refused (it is logged and skipped).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("expected TYPE \"NAME\" STATE PRIORITY")]
    Shape,
    #[error("unknown type {0:?}: expected INSTANCE or GROUP")]
    Kind(String),
    #[error("the name is not between double quotes")]
    Quotes,
    #[error("the name is empty")]
    EmptyName,
    #[error("priority {0:?} is not a number from 0 to 255")]
    Priority(String),
}

/// Parses one line (without its newline; a trailing `\r` is tolerated).
pub fn parse(line: &str) -> Result<Line, LineError> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let (rest, priority) = line.rsplit_once(' ').ok_or(LineError::Shape)?;
    let (rest, state) = rest.rsplit_once(' ').ok_or(LineError::Shape)?;
    let (kind, quoted) = rest.split_once(' ').ok_or(LineError::Shape)?;
    let kind = match kind {
        "INSTANCE" => Kind::Instance,
        "GROUP" => Kind::Group,
        other => return Err(LineError::Kind(other.to_owned())),
    };
    let name = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .ok_or(LineError::Quotes)?;
    if name.is_empty() {
        return Err(LineError::EmptyName);
    }
    if state.is_empty() {
        return Err(LineError::Shape);
    }
    let priority = match priority.parse::<u32>() {
        Ok(p) if p <= 255 => p,
        _ => return Err(LineError::Priority(priority.to_owned())),
    };
    Ok(Line {
        kind,
        name: name.to_owned(),
        state: FifoState::from_word(state),
        priority,
    })
}

/// Splits a byte stream into lines of at most `max` bytes. Bytes past `max` in one line are
/// dropped, and that line is reported as too long once its newline arrives, so a writer that
/// never sends a newline cannot grow the reader's memory.
#[derive(Debug)]
pub struct Splitter {
    partial: Vec<u8>,
    overlong: bool,
    max: usize,
}

/// A piece of input: a whole line, or one that was too long (skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Line(String),
    TooLong,
}

impl Splitter {
    pub fn new(max: usize) -> Splitter {
        Splitter {
            partial: Vec::new(),
            overlong: false,
            max,
        }
    }

    /// Feeds `bytes`; returns the lines they complete, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Piece> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                if self.overlong {
                    out.push(Piece::TooLong);
                } else {
                    out.push(Piece::Line(
                        String::from_utf8_lossy(&self.partial).into_owned(),
                    ));
                }
                self.partial.clear();
                self.overlong = false;
            } else if self.partial.len() < self.max {
                self.partial.push(b);
            } else {
                self.overlong = true;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(kind: Kind, name: &str, state: FifoState, priority: u32) -> Line {
        Line {
            kind,
            name: name.to_owned(),
            state,
            priority,
        }
    }

    #[test]
    fn every_state_keepalived_writes() {
        for (word, state) in [
            ("MASTER", FifoState::Master),
            ("BACKUP", FifoState::Backup),
            ("FAULT", FifoState::Fault),
            ("STOP", FifoState::Stop),
            ("DELETED", FifoState::Deleted),
            ("MASTER_RX_LOWER_PRI", FifoState::MasterRxLowerPri),
            ("MASTER_PRIORITY", FifoState::MasterPriority),
            ("BACKUP_PRIORITY", FifoState::BackupPriority),
        ] {
            let text = format!("INSTANCE \"VI_1\" {word} 100");
            assert_eq!(
                parse(&text),
                Ok(line(Kind::Instance, "VI_1", state.clone(), 100))
            );
            assert_eq!(state.to_string(), word);
        }
    }

    #[test]
    fn groups_and_priority_zero() {
        assert_eq!(
            parse("GROUP \"G1\" MASTER 0"),
            Ok(line(Kind::Group, "G1", FifoState::Master, 0))
        );
    }

    #[test]
    fn names_with_spaces_and_unescaped_quotes() {
        assert_eq!(
            parse("INSTANCE \"my vip one\" BACKUP 90"),
            Ok(line(Kind::Instance, "my vip one", FifoState::Backup, 90))
        );
        assert_eq!(
            parse("INSTANCE \"a \"b\" c\" MASTER 150"),
            Ok(line(Kind::Instance, "a \"b\" c", FifoState::Master, 150))
        );
        // A name that looks like the rest of a line is still only a name.
        assert_eq!(
            parse("INSTANCE \"x\" MASTER 1\" FAULT 255"),
            Ok(line(Kind::Instance, "x\" MASTER 1", FifoState::Fault, 255))
        );
    }

    #[test]
    fn unknown_states_are_kept_for_the_log() {
        assert_eq!(
            parse("INSTANCE \"VI_1\" {UNKNOWN} 100"),
            Ok(line(
                Kind::Instance,
                "VI_1",
                FifoState::Unknown("{UNKNOWN}".to_owned()),
                100
            ))
        );
    }

    #[test]
    fn a_trailing_carriage_return_is_tolerated() {
        assert_eq!(
            parse("INSTANCE \"VI_1\" MASTER 100\r"),
            Ok(line(Kind::Instance, "VI_1", FifoState::Master, 100))
        );
    }

    #[test]
    fn malformed_lines_are_refused_with_the_reason() {
        assert_eq!(parse(""), Err(LineError::Shape));
        assert_eq!(parse("MASTER"), Err(LineError::Shape));
        assert_eq!(parse("\"VI_1\" MASTER 100"), Err(LineError::Shape));
        assert_eq!(
            parse("VRRP \"VI_1\" MASTER 100"),
            Err(LineError::Kind("VRRP".to_owned()))
        );
        assert_eq!(parse("INSTANCE VI_1 MASTER 100"), Err(LineError::Quotes));
        assert_eq!(parse("INSTANCE \"VI_1 MASTER 100"), Err(LineError::Quotes));
        assert_eq!(parse("INSTANCE \"\" MASTER 100"), Err(LineError::EmptyName));
        assert_eq!(
            parse("INSTANCE \"VI_1\" MASTER 256"),
            Err(LineError::Priority("256".to_owned()))
        );
        assert_eq!(
            parse("INSTANCE \"VI_1\" MASTER -1"),
            Err(LineError::Priority("-1".to_owned()))
        );
        assert_eq!(parse("INSTANCE \"VI_1\"  100"), Err(LineError::Shape));
    }

    #[test]
    fn the_splitter_keeps_order_and_partial_lines() {
        let mut s = Splitter::new(64);
        assert_eq!(s.feed(b"a\nb"), vec![Piece::Line("a".into())]);
        assert_eq!(
            s.feed(b"c\n\nd\n"),
            vec![
                Piece::Line("bc".into()),
                Piece::Line(String::new()),
                Piece::Line("d".into())
            ]
        );
    }

    #[test]
    fn the_splitter_bounds_a_line_without_newline() {
        let mut s = Splitter::new(4);
        assert!(s.feed(&[b'x'; 10_000]).is_empty());
        assert_eq!(s.partial.len(), 4);
        assert_eq!(
            s.feed(b"\nok\n"),
            vec![Piece::TooLong, Piece::Line("ok".into())]
        );
    }
}
