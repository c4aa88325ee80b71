//! What the discovery names mean, answered from a replica of the state:
//!
//! - `<job>.service.drover`: A/AAAA, the hosts of the instances that serve
//!   (`drover service show`'s endpoints); SRV, every endpoint.
//! - `<label>.<job>.service.drover`, or `_<label>._tcp.<job>.service.drover`
//!   (RFC 2782): the same, for one port label.
//! - `<node>.node.drover`: the node's host, the target SRV records name.
//!
//! Names are matched without regard to case, as DNS compares them.

use std::collections::BTreeSet;
use std::net::IpAddr;

use drover_core::health;
use drover_core::state::Job;
use drover_core::{Allocation, ClusterState};

use super::wire::{Data, Query, Rcode, Record, TYPE_A, TYPE_AAAA, TYPE_ANY, TYPE_SRV};

pub const DOMAIN: &str = "drover";
/// Endpoints change as instances come and go: resolvers are not to keep
/// them (Consul's default for services, too).
const TTL: u32 = 0;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Answer {
    pub rcode: Option<Rcode>,
    pub answers: Vec<Record>,
    pub additional: Vec<Record>,
}

impl Answer {
    fn code(rcode: Rcode) -> Self {
        Self {
            rcode: Some(rcode),
            ..Self::default()
        }
    }

    pub fn rcode(&self) -> Rcode {
        self.rcode.unwrap_or(Rcode::NoError)
    }
}

pub fn answer(state: &ClusterState, query: &Query) -> Answer {
    let name = query.name.trim_end_matches('.');
    let Some(inside) = name.strip_suffix(DOMAIN).and_then(|n| n.strip_suffix('.')) else {
        // Not ours: this server resolves nothing else.
        return Answer::code(Rcode::Refused);
    };
    if let Some(node) = inside.strip_suffix(".node") {
        return node_answer(state, name, node, query.qtype);
    }
    let Some(service) = inside.strip_suffix(".service") else {
        return Answer::code(Rcode::NxDomain);
    };
    let Some((job, label)) = find_service(state, service) else {
        return Answer::code(Rcode::NxDomain);
    };
    let endpoints: Vec<(&Allocation, &str, u16)> = state
        .job_allocs(&job.spec.id)
        .filter(|a| health::serves(state, a))
        .flat_map(|a| {
            a.ext
                .ports
                .iter()
                .map(move |p| (a, p.label.as_str(), p.port))
        })
        .filter(|(_, l, _)| label.is_none_or(|want| l.eq_ignore_ascii_case(want)))
        .collect();
    let mut answer = Answer::default();
    let mut targets = BTreeSet::new();
    if matches!(query.qtype, TYPE_SRV | TYPE_ANY) {
        for (alloc, _, port) in &endpoints {
            let target = format!("{}.node.{DOMAIN}", alloc.node.as_str().to_ascii_lowercase());
            // A node id of more than 63 bytes makes no DNS label.
            if !super::wire::writable(&target) {
                continue;
            }
            answer.answers.push(Record {
                name: name.to_string(),
                ttl: TTL,
                data: Data::Srv {
                    priority: 0,
                    weight: 1,
                    port: *port,
                    target: target.clone(),
                },
            });
            if targets.insert(target.clone())
                && let Some(ip) = host_ip(state, alloc)
            {
                answer.additional.push(address_record(target, ip));
            }
        }
    }
    if matches!(query.qtype, TYPE_A | TYPE_AAAA | TYPE_ANY) {
        let hosts: BTreeSet<IpAddr> = endpoints
            .iter()
            .filter_map(|(a, ..)| host_ip(state, a))
            .collect();
        answer.answers.extend(
            hosts
                .into_iter()
                .filter(|ip| wanted(query.qtype, *ip))
                .map(|ip| address_record(name.to_string(), ip)),
        );
    }
    answer
}

/// The job and port label `service` names: a job's id, else a label
/// before it (`label.job` or `_label._tcp.job`) that the job has. Job ids
/// are looked up as written first (the lower-case ids DNS names carry);
/// only names that match none so are compared with every job's id
/// regardless of case, once.
fn find_service<'a>(
    state: &'a ClusterState,
    service: &'a str,
) -> Option<(&'a Job, Option<&'a str>)> {
    let labelled = match service.strip_prefix('_') {
        Some(rest) => rest
            .split_once('.')
            .and_then(|(label, rest)| Some((label, rest.strip_prefix("_tcp.")?))),
        None => service.split_once('.'),
    };
    let candidates: Vec<(&str, Option<&str>)> = std::iter::once((service, None))
        .chain(labelled.map(|(label, job)| (job, Some(label))))
        .collect();
    let offers = |job: &Job, label: Option<&str>| {
        let ports = &job.spec.ext.ports;
        !ports.is_empty()
            && label.is_none_or(|label| ports.iter().any(|p| p.label.eq_ignore_ascii_case(label)))
    };
    let exact = candidates.iter().find_map(|&(id, label)| {
        let job = state.job(&drover_core::JobId::new(id).ok()?)?;
        offers(job, label).then_some((job, label))
    });
    exact.or_else(|| {
        state.jobs().find_map(|job| {
            candidates.iter().find_map(|&(id, label)| {
                (job.spec.id.as_str().eq_ignore_ascii_case(id) && offers(job, label))
                    .then_some((job, label))
            })
        })
    })
}

fn node_answer(state: &ClusterState, name: &str, node: &str, qtype: u16) -> Answer {
    let Some(found) = state
        .nodes()
        .find(|n| n.id.as_str().eq_ignore_ascii_case(node))
    else {
        return Answer::code(Rcode::NxDomain);
    };
    let mut answer = Answer::default();
    if let Some(ip) = parse_host(&found.address).filter(|ip| wanted(qtype, *ip)) {
        answer.answers.push(address_record(name.to_string(), ip));
    }
    answer
}

fn wanted(qtype: u16, ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(_) => matches!(qtype, TYPE_A | TYPE_ANY),
        IpAddr::V6(_) => matches!(qtype, TYPE_AAAA | TYPE_ANY),
    }
}

fn host_ip(state: &ClusterState, alloc: &Allocation) -> Option<IpAddr> {
    parse_host(&state.node(&alloc.node)?.address)
}

/// The IP of a node's `host:port` address; a host name has none to give.
fn parse_host(address: &str) -> Option<IpAddr> {
    let host = drover_core::ports::host_of(address);
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

fn address_record(name: String, ip: IpAddr) -> Record {
    let data = match ip {
        IpAddr::V4(ip) => Data::A(ip),
        IpAddr::V6(ip) => Data::Aaaa(ip),
    };
    Record {
        name,
        ttl: TTL,
        data,
    }
}

#[cfg(test)]
mod tests {
    use drover_core::ports::PortAsk;
    use drover_core::{Command, CommandKind, JobId, JobKind, JobSpec, Resources};

    use super::*;
    use crate::dns::wire::parse_query;

    /// A state with the service `Web` (port label `http`) and the batch
    /// job `plain` (no ports), nothing running.
    fn state() -> ClusterState {
        let mut state = ClusterState::new();
        let mut web = JobSpec::batch(
            JobId::new("Web").unwrap(),
            vec!["true".into()],
            Resources::new(100, 64, 0),
        );
        web.kind = JobKind::Service { replicas: 1 };
        web.ext.ports = vec![PortAsk {
            label: "http".into(),
            fixed: None,
            to: None,
        }];
        let plain = JobSpec::batch(
            JobId::new("plain").unwrap(),
            vec!["true".into()],
            Resources::new(100, 64, 0),
        );
        for (index, spec) in [(1, web), (2, plain)] {
            state
                .apply(index, Command::new(0, CommandKind::SubmitJob(spec)))
                .unwrap();
        }
        state
    }

    fn ask(state: &ClusterState, name: &str, qtype: u16) -> Rcode {
        let mut bytes = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            bytes.push(u8::try_from(label.len()).unwrap());
            bytes.extend_from_slice(label.as_bytes());
        }
        bytes.extend_from_slice(&[0, 0, u8::try_from(qtype).unwrap(), 0, 1]);
        answer(state, &parse_query(&bytes).unwrap()).rcode()
    }

    #[test]
    fn every_form_of_a_service_name_is_known_and_nothing_else() {
        let state = state();
        for name in [
            "web.service.drover",
            "http.web.service.drover",
            "_http._tcp.web.service.drover",
            "HTTP.WEB.SERVICE.DROVER",
        ] {
            assert_eq!(ask(&state, name, TYPE_SRV), Rcode::NoError, "{name}");
        }
        for name in [
            "ftp.web.service.drover",
            "_http._udp.web.service.drover",
            "plain.service.drover",
            "nothing.service.drover",
            "web.drover",
            "node-1.node.drover",
        ] {
            assert_eq!(ask(&state, name, TYPE_SRV), Rcode::NxDomain, "{name}");
        }
        for name in ["example.com", "drover", "web.service.drover.example"] {
            assert_eq!(ask(&state, name, TYPE_A), Rcode::Refused, "{name}");
        }
    }
}
