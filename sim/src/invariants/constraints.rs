//! Placements satisfy the job's constraints — DESIGN.md §5's invariant
//! list; the scheduler's feasibility pipeline (docs/scheduler.md) must
//! never place an allocation where a constraint fails.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Violation;

/// Every unfinished allocation of `job` (a `JobStatus` reply) is on a node
/// whose region is `region`, by the regions of a `ListNodes` reply.
pub fn placements_in_region(job: &Value, nodes: &Value, region: &str) -> Result<(), Violation> {
    let regions: BTreeMap<&str, &str> = nodes["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| Some((n["id"].as_str()?, n["region"].as_str()?)))
        .collect();
    for alloc in job["allocations"].as_array().into_iter().flatten() {
        let live = matches!(alloc["status"].as_str(), Some("pending" | "running"));
        let node = alloc["node"].as_str().unwrap_or("?");
        match regions.get(node) {
            Some(actual) if live && *actual != region => {
                return Err(Violation {
                    invariant: "placements satisfy constraints",
                    detail: format!(
                        "{} of {} runs on {node} in {actual}, constrained to node.region = {region}",
                        alloc["id"].as_str().unwrap_or("?"),
                        job["id"].as_str().unwrap_or("?"),
                    ),
                });
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_allocation_outside_its_region_is_caught() {
        let nodes = json!({ "nodes": [
            { "id": "n1", "region": "r0" }, { "id": "n2", "region": "r1" } ] });
        let job = |node: &str, status: &str| json!({ "id": "svc", "allocations": [{ "id": "a1", "node": node, "status": status }] });
        assert!(placements_in_region(&job("n1", "running"), &nodes, "r0").is_ok());
        assert!(placements_in_region(&job("n2", "complete"), &nodes, "r0").is_ok());
        assert!(placements_in_region(&job("n2", "running"), &nodes, "r0").is_err());
    }
}
