//! Identifiers. Node and job ids are operator-chosen names, checked once at the
//! boundary so that every id inside the core is known to be well formed.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest accepted node or job name, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError(pub String);

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NameError {}

/// Checks the shared syntax of names: 1..=128 bytes of `[A-Za-z0-9_.-]`,
/// starting with a letter or digit (so a name is never mistaken for a flag).
/// Whether `name` can end an environment variable's name (a port label's
/// `DROVER_PORT_<LABEL>`, a volume's `DROVER_VOLUME_<NAME>`): up to 32
/// letters, digits and '_', starting with a letter.
pub fn names_a_variable(name: &str) -> bool {
    name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub fn check_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError("must not be empty".into()));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError(format!(
            "is {} bytes long; the limit is {MAX_NAME_LEN}",
            name.len()
        )));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(NameError(format!(
            "{name:?} must start with a letter or a digit"
        )));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(NameError(format!(
            "{name:?} contains {bad:?}; use letters, digits, '_', '.' and '-'"
        )));
    }
    Ok(())
}

macro_rules! name_id {
    ($(#[$doc:meta])* $ty:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $ty(String);

        impl $ty {
            pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
                let name = name.into();
                check_name(&name)?;
                Ok(Self(name))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $ty {
            type Error = NameError;
            fn try_from(name: String) -> Result<Self, NameError> {
                Self::new(name)
            }
        }

        impl From<$ty> for String {
            fn from(id: $ty) -> String {
                id.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        // Ordered as its text, so maps keyed by it can be ranged by text.
        impl std::borrow::Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

name_id!(
    /// A node's name, unique in the cluster (`node-1`, `eu-west-3a-17`).
    NodeId
);
name_id!(
    /// A job's name, unique in the cluster; a job keeps its id across versions.
    JobId
);

/// An allocation: one instance of a job's task placed on one node. Numbered by
/// the state machine in log order, so every replica assigns the same ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AllocId(pub u64);

impl fmt::Display for AllocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a{:06}", self.0)
    }
}

impl AllocId {
    /// Reads what `Display` writes (`a000042`).
    pub fn parse(text: &str) -> Option<Self> {
        let digits = text.strip_prefix('a')?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in [
            "web",
            "node-1",
            "eu_west.3",
            "0abc",
            &"x".repeat(MAX_NAME_LEN),
        ] {
            assert!(JobId::new(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn refuses_bad_names_with_a_reason() {
        for (name, fragment) in [
            ("", "empty"),
            ("-rf", "start with"),
            ("a b", "' '"),
            ("é", "start with"),
        ] {
            let err = NodeId::new(name).unwrap_err();
            assert!(err.0.contains(fragment), "{name}: {err}");
        }
        assert!(JobId::new("x".repeat(MAX_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn deserializing_checks_the_name() {
        assert!(serde_json::from_str::<JobId>("\"ok\"").is_ok());
        assert!(serde_json::from_str::<JobId>("\"no way\"").is_err());
    }
}
