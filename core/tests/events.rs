//! The event stream as the state machine tells it: what a job, its
//! allocations and its nodes went through, in log order, each event under
//! the index that caused it; resumable from any index it still holds, and
//! an error (never a gap) for one it does not.

mod common;

use common::{Cluster, batch, job_id, node_id, registration, service};
use drover_core::events::{Event, EventKind, Topic};
use drover_core::{AllocStatus, ClusterState, CommandKind};

fn kinds(events: &[Event]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).collect()
}

fn all_events(state: &ClusterState) -> Vec<Event> {
    state.events_since(0, &[], usize::MAX).expect("all kept")
}

#[test]
fn a_batch_job_tells_its_whole_life() {
    use EventKind::*;
    let mut c = Cluster::new();
    c.add_nodes(1, "eu", 4000, 8192);
    c.submit(batch("report", 500, 128));
    c.settle(5);
    let alloc = c
        .state
        .job_allocs(&job_id("report"))
        .next()
        .unwrap()
        .clone();
    c.report(alloc.id, &alloc.node, AllocStatus::Complete, Some(0))
        .unwrap();
    let events = all_events(&c.state);
    assert_eq!(
        kinds(&events),
        [
            NodeRegistered,
            JobSubmitted,
            AllocPlaced,
            AllocRunning,
            AllocComplete
        ]
    );
    let complete = events.last().unwrap();
    assert_eq!(complete.key, alloc.id.to_string());
    assert_eq!(complete.job, Some(job_id("report")));
    assert_eq!(complete.node, Some(node_id("eu-0")));
    assert_eq!(complete.topic, Topic::Alloc);
    assert_eq!(complete.index, c.index, "the index of the report's entry");
    assert_eq!(complete.at_ms, c.now_ms);
    // Indexes never go back, and each names the entry that caused it.
    assert!(events.windows(2).all(|w| w[0].index <= w[1].index));
    assert_eq!(events[0].index, 1);
}

#[test]
fn a_node_lost_tells_its_allocations_lost_and_their_replacements() {
    use EventKind::*;
    let mut c = Cluster::new();
    c.add_nodes(2, "eu", 4000, 8192);
    c.submit(service("web", 2, 500, 128));
    c.settle(5);
    let before = c.index;
    let gone = node_id("eu-0");
    c.silent.insert(gone.clone());
    c.advance(c.config.heartbeat_ttl_ms + 1);
    c.settle(5);
    c.advance(c.config.max_disconnect_ms);
    c.settle(5);
    let events = c.state.events_since(before, &[], usize::MAX).unwrap();
    let about_gone: Vec<EventKind> = events
        .iter()
        .filter(|e| e.node.as_ref() == Some(&gone))
        .map(|e| e.kind)
        .collect();
    assert!(
        about_gone.starts_with(&[NodeDisconnected, AllocUnknown]),
        "{about_gone:?}"
    );
    assert!(about_gone.contains(&NodeDown), "{about_gone:?}");
    assert!(about_gone.contains(&AllocLost), "{about_gone:?}");
    let replaced = events.iter().any(|e| {
        e.kind == AllocPlaced && e.node.as_ref() != Some(&gone) && e.detail.contains("replacing")
    });
    assert!(replaced, "{events:#?}");
}

#[test]
fn jobs_and_drains_are_told_once_per_change() {
    use EventKind::*;
    let mut c = Cluster::new();
    c.add_nodes(1, "eu", 4000, 8192);
    let node = node_id("eu-0");
    c.submit(service("web", 1, 500, 128));
    c.apply(CommandKind::UpdateJob {
        spec: service("web", 2, 500, 128),
        expected_version: None,
    })
    .unwrap();
    c.apply(CommandKind::StopJob { job: job_id("web") })
        .unwrap();
    c.apply(CommandKind::StopJob { job: job_id("web") })
        .unwrap();
    for enable in [true, true, false] {
        c.apply(CommandKind::DrainNode {
            node: node.clone(),
            enable,
        })
        .unwrap();
    }
    let jobs = c.state.events_since(0, &[Topic::Job], usize::MAX).unwrap();
    assert_eq!(kinds(&jobs), [JobSubmitted, JobUpdated, JobStopped]);
    assert_eq!(jobs[1].detail, "version 2");
    let nodes = c.state.events_since(0, &[Topic::Node], usize::MAX).unwrap();
    assert_eq!(
        kinds(&nodes),
        [NodeRegistered, NodeDrainStarted, NodeDrainEnded]
    );
    // A refused command tells nothing.
    let told = all_events(&c.state).len();
    assert!(
        c.apply(CommandKind::StopJob {
            job: job_id("none")
        })
        .is_err()
    );
    assert_eq!(all_events(&c.state).len(), told);
}

#[test]
fn pages_resume_where_the_last_ended_without_gaps_or_repeats() {
    let mut c = Cluster::new();
    c.add_nodes(3, "eu", 8000, 16384);
    for i in 0..6 {
        c.submit(service(&format!("svc-{i}"), 3, 100, 64));
    }
    c.settle(10);
    let whole = all_events(&c.state);
    assert!(whole.len() > 40, "{}", whole.len());
    let mut resumed = Vec::new();
    let mut after = 0;
    loop {
        let page = c.state.events_since(after, &[], 7).unwrap();
        let Some(last) = page.last() else { break };
        after = last.index;
        resumed.extend(page);
    }
    assert_eq!(resumed, whole);
}

#[test]
fn a_page_never_splits_an_index() {
    let mut c = Cluster::new();
    c.add_nodes(1, "eu", 8000, 16384);
    c.submit(service("wide", 5, 100, 64));
    c.settle(1);
    let placed: Vec<Event> = c
        .state
        .events_since(0, &[Topic::Alloc], usize::MAX)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EventKind::AllocPlaced)
        .collect();
    assert_eq!(placed.len(), 5, "one plan placed all five");
    assert!(placed.iter().all(|e| e.index == placed[0].index));
    let page = c.state.events_since(placed[0].index - 1, &[], 1).unwrap();
    assert_eq!(page, placed, "the whole index or none of it");
}

#[test]
fn events_no_longer_kept_are_an_error_that_says_from_where_to_ask() {
    let mut c = Cluster::new();
    c.state.keep_events(4);
    c.add_nodes(10, "eu", 4000, 8192);
    let gone = c.state.events_since(1, &[], usize::MAX).unwrap_err();
    assert_eq!(gone.kept_after, 6);
    // 0 asks for whatever is held.
    assert_eq!(c.state.events_since(0, &[], usize::MAX).unwrap().len(), 4);
    assert!(gone.to_string().contains("ask from index 6"), "{gone}");
    let kept = c
        .state
        .events_since(gone.kept_after, &[], usize::MAX)
        .unwrap();
    assert_eq!(kept.len(), 4);
    assert_eq!(kept[0].index, 7);
}

#[test]
fn a_restored_replica_knows_no_events_before_its_snapshot_and_tells_the_same_after() {
    let mut c = Cluster::new();
    c.add_nodes(2, "eu", 4000, 8192);
    let taken_at = c.index;
    let mut restored = ClusterState::restore(&c.state.snapshot()).unwrap();
    let gone = restored.events_since(1, &[], usize::MAX).unwrap_err();
    assert_eq!(gone.kept_after, taken_at);
    assert!(
        restored
            .events_since(0, &[], usize::MAX)
            .unwrap()
            .is_empty()
    );
    c.add(registration("late", "us", 4000, 8192));
    c.submit(batch("after", 100, 64));
    // The same entries, at the same indexes, on the restored replica.
    restored
        .apply(
            taken_at + 1,
            drover_core::Command::new(
                c.now_ms,
                CommandKind::RegisterNode(registration("late", "us", 4000, 8192)),
            ),
        )
        .unwrap();
    restored
        .apply(
            taken_at + 2,
            drover_core::Command::new(c.now_ms, CommandKind::SubmitJob(batch("after", 100, 64))),
        )
        .unwrap();
    assert_eq!(
        restored.events_since(taken_at, &[], usize::MAX).unwrap(),
        c.state.events_since(taken_at, &[], usize::MAX).unwrap()
    );
}

#[test]
fn a_leader_elected_is_told_under_its_first_entry() {
    let mut c = Cluster::new();
    c.add_nodes(1, "eu", 4000, 8192);
    c.state.leader_elected(c.index + 1, 7);
    let leader = c.state.events_since(0, &[Topic::Leader], 10).unwrap();
    assert_eq!(leader.len(), 1);
    assert_eq!(leader[0].kind, EventKind::LeaderElected);
    assert_eq!((leader[0].index, leader[0].key.as_str()), (2, "7"));
    assert_eq!(leader[0].detail, "term 7");
    assert!(
        Topic::parse("nope")
            .unwrap_err()
            .contains("job, alloc, node or leader")
    );
    assert_eq!(Topic::parse("alloc"), Ok(Topic::Alloc));
}
