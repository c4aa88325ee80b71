//! No node is over capacity — DESIGN.md §5's invariant list; `apply`
//! re-checks every placement against the node's free resources
//! (docs/state-machine.md), so no plan, however stale, may overfill a node.

use serde_json::Value;

use super::Violation;

/// Checks one replica's node list (`ListNodes`).
pub fn no_node_over_capacity(nodes: &Value) -> Result<(), Violation> {
    for node in nodes["nodes"].as_array().into_iter().flatten() {
        let capacity = &node["resources"]["capacity"];
        let used = &node["resources"]["used"];
        for dimension in ["cpu_millis", "memory_mb", "gpus"] {
            let (Some(have), Some(held)) = (capacity[dimension].as_u64(), used[dimension].as_u64())
            else {
                continue;
            };
            if held > have {
                return Err(Violation {
                    invariant: "no node over capacity",
                    detail: format!(
                        "{} holds {held} {dimension} of {have}",
                        node["id"].as_str().unwrap_or("?")
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
    fn an_overfull_node_is_caught() {
        let node = |used: u64| {
            json!({ "nodes": [{ "id": "n1", "resources": {
                "capacity": { "cpu_millis": 1000, "memory_mb": 512, "gpus": 0 },
                "used": { "cpu_millis": used, "memory_mb": 0, "gpus": 0 } } }] })
        };
        assert!(no_node_over_capacity(&node(1000)).is_ok());
        assert!(no_node_over_capacity(&node(1001)).is_err());
    }
}
