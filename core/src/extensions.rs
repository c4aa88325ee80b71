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
    static PLAIN_ALLOCS: Cell<bool> = const { Cell::new(false) };
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

/// Runs `decode` over a snapshot written before allocations carried
/// extensions (format 5 and earlier): every allocation decoded meanwhile
/// gets default extensions and reads no bytes for them.
pub fn decoding_plain_allocs<T>(decode: impl FnOnce() -> T) -> T {
    let before = PLAIN_ALLOCS.replace(true);
    let decoded = decode();
    PLAIN_ALLOCS.set(before);
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
    /// The ports the task asks for (`[[task.port]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<crate::ports::PortAsk>,
    /// The task's health checks (`[[task.check]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<crate::health::CheckSpec>,
    /// When a rolling update may count a new instance as good.
    #[serde(skip_serializing_if = "UpdateGate::is_default")]
    pub update: UpdateGate,
    /// The host volumes the task mounts (`[[volume]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<crate::volumes::VolumeAsk>,
    /// The allocation's local data (`[ephemeral_disk]`).
    #[serde(skip_serializing_if = "crate::migrate::EphemeralDisk::is_default")]
    pub ephemeral_disk: crate::migrate::EphemeralDisk,
}

/// `[update]`'s deployment fields: a new instance replaces an old one only
/// once it has run, healthy where it has checks, for `min_healthy_time`;
/// one that is not so within `healthy_deadline` of starting fails the
/// deployment, and so does one in which no instance became ready for
/// `progress_deadline` (0: never). `canary` new instances run beside the
/// old ones, which stay until `drover job promote`; `auto_revert` makes a
/// failed deployment put back the last version whose deployment succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateGate {
    pub min_healthy_time_ms: u64,
    pub healthy_deadline_ms: u64,
    /// `None`: [`DEFAULT_PROGRESS_DEADLINE_MS`], or `healthy_deadline` if
    /// longer (see [`UpdateGate::progress_deadline_ms`]).
    pub progress_deadline_ms: Option<u64>,
    pub canary: u32,
    pub auto_revert: bool,
}

/// Nomad's default `progress_deadline`.
pub const DEFAULT_PROGRESS_DEADLINE_MS: u64 = 600_000;

impl UpdateGate {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The progress deadline in force (0: none). Unset, it is 10 minutes,
    /// or `healthy_deadline` where that is longer: a spec that only asks
    /// a longer healthy deadline must not fail its deployments sooner.
    pub fn progress_deadline_ms(&self) -> u64 {
        self.progress_deadline_ms
            .unwrap_or(DEFAULT_PROGRESS_DEADLINE_MS.max(self.healthy_deadline_ms))
    }
}

impl Default for UpdateGate {
    fn default() -> Self {
        Self {
            min_healthy_time_ms: 0,
            healthy_deadline_ms: 300_000,
            progress_deadline_ms: None,
            canary: 0,
            auto_revert: false,
        }
    }
}

/// Allocation fields beyond snapshot format 5's, with their defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AllocExtensions {
    /// The ports the allocation holds on its node.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<crate::ports::HeldPort>,
    /// Its health as its worker last committed it; `None` before any
    /// change (pending, for a task with checks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::health::Health>,
    /// When its worker first reported it running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_since_ms: Option<u64>,
    /// It was healthy for its job's `min_healthy_time` once: a deployment
    /// counted it ready, and a later failed check makes it not ready
    /// again, never a failed deployment (Nomad keeps its first verdict).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub proven: bool,
}

/// In binary encodings (postcard) a JSON string, so that it can grow; in
/// readable ones (JSON) the fields themselves; nothing at all in bytes
/// written before it existed (`absent`).
fn write_json<T: Serialize, S: Serializer>(ext: &T, absent: bool, s: S) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        ext.serialize(s)
    } else if absent {
        ().serialize(s)
    } else {
        let json = serde_json::to_string(ext).map_err(serde::ser::Error::custom)?;
        json.serialize(s)
    }
}

/// What [`write_json`] wrote; the default where it wrote nothing.
fn read_json<'de, T, D>(absent: bool, d: D) -> Result<T, D::Error>
where
    T: Default + serde::de::DeserializeOwned,
    D: Deserializer<'de>,
{
    if d.is_human_readable() {
        return T::deserialize(d);
    }
    if absent {
        return Ok(T::default());
    }
    let json = String::deserialize(d)?;
    serde_json::from_str(&json).map_err(serde::de::Error::custom)
}

pub(crate) fn write<S: Serializer>(ext: &Extensions, s: S) -> Result<S::Ok, S::Error> {
    write_json(ext, FORMAT_1.get(), s)
}

pub(crate) fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Extensions, D::Error> {
    read_json(FORMAT_1.get(), d)
}

/// As [`write`], for an allocation's extensions.
pub(crate) fn write_alloc<S: Serializer>(ext: &AllocExtensions, s: S) -> Result<S::Ok, S::Error> {
    write_json(ext, PLAIN_ALLOCS.get(), s)
}

/// As [`read`], for an allocation's extensions.
pub(crate) fn read_alloc<'de, D: Deserializer<'de>>(d: D) -> Result<AllocExtensions, D::Error> {
    read_json(PLAIN_ALLOCS.get(), d)
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
                ports: Vec::new(),
                checks: Vec::new(),
                update: UpdateGate::default(),
                volumes: Vec::new(),
                ephemeral_disk: crate::migrate::EphemeralDisk { migrate: true },
            },
            after: 4,
        };
        let bytes = postcard::to_stdvec(&new).unwrap();
        assert_eq!(postcard::from_bytes::<New>(&bytes).unwrap(), new);
        // A field a later build adds is ignored here; one this build
        // lacks in older bytes is its default.
        let later = postcard::to_stdvec(&(3u8, r#"{"multiregion":[],"later":[1]}"#, 4u8)).unwrap();
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
