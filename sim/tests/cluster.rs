//! Whole Drover nodes under the simulator.

#![cfg(madsim)]

use std::time::Duration;

use drover_proto::v1::{ReadJob, SubmitJobRequest};
use drover_sim::cluster::SimCluster;

async fn submit(addrs: &[String], n: usize) -> bool {
    let spec = format!(
        "id = \"job-{n}\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"sim\", \"200\", \"0\"]\n"
    );
    for addr in addrs {
        let Ok(mut api) = drover_node::client::connect(addr).await else {
            continue;
        };
        let request = SubmitJobRequest {
            spec: spec.clone(),
            file_name: format!("job-{n}.toml"),
            check_index: None,
            idempotency_key: String::new(),
        };
        if api.submit_job(request).await.is_ok() {
            return true;
        }
    }
    false
}

async fn completed(addr: &str, job: &str) -> bool {
    let Ok(mut api) = drover_node::client::connect(addr).await else {
        return false;
    };
    let Ok(reply) = api
        .job_status(ReadJob {
            job: job.into(),
            stale: false,
            ..ReadJob::default()
        })
        .await
    else {
        return false;
    };
    let doc: serde_json::Value = serde_json::from_str(&reply.into_inner().json).unwrap_or_default();
    doc["allocations"]
        .as_array()
        .is_some_and(|a| a.iter().any(|a| a["status"] == "complete"))
}

async fn leader(addrs: &[String]) -> u64 {
    loop {
        if let Some(id) = terms(addrs).await.iter().find_map(|(leader, _)| *leader) {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[madsim::test]
async fn jobs_acknowledged_before_a_leader_crash_all_complete() {
    let cluster = SimCluster::start(3);
    let client = madsim::runtime::Handle::current()
        .create_node()
        .name("client")
        .ip([10, 0, 0, 100].into())
        .build();
    let addrs = cluster.addrs();
    let acknowledged = client
        .spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let mut acknowledged = Vec::new();
            for n in 0..10 {
                // A client retries until acknowledged, as a real one would.
                for _ in 0..60 {
                    if submit(&addrs, n).await {
                        acknowledged.push(format!("job-{n}"));
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            acknowledged
        })
        .await
        .unwrap();
    assert_eq!(acknowledged.len(), 10);
    let addrs = cluster.addrs();
    let leader = client
        .spawn(async move { leader(&addrs).await })
        .await
        .unwrap();
    cluster.crash(leader, 7);
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.restart(leader);
    let addrs = cluster.addrs();
    let all_done = client
        .spawn(async move {
            for _ in 0..60 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let mut done = 0;
                for job in &acknowledged {
                    if completed(&addrs[0], job).await || completed(&addrs[1], job).await {
                        done += 1;
                    }
                }
                if done == acknowledged.len() {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap();
    assert!(all_done, "every acknowledged job completes after the crash");
}

/// (leader, term) as each node reports it now.
async fn terms(addrs: &[String]) -> Vec<(Option<u64>, u64)> {
    let mut seen = Vec::new();
    for addr in addrs {
        let Ok(mut api) = drover_node::client::connect(addr).await else {
            continue;
        };
        let Ok(reply) = api.cluster_status(drover_proto::v1::Empty {}).await else {
            continue;
        };
        let doc: serde_json::Value =
            serde_json::from_str(&reply.into_inner().json).unwrap_or_default();
        seen.push((doc["leader"].as_u64(), doc["term"].as_u64().unwrap_or(0)));
    }
    seen
}

/// A 3-node cluster, and a host outside it for the client.
fn three_nodes_and_a_client() -> (SimCluster, madsim::runtime::NodeHandle) {
    let cluster = SimCluster::start(3);
    let client = madsim::runtime::Handle::current()
        .create_node()
        .name("client")
        .ip([10, 0, 0, 100].into())
        .build();
    (cluster, client)
}

/// The leader once there is one, and the highest term any node reports.
async fn leader_and_term(client: &madsim::runtime::NodeHandle, addrs: Vec<String>) -> (u64, u64) {
    client
        .spawn(async move {
            let leader = leader(&addrs).await;
            let term = terms(&addrs).await.iter().map(|(_, t)| *t).max().unwrap();
            (leader, term)
        })
        .await
        .unwrap()
}

/// The default Raft timing keeps one leader while every message takes
/// 1–220 ms (a round trip up to 440 ms, longer than the heartbeat): no
/// follower goes long enough without hearing the leader to campaign.
#[madsim::test]
async fn one_leader_holds_while_messages_take_up_to_220ms() {
    let (cluster, client) = three_nodes_and_a_client();
    let (leader, term) = leader_and_term(&client, cluster.addrs()).await;
    SimCluster::weather(Some(drover_sim::knobs::Weather {
        latency_ms: (1, 220),
        loss_per_mille: 0,
    }));
    let addrs = cluster.addrs();
    let (seen, acknowledged) = client
        .spawn(async move {
            let mut seen = Vec::new();
            let mut acknowledged = 0;
            for n in 0..60 {
                if submit(&addrs, n).await {
                    acknowledged += 1;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                seen.extend(terms(&addrs).await);
            }
            (seen, acknowledged)
        })
        .await
        .unwrap();
    assert!(seen.len() > 100, "the nodes answered: {seen:?}");
    for (l, t) in &seen {
        assert_eq!(
            (*l, *t),
            (Some(leader), term),
            "leadership changed under steady latency"
        );
    }
    assert!(acknowledged > 0, "writes still commit");
    eprintln!("under 1-220 ms latency: {acknowledged} of 60 submissions acknowledged");
}

/// After the leader dies with writes in flight, the survivors' logs differ
/// by the entries only one of them received. openraft 0.9 lets the voter
/// with the shorter log campaign first and the longer-log voter refuse it
/// without taking up its term; left at that, the two campaigned in the
/// same terms in turn and took 2–4 s to elect (`takeover`). The issue's
/// bound is 2 s from the kill to a new leader.
#[madsim::test]
async fn a_leader_killed_under_load_is_replaced_within_two_seconds() {
    if let Ok(filter) = std::env::var("DROVER_SIM_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .try_init();
    }
    let (cluster, client) = three_nodes_and_a_client();
    let (old_leader, old_term) = leader_and_term(&client, cluster.addrs()).await;
    // Writers on every node, so that entries are in flight to both
    // followers when the leader dies.
    for w in 0..8 {
        let addrs = cluster.addrs();
        client.spawn(async move {
            for n in 0.. {
                submit(&addrs[(w + n) % addrs.len()..], 1000 * w + n).await;
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.crash(old_leader, 11);
    let killed_at = tokio::time::Instant::now();
    let survivors: Vec<String> = cluster
        .addrs()
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i as u64 + 1 != old_leader)
        .map(|(_, a)| a)
        .collect();
    let elected_after = client
        .spawn(async move {
            loop {
                let seen = terms(&survivors).await;
                if seen
                    .iter()
                    .any(|(l, t)| l.is_some_and(|l| l != old_leader) && *t > old_term)
                {
                    return killed_at.elapsed();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap();
    eprintln!("a new leader {elected_after:?} after the kill");
    assert!(
        elected_after < Duration::from_secs(2),
        "a new leader only {elected_after:?} after the kill"
    );
}
