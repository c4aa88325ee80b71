//! DNS discovery on real agents, asked by `dig` (Debian's bind9-dnsutils):
//! the issue's spec (a dynamic port, an http check) is found by SRV under
//! its job id and port label, at the same endpoints `service show` lists,
//! and those answer; names of nothing are NXDOMAIN, names outside the
//! domain REFUSED.

#![cfg(not(madsim))]

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use common::{ISSUE_WEB_SPEC, cluster_each, free_ports, json, run_job, wait_for};

/// `dig`'s output for `name` of `qtype` at the server on `port`.
fn dig(port: u16, name: &str, qtype: &str, short: bool) -> String {
    let mut command = Command::new("dig");
    command.args(["@127.0.0.1", "-p", &port.to_string(), "+tries=1", "+time=2"]);
    if short {
        command.arg("+short");
    }
    // `name` may lead with options of its own (`+tcp name`).
    let out = command
        .args(name.split_whitespace())
        .arg(qtype)
        .output()
        .expect("dig runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `(node, port)` of each SRV record in `dig +short` output
/// (`0 1 20001 node-2.node.drover.`).
fn srv_targets(short: &str) -> BTreeSet<(String, u16)> {
    short
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(fields.len(), 4, "{line}");
            let node = fields[3].trim_end_matches(".node.drover.").to_string();
            (node, fields[2].parse().unwrap())
        })
        .collect()
}

fn dig_installed() -> bool {
    let found = Command::new("dig").arg("-v").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("DROVER_REQUIRE_DIG").is_none(),
            "DROVER_REQUIRE_DIG is set and dig is missing (apt-get install bind9-dnsutils)"
        );
        eprintln!(
            "!!! SKIP: dig is not installed (apt-get install bind9-dnsutils); DNS discovery NOT tested"
        );
    }
    found
}

#[test]
fn a_service_is_found_by_dig_at_the_endpoints_that_serve() {
    if !dig_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Each node hands out one port, from this test's own block: tests
    // running beside it share the default range, and a port another
    // cluster holds would make an instance here fail and come back.
    let ports = free_ports(4);
    let dns_port = ports[0];
    let agents = cluster_each(dir.path(), &["hybrid", "hybrid", "hybrid"], |id| {
        let port = ports[usize::try_from(id).unwrap()];
        let dns = if id == 1 {
            format!("dns = \"127.0.0.1:{dns_port}\"\n")
        } else {
            String::new()
        };
        format!("{dns}[ports]\ndynamic = \"{port}-{port}\"\n")
    });
    let addr = agents[0].addr();
    assert!(run_job(dir.path(), &addr, "web", ISSUE_WEB_SPEC));
    let shown: BTreeSet<(String, u16)> = wait_for("2 endpoints", Duration::from_secs(60), || {
        let doc = json(&addr, &["service", "show", "web"])?;
        let endpoints: BTreeSet<(String, u16)> = doc["endpoints"]
            .as_array()?
            .iter()
            .map(|e| {
                (
                    e["node"].as_str().unwrap().to_string(),
                    u16::try_from(e["port"].as_u64().unwrap()).unwrap(),
                )
            })
            .collect();
        (endpoints.len() == 2).then_some(endpoints)
    });
    // The replica answering may be a moment behind the one that listed them.
    let found = wait_for("SRV records of both", Duration::from_secs(10), || {
        let found = srv_targets(&dig(dns_port, "http.web.service.drover", "SRV", true));
        (found == shown).then_some(found)
    });
    for name in [
        "_http._tcp.web.service.drover",
        "web.service.drover",
        "WEB.Service.Drover",
    ] {
        assert_eq!(
            srv_targets(&dig(dns_port, name, "SRV", true)),
            found,
            "{name}"
        );
    }
    assert_eq!(
        dig(dns_port, "web.service.drover", "A", true).trim(),
        "127.0.0.1"
    );
    assert_eq!(
        srv_targets(&dig(dns_port, "+tcp web.service.drover", "SRV", true)),
        found,
        "the same over TCP"
    );
    for (node, port) in &found {
        assert_eq!(
            dig(dns_port, &format!("{node}.node.drover"), "A", true).trim(),
            "127.0.0.1"
        );
        let answer = ureq::get(&format!("http://127.0.0.1:{port}/"))
            .timeout(Duration::from_secs(2))
            .call()
            .expect("the endpoint DNS gave answers");
        assert_eq!(answer.status(), 200);
    }
    let full = dig(dns_port, "web.service.drover", "SRV", false);
    assert!(
        full.contains("status: NOERROR") && full.contains(" aa"),
        "{full}"
    );
    assert!(
        full.contains("ADDITIONAL SECTION"),
        "targets resolved alongside: {full}"
    );
    for (name, status) in [
        ("nothing.service.drover", "NXDOMAIN"),
        ("ftp.web.service.drover", "NXDOMAIN"),
        ("node-9.node.drover", "NXDOMAIN"),
        ("example.com", "REFUSED"),
    ] {
        let said = dig(dns_port, name, "A", false);
        assert!(
            said.contains(&format!("status: {status}")),
            "{name}: {said}"
        );
    }
}
