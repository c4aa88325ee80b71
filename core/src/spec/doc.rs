//! A format-neutral document tree with source positions, built from TOML
//! (which has positions for every value) or JSON (which has none once parsed).
//! Decoding walks this tree, so both formats give the same errors and paths.

use toml::de::{DeTable, DeValue};

use super::error::{LineIndex, Pos, SpecError};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Array(Vec<Node>),
    Table(Vec<Entry>),
    /// Something no spec field takes (a datetime, a JSON null, a huge integer);
    /// holds its description for the error message.
    Other(&'static str),
}

impl Value {
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Str(s) => format!("the string {s:?}"),
            Self::Int(i) => format!("the integer {i}"),
            Self::Float(x) => format!("the number {x}"),
            Self::Bool(b) => format!("the boolean {b}"),
            Self::Array(_) => "an array".into(),
            Self::Table(_) => "a table".into(),
            Self::Other(what) => (*what).into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub value: Value,
    pub pos: Option<Pos>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub key_pos: Option<Pos>,
    pub node: Node,
}

pub(crate) fn from_toml(text: &str) -> Result<Node, Vec<SpecError>> {
    let lines = LineIndex::new(text);
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        return Err(errors
            .iter()
            .map(|e| SpecError {
                path: String::new(),
                // The parser gives no span for some errors (its recursion
                // limit): they point at the document, not nowhere.
                pos: Some(lines.pos(text, e.span().map_or(0, |span| span.start))),
                message: format!("TOML syntax: {}", e.message().trim_end()),
            })
            .collect());
    }
    let pos = Some(lines.pos(text, root.span().start));
    Ok(Node {
        value: toml_table(root.get_ref(), text, &lines),
        pos,
    })
}

fn toml_table(table: &DeTable<'_>, text: &str, lines: &LineIndex) -> Value {
    Value::Table(
        table
            .iter()
            .map(|(key, value)| Entry {
                key: key.get_ref().to_string(),
                key_pos: Some(lines.pos(text, key.span().start)),
                node: Node {
                    value: toml_value(value.get_ref(), text, lines),
                    pos: Some(lines.pos(text, value.span().start)),
                },
            })
            .collect(),
    )
}

fn toml_value(value: &DeValue<'_>, text: &str, lines: &LineIndex) -> Value {
    match value {
        DeValue::String(s) => Value::Str(s.to_string()),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            i64::from_str_radix(&digits, i.radix())
                .map_or(Value::Other("an integer too large for 64 bits"), Value::Int)
        }
        DeValue::Float(f) => f
            .as_str()
            .replace('_', "")
            .parse::<f64>()
            .map_or(Value::Other("a malformed float"), Value::Float),
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(_) => Value::Other("a datetime"),
        DeValue::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| Node {
                    value: toml_value(item.get_ref(), text, lines),
                    pos: Some(lines.pos(text, item.span().start)),
                })
                .collect(),
        ),
        DeValue::Table(table) => toml_table(table, text, lines),
    }
}

pub(crate) fn from_json(text: &str) -> Result<Node, Vec<SpecError>> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        vec![SpecError {
            path: String::new(),
            pos: (e.line() > 0).then(|| Pos {
                line: u32::try_from(e.line()).unwrap_or(u32::MAX),
                column: u32::try_from(e.column()).unwrap_or(u32::MAX),
            }),
            message: format!("JSON syntax: {}", strip_json_position(&e.to_string())),
        }]
    })?;
    Ok(json_node(&value))
}

/// serde_json appends " at line L column C"; the position is reported separately.
fn strip_json_position(message: &str) -> &str {
    message
        .rfind(" at line ")
        .map_or(message, |cut| &message[..cut])
}

fn json_node(value: &serde_json::Value) -> Node {
    use serde_json::Value as J;
    let value = match value {
        J::Null => Value::Other("null"),
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .or_else(|| n.as_f64().map(Value::Float))
            .unwrap_or(Value::Other("a number out of range")),
        J::String(s) => Value::Str(s.clone()),
        J::Array(items) => Value::Array(items.iter().map(json_node).collect()),
        J::Object(map) => Value::Table(
            map.iter()
                .map(|(key, value)| Entry {
                    key: key.clone(),
                    key_pos: None,
                    node: json_node(value),
                })
                .collect(),
        ),
    };
    Node { value, pos: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_values_keep_their_positions() {
        let node = from_toml("a = 1\n[t]\nb = \"x\"\n").unwrap();
        let Value::Table(entries) = node.value else {
            panic!("root is a table")
        };
        assert_eq!(entries[0].key, "a");
        assert_eq!(entries[0].node.pos, Some(Pos { line: 1, column: 5 }));
        let Value::Table(inner) = &entries[1].node.value else {
            panic!("t is a table")
        };
        assert_eq!(inner[0].node.value, Value::Str("x".into()));
        assert_eq!(inner[0].node.pos, Some(Pos { line: 3, column: 5 }));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let errors = from_toml("a = 1\nb = \n").unwrap_err();
        assert_eq!(errors[0].pos.map(|p| p.line), Some(2));
        let errors = from_json("{\n \"a\": }").unwrap_err();
        assert_eq!(errors[0].pos.map(|p| p.line), Some(2));
        assert!(!errors[0].message.contains("at line"));
    }

    #[test]
    fn integers_in_any_radix_and_with_underscores() {
        let node = from_toml("a = 0x10\nb = 1_000\nc = 99999999999999999999\n").unwrap();
        let Value::Table(entries) = node.value else {
            panic!()
        };
        assert_eq!(entries[0].node.value, Value::Int(16));
        assert_eq!(entries[1].node.value, Value::Int(1000));
        assert!(matches!(entries[2].node.value, Value::Other(_)));
    }
}
