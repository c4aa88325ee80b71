//! After healing, every service has exactly its replicas — DESIGN.md §4
//! ("Services keep `replicas` instances running"; a returning node's
//! surplus is stopped once the kept ones run) and §5's liveness phase. A
//! stopped service runs nothing.

use serde_json::Value;

use super::Violation;

/// Running allocations wanted running, for a `JobStatus` reply.
fn running_replicas(job: &Value) -> u64 {
    job["allocations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["status"] == "running" && a["desired"] == "run")
        .count() as u64
}

/// `job` is what the cluster says of a service created with `replicas`.
pub fn service_has_its_replicas(job: &Value, replicas: u64) -> Result<(), Violation> {
    let want = if job["status"] == "stopped" {
        0
    } else {
        replicas
    };
    let running = running_replicas(job);
    if running == want {
        Ok(())
    } else {
        Err(Violation {
            invariant: "services have exactly their replicas after healing",
            detail: format!(
                "{} ({}) runs {running} replicas, wants {want}",
                job["id"].as_str().unwrap_or("?"),
                job["status"].as_str().unwrap_or("?"),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn too_many_or_too_few_are_caught() {
        let job = |status: &str, n: usize| {
            let alloc = json!({ "status": "running", "desired": "run" });
            json!({ "id": "svc", "status": status, "allocations": vec![alloc; n] })
        };
        assert!(service_has_its_replicas(&job("active", 3), 3).is_ok());
        assert!(service_has_its_replicas(&job("active", 4), 3).is_err());
        assert!(service_has_its_replicas(&job("active", 2), 3).is_err());
        assert!(service_has_its_replicas(&job("stopped", 0), 3).is_ok());
        assert!(service_has_its_replicas(&job("stopped", 1), 3).is_err());
    }
}
