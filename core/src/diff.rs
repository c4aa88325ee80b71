//! What changed between two versions of a job spec, field by field, as
//! `job history` and `job plan` show it: dotted paths (`task.env.MODE`,
//! `constraints[0].value`) with the old and new values as JSON.

use serde::Serialize;
use serde_json::Value;

use crate::job::JobSpec;

/// One field that differs; `None` where the field is absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub path: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// The fields that differ from `old` to `new`, in path order; the version
/// number itself is not a change.
pub fn spec_changes(old: &JobSpec, new: &JobSpec) -> Vec<FieldChange> {
    let as_value = |spec: &JobSpec| {
        let mut value = serde_json::to_value(spec).expect("a spec always serializes");
        if let Value::Object(fields) = &mut value {
            fields.remove("version");
        }
        value
    };
    let mut changes = Vec::new();
    walk("", Some(&as_value(old)), Some(&as_value(new)), &mut changes);
    changes
}

fn walk(path: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(&child, a.get(key), b.get(key), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            for i in 0..a.len().max(b.len()) {
                walk(&format!("{path}[{i}]"), a.get(i), b.get(i), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(FieldChange {
            path: path.to_string(),
            old: a.filter(|v| !v.is_null()).map(Value::to_string),
            new: b.filter(|v| !v.is_null()).map(Value::to_string),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::JobId;
    use crate::resources::Resources;

    #[test]
    fn changed_added_and_removed_fields_are_named_by_path() {
        let old = JobSpec::batch(
            JobId::new("web").expect("valid"),
            vec!["serve".into(), "--port=80".into()],
            Resources::new(500, 256, 0),
        );
        let mut new = old.clone();
        new.version = 7;
        new.task.command = vec!["serve".into()];
        new.task.env.insert("MODE".into(), "fast".into());
        new.task.resources.cpu_millis = 1000;
        let changes = spec_changes(&old, &new);
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "task.command[1]",
                "task.env.MODE",
                "task.resources.cpu_millis"
            ]
        );
        assert_eq!(changes[0].old.as_deref(), Some("\"--port=80\""));
        assert_eq!(changes[0].new, None);
        assert_eq!(changes[1].old, None);
        assert_eq!(changes[2].new.as_deref(), Some("1000"));
        assert!(spec_changes(&old, &old).is_empty());
    }
}
