//! `drover job history`, `job revert` and `job plan`: a job's versions,
//! going back to one, and what a submission would do before it is made.

use std::path::PathBuf;

use drover_node::client::{connect_any, status_message};
use drover_proto::v1::{ReadJob, RevertRequest, SubmitJobRequest};
use serde_json::{Value, json};

use super::Target;
use super::cluster::{parse, show, text};
use super::job::{Guards, keyed_write, read_spec};
use super::table;

pub async fn history(id: String, target: Target) -> Result<(), String> {
    let mut api = connect_any(&target.addrs()).await?;
    let request = ReadJob {
        job: id,
        stale: target.stale,
        ..ReadJob::default()
    };
    let reply = api
        .job_history(request)
        .await
        .map_err(|e| status_message(&e))?;
    let doc = parse(&reply.into_inner().json)?;
    show(&doc, target.json, |doc| {
        println!("{} — {}", text(&doc["job"]), text(&doc["status"]));
        let rows: Vec<Vec<String>> = doc["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| {
                let version = if v["current"] == true {
                    format!("{} (current)", text(&v["version"]))
                } else {
                    text(&v["version"])
                };
                vec![
                    version,
                    text(&v["since_index"]),
                    text(&v["since_ms"]),
                    changes_line(&v["changes"]),
                ]
            })
            .collect();
        table::print(&["version", "index", "since (unix ms)", "changes"], &rows);
    });
    Ok(())
}

/// One line for a version's changes: the paths that changed.
fn changes_line(changes: &Value) -> String {
    let Some(changes) = changes.as_array() else {
        return "(oldest kept)".into();
    };
    if changes.is_empty() {
        return "(none: revived as it was)".into();
    }
    changes
        .iter()
        .map(|c| text(&c["path"]))
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn revert(
    id: String,
    version: u64,
    guards: Guards,
    target: Target,
) -> Result<(), String> {
    let request = RevertRequest {
        job: id.clone(),
        version,
        check_index: guards.check_index,
        idempotency_key: guards.key(),
    };
    let reply = keyed_write(&target, |mut api| {
        let request = request.clone();
        async move { api.revert_job(request).await }
    })
    .await?;
    if target.json {
        println!(
            "{}",
            json!({ "job": reply.job, "version": reply.version, "index": reply.index, "reverted_to": version })
        );
    } else {
        println!(
            "job {id} version {} has the spec of version {version} (committed at index {})",
            reply.version, reply.index
        );
    }
    Ok(())
}

pub async fn plan(file: PathBuf, target: Target) -> Result<(), String> {
    let request = SubmitJobRequest {
        spec: read_spec(&file)?,
        file_name: file.display().to_string(),
        check_index: None,
        idempotency_key: String::new(),
    };
    let mut api = connect_any(&target.addrs()).await?;
    let reply = api
        .plan_job(request)
        .await
        .map_err(|e| status_message(&e))?;
    let doc = parse(&reply.into_inner().json)?;
    show(&doc, target.json, render_plan);
    Ok(())
}

fn render_plan(doc: &Value) {
    let job = text(&doc["job"]);
    let check_index = text(&doc["check_index"]);
    match doc["new_version"].as_u64() {
        None => println!("job {job}: unchanged (version {check_index}); nothing would happen"),
        Some(1) if check_index == "0" => println!("job {job}: new job, version 1"),
        Some(version) => println!("job {job}: version {check_index} -> {version}"),
    }
    for change in doc["changes"].as_array().into_iter().flatten() {
        println!(
            "  {}: {} -> {}",
            text(&change["path"]),
            text(&change["old"]),
            text(&change["new"])
        );
    }
    let count = |key: &str| doc[key].as_array().map_or(0, Vec::len);
    println!(
        "next pass: place {}, replace {}, stop {}; {} running allocation(s) of older versions to update",
        count("place"),
        count("replace"),
        count("stop"),
        text(&doc["to_update"])
    );
    for node in doc["place"].as_array().into_iter().flatten() {
        println!("  place on {}", text(node));
    }
    for pair in doc["replace"].as_array().into_iter().flatten() {
        println!("  replace {} on {}", text(&pair[0]), text(&pair[1]));
    }
    for pair in doc["stop"].as_array().into_iter().flatten() {
        println!("  stop {}: {}", text(&pair[0]), text(&pair[1]));
    }
    for reason in doc["unplaced"].as_array().into_iter().flatten() {
        println!("  not placed: {}", text(reason));
    }
    println!(
        "to submit only if the job has not changed since: drover job run --check-index {check_index} FILE"
    );
}
