//! Snapshots: the whole replicated state as bytes, with a versioned,
//! checksummed header so that a wrong or damaged file is named, not misread.
//!
//! Layout (little-endian): magic `DRVRSNAP` (8 bytes), format version (u32),
//! body length (u64), CRC32C (u32) — from format 7 of the header's first
//! 20 bytes and the body, so that a damaged version or length is caught
//! too; before, of the body alone — then the body: postcard of the data
//! then, from format 3, postcard of the records (idempotency keys), then,
//! from format 4, postcard of the access control table, then, from format
//! 8, postcard of the deployment records. A format 2 body is
//! the data alone and restores with no records; formats 2 and 3 restore
//! with no tokens; formats 2 to 4 hold job specs without extensions
//! (`crate::extensions`), and formats 2 to 5 allocations without theirs
//! (the ports they hold), read as their defaults; formats before 8 restore
//! with no deployment records.

use std::fmt;

use super::changes::Changes;
use super::index::Indexes;
use super::{Access, ClusterState, Data, Deploys, Records};
use crate::events::EventLog;

const MAGIC: &[u8; 8] = b"DRVRSNAP";
pub const SNAPSHOT_FORMAT_VERSION: u32 = 8;
/// The last format whose checksum covers the body alone.
const BODY_ONLY_CHECKSUM: u32 = 6;
/// The last format whose job specs carry no extensions.
const SPECS_WITHOUT_EXTENSIONS: u32 = 4;
/// The last format whose allocations carry no extensions.
const ALLOCS_WITHOUT_EXTENSIONS: u32 = 5;
/// The first format whose body ends with the deployment records.
const FIRST_WITH_DEPLOYMENTS: u32 = 8;
/// The oldest format this build restores.
const OLDEST_READABLE_VERSION: u32 = 2;
const HEADER_LEN: usize = 8 + 4 + 8 + 4;

/// Why bytes could not be restored; `offset` is where the problem starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "snapshot byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for SnapshotError {}

fn fail(offset: usize, message: impl Into<String>) -> SnapshotError {
    SnapshotError {
        offset,
        message: message.into(),
    }
}

/// The replicated state as of one applied index, taken in O(1) (its maps
/// share their nodes with the live state's until either changes), to be
/// encoded away from whatever keeps applying the log.
#[derive(Debug, Clone)]
pub struct Frozen(Data, Records, Access, Deploys);

impl Frozen {
    /// The snapshot's bytes: header, then the postcard body.
    pub fn encode(&self) -> Vec<u8> {
        let body = body(&self.0, &self.1, &self.2, &self.3);
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        let crc = checksum(&out, &body, SNAPSHOT_FORMAT_VERSION);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&body);
        out
    }
}

/// The checksum a snapshot of `version` records: of `header` (its first
/// 20 bytes) and `body`, or of `body` alone up to format 6.
fn checksum(header: &[u8], body: &[u8], version: u32) -> u32 {
    if version <= BODY_ONLY_CHECKSUM {
        crc32c::crc32c(body)
    } else {
        crc32c::crc32c_append(crc32c::crc32c(header), body)
    }
}

/// `snapshot` relabelled as an older `version`, with the checksum that
/// version records: for tests of the upgrade from it. Formats before 8 end
/// before the deployment records, so those must be empty (one byte, the
/// empty map's length), and are cut off.
#[doc(hidden)]
pub fn relabelled(snapshot: &[u8], version: u32) -> Vec<u8> {
    let mut bytes = snapshot.to_vec();
    if version < FIRST_WITH_DEPLOYMENTS {
        assert_eq!(
            bytes.pop(),
            Some(0),
            "only a snapshot without deployment records passes for an older format"
        );
        let body_len = (bytes.len() - HEADER_LEN) as u64;
        bytes[12..20].copy_from_slice(&body_len.to_le_bytes());
    }
    bytes[8..12].copy_from_slice(&version.to_le_bytes());
    let crc = checksum(&bytes[..20], &bytes[HEADER_LEN..], version);
    bytes[20..24].copy_from_slice(&crc.to_le_bytes());
    bytes
}

impl ClusterState {
    pub fn frozen(&self) -> Frozen {
        Frozen(
            self.data.clone(),
            self.records.clone(),
            self.access.clone(),
            self.deploys.clone(),
        )
    }

    pub fn snapshot(&self) -> Vec<u8> {
        self.frozen().encode()
    }

    pub fn restore(bytes: &[u8]) -> Result<Self, SnapshotError> {
        if bytes.len() < HEADER_LEN {
            return Err(fail(
                bytes.len(),
                format!("truncated header: {} of {HEADER_LEN} bytes", bytes.len()),
            ));
        }
        if &bytes[..8] != MAGIC {
            return Err(fail(0, "not a Drover snapshot (bad magic)"));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if !(OLDEST_READABLE_VERSION..=SNAPSHOT_FORMAT_VERSION).contains(&version) {
            return Err(fail(
                8,
                format!(
                    "format version {version}; this build reads {OLDEST_READABLE_VERSION} to {SNAPSHOT_FORMAT_VERSION}"
                ),
            ));
        }
        let declared = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
        let body = &bytes[HEADER_LEN..];
        if declared != body.len() as u64 {
            return Err(fail(
                12,
                format!("header says {declared} body bytes, found {}", body.len()),
            ));
        }
        let expected_crc = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
        let actual_crc = checksum(&bytes[..20], body, version);
        if expected_crc != actual_crc {
            return Err(fail(
                HEADER_LEN,
                format!("checksum mismatch: header {expected_crc:#010x}, body {actual_crc:#010x}"),
            ));
        }
        let decode = || decode_body(bytes, body, version);
        let plain_allocs = || {
            if version <= ALLOCS_WITHOUT_EXTENSIONS {
                crate::extensions::decoding_plain_allocs(decode)
            } else {
                decode()
            }
        };
        let (data, records, access, deploys, rest) = if version <= SPECS_WITHOUT_EXTENSIONS {
            crate::extensions::decoding_format_1(plain_allocs)?
        } else {
            plain_allocs()?
        };
        if !rest.is_empty() {
            return Err(fail(
                bytes.len() - rest.len(),
                "trailing bytes after the body",
            ));
        }
        let indexes = Indexes::rebuild(&data.nodes, data.allocs.values());
        let changes = Changes::restored_at(data.index);
        let events = EventLog::restored_at(data.index);
        Ok(Self {
            data,
            records,
            access,
            deploys,
            indexes,
            changes,
            events,
        })
    }
}

/// The body's parts as `version` lays them out, and what follows them.
fn decode_body<'a>(
    bytes: &[u8],
    body: &'a [u8],
    version: u32,
) -> Result<(Data, Records, Access, Deploys, &'a [u8]), SnapshotError> {
    let (data, rest): (Data, &[u8]) = postcard::take_from_bytes(body)
        .map_err(|e| fail(HEADER_LEN, format!("undecodable body: {e}")))?;
    let (records, rest) = if version >= 3 {
        let at = bytes.len() - rest.len();
        postcard::take_from_bytes::<Records>(rest)
            .map_err(|e| fail(at, format!("undecodable records: {e}")))?
    } else {
        (Records::default(), rest)
    };
    let (access, rest) = if version >= 4 {
        let at = bytes.len() - rest.len();
        postcard::take_from_bytes::<Access>(rest)
            .map_err(|e| fail(at, format!("undecodable access control table: {e}")))?
    } else {
        (Access::default(), rest)
    };
    let (deploys, rest) = if version >= FIRST_WITH_DEPLOYMENTS {
        let at = bytes.len() - rest.len();
        postcard::take_from_bytes::<Deploys>(rest)
            .map_err(|e| fail(at, format!("undecodable deployment records: {e}")))?
    } else {
        (Deploys::default(), rest)
    };
    Ok((data, records, access, deploys, rest))
}

/// The canonical encoding of everything replicated: what snapshots hold
/// and digests hash.
pub(super) fn body(data: &Data, records: &Records, access: &Access, deploys: &Deploys) -> Vec<u8> {
    let body = postcard::to_stdvec(data).expect("state data always serializes");
    let body = postcard::to_extend(records, body).expect("records always serialize");
    let body = postcard::to_extend(access, body).expect("the access table always serializes");
    postcard::to_extend(deploys, body).expect("deployment records always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::JobId;
    use crate::job::JobSpec;
    use crate::resources::Resources;
    use crate::state::{Command, CommandKind};

    /// Format 2 (written before records existed) is the data alone: it
    /// restores, with no keyed writes.
    #[test]
    fn a_format_2_snapshot_restores_without_records() {
        let mut state = ClusterState::new();
        let spec = JobSpec::batch(
            JobId::new("j").expect("valid"),
            vec!["true".into()],
            Resources::new(100, 64, 0),
        );
        let keyed = CommandKind::Keyed {
            key: "k".into(),
            command: Box::new(CommandKind::SubmitJob(spec)),
        };
        state.apply(1, Command::new(1_000, keyed)).expect("applies");
        let body = crate::extensions::encoding_format_1(|| postcard::to_stdvec(&state.data))
            .expect("encodes");
        let mut v2 = Vec::new();
        v2.extend_from_slice(MAGIC);
        v2.extend_from_slice(&2u32.to_le_bytes());
        v2.extend_from_slice(&(body.len() as u64).to_le_bytes());
        v2.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
        v2.extend_from_slice(&body);
        let restored = ClusterState::restore(&v2).expect("format 2 restores");
        assert_eq!(restored.data, state.data);
        assert!(restored.keyed_write("k").is_none());
        assert!(
            ClusterState::restore(&state.snapshot())
                .expect("format 5")
                .keyed_write("k")
                .is_some()
        );
    }

    /// Format 4 and before hold specs without extensions: they restore,
    /// every spec with default extensions.
    #[test]
    fn a_format_4_snapshot_restores_its_specs() {
        let mut state = ClusterState::new();
        let spec = JobSpec::batch(
            JobId::new("j").expect("valid"),
            vec!["true".into()],
            Resources::new(100, 64, 0),
        );
        state
            .apply(1, Command::new(1_000, CommandKind::SubmitJob(spec)))
            .expect("applies");
        let v4 = relabelled(
            &crate::extensions::encoding_format_1(|| state.snapshot()),
            4,
        );
        let restored = ClusterState::restore(&v4).expect("format 4 restores");
        assert_eq!(restored, state);
        assert!(
            ClusterState::restore(&state.snapshot()).is_ok(),
            "the current format restores"
        );
        let mislabelled = relabelled(&state.snapshot(), 4);
        assert!(
            ClusterState::restore(&mislabelled).is_err(),
            "current bytes read as format 4 must fail, not misread"
        );
    }

    /// A version byte damaged into another readable version, or a damaged
    /// length, is refused by the checksum, whatever the body holds.
    #[test]
    fn a_damaged_header_is_refused() {
        let state = ClusterState::new();
        let good = state.snapshot();
        for version in OLDEST_READABLE_VERSION..SNAPSHOT_FORMAT_VERSION {
            let mut damaged = good.clone();
            damaged[8..12].copy_from_slice(&version.to_le_bytes());
            let error = ClusterState::restore(&damaged).expect_err("refused");
            assert!(error.to_string().contains("checksum"), "{error}");
        }
    }
}
