//! Properties of the replicated state machine under random command sequences:
//! apply never panics, errors change nothing, snapshots preserve everything,
//! replicas agree, and plans never overfill a node.

use std::collections::{BTreeMap, BTreeSet};

use drover_core::acl::{NewToken, Policy};
use drover_core::gc::{self, GcPolicy};
use drover_core::job::{Driver, JobKind, JobSpec};
use drover_core::reconcile::{Leadership, ReconcileConfig, plan_cycle, reconcile};
use drover_core::scheduler::SchedulerConfig;
use drover_core::state::{AllocReport, ApplyError, Collection, Placement, Plan, PlanStop, Success};
use drover_core::{
    AllocId, AllocStatus, ClusterState, Command, CommandKind, JobId, NodeId, NodeRegistration,
    NodeRole, Resources,
};
use proptest::prelude::*;

fn node_id() -> impl Strategy<Value = NodeId> {
    (0..6u8).prop_map(|i| NodeId::new(format!("n{i}")).unwrap())
}

fn job_id() -> impl Strategy<Value = JobId> {
    (0..5u8).prop_map(|i| JobId::new(format!("j{i}")).unwrap())
}

fn alloc_id() -> impl Strategy<Value = AllocId> {
    (0..40u64).prop_map(AllocId)
}

fn registration() -> impl Strategy<Value = NodeRegistration> {
    (
        node_id(),
        prop_oneof![4 => Just("eu"), 4 => Just("us"), 1 => Just(""), 1 => Just("-bad")],
        prop_oneof![
            4 => Just(NodeRole::Hybrid),
            4 => Just(NodeRole::Worker),
            1 => Just(NodeRole::Control)
        ],
        (0..16_000u64, 0..32_768u64, 0..3u32),
        prop_oneof![
            8 => Just(vec!["default"]),
            1 => Just(vec![]),
            1 => Just(vec!["default", "bad pool"]),
        ],
        prop::collection::btree_map(
            prop_oneof![Just("arch"), Just("zone"), Just("")],
            Just("x"),
            0..3,
        ),
        prop_oneof![
            6 => Just(BTreeSet::from([Driver::Exec, Driver::Docker])),
            1 => Just(BTreeSet::from([Driver::Exec])),
            1 => Just(BTreeSet::from([Driver::Docker])),
            1 => Just(BTreeSet::new()),
        ],
    )
        .prop_map(
            |(id, region, role, (cpu, mem, gpus), pools, labels, drivers)| NodeRegistration {
                address: format!("{id}:7401"),
                id,
                region: region.into(),
                labels: labels
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
                role,
                capacity: Resources::new(cpu, mem, gpus),
                pools: pools.into_iter().map(String::from).collect::<BTreeSet<_>>(),
                drivers,
            },
        )
}

/// Mostly valid specs, with some that break a rule apply must enforce.
fn spec() -> impl Strategy<Value = JobSpec> {
    (
        job_id(),
        prop_oneof![
            Just(JobKind::Batch),
            (0..4u32).prop_map(|replicas| JobKind::Service { replicas }),
            Just(JobKind::System),
            Just(JobKind::Service { replicas: 20_000 }),
            Just(JobKind::Batch),
            Just(JobKind::Batch),
        ],
        (
            0..3000u64,
            0..4096u64,
            prop_oneof![4 => Just(0u32), 1 => Just(1u32)],
        ),
        prop_oneof![9 => Just(None), 1 => Just(Some("busybox".to_string()))],
        prop_oneof![9 => Just(50u8), 1 => Just(0u8)],
        (
            any::<bool>(),
            prop_oneof![4 => Just(0u32), 1 => 1..3u32],
            any::<bool>(),
        ),
    )
        .prop_map(
            |(id, kind, (cpu, mem, gpus), image, priority, (docker, canary, auto_revert))| {
                let mut spec =
                    JobSpec::batch(id, vec!["true".into()], Resources::new(cpu, mem, gpus));
                spec.kind = kind;
                spec.priority = priority;
                spec.ext.update.canary = canary;
                spec.ext.update.auto_revert = auto_revert;
                if docker {
                    spec.task.driver = Driver::Docker;
                    spec.task.image = image.or(Some("busybox".into()));
                } else {
                    spec.task.image = image;
                }
                spec
            },
        )
}

fn plan() -> impl Strategy<Value = Plan> {
    let stop = (alloc_id(), Just("planned")).prop_map(|(alloc, reason)| PlanStop {
        alloc,
        reason: reason.into(),
    });
    let version = prop_oneof![6 => Just(1u64), 1 => 0..4u64];
    let placement = (job_id(), version, node_id(), prop::option::of(alloc_id())).prop_map(
        |(job, job_version, node, previous)| Placement {
            job,
            job_version,
            node,
            previous,
        },
    );
    (
        prop::collection::vec(stop, 0..3),
        prop::collection::vec(placement, 0..6),
    )
        .prop_map(|(stops, placements)| Plan {
            stops,
            placements,
            based_on_index: None,
        })
}

fn status() -> impl Strategy<Value = AllocStatus> {
    prop_oneof![
        Just(AllocStatus::Pending),
        Just(AllocStatus::Running),
        Just(AllocStatus::Complete),
        Just(AllocStatus::Failed),
        Just(AllocStatus::Unknown),
        Just(AllocStatus::Lost),
        Just(AllocStatus::Stopped),
    ]
}

/// A log entry before it meets the state: most worker reports come from
/// the allocation's owner, as they do in a real cluster, which a generator
/// that cannot see the state would almost never hit.
#[derive(Debug, Clone)]
enum Step {
    Raw(Box<CommandKind>),
    OwnerReports {
        pick: prop::sample::Index,
        status: AllocStatus,
        exit_code: Option<i32>,
    },
    /// The leader's garbage collection as it would find it now.
    Collect(GcPolicy),
    /// What the leader's reconciler and scheduler would propose now: real
    /// placements, which random plans rarely are.
    LeaderTurn,
}

impl Step {
    fn realize(self, state: &ClusterState, now_ms: u64) -> CommandKind {
        match self {
            Self::Raw(kind) => *kind,
            Self::LeaderTurn => {
                let cycle = plan_cycle(
                    state,
                    now_ms,
                    &ReconcileConfig::default(),
                    Leadership { since_ms: 0 },
                    SchedulerConfig::default(),
                );
                // One command, never a batch (batches do not nest): the
                // plan if there is one.
                let mut commands = cycle.commands;
                let plan = commands
                    .iter()
                    .position(|c| matches!(c, CommandKind::ApplyPlan(_)));
                // Without the plan's base index: logs here replay at other
                // indexes (batched, restarted), where it would mean another
                // state.
                match plan.or_else(|| (!commands.is_empty()).then_some(0)) {
                    Some(at) => match commands.swap_remove(at) {
                        CommandKind::ApplyPlan(plan) => CommandKind::ApplyPlan(Plan {
                            based_on_index: None,
                            ..plan
                        }),
                        other => other,
                    },
                    None => CommandKind::Heartbeat {
                        node: NodeId::new("n0").unwrap(),
                    },
                }
            }
            Self::Collect(policy) => CommandKind::CollectGarbage(
                gc::find(state, now_ms, &policy, 8).unwrap_or(Collection {
                    policy,
                    ..Collection::default()
                }),
            ),
            Self::OwnerReports {
                pick,
                status,
                exit_code,
            } => {
                // Unfinished allocations first: a report about a finished
                // one is refused, and those are common enough already.
                let unfinished: Vec<_> =
                    state.allocs().filter(|a| !a.status.is_terminal()).collect();
                let allocs: Vec<_> = if unfinished.is_empty() {
                    state.allocs().collect()
                } else {
                    unfinished
                };
                let (alloc, node) = if allocs.is_empty() {
                    (AllocId(1), NodeId::new("n0").unwrap())
                } else {
                    let a = allocs[pick.index(allocs.len())];
                    (a.id, a.node.clone())
                };
                CommandKind::AllocUpdate(AllocReport {
                    alloc,
                    node,
                    status,
                    exit_code,
                    message: String::new(),
                })
            }
        }
    }
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => command_kind().prop_map(|k| Step::Raw(Box::new(k))),
        3 => (any::<prop::sample::Index>(), status(), prop::option::of(-1..2i32))
            .prop_map(|(pick, status, exit_code)| Step::OwnerReports { pick, status, exit_code }),
        1 => gc_policy().prop_map(Step::Collect),
        1 => Just(Step::LeaderTurn),
    ]
}

/// Retentions short against the log's clock, so that much qualifies.
fn gc_policy() -> impl Strategy<Value = GcPolicy> {
    (0..2000u64, 0..2000u64, 0..2000u64, 0..3u32, 0..2000u64).prop_map(
        |(job, alloc, node, keep, key)| GcPolicy {
            job_retention_ms: job,
            alloc_retention_ms: alloc,
            node_retention_ms: node,
            keep_allocs: keep,
            key_retention_ms: key,
        },
    )
}

/// A collection naming anything at all: apply must keep what does not
/// qualify.
fn collection() -> impl Strategy<Value = Collection> {
    (
        prop::collection::vec(job_id(), 0..3),
        prop::collection::vec(alloc_id(), 0..6),
        prop::collection::vec(node_id(), 0..2),
        prop::collection::vec(key(), 0..2),
        gc_policy(),
    )
        .prop_map(|(jobs, allocs, nodes, keys, policy)| Collection {
            jobs,
            allocs,
            nodes,
            keys,
            policy,
        })
}

/// Idempotency keys: a few, so that repeats are common, and some invalid.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (0..4u8).prop_map(|k| format!("key-{k}")),
        1 => Just(String::new()),
        1 => Just("x".repeat(129)),
    ]
}

/// A keyed write: mostly of a kind that takes a key.
fn keyed() -> impl Strategy<Value = CommandKind> {
    let command = prop_oneof![
        3 => spec().prop_map(CommandKind::SubmitJob),
        1 => (spec(), prop::option::of(0..4u64))
            .prop_map(|(spec, expected_version)| CommandKind::UpdateJob { spec, expected_version }),
        1 => job_id().prop_map(|job| CommandKind::StopJob { job }),
        1 => node_id().prop_map(|node| CommandKind::Heartbeat { node }),
    ];
    (key(), command).prop_map(|(key, command)| CommandKind::Keyed {
        key,
        command: Box::new(command),
    })
}

/// Tokens with accessors from a small set (so that some collide), now
/// and then a bad name or pool; bootstraps with and without a reset.
fn acl_command() -> impl Strategy<Value = CommandKind> {
    let accessor = prop_oneof![
        Just("aaaaaaaaaaaaaaaa".to_string()),
        Just("bbbbbbbbbbbbbbbb".to_string()),
        Just("not-hex".to_string()),
    ];
    let policy = prop_oneof![
        Just(Policy::Management),
        Just(Policy::Read),
        Just(Policy::JobWrite {
            pools: vec!["default".into()]
        }),
        Just(Policy::JobWrite {
            pools: vec!["Bad Pool".into()]
        }),
    ];
    let token = (
        accessor.clone(),
        prop_oneof![Just("ci"), Just("")],
        policy,
        any::<[u8; 16]>(),
    )
        .prop_map(|(accessor, name, policy, salt)| {
            NewToken::new(accessor, name.to_string(), policy, salt, &"ab".repeat(32))
        });
    prop_oneof![
        (token.clone(), prop::option::of(0..4u64))
            .prop_map(|(token, reset_index)| CommandKind::AclBootstrap { token, reset_index }),
        token.prop_map(CommandKind::AclCreateToken),
        accessor.prop_map(|accessor| CommandKind::AclRevokeToken { accessor }),
    ]
}

fn command_kind() -> impl Strategy<Value = CommandKind> {
    prop_oneof![
        1 => acl_command(),
        3 => registration().prop_map(CommandKind::RegisterNode),
        2 => node_id().prop_map(|node| CommandKind::Heartbeat { node }),
        1 => (node_id(), 0..2000u64).prop_map(|(node, last_heartbeat_ms)| {
            CommandKind::MarkNodeDisconnected { node, last_heartbeat_ms }
        }),
        1 => (node_id(), 0..2000u64)
            .prop_map(|(node, last_heartbeat_ms)| CommandKind::MarkNodeDown { node, last_heartbeat_ms }),
        1 => (node_id(), any::<bool>()).prop_map(|(node, enable)| CommandKind::DrainNode { node, enable }),
        3 => spec().prop_map(CommandKind::SubmitJob),
        1 => (spec(), prop::option::of(0..4u64))
            .prop_map(|(spec, expected_version)| CommandKind::UpdateJob { spec, expected_version }),
        1 => job_id().prop_map(|job| CommandKind::StopJob { job }),
        1 => collection().prop_map(CommandKind::CollectGarbage),
        1 => keyed(),
        5 => plan().prop_map(CommandKind::ApplyPlan),
        3 => (alloc_id(), node_id(), status(), prop::option::of(-1..2i32)).prop_map(
            |(alloc, node, status, exit_code)| CommandKind::AllocUpdate(AllocReport {
                alloc,
                node,
                status,
                exit_code,
                message: String::new(),
            })
        ),
        1 => (alloc_id(), node_id(), 0..3u8).prop_map(|(alloc, node, status)| {
            use drover_core::health::{HealthReport, HealthStatus};
            let status = [HealthStatus::Pending, HealthStatus::Healthy, HealthStatus::Unhealthy]
                [usize::from(status)];
            CommandKind::AllocHealth(HealthReport {
                alloc,
                node,
                status,
                check: "tcp on db".into(),
                output: "x".repeat(600),
            })
        }),
        1 => (job_id(), 0..4u64, any::<bool>()).prop_map(|(job, version, failed)| {
            use drover_core::state::{Outcome, Settlement};
            let outcome = if failed {
                Outcome::Failed("an instance missed its deadline".into())
            } else {
                Outcome::Succeeded
            };
            CommandKind::SettleDeployment(Settlement { job, version, outcome })
        }),
        1 => (job_id(), 0..4u64)
            .prop_map(|(job, version)| CommandKind::PromoteDeployment { job, version }),
    ]
}

/// A log: commands with leader timestamps and indexes, mostly increasing,
/// sometimes stale (a replayed or reordered entry).
fn log() -> impl Strategy<Value = Vec<(u64, u64, Step)>> {
    prop::collection::vec((0..10u8, 0..500u64, step()), 1..80).prop_map(|entries| {
        let mut index = 0u64;
        let mut now_ms = 1_000u64;
        entries
            .into_iter()
            .map(|(roll, dt, step)| {
                if roll == 0 {
                    index = index.saturating_sub(1);
                } else {
                    index += 1;
                }
                now_ms += dt;
                (index, now_ms, step)
            })
            .collect()
    })
}

/// The state after `log`, with the highest index and the last time seen.
fn replay(log: Vec<(u64, u64, Step)>) -> (ClusterState, (u64, u64)) {
    let mut state = ClusterState::new();
    let mut last = (0, 1_000);
    for (index, now_ms, step) in log {
        let cmd = Command::new(now_ms, step.realize(&state, now_ms));
        let _ = state.apply(index, cmd);
        last = (last.0.max(index), now_ms);
    }
    (state, last)
}

/// What a state holds, leaving out the log indexes things were changed at:
/// a batch's commands share one index where one by one each has its own.
/// The two runs of a batch property number their entries differently: a
/// bootstrap's reset names an index, so it is left out there.
fn same_at_any_index(kind: CommandKind) -> CommandKind {
    match kind {
        CommandKind::AclBootstrap { token, .. } => CommandKind::AclBootstrap {
            token,
            reset_index: None,
        },
        other => other,
    }
}

/// A response without the log index a refused bootstrap names.
fn index_free(response: drover_core::Response) -> drover_core::Response {
    match response {
        Err(ApplyError::AclAlreadyBootstrapped { .. }) => {
            Err(ApplyError::AclAlreadyBootstrapped { index: 0 })
        }
        other => other,
    }
}

fn without_indexes(state: &ClusterState) -> String {
    let jobs: Vec<_> = state
        .jobs()
        .map(|j| (&j.spec, j.status, j.submitted_ms, j.modified_ms))
        .collect();
    let allocs: Vec<_> = state
        .allocs()
        .map(|a| {
            let mut a = a.clone();
            (a.create_index, a.modify_index) = (0, 0);
            a
        })
        .collect();
    let nodes: Vec<_> = state
        .nodes()
        .map(|n| {
            let mut n = n.clone();
            n.modify_index = 0;
            n
        })
        .collect();
    format!(
        "{jobs:?}\n{allocs:?}\n{nodes:?}\n{:?}",
        used_per_node(state)
    )
}

fn used_per_node(state: &ClusterState) -> BTreeMap<NodeId, Resources> {
    state
        .nodes()
        .map(|n| (n.id.clone(), state.node_used(&n.id)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn errors_leave_the_state_untouched(log in log()) {
        let mut state = ClusterState::new();
        for (index, now_ms, step) in log {
            let cmd = Command::new(now_ms, step.realize(&state, now_ms));
            let before = state.clone();
            let digest = state.digest();
            if state.apply(index, cmd).is_err() {
                prop_assert_eq!(state.digest(), digest);
                prop_assert!(state == before);
                prop_assert_eq!(used_per_node(&state), used_per_node(&before));
            }
        }
    }

    #[test]
    fn snapshot_restore_preserves_everything(log in log()) {
        let mut state = ClusterState::new();
        for (index, now_ms, step) in log {
            let cmd = Command::new(now_ms, step.realize(&state, now_ms));
            let _ = state.apply(index, cmd);
            let restored = ClusterState::restore(&state.snapshot()).unwrap();
            prop_assert_eq!(restored.digest(), state.digest());
            prop_assert!(restored == state);
            // Derived indexes rebuilt from scratch agree with the incremental ones.
            prop_assert_eq!(used_per_node(&restored), used_per_node(&state));
        }
    }

    #[test]
    fn replicas_agree_at_every_index(log in log(), restart_at in 0..80usize) {
        let mut a = ClusterState::new();
        let mut b = ClusterState::new();
        for (i, (index, now_ms, step)) in log.into_iter().enumerate() {
            let cmd = Command::new(now_ms, step.realize(&a, now_ms));
            if i == restart_at {
                // Replica b restarts from its snapshot mid-log.
                b = ClusterState::restore(&b.snapshot()).unwrap();
            }
            let ra = a.apply(index, cmd.clone());
            let rb = b.apply(index, cmd);
            prop_assert_eq!(ra, rb);
            prop_assert_eq!(a.index(), b.index());
            prop_assert_eq!(a.digest(), b.digest());
        }
    }

    #[test]
    fn plans_never_overfill_a_node(log in log()) {
        let mut state = ClusterState::new();
        for (index, now_ms, step) in log {
            let cmd = Command::new(now_ms, step.realize(&state, now_ms));
            if let Ok(Success::Plan(result)) = state.apply(index, cmd) {
                for alloc in &result.placed {
                    let node = &state.alloc(*alloc).unwrap().node;
                    let capacity = state.node(node).unwrap().capacity;
                    let used = state.node_used(node);
                    prop_assert!(capacity.covers(used), "{node} holds {used} of {capacity}");
                }
            }
        }
    }

    #[test]
    fn terminal_results_are_final(log in log()) {
        let mut state = ClusterState::new();
        let mut first_terminal: BTreeMap<AllocId, (AllocStatus, Option<i32>)> = BTreeMap::new();
        for (index, now_ms, step) in log {
            let cmd = Command::new(now_ms, step.realize(&state, now_ms));
            let _ = state.apply(index, cmd);
            for alloc in state.allocs() {
                if alloc.status.is_terminal() {
                    let recorded = first_terminal.entry(alloc.id).or_insert((alloc.status, alloc.exit_code));
                    prop_assert_eq!(*recorded, (alloc.status, alloc.exit_code));
                }
            }
        }
    }

    #[test]
    fn a_batch_applies_as_its_commands_would_one_by_one(
        log in log(),
        sizes in prop::collection::vec(1..6usize, 1..40),
    ) {
        let mut batched = ClusterState::new();
        let mut single = ClusterState::new();
        let mut steps = log.into_iter().map(|(_, now_ms, step)| (now_ms, step)).peekable();
        let (mut batched_index, mut single_index) = (0u64, 0u64);
        for size in sizes.iter().cycle() {
            let Some(&(now_ms, _)) = steps.peek() else { break };
            let kinds: Vec<CommandKind> = steps
                .by_ref()
                .take(*size)
                .map(|(_, step)| same_at_any_index(step.realize(&single, now_ms)))
                .collect();
            batched_index += 1;
            let Ok(Success::Batch(responses)) =
                batched.apply(batched_index, Command::new(now_ms, CommandKind::Batch(kinds.clone())))
            else {
                panic!("a batch yields one response per command");
            };
            prop_assert_eq!(responses.len(), kinds.len());
            let before = single.index();
            for (kind, response) in kinds.into_iter().zip(responses) {
                single_index += 1;
                prop_assert_eq!(
                    index_free(single.apply(single_index, Command::new(now_ms, kind))),
                    index_free(response)
                );
            }
            // The entry's index is the state's once any of its commands applied.
            prop_assert_eq!(batched.index() == batched_index, single.index() != before);
            prop_assert_eq!(without_indexes(&batched), without_indexes(&single));
        }
    }

    #[test]
    fn restore_refuses_damaged_bytes_without_panicking(
        log in log(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1..=255u8), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut state = ClusterState::new();
        for (index, now_ms, step) in log {
            let cmd = Command::new(now_ms, step.realize(&state, now_ms));
            let _ = state.apply(index, cmd);
        }
        let good = state.snapshot();
        let mut flipped = good.clone();
        for (at, mask) in flips {
            let i = at.index(flipped.len());
            flipped[i] ^= mask;
        }
        prop_assert!(ClusterState::restore(&flipped).is_err());
        let truncated = &good[..cut.index(good.len())];
        prop_assert!(ClusterState::restore(truncated).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// What garbage collection forgets (finished jobs, superseded
    /// allocations) is nothing the reconciler reads: its decisions are the
    /// same with or without it, so forgetting never re-runs or stops work.
    #[test]
    fn forgetting_jobs_and_allocations_changes_no_decision(log in log(), policy in gc_policy()) {
        let (state, last) = replay(log);
        let (index, now_ms) = (last.0 + 1, last.1 + 5_000);
        let Some(mut found) = gc::find(&state, now_ms, &policy, usize::MAX) else {
            return Ok(());
        };
        found.nodes.clear();
        if found.is_empty() {
            return Ok(());
        }
        let config = ReconcileConfig::default();
        let leadership = Leadership { since_ms: 0 };
        let before = reconcile(&state, now_ms, &config, leadership);
        let mut after = state.clone();
        let response = after.apply(index, Command::new(now_ms, CommandKind::CollectGarbage(found.clone())));
        prop_assert!(matches!(response, Ok(Success::Collected { .. })), "{response:?}");
        for job in &found.jobs {
            prop_assert!(after.job(job).is_none());
            prop_assert_eq!(after.job_allocs(job).count(), 0);
        }
        for alloc in &found.allocs {
            prop_assert!(after.alloc(*alloc).is_none());
        }
        prop_assert_eq!(reconcile(&after, now_ms, &config, leadership), before);
        let restored = ClusterState::restore(&after.snapshot()).unwrap();
        prop_assert_eq!(used_per_node(&restored), used_per_node(&after));
    }

    /// A client retrying a write under the same idempotency key gets what
    /// the first write yielded, and the state does not change, whatever
    /// happened in between.
    #[test]
    fn a_repeated_keyed_write_yields_the_first_result_and_changes_nothing(
        log in log(),
        spec in spec(),
        between in prop::collection::vec(step(), 0..10),
    ) {
        let (mut state, last) = replay(log);
        let (mut index, now_ms) = (last.0 + 1, last.1 + 1);
        let write = CommandKind::Keyed {
            key: "retry-1".into(),
            command: Box::new(CommandKind::SubmitJob(spec.clone())),
        };
        let first = state.apply(index, Command::new(now_ms, write.clone()));
        for step in between {
            index += 1;
            let cmd = Command::new(now_ms, step.realize(&state, now_ms));
            let _ = state.apply(index, cmd);
        }
        let before = without_indexes(&state);
        index += 1;
        let again = state.apply(index, Command::new(now_ms, write));
        if first.is_ok() && state.keyed_write("retry-1").is_some() {
            prop_assert_eq!(again, first);
            prop_assert_eq!(without_indexes(&state), before);
        }
    }

    /// Nothing is forgotten that a later look would not forget too: every
    /// job, allocation and node left out was not collectable.
    #[test]
    fn what_stays_did_not_qualify(log in log(), policy in gc_policy()) {
        let mut state = ClusterState::new();
        let mut now = 1_000;
        for (index, now_ms, step) in log {
            let cmd = Command::new(now_ms, step.realize(&state, now_ms));
            let before = state.clone();
            if let Ok(Success::Collected { .. }) = state.apply(index, cmd.clone()) {
                let CommandKind::CollectGarbage(c) = cmd.kind else { unreachable!() };
                for job in before.jobs().filter(|j| state.job(&j.spec.id).is_none()) {
                    prop_assert!(c.jobs.contains(&job.spec.id));
                    prop_assert!(gc::job_collectable(&before, job, now_ms, &c.policy));
                }
                for node in before.nodes().filter(|n| state.node(&n.id).is_none()) {
                    prop_assert!(gc::node_collectable(&before, node, now_ms, &c.policy));
                }
                for alloc in before.allocs().filter(|a| state.alloc(a.id).is_none()) {
                    prop_assert!(alloc.status.is_terminal());
                    let job_went = state.job(&alloc.job).is_none();
                    let superseded = gc::collectable_allocs(&before, &alloc.job, now_ms, &c.policy)
                        .contains(&alloc.id);
                    prop_assert!(job_went || superseded, "{alloc:?} forgotten");
                }
            }
            now = now_ms;
        }
        // Finding twice in a row finds nothing new once applied.
        if let Some(found) = gc::find(&state, now, &policy, usize::MAX) {
            let _ = state.apply(u64::MAX - 1, Command::new(now, CommandKind::CollectGarbage(found)));
            prop_assert_eq!(gc::find(&state, now, &policy, usize::MAX), None);
        }
    }
}

#[test]
fn a_batch_inside_a_batch_is_refused_and_its_neighbours_still_apply() {
    let mut state = ClusterState::new();
    let job = |name: &str| {
        JobSpec::batch(
            JobId::new(name).unwrap(),
            vec!["true".into()],
            Resources::new(100, 64, 0),
        )
    };
    let inner = CommandKind::Batch(vec![CommandKind::SubmitJob(job("inner"))]);
    let outer = CommandKind::Batch(vec![
        CommandKind::SubmitJob(job("before")),
        inner,
        CommandKind::SubmitJob(job("after")),
    ]);
    let Ok(Success::Batch(responses)) = state.apply(1, Command::new(1_000, outer)) else {
        panic!("a batch yields one response per command");
    };
    assert!(
        matches!(responses[0], Ok(Success::JobAccepted { .. })),
        "{responses:?}"
    );
    assert_eq!(
        responses[1],
        Err(drover_core::state::ApplyError::NestedBatch)
    );
    assert!(
        matches!(responses[2], Ok(Success::JobAccepted { .. })),
        "{responses:?}"
    );
    let jobs: Vec<&str> = state.jobs().map(|j| j.spec.id.as_str()).collect();
    assert_eq!(jobs, ["after", "before"]);
    assert_eq!(state.index(), 1);
}

/// Guards the generator itself: random logs must reach the interesting
/// paths (placements, worker reports, terminal results, every kind of
/// refusal), or the properties above would pass vacuously.
#[test]
fn generated_logs_reach_interesting_states() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let mut seen: BTreeMap<&'static str, usize> = BTreeMap::new();
    for _ in 0..200 {
        let log = log().new_tree(&mut runner).unwrap().current();
        let mut state = ClusterState::new();
        for (index, now_ms, step) in log {
            let cmd = Command::new(now_ms, step.realize(&state, now_ms));
            let outcome = match state.apply(index, cmd) {
                Ok(Success::Plan(r)) if !r.placed.is_empty() => "placed",
                Ok(Success::Plan(r)) if !r.placements_refused.is_empty() => "placement refused",
                Ok(Success::AllocUpdated { status, .. }) if status.is_terminal() => {
                    "terminal report"
                }
                Ok(Success::AllocUpdated { .. }) => "running report",
                Ok(Success::JobAccepted { version, .. }) if version > 1 => "new version",
                Ok(Success::Collected { .. }) => "collected",
                Ok(_) => "other success",
                Err(drover_core::state::ApplyError::StaleIndex { .. }) => "stale index",
                Err(drover_core::state::ApplyError::InvalidSpec(_)) => "invalid spec",
                Err(drover_core::state::ApplyError::AlreadyTerminal { .. }) => "already terminal",
                Err(_) => "other error",
            };
            *seen.entry(outcome).or_default() += 1;
        }
    }
    for outcome in [
        "placed",
        "placement refused",
        "terminal report",
        "running report",
        "new version",
        "collected",
        "stale index",
        "invalid spec",
        "already terminal",
    ] {
        assert!(
            seen.get(outcome).copied().unwrap_or(0) >= 5,
            "{outcome} too rare: {seen:?}"
        );
    }
}
