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
        for addr in addrs {
            let Ok(mut api) = drover_node::client::connect(addr).await else {
                continue;
            };
            let Ok(reply) = api.cluster_status(drover_proto::v1::Empty {}).await else {
                continue;
            };
            let doc: serde_json::Value =
                serde_json::from_str(&reply.into_inner().json).unwrap_or_default();
            if let Some(id) = doc["leader"].as_u64() {
                return id;
            }
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
