//! Replacing a voter while the cluster serves, as docs/operations.md tells
//! an operator to: real agents on loopback, driven through the CLI.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Agent, cli, cluster_of, free_ports, job_ids, json, submit, wait_for};

/// Snapshots every few entries, so the new node is caught up by a
/// snapshot as well as by the log after it.
const SMALL_SNAPSHOTS: &str = "snapshot_every = 10\n";

fn members(addr: &str) -> Option<serde_json::Value> {
    json(addr, &["cluster", "members"])
}

fn voters(doc: &serde_json::Value) -> BTreeSet<u64> {
    doc["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["voter"] == true)
        .filter_map(|m| m["id"].as_u64())
        .collect()
}

fn submitted(dir: &std::path::Path, addrs: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range
        .map(|n| {
            assert!(submit(dir, addrs, n), "job-{n} was not acknowledged");
            format!("job-{n}")
        })
        .collect()
}

#[test]
fn a_dead_voter_is_replaced_by_a_new_node_and_the_cluster_survives_losing_another() {
    let dir = tempfile::tempdir().unwrap();
    let mut agents = cluster_of(
        dir.path(),
        &["control", "control", "control"],
        SMALL_SNAPSHOTS,
    );
    common::leader(&agents);
    let all = format!(
        "{},{},{}",
        agents[0].addr(),
        agents[1].addr(),
        agents[2].addr()
    );
    let mut acknowledged = submitted(dir.path(), &all, 0..30);

    // Node 3's disk is lost: the process dies and its data goes with it.
    agents[2].kill();
    std::fs::remove_dir_all(&agents[2].data).unwrap();
    let survivors = format!("{},{}", agents[0].addr(), agents[1].addr());
    acknowledged.extend(submitted(dir.path(), &survivors, 30..35));

    // Node 4 starts empty with `join`, announces itself and waits.
    let port = free_ports(1)[0];
    let config = dir.path().join("node-4.toml");
    let data = dir.path().join("data-4");
    std::fs::write(
        &config,
        format!(
            "id = 4\nrole = \"control\"\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n{SMALL_SNAPSHOTS}join = [\"{}\", \"{}\"]\n",
            data.display(),
            agents[0].addr(),
            agents[1].addr()
        ),
    )
    .unwrap();
    let mut node4 = Agent {
        id: 4,
        port,
        config,
        data,
        child: None,
    };
    node4.start();
    let waiting = wait_for("node 4 to announce itself", Duration::from_secs(20), || {
        let doc = members(&survivors)?;
        doc["waiting"]
            .as_array()?
            .iter()
            .any(|w| w["id"] == 4 && w["addr"] == node4.addr())
            .then_some(doc)
    });
    assert_eq!(voters(&waiting), BTreeSet::from([1, 2, 3]));
    // Waiting, it forms no cluster of its own: it answers from the others'.
    let status = json(&node4.addr(), &["cluster", "status"]).expect("node 4 relays");
    assert_ne!(status["node"], 4, "node 4 answered for itself: {status}");

    let added = cli(&survivors, &["cluster", "add", "4", &node4.addr()]);
    assert!(
        added.status.success(),
        "cluster add: {}",
        String::from_utf8_lossy(&added.stderr)
    );
    let removed = cli(&survivors, &["cluster", "remove", "3"]);
    assert!(
        removed.status.success(),
        "cluster remove: {}",
        String::from_utf8_lossy(&removed.stderr)
    );
    let after = members(&survivors).expect("members");
    assert_eq!(voters(&after), BTreeSet::from([1, 2, 4]), "{after}");
    assert_eq!(after["joint"], false, "{after}");
    let with_4 = format!("{survivors},{}", node4.addr());
    acknowledged.extend(submitted(dir.path(), &with_4, 35..40));

    // Node 1 dies: 2 and 4 are two of three voters, a majority.
    agents[0].kill();
    let rest = format!("{},{}", agents[1].addr(), node4.addr());
    acknowledged.extend(submitted(dir.path(), &rest, 40..45));
    let expected: BTreeSet<String> = acknowledged.into_iter().collect();
    // Node 4's own replica holds every acknowledged job.
    let on_4 = wait_for("node 4 to hold every job", Duration::from_secs(20), || {
        let ids: BTreeSet<String> = job_ids(&node4.addr())?.into_iter().collect();
        (ids == expected).then_some(ids)
    });
    assert_eq!(on_4.len(), 45);
    let leader = json(&rest, &["cluster", "status"]).expect("status")["leader"].clone();
    assert!(leader == 2 || leader == 4, "leader {leader}");
}

#[test]
fn changes_that_cannot_be_made_are_refused_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let mut agents = cluster_of(dir.path(), &["control", "control", "control"], "");
    common::leader(&agents);
    let addr = agents[0].addr();
    let taken = cli(&addr, &["cluster", "add", "2", "127.0.0.1:1"]);
    assert!(!taken.status.success());
    let said = String::from_utf8_lossy(&taken.stderr);
    assert!(said.contains("already a member"), "{said}");
    let nonsense = cli(&addr, &["cluster", "add", "9", "not-an-address"]);
    assert!(!nonsense.status.success());
    let said = String::from_utf8_lossy(&nonsense.stderr);
    assert!(said.contains("addr"), "{said}");
    let unknown = cli(&addr, &["cluster", "remove", "9"]);
    assert!(!unknown.status.success());
    let said = String::from_utf8_lossy(&unknown.stderr);
    assert!(said.contains("not a member"), "{said}");

    // With node 3 down, removing node 1 would leave voters 2 and 3, of
    // which only 2 answers: nothing could be committed again.
    agents[2].kill();
    let all = format!("{},{}", agents[0].addr(), agents[1].addr());
    let stranded = cli(&all, &["cluster", "remove", "1"]);
    assert!(!stranded.status.success());
    let said = String::from_utf8_lossy(&stranded.stderr);
    assert!(
        said.contains("--force") && said.contains("majority"),
        "{said}"
    );
    let doc = members(&all).expect("members");
    assert_eq!(voters(&doc), BTreeSet::from([1, 2, 3]), "{doc}");
    // Removing the dead one is what the operator should do, and works.
    let removed = cli(&all, &["cluster", "remove", "3"]);
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
}

#[test]
fn the_leader_can_be_removed_and_the_others_carry_on() {
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster_of(dir.path(), &["control", "control", "control"], "");
    let first = common::leader(&agents);
    let all = format!(
        "{},{},{}",
        agents[0].addr(),
        agents[1].addr(),
        agents[2].addr()
    );
    submitted(dir.path(), &all, 0..3);
    let removed = cli(&all, &["cluster", "remove", &first.to_string()]);
    assert!(
        removed.status.success(),
        "cluster remove: {}",
        String::from_utf8_lossy(&removed.stderr)
    );
    // It handed leadership over first: a leader that appends its own
    // removal can be left unable to stand while the others need its vote
    // (node/src/handover.rs).
    let old = agents.iter().find(|a| a.id == first).unwrap();
    let log = std::fs::read_to_string(old.config.with_extension("log")).unwrap();
    assert!(
        log.contains("handed leadership over before removing this node"),
        "{log}"
    );
    let others: Vec<&Agent> = agents.iter().filter(|a| a.id != first).collect();
    let rest = format!("{},{}", others[0].addr(), others[1].addr());
    let doc = wait_for(
        "a new leader among the other two",
        Duration::from_secs(20),
        || {
            let doc = members(&rest)?;
            let leader = doc["leader"].as_u64()?;
            (leader != first).then_some(doc)
        },
    );
    let expected: BTreeSet<u64> = others.iter().map(|a| a.id).collect();
    assert_eq!(voters(&doc), expected, "{doc}");
    submitted(dir.path(), &rest, 3..5);
    let ids: BTreeSet<String> = job_ids(&rest).expect("job list").into_iter().collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
}
