//! Deployments end as they should: a version succeeds once every instance
//! is ready and becomes the stable one; a failed one under `auto_revert`
//! puts the stable version back; canaries run beside the old instances
//! until promoted; `progress_deadline` fails a deployment that stalls.

mod common;

use common::{Cluster, job_id, service};
use drover_core::health::{CheckKind, CheckSpec, HealthReport, HealthStatus};
use drover_core::state::{DeploymentStatus, Outcome, Settlement};
use drover_core::{AllocId, CommandKind, JobSpec, NodeId};

fn web() -> drover_core::JobId {
    job_id("web")
}

/// Versions of the live instances, sorted.
fn versions(c: &Cluster) -> Vec<u64> {
    let mut v: Vec<u64> = c.live("web").iter().map(|a| a.job_version).collect();
    v.sort_unstable();
    v
}

fn status_of(c: &Cluster, version: u64) -> Option<DeploymentStatus> {
    c.state.deployment(&web(), version).map(|d| d.status)
}

fn stable(c: &Cluster) -> Option<u64> {
    c.state.deployments(&web()).and_then(|d| d.stable)
}

fn update(c: &mut Cluster, spec: JobSpec) {
    let current = c.state.job(&web()).expect("web exists").spec.version;
    c.apply(CommandKind::UpdateJob {
        spec,
        expected_version: Some(current),
    })
    .expect("the update applies");
}

/// Three instances of `web`, deployed and stable at version 1.
fn deployed(configure: impl FnOnce(&mut JobSpec)) -> (Cluster, JobSpec) {
    let mut c = Cluster::new();
    c.add_nodes(3, "eu", 8000, 16_384);
    let mut spec = service("web", 3, 500, 256);
    spec.ext.ports = vec![drover_core::ports::PortAsk {
        label: "http".into(),
        fixed: None,
        to: None,
    }];
    spec.ext.update.healthy_deadline_ms = 30_000;
    configure(&mut spec);
    c.submit(spec.clone());
    c.settle(10);
    assert_eq!(versions(&c), [1, 1, 1]);
    assert_eq!(status_of(&c, 1), Some(DeploymentStatus::Succeeded));
    assert_eq!(stable(&c), Some(1));
    (c, spec)
}

/// `deployed(configure)`, then updated to a version 2 that differs by an
/// environment variable and, if `check`, has a tcp check.
fn updated(configure: impl FnOnce(&mut JobSpec), check: bool) -> Cluster {
    let (mut c, mut spec) = deployed(configure);
    spec.task.env.insert("V".into(), "2".into());
    update(&mut c, if check { checked(spec) } else { spec });
    c
}

/// `n` turns of the cluster, `step_ms` apart, every new instance of
/// version 2 reporting `status` in each.
fn rounds(c: &mut Cluster, n: usize, status: HealthStatus, step_ms: u64) {
    for _ in 0..n {
        c.settle(5);
        report_health(c, 2, status);
        c.advance(step_ms);
    }
}

/// `spec` with a tcp check on its port.
fn checked(mut spec: JobSpec) -> JobSpec {
    spec.ext.checks = vec![CheckSpec {
        kind: CheckKind::Tcp {
            port: "http".into(),
        },
        interval_ms: 1000,
        timeout_ms: 1000,
        grace_ms: 0,
        restart_after: None,
    }];
    spec
}

fn promote(c: &mut Cluster, version: u64) -> drover_core::Response {
    c.apply(CommandKind::PromoteDeployment {
        job: web(),
        version,
    })
}

/// Every new instance of `version` reports `status` once.
fn report_health(c: &mut Cluster, version: u64, status: HealthStatus) {
    let new: Vec<(AllocId, NodeId)> = c
        .live("web")
        .iter()
        .filter(|a| {
            a.job_version == version && a.ext.health.as_ref().map(|h| h.status) != Some(status)
        })
        .filter(|a| a.status == drover_core::AllocStatus::Running)
        .map(|a| (a.id, a.node.clone()))
        .collect();
    for (alloc, node) in new {
        c.apply(CommandKind::AllocHealth(HealthReport {
            alloc,
            node,
            status,
            check: "tcp on http".into(),
            output: "connection refused".into(),
        }))
        .expect("a health report applies");
    }
}

#[test]
fn a_deployment_succeeds_once_every_instance_is_ready_and_its_version_becomes_stable() {
    let mut c = updated(|_| {}, true);
    rounds(&mut c, 6, HealthStatus::Healthy, 1_000);
    c.settle(5);
    assert_eq!(versions(&c), [2, 2, 2]);
    assert_eq!(status_of(&c, 2), Some(DeploymentStatus::Succeeded));
    assert_eq!(stable(&c), Some(2));
}

#[test]
fn a_failed_deployment_under_auto_revert_puts_the_stable_version_back() {
    let (mut c, mut spec) = deployed(|s| s.ext.update.auto_revert = true);
    let first = c.state.job(&web()).unwrap().spec.clone();
    spec.task.env.insert("V".into(), "2".into());
    update(&mut c, checked(spec));
    rounds(&mut c, 8, HealthStatus::Unhealthy, 10_000);
    c.settle(10);
    let failed = c.state.deployment(&web(), 2);
    assert!(failed.is_none(), "version 3 is the latest now: {failed:?}");
    let job = c.state.job(&web()).unwrap();
    assert_eq!(job.spec.version, 3, "reverted as a new version");
    let mut back = first.clone();
    back.version = 3;
    assert_eq!(job.spec, back, "version 3 has version 1's spec");
    let history = c.state.job_history(&web());
    let two = history.iter().find(|v| v.spec.version == 2).unwrap();
    assert!(!two.spec.ext.checks.is_empty());
    assert_eq!(versions(&c), [3, 3, 3], "every instance runs the good spec");
    assert_eq!(status_of(&c, 3), Some(DeploymentStatus::Succeeded));
    assert_eq!(stable(&c), Some(3));
    let events: Vec<String> = c
        .state
        .events_since(0, &[], 10_000)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == drover_core::events::EventKind::DeploymentFailed)
        .map(|e| e.detail)
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(
        events[0].contains("not healthy within healthy_deadline 30s")
            && events[0].contains("auto_revert: version 1 is back as version 3"),
        "{}",
        events[0]
    );
}

/// Without `auto_revert`, the failure is recorded and the rollout stays
/// halted with the old instances serving. A new instance that turns
/// healthy later takes its own original's place, and no more.
#[test]
fn a_failed_deployment_without_auto_revert_stays_halted() {
    let mut c = updated(|_| {}, true);
    rounds(&mut c, 5, HealthStatus::Unhealthy, 10_000);
    c.settle(5);
    let failed = c.state.deployment(&web(), 2).expect("recorded");
    assert_eq!(failed.status, DeploymentStatus::Failed);
    assert!(
        failed.message.contains("healthy_deadline"),
        "{}",
        failed.message
    );
    assert_eq!(stable(&c), Some(1));
    assert_eq!(versions(&c), [1, 1, 1, 2]);
    report_health(&mut c, 2, HealthStatus::Healthy);
    for _ in 0..3 {
        c.advance(10_000);
        c.settle(5);
    }
    assert_eq!(
        versions(&c),
        [1, 1, 2],
        "halted for good: {:?}",
        c.live("web")
    );
    assert_eq!(status_of(&c, 2), Some(DeploymentStatus::Failed));
}

#[test]
fn canaries_run_beside_the_old_instances_until_promoted() {
    let mut c = updated(|s| s.ext.update.canary = 1, false);
    for _ in 0..5 {
        c.settle(5);
        c.advance(10_000);
    }
    assert_eq!(versions(&c), [1, 1, 1, 2], "one canary beside all three");
    assert!(c.state.awaiting_promotion(&web(), 2));
    assert_eq!(status_of(&c, 2), None, "running, nothing recorded yet");
    let early = c.apply(CommandKind::SettleDeployment(Settlement {
        job: web(),
        version: 2,
        outcome: Outcome::Succeeded,
    }));
    assert!(early.is_err(), "cannot succeed before promotion: {early:?}");
    promote(&mut c, 2).expect("promotes");
    c.settle(20);
    assert_eq!(versions(&c), [2, 2, 2]);
    assert_eq!(status_of(&c, 2), Some(DeploymentStatus::Succeeded));
    let again = promote(&mut c, 2);
    assert!(
        again
            .as_ref()
            .is_err_and(|e| e.to_string().contains("already succeeded")),
        "{again:?}"
    );
}

/// Blue-green: as many canaries as replicas.
#[test]
fn canaries_for_every_replica_are_blue_green() {
    let mut c = updated(|s| s.ext.update.canary = 3, false);
    c.settle(10);
    assert_eq!(versions(&c), [1, 1, 1, 2, 2, 2]);
    promote(&mut c, 2).expect("promotes");
    c.settle(20);
    assert_eq!(versions(&c), [2, 2, 2]);
}

#[test]
fn a_job_without_canaries_cannot_be_promoted() {
    let (mut c, _) = deployed(|_| {});
    let refused = promote(&mut c, 1);
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("no canaries")),
        "{refused:?}"
    );
}

/// A version none of whose instances can be placed makes no progress:
/// past `progress_deadline` the deployment fails, and `auto_revert` puts
/// the stable version back.
#[test]
fn a_deployment_that_makes_no_progress_fails_at_its_progress_deadline() {
    let (mut c, mut spec) = deployed(|s| {
        s.ext.update.auto_revert = true;
        s.ext.update.progress_deadline_ms = Some(60_000);
    });
    spec.task.resources = drover_core::Resources::new(100_000, 256, 0);
    update(&mut c, spec);
    c.settle(5);
    c.advance(59_000);
    c.settle(5);
    assert_eq!(c.state.job(&web()).unwrap().spec.version, 2);
    c.advance(1_000);
    c.settle(10);
    let job = c.state.job(&web()).unwrap();
    assert_eq!(job.spec.version, 3, "reverted");
    assert_eq!(job.spec.task.resources.cpu_millis, 500);
    c.settle(20);
    assert_eq!(versions(&c), [3, 3, 3]);
}

/// A failing canary under `auto_revert`: the canary goes, the old
/// instances stay, and the version put back (which asks for canaries
/// too) rolls out without waiting for a promotion.
#[test]
fn a_failing_canary_is_reverted_without_a_promotion() {
    let (mut c, mut spec) = deployed(|s| {
        s.ext.update.canary = 1;
        s.ext.update.auto_revert = true;
    });
    spec.task.env.insert("V".into(), "2".into());
    update(&mut c, checked(spec));
    c.settle(5);
    assert_eq!(versions(&c), [1, 1, 1, 2]);
    for _ in 0..4 {
        report_health(&mut c, 2, HealthStatus::Unhealthy);
        c.advance(10_000);
        c.settle(5);
    }
    assert_eq!(c.state.job(&web()).unwrap().spec.version, 3);
    let reverted = c.state.deployment(&web(), 3).expect("recorded");
    assert!(reverted.promoted, "{reverted:?}");
    c.settle(20);
    assert_eq!(versions(&c), [3, 3, 3]);
    assert_eq!(status_of(&c, 3), Some(DeploymentStatus::Succeeded));
}

/// The version an auto_revert put back fails too: there is nothing to go
/// back to (it is the stable version's spec), so the failure stands, once,
/// and no new version appears.
#[test]
fn a_failed_revert_is_not_reverted_again() {
    let mut c = updated(|s| s.ext.update.auto_revert = true, true);
    // Turn by turn, to catch version 3 before its deployment ends.
    for _ in 0..200 {
        c.heartbeat();
        c.cycle();
        if c.state.job(&web()).unwrap().spec.version == 3 {
            break;
        }
        c.workers();
        report_health(&mut c, 2, HealthStatus::Unhealthy);
        c.advance(1_000);
    }
    assert_eq!(c.state.job(&web()).unwrap().spec.version, 3);
    assert_eq!(stable(&c), Some(1));
    let fail_three = CommandKind::SettleDeployment(Settlement {
        job: web(),
        version: 3,
        outcome: Outcome::Failed("no new instance became ready".into()),
    });
    let settled = c.apply(fail_three.clone());
    assert!(
        matches!(
            settled,
            Ok(drover_core::state::Success::DeploymentSettled { version: 3, .. })
        ),
        "{settled:?}"
    );
    assert_eq!(c.state.job(&web()).unwrap().spec.version, 3, "no version 4");
    let three = c.state.deployment(&web(), 3).expect("recorded");
    assert_eq!(three.status, DeploymentStatus::Failed);
    assert!(
        three.message.contains("version 1's spec already"),
        "{}",
        three.message
    );
    assert_eq!(
        c.apply(fail_three),
        Ok(drover_core::state::Success::Unchanged)
    );
    let before = c.state.index();
    c.settle(5);
    let settles = c
        .state
        .events_since(before, &[], 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == drover_core::events::EventKind::DeploymentFailed)
        .count();
    assert_eq!(settles, 0, "nothing proposes the settlement again");
}

/// A spec asking only a long healthy deadline keeps it as its progress
/// deadline: the 10-minute default never cuts a deployment shorter.
#[test]
fn an_unset_progress_deadline_is_never_shorter_than_the_healthy_one() {
    use drover_core::spec::{Format, parse_job_spec};
    let spec = |update: &str| {
        parse_job_spec(
            &format!(
                "id = \"w\"\nkind = \"service\"\n[update]\n{update}\n[task]\ndriver = \"exec\"\ncommand = [\"true\"]\n"
            ),
            Format::Toml,
        )
        .expect("valid")
        .ext
        .update
        .progress_deadline_ms()
    };
    assert_eq!(spec(""), 600_000);
    assert_eq!(spec("healthy_deadline = \"15m\""), 900_000);
    assert_eq!(spec("progress_deadline = \"0s\""), 0);
    assert_eq!(
        spec("healthy_deadline = \"15m\"\nprogress_deadline = \"1h\""),
        3_600_000
    );
}

/// A canary that was ready and then fails a check, long after its
/// healthy_deadline, is not ready again; it does not fail the deployment.
#[test]
fn a_proven_canary_that_flaps_does_not_fail_the_deployment() {
    let mut c = updated(|s| s.ext.update.canary = 1, true);
    c.settle(5);
    report_health(&mut c, 2, HealthStatus::Healthy);
    c.advance(60_000);
    c.settle(5);
    assert!(c.state.awaiting_promotion(&web(), 2));
    report_health(&mut c, 2, HealthStatus::Unhealthy);
    c.advance(1_000);
    c.settle(5);
    assert_eq!(
        status_of(&c, 2),
        None,
        "still running: {:?}",
        c.state.deployment(&web(), 2)
    );
    report_health(&mut c, 2, HealthStatus::Healthy);
    promote(&mut c, 2).expect("promotes");
    rounds(&mut c, 5, HealthStatus::Healthy, 1_000);
    assert_eq!(versions(&c), [2, 2, 2]);
    assert_eq!(status_of(&c, 2), Some(DeploymentStatus::Succeeded));
}

/// A ready canary of a failed deployment gives way when auto_revert puts
/// the stable version back: the stable instance it stood beside stays.
#[test]
fn a_ready_canary_gives_way_to_the_stable_instance_after_a_revert() {
    let (mut c, mut spec) = deployed(|s| {
        s.ext.update.canary = 1;
        s.ext.update.auto_revert = true;
    });
    spec.task.env.insert("V".into(), "2".into());
    update(&mut c, checked(spec));
    c.settle(5);
    report_health(&mut c, 2, HealthStatus::Healthy);
    c.settle(5);
    assert_eq!(versions(&c), [1, 1, 1, 2]);
    let canary = c
        .live("web")
        .iter()
        .find(|a| a.job_version == 2)
        .unwrap()
        .id;
    c.apply(CommandKind::SettleDeployment(Settlement {
        job: web(),
        version: 2,
        outcome: Outcome::Failed("the operator saw errors".into()),
    }))
    .expect("settles");
    assert_eq!(c.state.job(&web()).unwrap().spec.version, 3);
    c.heartbeat();
    c.cycle();
    let canary = c.state.alloc(canary).unwrap();
    assert_eq!(
        canary.desired,
        drover_core::DesiredStatus::Stop,
        "{canary:?}"
    );
    let old = c.live("web").iter().filter(|a| a.job_version == 1).count();
    assert_eq!(old, 3, "every stable instance still runs");
    for _ in 0..3 {
        c.settle(20);
        c.advance(1_000);
    }
    assert_eq!(versions(&c), [3, 3, 3]);
}
