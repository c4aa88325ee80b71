//! Tokens in the replicated state: made, bootstrapped once, revoked.
//! Revocation is a log entry, so every replica stops honouring a token
//! at the same index.

use super::{ApplyError, ClusterState, Response, Success};
use crate::acl::{Acl, NewToken};

impl ClusterState {
    pub fn acl(&self) -> &Acl {
        &self.access.acl
    }

    pub(super) fn acl_bootstrap(
        &mut self,
        index: u64,
        now_ms: u64,
        token: NewToken,
        reset_index: Option<u64>,
    ) -> Response {
        let last = self.access.acl.bootstrap_index();
        if last > 0 && reset_index != Some(last) {
            return Err(ApplyError::AclAlreadyBootstrapped { index: last });
        }
        let created = self.create_token(index, now_ms, token)?;
        self.access.acl.bootstrap(index);
        Ok(created)
    }

    pub(super) fn create_token(&mut self, index: u64, now_ms: u64, token: NewToken) -> Response {
        if let Some(problem) = token.problem() {
            return Err(ApplyError::InvalidToken(problem));
        }
        if self.access.acl.token(&token.accessor).is_some() {
            return Err(ApplyError::TokenExists(token.accessor));
        }
        let accessor = token.accessor.clone();
        self.access.acl.insert(token, now_ms, index);
        Ok(Success::TokenCreated { accessor })
    }

    pub(super) fn revoke_token(&mut self, accessor: &str) -> Response {
        self.access
            .acl
            .remove(accessor)
            .map(|token| Success::TokenRevoked {
                accessor: token.accessor,
            })
            .ok_or_else(|| ApplyError::UnknownToken(accessor.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use crate::acl::{Capability, NewToken, Policy};
    use crate::state::{ApplyError, ClusterState, Command, CommandKind};

    fn token(accessor: &str, policy: Policy) -> (NewToken, String) {
        let secret = "3c".repeat(32);
        let new = NewToken::new(accessor.into(), "t".into(), policy, [9; 16], &secret);
        (new, format!("{accessor}.{secret}"))
    }

    fn bootstrap(token: NewToken, reset_index: Option<u64>) -> CommandKind {
        CommandKind::AclBootstrap { token, reset_index }
    }

    #[test]
    fn bootstrap_happens_once_and_survives_a_snapshot() {
        let mut state = ClusterState::new();
        let (first, secret) = token("aaaaaaaaaaaaaaaa", Policy::Management);
        let (second, _) = token("bbbbbbbbbbbbbbbb", Policy::Management);
        state
            .apply(1, Command::new(5, bootstrap(first, None)))
            .expect("first bootstrap");
        assert_eq!(
            state.apply(2, Command::new(6, bootstrap(second.clone(), Some(2)))),
            Err(ApplyError::AclAlreadyBootstrapped { index: 1 })
        );
        state
            .apply(2, Command::new(6, bootstrap(second, Some(1))))
            .expect("a reset naming the last bootstrap");
        assert_eq!(state.acl().bootstrap_index(), 2);
        let restored = ClusterState::restore(&state.snapshot()).expect("restores");
        assert_eq!(restored, state);
        assert!(
            restored
                .acl()
                .check(Some(&secret), Capability::Manage)
                .is_ok()
        );
        assert!(
            !state
                .snapshot()
                .windows(64)
                .any(|w| w == &secret.as_bytes()[17..])
        );
    }

    #[test]
    fn a_revoked_token_stops_at_its_index_and_bootstrap_stays_spent() {
        let mut state = ClusterState::new();
        let (root, root_secret) = token("aaaaaaaaaaaaaaaa", Policy::Management);
        state
            .apply(1, Command::new(5, bootstrap(root, None)))
            .expect("bootstrap");
        let revoke = CommandKind::AclRevokeToken {
            accessor: "aaaaaaaaaaaaaaaa".into(),
        };
        state
            .apply(2, Command::new(6, revoke.clone()))
            .expect("revoked");
        assert!(
            state
                .acl()
                .check(Some(&root_secret), Capability::Read)
                .is_err()
        );
        assert_eq!(
            state.apply(3, Command::new(7, revoke)),
            Err(ApplyError::UnknownToken("aaaaaaaaaaaaaaaa".into()))
        );
        let (again, _) = token("cccccccccccccccc", Policy::Management);
        assert_eq!(
            state.apply(4, Command::new(8, bootstrap(again, None))),
            Err(ApplyError::AclAlreadyBootstrapped { index: 1 })
        );
    }

    #[test]
    fn a_malformed_token_is_refused_by_field() {
        let mut state = ClusterState::new();
        let (mut bad, _) = token("aaaaaaaaaaaaaaaa", Policy::Read);
        bad.name = String::new();
        let refused = state
            .apply(1, Command::new(5, CommandKind::AclCreateToken(bad)))
            .expect_err("empty name");
        assert!(refused.to_string().contains("name:"), "{refused}");
        let (mut bad, _) = token(
            "aaaaaaaaaaaaaaaa",
            Policy::JobWrite {
                pools: vec!["Bad Pool".into()],
            },
        );
        bad.accessor = "AAAA".into();
        let refused = state
            .apply(1, Command::new(5, CommandKind::AclCreateToken(bad)))
            .expect_err("bad accessor");
        assert!(refused.to_string().contains("accessor:"), "{refused}");
        assert_eq!(state.index(), 0);
    }
}
