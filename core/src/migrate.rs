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

/// Where `alloc`'s local data comes from: `None` unless its job migrates
/// data and it replaces another allocation.
pub fn data_from(state: &ClusterState, alloc: &Allocation) -> Option<DataFrom> {
    let job = state.job(&alloc.job)?;
    if !job.spec.ext.ephemeral_disk.migrate {
        return None;
    }
    let previous = alloc.previous?;
    let unavailable = |why: &str| {
        Some(DataFrom::Unavailable {
            alloc: previous,
            why: why.to_string(),
        })
    };
    let Some(source) = state.alloc(previous) else {
        return unavailable("it was collected");
    };
    let node = state.node(&source.node);
    let reachable = node.is_some_and(|n| n.status == NodeStatus::Ready);
    match source.status {
        AllocStatus::Lost => unavailable("its node was lost"),
        AllocStatus::Unknown => unavailable("its node is cut off"),
        AllocStatus::Pending | AllocStatus::Running if source.desired == DesiredStatus::Stop => {
            if reachable {
                Some(DataFrom::Stopping(previous))
            } else {
                unavailable("its node stopped answering while it was being stopped")
            }
        }
        // A pair the reconciler resolves (a node that came back): the one
        // it keeps runs on with its own data.
        AllocStatus::Pending | AllocStatus::Running => unavailable("it still runs"),
        AllocStatus::Complete | AllocStatus::Failed | AllocStatus::Stopped => match node {
            Some(node) if reachable => Some(DataFrom::Ended {
                alloc: previous,
                address: node.address.clone(),
            }),
            _ => unavailable("its node is down"),
        },
    }
}
