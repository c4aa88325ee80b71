//! Token secrets: a client presents `<accessor>.<secret>`; the state keeps
//! the accessor, a per-token salt and SHA-256(salt ‖ secret), never the
//! secret. Secrets are 32 random bytes drawn by the node that creates the
//! token, so a plain salted hash is enough: there is no password to guess.

use sha2::{Digest, Sha256};

/// Hex characters in an accessor (8 random bytes).
pub const ACCESSOR_LEN: usize = 16;
/// Hex characters in a secret (32 random bytes).
pub const SECRET_LEN: usize = 64;

/// A presented token, split into its two parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presented<'a> {
    pub accessor: &'a str,
    pub secret: &'a str,
}

impl<'a> Presented<'a> {
    /// `None` unless the text is a lowercase-hex accessor, a dot and a
    /// lowercase-hex secret of the right lengths.
    pub fn parse(text: &'a str) -> Option<Self> {
        let (accessor, secret) = text.trim().split_once('.')?;
        (is_hex(accessor, ACCESSOR_LEN) && is_hex(secret, SECRET_LEN))
            .then_some(Self { accessor, secret })
    }
}

pub fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub fn hash(salt: &[u8; 16], secret: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(secret.as_bytes());
    hasher.finalize().into()
}

/// Compares every byte whatever the first difference, so that the time a
/// check takes tells nothing about how close a guess was.
pub fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_tokens_parse() {
        let accessor = "0123456789abcdef";
        let secret = "ab".repeat(32);
        let token = format!("{accessor}.{secret}");
        let parsed = Presented::parse(&token).expect("well formed");
        assert_eq!(
            (parsed.accessor, parsed.secret),
            (accessor, secret.as_str())
        );
        for bad in [
            String::new(),
            accessor.to_string(),
            format!("{accessor}.{}", &secret[1..]),
            format!("{}.{secret}", accessor.to_uppercase()),
            format!("{accessor}.{}", "zz".repeat(32)),
            format!("{accessor}..{secret}"),
        ] {
            assert!(Presented::parse(&bad).is_none(), "{bad:?} parsed");
        }
    }

    proptest::proptest! {
        /// Whatever a header holds: no panic, and what parses is exactly
        /// an accessor, a dot and a secret of the right shapes.
        #[test]
        fn any_text_parses_only_into_well_formed_parts(text in "\\PC{0,100}|[0-9a-f]{16}\\.[0-9a-f]{64}") {
            if let Some(parsed) = Presented::parse(&text) {
                proptest::prop_assert!(is_hex(parsed.accessor, ACCESSOR_LEN));
                proptest::prop_assert!(is_hex(parsed.secret, SECRET_LEN));
                proptest::prop_assert_eq!(
                    format!("{}.{}", parsed.accessor, parsed.secret),
                    text.trim()
                );
            }
        }
    }

    #[test]
    fn a_hash_depends_on_salt_and_secret() {
        let secret = "cd".repeat(32);
        let one = hash(&[1; 16], &secret);
        assert!(same(&one, &hash(&[1; 16], &secret)));
        assert!(!same(&one, &hash(&[2; 16], &secret)));
        assert!(!same(&one, &hash(&[1; 16], &"ce".repeat(32))));
    }
}
