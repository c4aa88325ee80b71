//! Whether this worker is in touch with the control plane — judged only by
//! commands of its own that a quorum committed. A poll answer is not
//! contact: a replica answers from its own copy whether or not it can
//! reach a leader, so a node cut off with a minority would otherwise count
//! its own replica's answers as contact and keep its tasks forever, while
//! the majority places replacements (nomad #10953, #18077).

/// Times are milliseconds on the worker's steady clock (one that never goes back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    max_disconnect_ms: u64,
    /// When the newest command of this node that a quorum committed was
    /// sent (or when the worker started, which counts as contact).
    last_ms: u64,
    disconnected: bool,
    /// Whether a command sent since the worker started has committed.
    /// Until one has, nothing starts: a node that boots cut off from the
    /// quorum (a machine restarted inside a partition) has a replica the
    /// majority may have moved past long ago.
    heard: bool,
}

/// What a change of contact means for the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactChange {
    /// No quorum committed anything of this node's for `max_disconnect`:
    /// stop every task.
    Lost {
        silent_ms: u64,
    },
    Regained,
}

impl Contact {
    pub fn new(started_ms: u64, max_disconnect_ms: u64) -> Self {
        Self {
            max_disconnect_ms,
            last_ms: started_ms,
            disconnected: false,
            heard: false,
        }
    }

    /// Whether tasks may start at `now_ms`: a quorum has heard this
    /// worker since it started, and not longer ago than `max_disconnect`.
    pub fn may_start(&self, now_ms: u64) -> bool {
        self.heard && !self.disconnected && now_ms < self.deadline_ms()
    }

    /// A command this node sent at `sent_ms` was committed by a quorum.
    /// Contact counts as regained at the next tick, if the commit is
    /// recent enough: a late answer to an old command is no contact now.
    pub fn committed(&mut self, sent_ms: u64) {
        self.last_ms = self.last_ms.max(sent_ms);
        self.heard = true;
    }

    /// The clock reads `now_ms`.
    pub fn tick(&mut self, now_ms: u64) -> Option<ContactChange> {
        let in_contact = now_ms < self.deadline_ms();
        match (self.disconnected, in_contact) {
            (false, false) => {
                self.disconnected = true;
                Some(ContactChange::Lost {
                    silent_ms: now_ms - self.last_ms,
                })
            }
            (true, true) => {
                self.disconnected = false;
                Some(ContactChange::Regained)
            }
            _ => None,
        }
    }

    pub fn is_lost(&self) -> bool {
        self.disconnected
    }

    /// When contact will count as lost if nothing commits before.
    pub fn deadline_ms(&self) -> u64 {
        self.last_ms.saturating_add(self.max_disconnect_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_after_max_disconnect_without_a_commit_and_regained_by_one() {
        let mut contact = Contact::new(0, 10_000);
        assert_eq!(contact.tick(9_999), None);
        contact.committed(5_000);
        assert_eq!(contact.tick(14_999), None);
        assert_eq!(
            contact.tick(15_000),
            Some(ContactChange::Lost { silent_ms: 10_000 })
        );
        assert_eq!(contact.tick(99_000), None, "lost once");
        contact.committed(20_000);
        assert_eq!(contact.tick(21_000), Some(ContactChange::Regained));
        assert_eq!(contact.deadline_ms(), 30_000);
    }

    /// Found by the simulator: hearing of the same old commit again made
    /// a cut-off worker "reconnect" and lose contact once a second.
    #[test]
    fn an_old_commit_heard_again_does_not_regain_contact() {
        let mut contact = Contact::new(0, 10_000);
        contact.committed(2_000);
        assert!(contact.tick(12_000).is_some());
        contact.committed(2_000);
        assert_eq!(contact.tick(13_000), None);
        assert!(contact.is_lost());
    }

    #[test]
    fn an_old_commit_arriving_late_does_not_move_contact_back() {
        let mut contact = Contact::new(0, 10_000);
        contact.committed(8_000);
        contact.committed(3_000);
        assert_eq!(contact.deadline_ms(), 18_000);
    }
}
