//! Who is at the other end of a connection, as its certificate says: a
//! node of the cluster or a client. Carried as a URI in the certificate's
//! subject alternative names, which the cluster's CA alone signs.

use std::fmt;

const NODE: &str = "drover://node/";
const CLIENT: &str = "drover://client/";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Node(u64),
    Client(String),
}

impl Identity {
    pub fn uri(&self) -> String {
        match self {
            Self::Node(id) => format!("{NODE}{id}"),
            Self::Client(name) => format!("{CLIENT}{name}"),
        }
    }

    /// The identity a URI names, if it names one.
    pub fn from_uri(uri: &str) -> Option<Self> {
        if let Some(id) = uri.strip_prefix(NODE) {
            return id.parse().ok().map(Self::Node);
        }
        let name = uri.strip_prefix(CLIENT)?;
        let identity = Self::Client(name.to_string());
        identity.check().ok().map(|()| identity)
    }

    /// A client's name: letters, digits, `-`, `_` and `.`, 1 to 64 of them.
    pub fn check(&self) -> Result<(), String> {
        let Self::Client(name) = self else {
            return Ok(());
        };
        let valid = (1..=64).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if valid {
            Ok(())
        } else {
            Err(format!(
                "--client {name:?}: 1 to 64 letters, digits, '-', '_' or '.'"
            ))
        }
    }

    /// The identity in a DER certificate: the first `drover://` URI among
    /// its subject alternative names.
    pub fn of_certificate(der: &[u8]) -> Option<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let names = cert.subject_alternative_name().ok()??;
        names
            .value
            .general_names
            .iter()
            .find_map(|name| match name {
                x509_parser::extensions::GeneralName::URI(uri) => Self::from_uri(uri),
                _ => None,
            })
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Node(id) => write!(f, "node {id}"),
            Self::Client(name) => write!(f, "client {name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_survive_their_uri_and_nothing_else_is_one() {
        for identity in [Identity::Node(3), Identity::Client("ci-runner.1".into())] {
            assert_eq!(Identity::from_uri(&identity.uri()), Some(identity));
        }
        for uri in [
            "drover://node/x",
            "drover://node/",
            "drover://client/",
            "drover://client/a b",
            "https://node/1",
            "drover://nodes/1",
        ] {
            assert_eq!(Identity::from_uri(uri), None, "{uri}");
        }
    }
}
