//! No mass eviction — DESIGN.md §4, after Kubernetes #28832 (a master that
//! lost its network evicted every pod): liveness decisions are paced to at
//! most one per region per decision interval. In any one replica's view,
//! the nodes of a region that are currently not ready were declared so at
//! least an interval apart.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Violation;

pub fn liveness_decisions_paced(nodes: &Value, interval_ms: u64) -> Result<(), Violation> {
    let mut by_region: BTreeMap<&str, Vec<(u64, &str)>> = BTreeMap::new();
    for node in nodes["nodes"].as_array().into_iter().flatten() {
        if node["status"] == "ready" {
            continue;
        }
        let (Some(region), Some(at), Some(id)) = (
            node["region"].as_str(),
            node["status_changed_ms"].as_u64(),
            node["id"].as_str(),
        ) else {
            continue;
        };
        by_region.entry(region).or_default().push((at, id));
    }
    for (region, mut decided) in by_region {
        decided.sort_unstable();
        for pair in decided.windows(2) {
            let ((first_at, first), (then_at, then)) = (pair[0], pair[1]);
            if then_at - first_at < interval_ms {
                return Err(Violation {
                    invariant: "no mass eviction",
                    detail: format!(
                        "in {region}, {first} and {then} were declared unreachable {} ms apart (pacing allows one per {interval_ms} ms)",
                        then_at - first_at
                    ),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn two_decisions_in_one_interval_are_caught() {
        let nodes = |second_at: u64| {
            json!({ "nodes": [
                { "id": "n1", "region": "r0", "status": "disconnected", "status_changed_ms": 10_000 },
                { "id": "n2", "region": "r0", "status": "down", "status_changed_ms": second_at },
                { "id": "n3", "region": "r1", "status": "disconnected", "status_changed_ms": 10_000 },
                { "id": "n4", "region": "r0", "status": "ready", "status_changed_ms": 10_001 } ] })
        };
        assert!(liveness_decisions_paced(&nodes(12_000), 2_000).is_ok());
        assert!(liveness_decisions_paced(&nodes(11_999), 2_000).is_err());
    }
}
