//! Job history and `job plan` over a pure cluster: every version is kept
//! (up to the depth), and a dry run says what a change would do without
//! changing anything.

mod common;

use common::{Cluster, job_id, service};
use drover_core::CommandKind;
use drover_core::dry_run::dry_run;
use drover_core::scheduler::SchedulerConfig;
use drover_core::state::HISTORY_DEPTH;

#[test]
fn every_version_is_kept_up_to_the_depth_with_the_oldest_dropped_first() {
    let mut c = Cluster::new();
    c.add_nodes(2, "eu", 4000, 8192);
    c.submit(service("web", 1, 100, 64));
    for n in 0..12 {
        let mut spec = service("web", 1, 100, 64);
        spec.task.env.insert("N".into(), n.to_string());
        c.apply(CommandKind::UpdateJob {
            spec,
            expected_version: None,
        })
        .unwrap();
    }
    let web = job_id("web");
    assert_eq!(c.state.job(&web).unwrap().spec.version, 13);
    let history = c.state.job_history(&web);
    assert_eq!(history.len(), HISTORY_DEPTH);
    let versions: Vec<u64> = history.iter().map(|v| v.spec.version).collect();
    assert_eq!(versions, (3..=12).collect::<Vec<_>>());
    assert_eq!(
        c.state.job_version(&web, 5).unwrap().task.env["N"],
        "3",
        "version 5 is the fourth update"
    );
    assert!(c.state.job_version(&web, 2).is_none(), "beyond the depth");
    assert_eq!(c.state.job_version(&web, 13).unwrap().version, 13);
}

#[test]
fn a_dry_run_says_what_would_change_and_changes_nothing() {
    let mut c = Cluster::new();
    c.add_nodes(3, "eu", 4000, 8192);
    c.submit(service("web", 2, 1000, 64));
    c.settle(5);
    let before = c.state.digest();
    let mut bigger = service("web", 3, 1000, 64);
    bigger.task.env.insert("MODE".into(), "fast".into());
    let run = dry_run(
        &c.state,
        bigger,
        c.now_ms,
        &c.config,
        SchedulerConfig::default(),
    )
    .unwrap();
    assert_eq!(c.state.digest(), before, "nothing committed");
    assert_eq!((run.check_index, run.new_version), (1, Some(2)));
    let paths: Vec<&str> = run.changes.iter().map(|c| c.path.as_str()).collect();
    assert!(paths.contains(&"task.env.MODE"), "{paths:?}");
    assert!(paths.iter().any(|p| p.contains("replicas")), "{paths:?}");
    assert_eq!(run.to_update, 2, "both running instances are of version 1");
    assert!(
        !run.place.is_empty() || !run.replace.is_empty(),
        "something is placed: {run:?}"
    );

    // Unchanged: no new version, nothing to do.
    let same = dry_run(
        &c.state,
        service("web", 2, 1000, 64),
        c.now_ms,
        &c.config,
        SchedulerConfig::default(),
    )
    .unwrap();
    assert_eq!(same.new_version, None);
    assert!(same.changes.is_empty() && same.place.is_empty() && same.stop.is_empty());

    // Too big for any node: the reasons it would stay pending.
    let huge = dry_run(
        &c.state,
        service("huge", 1, 64_000, 64),
        c.now_ms,
        &c.config,
        SchedulerConfig::default(),
    )
    .unwrap();
    assert_eq!((huge.check_index, huge.new_version), (0, Some(1)));
    assert!(huge.place.is_empty());
    assert!(
        huge.unplaced.iter().any(|l| l.contains("cpu")),
        "{:?}",
        huge.unplaced
    );
}
