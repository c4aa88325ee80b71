//! An allocation's local data (`[ephemeral_disk]`): the directory its task
//! keeps files in. Under `migrate`, a replacement starts with a copy of the
//! data of the allocation it replaces, taken once that one has stopped;
//! [`data_from`] says, from the replicated state, where the copy comes
//! from or why there is none. The worker fetches it; this decides.

use serde::{Deserialize, Serialize};

use crate::alloc::{AllocStatus, Allocation, DesiredStatus};
use crate::ids::AllocId;
use crate::node::NodeStatus;
use crate::state::ClusterState;

/// `[ephemeral_disk]` of a job spec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EphemeralDisk {
    /// A replacement starts with the data of the allocation it replaces.
    pub migrate: bool,
}

impl EphemeralDisk {
    // serde's `skip_serializing_if` passes a reference.
    #[allow(clippy::trivially_copy_pass_by_ref)]
    pub(crate) fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Where a replacement's local data is to come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataFrom {
    /// The allocation it replaces is being stopped: the replacement starts
    /// once it has ended, so the copy holds everything it wrote.
    Stopping(AllocId),
    /// It ended on the node at `address`: copy its data from there, then
    /// start.
    Ended { alloc: AllocId, address: String },
    /// Its data cannot be had: start without it, saying why.
    Unavailable { alloc: AllocId, why: String },
}

/// How far back [`data_from`] looks past allocations that never ran.
const MAX_HOPS: usize = 16;

/// Where `alloc`'s local data comes from: `None` unless its job migrates
/// data and it replaces another allocation. Allocations that never ran
/// (replaced again before they started: updates in quick succession) hold
/// no data; the one they were to take over from is asked instead.
pub fn data_from(state: &ClusterState, alloc: &Allocation) -> Option<DataFrom> {
    let job = state.job(&alloc.job)?;
    if !job.spec.ext.ephemeral_disk.migrate {
        return None;
    }
    let mut previous = alloc.previous?;
    for _ in 0..MAX_HOPS {
        let Some(source) = state.alloc(previous) else {
            return Some(unavailable(previous, "it was collected"));
        };
        match source.previous {
            Some(earlier) if never_ran(source) => previous = earlier,
            _ => return Some(from(state, source)),
        }
    }
    Some(unavailable(
        previous,
        "it is one of too many replacements that never ran",
    ))
}

fn never_ran(alloc: &Allocation) -> bool {
    alloc.ext.running_since_ms.is_none()
        && (alloc.status.is_terminal() || alloc.desired == DesiredStatus::Stop)
}

fn unavailable(alloc: AllocId, why: &str) -> DataFrom {
    DataFrom::Unavailable {
        alloc,
        why: why.to_string(),
    }
}

/// Where the data `source` kept comes from.
fn from(state: &ClusterState, source: &Allocation) -> DataFrom {
    let node = state.node(&source.node);
    let reachable = node.is_some_and(|n| n.status == NodeStatus::Ready);
    match source.status {
        AllocStatus::Lost => unavailable(source.id, "its node was lost"),
        AllocStatus::Unknown => unavailable(source.id, "its node is cut off"),
        AllocStatus::Pending | AllocStatus::Running if source.desired == DesiredStatus::Stop => {
            if reachable {
                DataFrom::Stopping(source.id)
            } else {
                unavailable(
                    source.id,
                    "its node stopped answering while it was being stopped",
                )
            }
        }
        // A pair the reconciler resolves (a node that came back): the one
        // it keeps runs on with its own data.
        AllocStatus::Pending | AllocStatus::Running => unavailable(source.id, "it still runs"),
        AllocStatus::Complete | AllocStatus::Failed | AllocStatus::Stopped => match node {
            Some(node) if reachable => DataFrom::Ended {
                alloc: source.id,
                address: node.address.clone(),
            },
            _ => unavailable(source.id, "its node is down"),
        },
    }
}
