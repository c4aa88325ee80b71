//! Job spec fields added after the first on-disk format: kept inside the
//! spec's binary encoding as one JSON document (`Extensions`), so that a
//! field added later is read from older bytes as its default with no new
//! format; and the one switch from bytes written before the document
//! existed (`decoding_format_1`), which the log and snapshot readers
//! throw when they read such bytes.

use std::cell::Cell;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

thread_local! {
    static FORMAT_1: Cell<bool> = const { Cell::new(false) };
}

/// Runs `decode` over bytes written before specs carried extensions (Raft
/// log format 2 and earlier, snapshot format 4 and earlier): every spec
/// decoded meanwhile gets default extensions and reads no bytes for them.
pub fn decoding_format_1<T>(decode: impl FnOnce() -> T) -> T {
    let before = FORMAT_1.replace(true);
    let decoded = decode();
    FORMAT_1.set(before);
    decoded
}

/// Runs `encode` writing bytes as a build before extensions would: for
/// tests of the upgrade from them.
#[cfg(test)]
pub(crate) fn encoding_format_1<T>(encode: impl FnOnce() -> T) -> T {
    decoding_format_1(encode)
}

/// One region's part of a job that runs in several (Nomad's `multiregion`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionPart {
    pub name: String,
    /// The replicas that region keeps.
    pub count: u32,
}

/// Spec fields beyond the first format's. Each has a default, which is
/// what bytes written before it existed mean.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Extensions {
    /// The regions the job runs in and the replicas each keeps; empty: the
    /// region it was submitted to only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub multiregion: Vec<RegionPart>,
}

/// In binary encodings (postcard) a JSON string, so that it can grow; in
/// readable ones (JSON) the fields themselves.
pub(crate) fn write<S: Serializer>(ext: &Extensions, s: S) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        ext.serialize(s)
    } else if FORMAT_1.get() {
        ().serialize(s)
    } else {
        let json = serde_json::to_string(ext).map_err(serde::ser::Error::custom)?;
        json.serialize(s)
    }
}

pub(crate) fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Extensions, D::Error> {
    if d.is_human_readable() {
        return Extensions::deserialize(d);
    }
    if FORMAT_1.get() {
        return Ok(Extensions::default());
    }
    let json = String::deserialize(d)?;
    serde_json::from_str(&json).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Old {
        before: u8,
        after: u8,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct New {
        before: u8,
        #[serde(serialize_with = "write", deserialize_with = "read")]
        ext: Extensions,
        after: u8,
    }

    #[test]
    fn format_1_bytes_read_as_defaults_and_new_bytes_round_trip() {
        let old = postcard::to_stdvec(&Old {
            before: 1,
            after: 2,
        })
        .unwrap();
        let read_old: New = decoding_format_1(|| postcard::from_bytes(&old)).unwrap();
        assert_eq!(read_old.ext, Extensions::default());
        assert_eq!((read_old.before, read_old.after), (1, 2));
        let new = New {
            before: 3,
            ext: Extensions {
                multiregion: vec![RegionPart {
                    name: "eu".into(),
                    count: 2,
                }],
            },
            after: 4,
        };
        let bytes = postcard::to_stdvec(&new).unwrap();
        assert_eq!(postcard::from_bytes::<New>(&bytes).unwrap(), new);
        // A field a later build adds is ignored here; one this build
        // lacks in older bytes is its default.
        let later = postcard::to_stdvec(&(3u8, r#"{"multiregion":[],"ports":[1]}"#, 4u8)).unwrap();
        assert_eq!(
            postcard::from_bytes::<New>(&later).unwrap().ext,
            Extensions::default()
        );
        let empty = postcard::to_stdvec(&(3u8, "{}", 4u8)).unwrap();
        assert_eq!(
            postcard::from_bytes::<New>(&empty).unwrap().ext,
            Extensions::default()
        );
    }
}
