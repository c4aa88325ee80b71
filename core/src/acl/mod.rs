//! Access control: tokens and their policies (`policy`), how secrets are
//! presented and kept (`secret`), and the replicated table every node
//! checks calls against.

mod policy;
mod secret;

use std::fmt;

use imbl::OrdMap;
use serde::{Deserialize, Serialize};

pub use policy::{Capability, Policy};
pub use secret::{ACCESSOR_LEN, Presented, SECRET_LEN};

/// A token's name is at most this long.
pub const MAX_NAME_LEN: usize = 64;

/// A token as the log carries it: what the proposing node drew and
/// hashed. The secret itself never enters the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewToken {
    pub accessor: String,
    pub name: String,
    pub policy: Policy,
    pub salt: [u8; 16],
    pub hash: [u8; 32],
}

impl NewToken {
    /// The record of `secret` under `accessor`, hashed with `salt`.
    pub fn new(
        accessor: String,
        name: String,
        policy: Policy,
        salt: [u8; 16],
        secret: &str,
    ) -> Self {
        let hash = secret::hash(&salt, secret);
        Self {
            accessor,
            name,
            policy,
            salt,
            hash,
        }
    }

    /// What makes a token unfit to keep, named by field.
    pub fn problem(&self) -> Option<String> {
        if !secret::is_hex(&self.accessor, ACCESSOR_LEN) {
            return Some(format!(
                "accessor: {:?} is not {ACCESSOR_LEN} lowercase hex characters",
                self.accessor
            ));
        }
        if self.name.is_empty()
            || self.name.chars().count() > MAX_NAME_LEN
            || self.name.chars().any(char::is_control)
        {
            return Some(format!(
                "name: {:?} must be 1 to {MAX_NAME_LEN} printable characters",
                self.name
            ));
        }
        if let Policy::JobWrite { pools } = &self.policy
            && let Some(pool) = pools.iter().find(|p| crate::ids::check_name(p).is_err())
        {
            return Some(format!("pools: {pool:?} is not a pool name"));
        }
        None
    }
}

/// A kept token: no secret, only what checks one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub accessor: String,
    pub name: String,
    pub policy: Policy,
    pub created_ms: u64,
    pub create_index: u64,
    salt: [u8; 16],
    hash: [u8; 32],
}

impl Token {
    fn matches(&self, secret: &str) -> bool {
        secret::same(&secret::hash(&self.salt, secret), &self.hash)
    }
}

/// Every token, by accessor, and whether the first was ever made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    tokens: OrdMap<String, Token>,
    /// The log index of the last bootstrap, 0 before the first. Never
    /// cleared: a second bootstrap is refused even after every token is
    /// revoked, unless it names this index.
    bootstrap_index: u64,
}

/// Why a call was refused, in words that say what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    NotBootstrapped,
    NoToken,
    Malformed,
    Unknown {
        accessor: String,
    },
    Lacks {
        accessor: String,
        name: String,
        policy: String,
        need: String,
    },
}

impl Denied {
    /// A token was presented and is good, but not for this.
    pub fn is_permission(&self) -> bool {
        matches!(self, Self::Lacks { .. })
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotBootstrapped => f.write_str(
                "ACLs are enabled but not bootstrapped: run `drover acl bootstrap` once to create the management token",
            ),
            Self::NoToken => f.write_str(
                "this cluster requires an ACL token: pass --token or set DROVER_TOKEN (REST: an `Authorization: Bearer <token>` header)",
            ),
            Self::Malformed => write!(
                f,
                "the ACL token is malformed: expected <accessor>.<secret>, {ACCESSOR_LEN} and {SECRET_LEN} lowercase hex characters"
            ),
            Self::Unknown { accessor } => {
                write!(f, "ACL token {accessor} is unknown or revoked")
            }
            Self::Lacks {
                accessor,
                name,
                policy,
                need,
            } => write!(
                f,
                "ACL token {accessor} ({name:?}, policy {policy}) lacks {need}"
            ),
        }
    }
}

impl Acl {
    pub fn bootstrapped(&self) -> bool {
        self.bootstrap_index > 0
    }

    pub fn bootstrap_index(&self) -> u64 {
        self.bootstrap_index
    }

    pub fn tokens(&self) -> impl Iterator<Item = &Token> {
        self.tokens.values()
    }

    pub fn token(&self, accessor: &str) -> Option<&Token> {
        self.tokens.get(accessor)
    }

    /// The token `presented` stands for, if it allows `need`.
    pub fn check(&self, presented: Option<&str>, need: Capability<'_>) -> Result<&Token, Denied> {
        if !self.bootstrapped() {
            return Err(Denied::NotBootstrapped);
        }
        let text = presented.ok_or(Denied::NoToken)?;
        let presented = Presented::parse(text).ok_or(Denied::Malformed)?;
        let unknown = || Denied::Unknown {
            accessor: presented.accessor.to_string(),
        };
        let token = self.tokens.get(presented.accessor).ok_or_else(unknown)?;
        if !token.matches(presented.secret) {
            return Err(unknown());
        }
        if !token.policy.allows(need) {
            return Err(Denied::Lacks {
                accessor: token.accessor.clone(),
                name: token.name.clone(),
                policy: token.policy.to_string(),
                need: need.to_string(),
            });
        }
        Ok(token)
    }

    pub(crate) fn bootstrap(&mut self, index: u64) {
        assert!(index > 0, "log indexes start at 1");
        self.bootstrap_index = index;
    }

    pub(crate) fn insert(&mut self, new: NewToken, created_ms: u64, create_index: u64) {
        let token = Token {
            accessor: new.accessor.clone(),
            name: new.name,
            policy: new.policy,
            created_ms,
            create_index,
            salt: new.salt,
            hash: new.hash,
        };
        self.tokens.insert(new.accessor, token);
    }

    pub(crate) fn remove(&mut self, accessor: &str) -> Option<Token> {
        self.tokens.remove(accessor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCESSOR: &str = "00112233aabbccdd";

    fn table(policy: Policy) -> (Acl, String) {
        let secret = "5a".repeat(32);
        let mut acl = Acl::default();
        acl.bootstrap(1);
        acl.insert(
            NewToken::new(ACCESSOR.into(), "ci".into(), policy, [7; 16], &secret),
            1,
            1,
        );
        (acl, format!("{ACCESSOR}.{secret}"))
    }

    #[test]
    fn a_check_names_what_is_missing() {
        let (acl, token) = table(Policy::Read);
        assert_eq!(acl.check(None, Capability::Read), Err(Denied::NoToken));
        assert_eq!(
            acl.check(Some("x"), Capability::Read),
            Err(Denied::Malformed)
        );
        let wrong_secret = format!("{ACCESSOR}.{}", "5b".repeat(32));
        assert_eq!(
            acl.check(Some(&wrong_secret), Capability::Read),
            Err(Denied::Unknown {
                accessor: ACCESSOR.into()
            })
        );
        assert!(acl.check(Some(&token), Capability::Read).is_ok());
        let lacks = acl
            .check(Some(&token), Capability::JobWrite { pool: "default" })
            .expect_err("read only");
        assert!(lacks.is_permission());
        assert!(
            lacks
                .to_string()
                .contains("lacks job write on pool \"default\"")
        );
        assert!(
            !lacks.to_string().contains(&"5a".repeat(32)),
            "no secret in errors"
        );
    }

    #[test]
    fn nothing_passes_before_bootstrap() {
        let acl = Acl::default();
        assert_eq!(
            acl.check(None, Capability::Read),
            Err(Denied::NotBootstrapped)
        );
    }

    #[test]
    fn a_revoked_token_is_unknown() {
        let (mut acl, token) = table(Policy::Management);
        acl.remove(ACCESSOR);
        assert!(matches!(
            acl.check(Some(&token), Capability::Read),
            Err(Denied::Unknown { .. })
        ));
    }
}
