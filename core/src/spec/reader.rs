//! Typed reads from the document tree. Every read either yields a value or
//! records an error naming the field path and position, then carries on, so
//! that one pass reports every structural problem in a spec.

use std::collections::BTreeMap;

use super::doc::{Entry, Node, Value};
use super::error::{Pos, SpecError};
use super::suggest::closest;

#[derive(Default)]
pub(crate) struct Decoder {
    pub errors: Vec<SpecError>,
    /// Where each field path's value sits in the source, for later errors.
    pub positions: BTreeMap<String, Pos>,
}

pub(crate) fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

impl Decoder {
    pub fn fail(&mut self, path: &str, pos: Option<Pos>, message: impl Into<String>) {
        self.errors.push(SpecError {
            path: path.to_string(),
            pos,
            message: message.into(),
        });
    }

    fn wrong_type(&mut self, node: &Node, path: &str, expected: &str) {
        let found = node.value.describe();
        self.fail(
            path,
            node.pos,
            format!("expected {expected}, found {found}"),
        );
    }

    pub fn seen(&mut self, node: &Node, path: &str) {
        if let Some(pos) = node.pos {
            self.positions.insert(path.to_string(), pos);
        }
    }

    pub fn table<'a>(&mut self, node: &'a Node, path: &str) -> Option<Fields<'a>> {
        self.seen(node, path);
        if let Value::Table(entries) = &node.value {
            Some(Fields {
                entries,
                path: path.to_string(),
                pos: node.pos,
                used: vec![false; entries.len()],
            })
        } else {
            self.wrong_type(node, path, "a table");
            None
        }
    }

    pub fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        self.seen(node, path);
        if let Value::Str(s) = &node.value {
            Some(s.clone())
        } else {
            self.wrong_type(node, path, "a string");
            None
        }
    }

    pub fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        self.seen(node, path);
        if let Value::Bool(b) = node.value {
            Some(b)
        } else {
            self.wrong_type(node, path, "true or false");
            None
        }
    }

    /// A whole number that fits `T` (and so is never negative for unsigned `T`).
    pub fn whole<T>(&mut self, node: &Node, path: &str) -> Option<T>
    where
        T: TryFrom<i64> + Bounded,
    {
        self.seen(node, path);
        let expected = format!("a whole number from {} to {}", T::MIN_I128, T::MAX_I128);
        let Value::Int(i) = node.value else {
            self.wrong_type(node, path, &expected);
            return None;
        };
        let converted = T::try_from(i).ok();
        if converted.is_none() {
            self.fail(path, node.pos, format!("expected {expected}, found {i}"));
        }
        converted
    }

    /// A string parsed by `parse`, which explains its own failures.
    pub fn parsed<T>(
        &mut self,
        node: &Node,
        path: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let text = self.string(node, path)?;
        match parse(&text) {
            Ok(value) => Some(value),
            Err(message) => {
                self.fail(path, node.pos, message);
                None
            }
        }
    }

    pub fn strings(&mut self, node: &Node, path: &str) -> Option<Vec<String>> {
        self.seen(node, path);
        let Value::Array(items) = &node.value else {
            self.wrong_type(node, path, "an array of strings, like [\"a\", \"b\"]");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.string(item, &index(path, i)) {
                Some(s) => out.push(s),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    pub fn string_map(&mut self, node: &Node, path: &str) -> Option<BTreeMap<String, String>> {
        let mut fields = self.table(node, path)?;
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (key, value) in fields.take_all() {
            match self.string(value, &child(path, key)) {
                Some(s) => {
                    out.insert(key.to_string(), s);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// One of a fixed set of words, with a suggestion for near misses.
    pub fn choice<T: Copy>(&mut self, node: &Node, path: &str, options: &[(&str, T)]) -> Option<T> {
        let word = self.string(node, path)?;
        if let Some((_, value)) = options.iter().find(|(name, _)| *name == word) {
            return Some(*value);
        }
        let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
        let hint = closest(&word, &names)
            .map(|near| format!("; did you mean {near:?}?"))
            .unwrap_or_default();
        self.fail(
            path,
            node.pos,
            format!(
                "unknown value {word:?}; expected one of {}{hint}",
                quoted(&names)
            ),
        );
        None
    }

    /// Each element of an array of tables, with its indexed path.
    pub fn tables<'a>(&mut self, node: &'a Node, path: &str) -> Vec<Fields<'a>> {
        self.seen(node, path);
        let Value::Array(items) = &node.value else {
            self.wrong_type(node, path, "an array of tables (use [[...]] in TOML)");
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.table(item, &index(path, i)))
            .collect()
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Bounds of the integer types a spec field may have, for error messages.
pub(crate) trait Bounded {
    const MIN_I128: i128;
    const MAX_I128: i128;
}

macro_rules! bounded {
    ($($t:ty),*) => {$(
        impl Bounded for $t {
            const MIN_I128: i128 = <$t>::MIN as i128;
            const MAX_I128: i128 = <$t>::MAX as i128;
        }
    )*};
}
bounded!(u8, u16, u32, u64, i64);

/// The fields of one table, read by name; whatever is left unread at
/// [`Fields::finish`] is an unknown field.
pub(crate) struct Fields<'a> {
    entries: &'a [Entry],
    path: String,
    pos: Option<Pos>,
    used: Vec<bool>,
}

impl<'a> Fields<'a> {
    pub fn pos(&self) -> Option<Pos> {
        self.pos
    }

    pub fn child(&self, key: &str) -> String {
        child(&self.path, key)
    }

    pub fn get(&mut self, key: &str) -> Option<&'a Node> {
        let i = self.entries.iter().position(|e| e.key == key)?;
        self.used[i] = true;
        Some(&self.entries[i].node)
    }

    /// Like [`Fields::get`], recording "missing" when the field is absent.
    pub fn require(&mut self, decoder: &mut Decoder, key: &str, what: &str) -> Option<&'a Node> {
        let found = self.get(key);
        if found.is_none() {
            decoder.fail(
                &self.child(key),
                self.pos,
                format!("missing; expected {what}"),
            );
        }
        found
    }

    fn take_all(&mut self) -> impl Iterator<Item = (&'a str, &'a Node)> + use<'a> {
        self.used.iter_mut().for_each(|u| *u = true);
        self.entries.iter().map(|e| (e.key.as_str(), &e.node))
    }

    /// Reports every field that no read asked for, suggesting near misses.
    pub fn finish(self, decoder: &mut Decoder, known: &[&str]) {
        for (entry, used) in self.entries.iter().zip(&self.used) {
            if *used {
                continue;
            }
            let hint = closest(&entry.key, known)
                .map(|near| format!("; did you mean {near:?}?"))
                .unwrap_or_default();
            let table = if self.path.is_empty() {
                "the job"
            } else {
                self.path.as_str()
            };
            decoder.fail(
                &child(&self.path, &entry.key),
                entry.key_pos.or(entry.node.pos),
                format!("unknown field{hint} ({table} takes: {})", known.join(", ")),
            );
        }
    }
}
