//! Versions and version ranges for `version` constraints (`">= 1.2, < 2.0"`).
//! Dotted numeric versions compare part by part, missing parts being zero;
//! anything after a `-` or `+` is ignored, as node labels such as
//! `kernel = "6.1.0-13-amd64"` carry build suffixes.

use std::cmp::Ordering;

#[derive(Debug, Clone)]
pub struct Version(Vec<u64>);

/// Equal when they compare equal: `1.2` is `1.2.0`.
impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Version {}

impl Version {
    pub fn parse(text: &str) -> Result<Self, String> {
        let core = text
            .trim()
            .trim_start_matches('v')
            .split(['-', '+'])
            .next()
            .unwrap_or_default();
        let parts: Result<Vec<u64>, _> = core.split('.').map(str::parse::<u64>).collect();
        match parts {
            Ok(parts) if !parts.is_empty() && parts.len() <= 4 => Ok(Self(parts)),
            _ => Err(format!(
                "{text:?} is not a version; expected dotted numbers like \"1.2.3\""
            )),
        }
    }

    fn part(&self, i: usize) -> u64 {
        self.0.get(i).copied().unwrap_or(0)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (0..self.0.len().max(other.0.len()))
            .map(|i| self.part(i).cmp(&other.part(i)))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A conjunction of comparisons, all of which must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionReq(Vec<(Cmp, Version)>);

impl VersionReq {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in text.split(',') {
            let term = term.trim();
            let (cmp, rest) = [
                (">=", Cmp::Ge),
                ("<=", Cmp::Le),
                ("!=", Cmp::Ne),
                ("==", Cmp::Eq),
                (">", Cmp::Gt),
                ("<", Cmp::Lt),
                ("=", Cmp::Eq),
            ]
            .iter()
            .find_map(|(sym, cmp)| term.strip_prefix(sym).map(|rest| (*cmp, rest)))
            .ok_or_else(|| {
                format!("{term:?} does not start with a comparison; expected e.g. \">= 1.2, < 2\"")
            })?;
            terms.push((cmp, Version::parse(rest)?));
        }
        Ok(Self(terms))
    }

    pub fn matches(&self, version: &Version) -> bool {
        self.0.iter().all(|(cmp, bound)| {
            let order = version.cmp(bound);
            match cmp {
                Cmp::Eq => order.is_eq(),
                Cmp::Ne => order.is_ne(),
                Cmp::Lt => order.is_lt(),
                Cmp::Le => order.is_le(),
                Cmp::Gt => order.is_gt(),
                Cmp::Ge => order.is_ge(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(v("1.10") > v("1.9"));
        assert_eq!(v("1.2"), v("1.2.0"));
        assert_ne!(v("1.2"), v("1.2.1"));
        assert!(v("v2.0.0-rc1") > v("1.99"));
        assert!(Version::parse("one").is_err());
        assert!(Version::parse("").is_err());
    }

    #[test]
    fn ranges() {
        let req = VersionReq::parse(">= 1.2, < 2").unwrap();
        assert!(req.matches(&v("1.2.0")));
        assert!(req.matches(&v("1.9.9")));
        assert!(!req.matches(&v("2.0")));
        assert!(!req.matches(&v("1.1")));
        assert!(VersionReq::parse("1.2").is_err());
        assert!(VersionReq::parse(">= x").is_err());
    }
}
