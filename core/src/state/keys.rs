//! Idempotency keys: a client names a write with a key of its own making,
//! and a retry with the same key (after a timeout, through another node)
//! gets what the first write yielded instead of applying again. Keys are
//! kept until garbage collection forgets them (`GcPolicy::key_retention_ms`).

use serde::{Deserialize, Serialize};

use super::{ApplyError, ClusterState, CommandKind, Response, Success};

/// Keys are at most this long, so that a record stays small.
pub const MAX_KEY_LEN: usize = 128;

/// What the first write with a key yielded, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyedWrite {
    pub at_ms: u64,
    pub success: Success,
}

impl ClusterState {
    pub(super) fn apply_keyed(
        &mut self,
        index: u64,
        now_ms: u64,
        key: String,
        command: CommandKind,
    ) -> Response {
        check_key(&key)?;
        if !matches!(
            command,
            CommandKind::SubmitJob(_) | CommandKind::UpdateJob { .. } | CommandKind::StopJob { .. }
        ) {
            return Err(ApplyError::NotKeyable(command.name().to_string()));
        }
        if let Some(first) = self.records.keys.get(&key) {
            return Ok(first.success.clone());
        }
        let success = self.apply_one(index, now_ms, command)?;
        self.records.keys.insert(
            key,
            KeyedWrite {
                at_ms: now_ms,
                success: success.clone(),
            },
        );
        Ok(success)
    }

    /// What the first write with `key` yielded, if it is still recorded.
    pub fn keyed_write(&self, key: &str) -> Option<&KeyedWrite> {
        self.records.keys.get(key)
    }

    /// Every recorded key, in key order.
    pub(crate) fn keyed_writes(&self) -> impl Iterator<Item = (&String, &KeyedWrite)> {
        self.records.keys.iter()
    }
}

fn check_key(key: &str) -> Result<(), ApplyError> {
    let reason = if key.is_empty() {
        "is empty"
    } else if key.len() > MAX_KEY_LEN {
        "is longer than 128 bytes"
    } else if key.chars().any(char::is_control) {
        "holds control characters"
    } else {
        return Ok(());
    };
    Err(ApplyError::InvalidKey(reason.to_string()))
}
