//! Notifications that could not be recorded: `unrecorded-<instance>.json`.
//!
//! When the state record cannot be written (its instance lock held past the timeout, say), the
//! notification is not lost silently: notify-action leaves this note, written without the
//! instance lock, so that check-self knows the record is behind keepalived (and fails) and
//! vip-migrate knows a newer notification than the record said otherwise. A note counts only
//! while it is newer than the record; the next record written makes it history.

use serde::{Deserialize, Serialize};

use crate::atomic::{Temp, write_atomic};
use crate::dir::StateDir;
use crate::error::StateError;
use crate::launch::Launch;
use crate::names::instance_stem;
use crate::record::{KeepalivedState, ReadOutcome, read_small};

/// A notification that keepalived sent and that could not be recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unrecorded {
    /// The keepalived instance (or group) name.
    pub instance: String,
    /// The state keepalived announced.
    pub state: KeepalivedState,
    /// When recording it failed (unix ms).
    pub at_ms: u64,
    /// Why it could not be recorded.
    pub error: String,
    /// The notification's launch, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<Launch>,
}

impl Unrecorded {
    /// Whether this note is newer than the record `read` holds (always, when there is none).
    pub fn is_newer_than(&self, read: &ReadOutcome) -> bool {
        let Some(record) = &read.record else {
            return true;
        };
        if let (Some(ours), Some(theirs)) = (&self.launch, &record.launch)
            && let Some(order) = ours.order(theirs)
        {
            return order == std::cmp::Ordering::Greater;
        }
        self.at_ms > record.recorded_at_ms
    }
}

impl StateDir {
    /// Leaves a note that `note.state` could not be recorded for `note.instance`.
    pub fn write_unrecorded(&self, note: &Unrecorded) -> Result<(), StateError> {
        let path = self.join(&format!(
            "unrecorded-{}.json",
            instance_stem(&note.instance)?
        ));
        let mut bytes = serde_json::to_vec(note).map_err(|e| StateError::Serialize {
            path: path.clone(),
            source: e,
        })?;
        bytes.push(b'\n');
        write_atomic(self.path(), &path, &bytes, Temp::Unique)
    }

    /// The note of a notification for `instance` that could not be recorded and is newer than
    /// the record `read` (from [`StateDir::read_state`]), if there is one.
    pub fn unrecorded_since(&self, instance: &str, read: &ReadOutcome) -> Option<Unrecorded> {
        let path = self.join(&format!(
            "unrecorded-{}.json",
            instance_stem(instance).ok()?
        ));
        let bytes = read_small(&path).ok()?;
        let note: Unrecorded = serde_json::from_slice(&bytes).ok()?;
        (note.instance == instance && note.is_newer_than(read)).then_some(note)
    }
}
