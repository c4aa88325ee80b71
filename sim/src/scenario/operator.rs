//! An operator changing the voters during the safety phase, through the
//! public API from a machine of its own (so cuts apply to it as to any
//! client): `drover cluster remove` and `drover cluster add`, each sent to
//! one voter after another until one answers. Membership calls run beside
//! the fault schedule, not in its way; once the network is healed every
//! initial voter that is not a voter any more is added back.

use std::time::Duration;

use drover_proto::v1::{Empty, MemberRequest};
use madsim::runtime::NodeHandle;
use serde_json::json;

use super::{api, parse};
use crate::reality::Reality;
use crate::trace::Trace;

/// How long the leader waits for a node it adds to catch up, per call.
const CATCH_UP_WAIT_S: u32 = 10;

#[derive(Clone)]
pub(super) struct Operator {
    /// The initial voters' API addresses, node `i` at index `i - 1`.
    voters: Vec<String>,
    /// Told which voter sets may be in force, for the invariants that
    /// depend on what a quorum is.
    reality: Reality,
    trace: Trace,
}

impl Operator {
    pub(super) fn new(voters: Vec<String>, reality: Reality, trace: Trace) -> Self {
        Self {
            voters,
            reality,
            trace,
        }
    }

    fn addr_of(&self, id: u64) -> String {
        self.voters[usize::try_from(id - 1).unwrap_or(0)].clone()
    }

    /// Removes voter `id`, or adds it back, on `machine`; the outcome goes
    /// to the trace when it is known.
    pub(super) fn change(
        &self,
        machine: &NodeHandle,
        id: u64,
        remove: bool,
    ) -> madsim::task::JoinHandle<()> {
        let operator = self.clone();
        self.reality.voters_may_change(id, remove);
        machine.spawn(async move {
            let (done, outcome) = if remove {
                ("removed", operator.remove(id).await)
            } else {
                ("added back", operator.add(id).await)
            };
            let event = match outcome {
                Ok(()) => {
                    operator.reality.voters_changed(id, remove);
                    done.to_string()
                }
                Err(why) => format!("membership change refused: {why}"),
            };
            operator
                .trace
                .event(&format!("node-{id}"), &event, &json!({}));
        })
    }

    async fn remove(&self, id: u64) -> Result<(), String> {
        let request = MemberRequest {
            id,
            ..MemberRequest::default()
        };
        self.first_answer(|mut client| {
            let request = request.clone();
            async move { client.remove_member(request).await.map(|_| ()) }
        })
        .await
    }

    async fn add(&self, id: u64) -> Result<(), String> {
        let request = MemberRequest {
            id,
            addr: self.addr_of(id),
            wait_seconds: CATCH_UP_WAIT_S,
            ..MemberRequest::default()
        };
        self.first_answer(|mut client| {
            let request = request.clone();
            async move { client.add_member(request).await.map(|_| ()) }
        })
        .await
    }

    /// The first definite answer of any voter; unreachable voters and
    /// "try elsewhere" answers move on to the next.
    async fn first_answer<F, Fut>(&self, mut call: F) -> Result<(), String>
    where
        F: FnMut(super::Api) -> Fut,
        Fut: std::future::Future<Output = Result<(), tonic::Status>>,
    {
        let mut last = "no voter reachable".to_string();
        for addr in &self.voters {
            let Some(client) = api(addr).await else {
                continue;
            };
            match call(client).await {
                Ok(()) => return Ok(()),
                Err(status) if status.code() == tonic::Code::Unavailable => {
                    last = status.message().to_string();
                }
                Err(status) => return Err(status.message().to_string()),
            }
        }
        Err(last)
    }

    /// After healing: adds back every initial voter the leader does not
    /// count as a voter, until all are or `patience` has passed.
    pub(super) async fn restore_voters(&self, patience: Duration) {
        let deadline = tokio::time::Instant::now() + patience;
        while tokio::time::Instant::now() < deadline {
            let Some(missing) = self.missing_voters().await else {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            };
            if missing.is_empty() {
                return;
            }
            for id in missing {
                self.reality.voters_may_change(id, false);
                let event = match self.add(id).await {
                    Ok(()) => {
                        self.reality.voters_changed(id, false);
                        "added back".to_string()
                    }
                    Err(why) => format!("membership change refused: {why}"),
                };
                self.trace.event(&format!("node-{id}"), &event, &json!({}));
            }
        }
        self.trace
            .event("sim", "voters not all restored", &json!({}));
    }

    /// The initial voters that the leader's membership lacks as voters.
    async fn missing_voters(&self) -> Option<Vec<u64>> {
        for addr in &self.voters {
            let Some(mut client) = api(addr).await else {
                continue;
            };
            let Ok(reply) = client.cluster_members(Empty {}).await else {
                continue;
            };
            let doc = parse(&reply.into_inner().json);
            let members = doc["members"].as_array()?;
            let missing = (1..=self.voters.len() as u64)
                .filter(|id| !members.iter().any(|m| m["id"] == *id && m["voter"] == true))
                .collect();
            return Some(missing);
        }
        None
    }
}
