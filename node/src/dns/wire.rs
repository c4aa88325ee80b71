//! DNS messages (RFC 1035), only as much as a discovery server needs: a
//! query with one question is read, refusing anything else with the code
//! a resolver acts on; an answer is written with the question echoed and
//! the records given, within a UDP message's 512 bytes (the rest cut, and
//! the answer marked truncated).

use std::net::{Ipv4Addr, Ipv6Addr};

pub const TYPE_A: u16 = 1;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_SRV: u16 = 33;
pub const TYPE_ANY: u16 = 255;
const CLASS_IN: u16 = 1;
const HEADER: usize = 12;
/// A UDP answer without EDNS fits in this.
pub const MAX_UDP: usize = 512;
const MAX_NAME: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
    Refused = 5,
}

/// A question asked: its name in lower case, without the final dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    pub recursion_desired: bool,
    pub name: String,
    pub qtype: u16,
    /// The question's bytes as sent (name, type, class), echoed back.
    question: Vec<u8>,
}

/// What is wrong with a message, and the answer it gets (if any: a
/// message too short for an id is dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub id: Option<u16>,
    pub rcode: Rcode,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub ttl: u32,
    pub data: Data,
}

pub fn parse_query(bytes: &[u8]) -> Result<Query, Malformed> {
    let Some(header) = bytes.get(..HEADER) else {
        return Err(Malformed {
            id: (bytes.len() >= 2).then(|| u16::from_be_bytes([bytes[0], bytes[1]])),
            rcode: Rcode::FormErr,
            why: format!("{} bytes: shorter than a header", bytes.len()),
        });
    };
    let id = u16::from_be_bytes([header[0], header[1]]);
    let refuse = |rcode, why: String| Malformed {
        id: Some(id),
        rcode,
        why,
    };
    let flags = u16::from_be_bytes([header[2], header[3]]);
    if flags & 0x8000 != 0 {
        // Never answered: two servers would answer each other's answers
        // for ever.
        return Err(Malformed {
            id: None,
            rcode: Rcode::FormErr,
            why: "a response, not a query".into(),
        });
    }
    let opcode = (flags >> 11) & 0xF;
    if opcode != 0 {
        return Err(refuse(Rcode::NotImp, format!("opcode {opcode}")));
    }
    let questions = u16::from_be_bytes([header[4], header[5]]);
    if questions != 1 {
        return Err(refuse(
            Rcode::FormErr,
            format!("{questions} questions; one is answered"),
        ));
    }
    let (name, end) = read_name(bytes, HEADER).map_err(|why| refuse(Rcode::FormErr, why))?;
    let Some(fixed) = bytes.get(end..end + 4) else {
        return Err(refuse(Rcode::FormErr, "the question ends early".into()));
    };
    let qtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let class = u16::from_be_bytes([fixed[2], fixed[3]]);
    if class != CLASS_IN {
        return Err(refuse(Rcode::NotImp, format!("class {class}")));
    }
    Ok(Query {
        id,
        recursion_desired: flags & 0x0100 != 0,
        name,
        qtype,
        question: bytes[HEADER..end + 4].to_vec(),
    })
}

/// A name from `at`, uncompressed (a question's name has nothing before
/// it to point at), in lower case; and where it ends.
fn read_name(bytes: &[u8], mut at: usize) -> Result<(String, usize), String> {
    let mut labels: Vec<String> = Vec::new();
    let mut length = 0;
    loop {
        let Some(&size) = bytes.get(at) else {
            return Err("the name ends early".into());
        };
        at += 1;
        if size == 0 {
            return Ok((labels.join("."), at));
        }
        if size & 0xC0 != 0 {
            return Err("a compressed name in the question".into());
        }
        let size = usize::from(size);
        let Some(label) = bytes.get(at..at + size) else {
            return Err("a label ends early".into());
        };
        length += size + 1;
        if length > MAX_NAME {
            return Err(format!("a name longer than {MAX_NAME} bytes"));
        }
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        at += size;
    }
}

/// The answer to `query`: `rcode`, then `answers` and `additional` as far
/// as they fit in `limit` bytes, cut and marked truncated past that.
pub fn answer(
    query: &Query,
    rcode: Rcode,
    answers: &[Record],
    additional: &[Record],
    limit: usize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(limit);
    header(&mut out, query.id, query.recursion_desired, rcode);
    out.extend_from_slice(&query.question);
    let mut counts = [0u16; 2];
    let mut truncated = false;
    // Where each name was written whole, for later records to point at.
    let mut written = vec![(query.name.clone(), HEADER)];
    for (section, records) in [answers, additional].into_iter().enumerate() {
        for record in records {
            let before = out.len();
            write_record(&mut out, record, &mut written);
            if out.len() > limit {
                out.truncate(before);
                written.retain(|(_, at)| *at < before);
                // Additional records are a courtesy: only a cut answer
                // section tells the resolver to ask again over TCP.
                truncated |= section == 0;
                break;
            }
            counts[section] += 1;
        }
    }
    if truncated {
        out[2] |= 0x02;
    }
    out[6..8].copy_from_slice(&counts[0].to_be_bytes());
    out[10..12].copy_from_slice(&counts[1].to_be_bytes());
    out
}

/// An answer to a message that could not be read as a query.
pub fn refusal(id: u16, rcode: Rcode) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER);
    header(&mut out, id, false, rcode);
    out[4..6].copy_from_slice(&0u16.to_be_bytes());
    out
}

fn header(out: &mut Vec<u8>, id: u16, recursion_desired: bool, rcode: Rcode) {
    out.extend_from_slice(&id.to_be_bytes());
    // A response, authoritative; recursion is not available.
    let flags: u16 = 0x8000 | 0x0400 | if recursion_desired { 0x0100 } else { 0 } | rcode as u16;
    out.extend_from_slice(&flags.to_be_bytes());
    for count in [1u16, 0, 0, 0] {
        out.extend_from_slice(&count.to_be_bytes());
    }
}

/// Whether `name` can be written: labels of 1 to 63 bytes, 255 in all.
pub fn writable(name: &str) -> bool {
    name.len() < MAX_NAME && name.split('.').all(|l| !l.is_empty() && l.len() <= 63)
}

fn write_name(out: &mut Vec<u8>, name: &str) {
    debug_assert!(writable(name), "{name:?}");
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let bytes = &label.as_bytes()[..label.len().min(63)];
        out.push(u8::try_from(bytes.len()).unwrap_or(63));
        out.extend_from_slice(bytes);
    }
    out.push(0);
}

/// A record's owner name: a pointer to where the same name was written
/// before (RFC 1035 4.1.4), else the name itself.
fn write_owner(out: &mut Vec<u8>, name: &str, written: &[(String, usize)]) {
    match written.iter().find(|(w, _)| w.eq_ignore_ascii_case(name)) {
        Some(&(_, at)) if at < 0x4000 => {
            let pointer = 0xC000 | u16::try_from(at).unwrap_or(0);
            out.extend_from_slice(&pointer.to_be_bytes());
        }
        _ => write_name(out, name),
    }
}

fn write_record(out: &mut Vec<u8>, record: &Record, written: &mut Vec<(String, usize)>) {
    write_owner(out, &record.name, written);
    let (rtype, rdata) = match &record.data {
        Data::A(ip) => (TYPE_A, ip.octets().to_vec()),
        Data::Aaaa(ip) => (TYPE_AAAA, ip.octets().to_vec()),
        Data::Srv {
            priority,
            weight,
            port,
            target,
        } => {
            let mut rdata = Vec::new();
            for n in [priority, weight, port] {
                rdata.extend_from_slice(&n.to_be_bytes());
            }
            // Whole, as RFC 2782 asks of a target; the address records
            // that follow point at it. (Offset: after type, class, TTL
            // and length, and the three numbers.)
            written.push((target.clone(), out.len() + 10 + 6));
            write_name(&mut rdata, target);
            (TYPE_SRV, rdata)
        }
    };
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&record.ttl.to_be_bytes());
    out.extend_from_slice(&u16::try_from(rdata.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&rdata);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A query as a resolver sends it: recursion desired, one question.
    fn query_bytes(id: u16, name: &str, qtype: u16) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&0x0100u16.to_be_bytes());
        for count in [1u16, 0, 0, 0] {
            out.extend_from_slice(&count.to_be_bytes());
        }
        write_name(&mut out, name);
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out
    }

    #[test]
    fn a_query_is_read_in_lower_case() {
        let query = parse_query(&query_bytes(7, "Web.Service.Drover", TYPE_SRV)).unwrap();
        assert_eq!(query.id, 7);
        assert!(query.recursion_desired);
        assert_eq!(query.name, "web.service.drover");
        assert_eq!(query.qtype, TYPE_SRV);
    }

    #[test]
    fn what_is_no_query_is_refused_saying_why() {
        let mut response = query_bytes(1, "a.b", TYPE_A);
        response[2] |= 0x80;
        assert_eq!(
            parse_query(&response).unwrap_err().id,
            None,
            "an answer is never answered"
        );
        let mut notify = query_bytes(2, "a.b", TYPE_A);
        notify[2] |= 4 << 3;
        assert_eq!(parse_query(&notify).unwrap_err().rcode, Rcode::NotImp);
        let mut two = query_bytes(3, "a.b", TYPE_A);
        two[5] = 2;
        assert!(parse_query(&two).unwrap_err().why.contains("2 questions"));
        let mut compressed = query_bytes(4, "a.b", TYPE_A);
        compressed[12] = 0xC0;
        assert!(
            parse_query(&compressed)
                .unwrap_err()
                .why
                .contains("compressed")
        );
        let short = query_bytes(5, "a.b", TYPE_A);
        let err = parse_query(&short[..short.len() - 1]).unwrap_err();
        assert_eq!((err.id, err.rcode), (Some(5), Rcode::FormErr));
        assert_eq!(parse_query(&[9]).unwrap_err().id, None);
    }

    #[test]
    fn an_answer_that_does_not_fit_is_cut_and_marked_truncated() {
        let query = parse_query(&query_bytes(9, "web.service.drover", TYPE_A)).unwrap();
        let records: Vec<Record> = (0..100u8)
            .map(|i| Record {
                name: "web.service.drover".into(),
                ttl: 0,
                data: Data::A(Ipv4Addr::new(10, 0, 0, i)),
            })
            .collect();
        let bytes = answer(&query, Rcode::NoError, &records, &[], MAX_UDP);
        assert!(bytes.len() <= MAX_UDP);
        assert_ne!(bytes[2] & 0x02, 0, "truncated");
        let fitted = u16::from_be_bytes([bytes[6], bytes[7]]);
        assert!(fitted > 10 && fitted < 100, "{fitted}");
        let few = answer(&query, Rcode::NoError, &records[..3], &[], MAX_UDP);
        assert_eq!(few[2] & 0x02, 0);
        assert_eq!(u16::from_be_bytes([few[6], few[7]]), 3);
    }

    #[test]
    fn names_are_written_once_and_pointed_at_after() {
        let query = parse_query(&query_bytes(9, "web.service.drover", TYPE_SRV)).unwrap();
        let srv = |n: u16| Record {
            name: "web.service.drover".into(),
            ttl: 0,
            data: Data::Srv {
                priority: 0,
                weight: 1,
                port: 20000 + n,
                target: format!("node-{n:02}.node.drover"),
            },
        };
        let records: Vec<Record> = (0..12).map(srv).collect();
        let additional = [Record {
            name: "node-00.node.drover".into(),
            ttl: 0,
            data: Data::A(Ipv4Addr::LOCALHOST),
        }];
        let bytes = answer(&query, Rcode::NoError, &records, &additional, MAX_UDP);
        assert_eq!(bytes[2] & 0x02, 0, "12 records fit: not truncated");
        assert_eq!(u16::from_be_bytes([bytes[6], bytes[7]]), 12);
        // Each owner name is a pointer to the question's.
        let first = HEADER + query.question.len();
        assert_eq!(bytes[first..first + 2], [0xC0, 0x0C]);
        // The address record points at the first target, written whole.
        let count = u16::from_be_bytes([bytes[10], bytes[11]]);
        if count == 1 {
            let pointer = u16::from_be_bytes([bytes[bytes.len() - 16], bytes[bytes.len() - 15]]);
            let at = usize::from(pointer & 0x3FFF);
            assert_eq!(&bytes[at..at + 8], b"\x07node-00");
        }
        let tcp = answer(&query, Rcode::NoError, &records, &additional, 65_535);
        assert_eq!(
            u16::from_be_bytes([tcp[10], tcp[11]]),
            1,
            "over TCP all fit"
        );
        let pointer = u16::from_be_bytes([tcp[tcp.len() - 16], tcp[tcp.len() - 15]]);
        let at = usize::from(pointer & 0x3FFF);
        assert_eq!(&tcp[at..at + 8], b"\x07node-00");
    }

    proptest! {
        /// Any bytes: a query, or a refusal with a reason; never a panic.
        #[test]
        fn any_bytes_are_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            match parse_query(&bytes) {
                Ok(query) => prop_assert!(query.name.len() <= MAX_NAME),
                Err(malformed) => prop_assert!(!malformed.why.is_empty()),
            }
        }

        /// A query read back from its bytes is the query sent.
        #[test]
        fn names_round_trip(labels in proptest::collection::vec("[a-z0-9-]{1,20}", 1..6), qtype in any::<u16>()) {
            let name = labels.join(".");
            let query = parse_query(&query_bytes(1, &name, qtype)).unwrap();
            prop_assert_eq!(query.name, name);
            prop_assert_eq!(query.qtype, qtype);
        }
    }
}
