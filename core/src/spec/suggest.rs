//! "Did you mean …?" for unknown field names and enum values.

/// Names people bring from other orchestrators, mapped to ours.
const ALIASES: &[(&str, &str)] = &[
    ("type", "kind"),
    ("count", "replicas"),
    ("instances", "replicas"),
    ("cmd", "command"),
    ("args", "command"),
    ("constraints", "constraint"),
    ("spreads", "spread"),
    ("targets", "target"),
    ("mem", "memory"),
    ("memory_mib", "memory_mb"),
    ("cpus", "cpu"),
    ("gpu", "gpus"),
    ("environment", "env"),
    ("operand", "operator"),
    ("op", "operator"),
    ("attr", "attribute"),
];

/// The closest of `candidates` to `unknown`, if one is close enough to be a typo.
pub(crate) fn closest<'a>(unknown: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let alias = ALIASES
        .iter()
        .find(|(theirs, _)| *theirs == unknown)
        .and_then(|(_, ours)| candidates.iter().find(|c| *c == ours));
    if let Some(found) = alias {
        return Some(found);
    }
    let lowered = unknown.to_ascii_lowercase();
    let limit = (unknown.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (edit_distance(&lowered, &c.to_ascii_lowercase()), *c))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters, with adjacent transpositions costing one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut before_prev: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut row = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let substitution = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            row[j] = substitution.min(prev[j] + 1).min(row[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(before_prev[j - 2] + 1);
            }
        }
        before_prev = std::mem::replace(&mut prev, row);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_field() {
        let fields = ["memory", "memory_mb", "cpu", "cpu_millis", "gpus"];
        assert_eq!(closest("memroy", &fields), Some("memory"));
        assert_eq!(closest("Memory", &fields), Some("memory"));
        assert_eq!(closest("cpu_milis", &fields), Some("cpu_millis"));
        assert_eq!(closest("mem", &fields), Some("memory"));
        assert_eq!(closest("disk", &fields), None);
    }

    #[test]
    fn distance_basics() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ab", "ba"), 1);
    }
}
