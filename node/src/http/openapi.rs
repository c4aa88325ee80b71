//! The OpenAPI 3.1 document of the REST API, served at `/v1/openapi.json`.
//! Written out here rather than derived: it is the contract clients are
//! generated from, and CI checks the running API against it.

use axum::Json;
use serde_json::{Value, json};

pub async fn serve() -> Json<Value> {
    Json(with_region(document()))
}

/// Every operation but this document's takes `region`: the call is for
/// that region's control plane, and the node forwards it there.
fn with_region(mut doc: Value) -> Value {
    let region = query(
        "region",
        &json!({ "type": "string" }),
        "The region the call is for (default: this node's); forwarded to a control node there. A region this node cannot reach answers 503 (not sent) or 504 (outcome unknown), naming it.",
    );
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, operations) in paths.iter_mut() {
            if path == "/v1/openapi.json" {
                continue;
            }
            for operation in operations
                .as_object_mut()
                .into_iter()
                .flat_map(|o| o.values_mut())
            {
                match operation["parameters"].as_array_mut() {
                    Some(parameters) => parameters.push(region.clone()),
                    None => operation["parameters"] = json!([region.clone()]),
                }
            }
        }
    }
    doc
}

fn param(name: &str, place: &str, schema: &Value, description: &str) -> Value {
    json!({
        "name": name,
        "in": place,
        "required": place == "path",
        "schema": schema,
        "description": description,
    })
}

fn query(name: &str, schema: &Value, description: &str) -> Value {
    param(name, "query", schema, description)
}

/// Job and node ids: what `drover_core::ids::check_name` admits.
fn id_in_path(what: &str) -> Value {
    param(
        "id",
        "path",
        &json!({
            "type": "string",
            "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$",
            "maxLength": drover_core::ids::MAX_NAME_LEN,
        }),
        what,
    )
}

fn paging() -> Vec<Value> {
    vec![
        query(
            "stale",
            &json!({ "type": "boolean" }),
            "Answer from this node's replica as it is (may lag behind acknowledged writes).",
        ),
        query(
            "page_size",
            &json!({ "type": "integer", "minimum": 0, "maximum": 10000 }),
            "At most this many items (0: 1000).",
        ),
        query(
            "page_token",
            &json!({ "type": "string" }),
            "The next_page_token of the page before.",
        ),
    ]
}

fn filters() -> Vec<Value> {
    let mut params = paging();
    params.push(query(
        "prefix",
        &json!({ "type": "string" }),
        "Only ids that start with this.",
    ));
    params.push(query(
        "status",
        &json!({ "type": "string" }),
        "Jobs: pending, running, complete, failed, stopped, active. Nodes: ready, disconnected, down.",
    ));
    params
}

fn object(required: &[&str]) -> Value {
    json!({ "type": "object", "required": required })
}

fn ok(description: &str, schema: &Value) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": schema } },
    })
}

fn error(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
    })
}

/// The answers every call may give besides its own: a request it could
/// not read, and a cluster that could not answer (no leader, or a write
/// whose outcome is unknown).
fn responses(success: Value, more: &[(&str, &str)]) -> Value {
    let mut map = serde_json::Map::new();
    map.insert("200".into(), success);
    map.insert(
        "400".into(),
        error("A parameter, path segment or body that could not be read (named in the message)."),
    );
    map.insert(
        "401".into(),
        error("With ACLs enabled: no token, or one unknown or revoked (the message says which)."),
    );
    map.insert(
        "403".into(),
        error("With ACLs enabled: the token's policy does not allow this call (the message names what it lacks)."),
    );
    for (code, description) in more {
        map.insert((*code).into(), error(description));
    }
    map.insert(
        "503".into(),
        error("No answer now (no leader, leadership changing); a write was not applied."),
    );
    map.insert(
        "504".into(),
        error("A write whose outcome is unknown: it may have been applied."),
    );
    Value::Object(map)
}

fn spec_body() -> Value {
    json!({
        "required": true,
        "description": "A job spec, TOML or JSON (docs/jobspec.md).",
        "content": {
            "application/toml": { "schema": { "type": "string" } },
            "text/plain": { "schema": { "type": "string" } },
            "application/json": { "schema": { "type": "object" } },
        },
    })
}

fn spec_params() -> Vec<Value> {
    vec![
        query(
            "check_index",
            &json!({ "type": "integer", "minimum": 0 }),
            "Only if the job is at this version now (0: only if it does not exist).",
        ),
        query(
            "file_name",
            &json!({ "type": "string" }),
            "Named in error messages; a .json name reads the spec as JSON.",
        ),
        param(
            "Idempotency-Key",
            "header",
            &json!({ "type": "string", "maxLength": 128 }),
            "A retry with the same key yields what the first write did.",
        ),
    ]
}

/// A write's answer, and where its job is read from next.
fn written() -> Value {
    let mut answer = ok(
        "Committed.",
        &json!({
            "type": "object",
            "required": ["job", "version", "index"],
            "properties": {
                "job": { "type": "string" },
                "version": { "type": "integer" },
                "index": { "type": "integer", "description": "The Raft log index it committed at." },
            },
        }),
    );
    answer["links"] = json!({
        "GetJob": { "operationId": "getJob", "parameters": { "id": "$response.body#/job" } },
        "JobHistory": { "operationId": "jobHistory", "parameters": { "id": "$response.body#/job" } },
    });
    answer
}

/// A token as the ACL calls answer with it.
fn token(with_secret: bool) -> Value {
    let mut required = vec!["accessor", "name", "policy", "pools"];
    if with_secret {
        required.push("secret");
    }
    object(&required)
}

#[allow(clippy::too_many_lines)]
pub fn document() -> Value {
    let job_id = id_in_path("A job id.");
    let node_id = id_in_path("A node id.");
    let mut service_list = paging();
    service_list.push(query(
        "prefix",
        &json!({ "type": "string" }),
        "Only services whose name starts with this.",
    ));
    let mut job_read = paging();
    job_read.insert(0, job_id.clone());
    let submit = spec_params();
    let mut revert = vec![
        job_id.clone(),
        query(
            "version",
            &json!({ "type": "integer", "minimum": 0 }),
            "The kept version whose spec becomes the next one (required).",
        ),
    ];
    revert.extend(
        spec_params()
            .into_iter()
            .filter(|p| p["name"] != "file_name"),
    );
    let promote = json!({
        "post": {
            "summary": "Promote the canaries of the job's current version: the rollout goes on past them",
            "operationId": "promoteJob",
            "parameters": [job_id.clone()],
            "responses": responses(written(), &[
                ("404", "No such job."),
                ("409", "The job has no canaries, or its deployment already ended."),
            ]),
        },
    });
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Drover",
            "version": "1",
            "description": "Drover's REST API: the resources of the gRPC API, on every node. Writes are forwarded to the leader; reads see every write acknowledged before them unless `stale`.",
        },
        "paths": {
            "/v1/jobs": {
                "get": {
                    "summary": "Jobs, a page at a time, in id order",
                    "operationId": "listJobs",
                    "parameters": filters(),
                    "responses": responses(ok("A page of jobs.", &object(&["jobs", "index"])), &[]),
                },
                "post": {
                    "summary": "Submit a job, or a new version of one",
                    "operationId": "submitJob",
                    "parameters": submit,
                    "requestBody": spec_body(),
                    "responses": responses(written(), &[
                        ("409", "The job is not at check_index, or the write was refused."),
                        ("413", "The body is over the limit (a 1 MiB spec and its envelope)."),
                    ]),
                },
            },
            "/v1/jobs/plan": {
                "post": {
                    "summary": "What submitting a spec would do, committing nothing",
                    "operationId": "planJob",
                    "parameters": spec_params(),
                    "requestBody": spec_body(),
                    "responses": responses(ok("The plan.", &object(&[])), &[
                        ("413", "The body is over the limit (a 1 MiB spec and its envelope)."),
                    ]),
                },
            },
            "/v1/jobs/{id}": {
                "get": {
                    "summary": "A job with its allocations and why anything is pending",
                    "operationId": "getJob",
                    "parameters": job_read.clone(),
                    "responses": responses(
                        ok("The job.", &object(&["id", "status", "allocations", "pending", "index"])),
                        &[("404", "No such job.")],
                    ),
                },
                "delete": {
                    "summary": "Stop a job",
                    "operationId": "stopJob",
                    "parameters": [job_id.clone()],
                    "responses": responses(written(), &[
                        ("404", "No such job."),
                        ("409", "The write was refused."),
                    ]),
                },
            },
            "/v1/jobs/{id}/allocations": {
                "get": {
                    "summary": "A job's allocations, a page at a time",
                    "operationId": "jobAllocations",
                    "parameters": job_read.clone(),
                    "responses": responses(
                        ok("The allocations.", &object(&["job", "allocations", "pending", "index"])),
                        &[("404", "No such job.")],
                    ),
                },
            },
            "/v1/jobs/{id}/history": {
                "get": {
                    "summary": "A job's kept versions, newest first, with what changed",
                    "operationId": "jobHistory",
                    "parameters": job_read,
                    "responses": responses(ok("The versions.", &object(&[])), &[("404", "No such job.")]),
                },
            },
            "/v1/jobs/{id}/revert": {
                "post": {
                    "summary": "Submit a kept version's spec as the job's next version",
                    "operationId": "revertJob",
                    "parameters": revert,
                    "responses": responses(written(), &[
                        ("404", "No such job or version."),
                        ("409", "The job is not at check_index, or the write was refused."),
                    ]),
                },
            },
            "/v1/jobs/{id}/logs": {
                "get": {
                    "summary": "An allocation's output",
                    "operationId": "jobLogs",
                    "parameters": [
                        job_id,
                        query("alloc", &json!({ "type": "string" }), "An allocation id; none: the job's latest."),
                        query("stream", &json!({ "type": "string", "enum": ["stdout", "stderr"] }), "Which output (stdout by default)."),
                        query("offset", &json!({ "type": "integer", "minimum": 0 }), "From this byte."),
                        query("follow", &json!({ "type": "boolean" }), "Keep the answer open and send output as it comes, until the allocation has finished."),
                    ],
                    "responses": responses(
                        json!({
                            "description": "The output's bytes. Without follow, one slice: Drover-Next-Offset says where the next one starts, Drover-Finished whether more can come.",
                            "headers": {
                                "Drover-Alloc": { "schema": { "type": "string" } },
                                "Drover-Next-Offset": { "schema": { "type": "string" } },
                                "Drover-Finished": { "schema": { "type": "string" } },
                            },
                            "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } },
                        }),
                        &[("404", "No such job or allocation, or its output is gone.")],
                    ),
                },
            },
            "/v1/events": {
                "get": {
                    "summary": "What happened, as server-sent events",
                    "operationId": "streamEvents",
                    "parameters": [
                        query("from", &json!({ "type": "integer", "minimum": 0 }), "Events after this log index (0: every event this node still holds)."),
                        query("topic", &json!({ "type": "string" }), "Only these topics, comma-separated: job, alloc, node, leader."),
                        query("follow", &json!({ "type": "boolean" }), "Keep the stream open and send events as they are applied."),
                        param("Last-Event-ID", "header", &json!({ "type": "string", "pattern": "^[0-9]+$" }), "Resume after this index (what an EventSource sends on reconnecting); overrides from."),
                    ],
                    "responses": responses(
                        json!({
                            "description": "A text/event-stream: one message per page of whole log indexes, `event: events`, `id:` the index to resume after, `data:` {\"events\": [...], \"index\": N}. Each event: index, topic, type, key, job, node, detail, at_ms. An `event: error` message ends a stream that failed.",
                            "content": { "text/event-stream": { "schema": { "type": "string" } } },
                        }),
                        &[("410", "Events that old are no longer kept on this node; the message says from which index to ask.")],
                    ),
                },
            },
            "/v1/nodes": {
                "get": {
                    "summary": "Nodes, a page at a time, in id order",
                    "operationId": "listNodes",
                    "parameters": filters(),
                    "responses": responses(ok("A page of nodes.", &object(&["nodes", "index"])), &[]),
                },
            },
            "/v1/services": {
                "get": {
                    "summary": "Services (jobs whose task holds ports), a page at a time, with how many instances serve",
                    "operationId": "listServices",
                    "parameters": service_list,
                    "responses": responses(ok("A page of services.", &object(&["services", "index"])), &[]),
                },
            },
            "/v1/services/{id}": {
                "get": {
                    "summary": "A service's endpoints that serve (address IP:PORT) and its instances' health",
                    "operationId": "getService",
                    "parameters": [
                        id_in_path("A service's name: its job id."),
                        query("stale", &json!({ "type": "boolean" }), "Answer from this node's replica as it is (may lag behind acknowledged writes)."),
                    ],
                    "responses": responses(
                        ok("The service.", &object(&["service", "endpoints", "allocations", "index"])),
                        &[("404", "No such service.")],
                    ),
                },
            },
            "/v1/nodes/{id}/drain": {
                "post": {
                    "summary": "Drain a node (its work moves elsewhere), or end a drain",
                    "operationId": "drainNode",
                    "parameters": [
                        node_id,
                        query("enable", &json!({ "type": "boolean" }), "false ends a drain (default true)."),
                    ],
                    "responses": responses(
                        ok("Committed.", &object(&["node", "draining", "index"])),
                        &[("404", "No such node."), ("409", "The write was refused.")],
                    ),
                },
            },
            "/v1/cluster": {
                "get": {
                    "summary": "This node's view of the cluster: leader, term, indexes, members",
                    "operationId": "cluster",
                    "responses": responses(ok("The cluster.", &object(&["node", "state", "term", "members"])), &[]),
                },
            },
            "/v1/cluster/members": {
                "get": {
                    "summary": "Raft voters and learners as the leader sees them, and nodes waiting to be added",
                    "operationId": "clusterMembers",
                    "responses": responses(ok("The members.", &object(&[])), &[]),
                },
            },
            "/v1/acl/bootstrap": {
                "post": {
                    "summary": "Make the first management token, once per cluster; its secret is in this answer only",
                    "operationId": "aclBootstrap",
                    "responses": responses(
                        ok("The token, secret included.", &token(true)),
                        &[("409", "ACLs are off on this node, or the cluster was bootstrapped already (the message names the index to reset with).")],
                    ),
                },
            },
            "/v1/acl/self": {
                "get": {
                    "summary": "The token this request carries",
                    "operationId": "aclSelf",
                    "responses": responses(ok("The token (`enabled: false` when ACLs are off).", &object(&["enabled"])), &[]),
                },
            },
            "/v1/acl/tokens": {
                "get": {
                    "summary": "Every token: accessor, name, policy, never a secret (management)",
                    "operationId": "aclTokens",
                    "responses": responses(ok("The tokens.", &object(&["enabled", "tokens", "index"])), &[]),
                },
                "post": {
                    "summary": "Make a token (management); its secret is in this answer only",
                    "operationId": "aclCreateToken",
                    "requestBody": {
                        "required": true,
                        "content": { "application/json": { "schema": {
                            "type": "object",
                            "required": ["name", "policy"],
                            "properties": {
                                "name": { "type": "string", "minLength": 1, "maxLength": drover_core::acl::MAX_NAME_LEN },
                                "policy": { "type": "string", "enum": ["management", "job-write", "read"] },
                                "pools": { "type": "array", "items": { "type": "string" }, "description": "job-write only: the pools it may write to (none: every pool)." },
                            },
                        } } },
                    },
                    "responses": responses(
                        ok("The token, secret included.", &token(true)),
                        &[("409", "ACLs are off on this node.")],
                    ),
                },
            },
            "/v1/acl/tokens/{id}": {
                "delete": {
                    "summary": "Revoke a token by its accessor (management); every node stops honouring it as it applies the revocation",
                    "operationId": "aclRevokeToken",
                    "parameters": [param("id", "path", &json!({ "type": "string" }), "The token's accessor.")],
                    "responses": responses(
                        ok("Revoked.", &object(&["accessor", "revoked", "index"])),
                        &[("404", "No token with that accessor."), ("409", "ACLs are off on this node.")],
                    ),
                },
            },
            "/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "responses": { "200": ok("The OpenAPI document.", &json!({ "type": "object" })) },
                },
            },
        },
        "security": [{}, { "token": [] }],
        "components": {
            "securitySchemes": {
                "token": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An ACL token, <accessor>.<secret>, when the cluster has ACLs enabled (docs/security.md).",
                },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": { "type": "string" },
                                "message": { "type": "string" },
                                "outcome": {
                                    "type": "string",
                                    "enum": ["not-applied", "unknown"],
                                    "description": "For a write that did not commit: not-applied is safe to retry; unknown may have been applied.",
                                },
                                "problems": {
                                    "type": "array",
                                    "description": "For code invalid_spec: every problem found.",
                                    "items": {
                                        "type": "object",
                                        "required": ["path", "message"],
                                        "properties": {
                                            "path": { "type": "string" },
                                            "line": { "type": ["integer", "null"] },
                                            "column": { "type": ["integer", "null"] },
                                            "message": { "type": "string" },
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    });
    // Beside the rest: one more entry in that literal passes `json!`'s
    // recursion limit.
    document["paths"]["/v1/jobs/{id}/promote"] = promote;
    document
}
