//! A private certificate authority for one cluster, and the certificates
//! it signs (`drover tls ca create`, `drover tls cert create`). A node's
//! certificate names it (`drover://node/<id>`) and the addresses it is
//! reached at, and serves both ends of a connection; a client's names the
//! client (`drover://client/<name>`) and only opens connections.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use super::identity::Identity;

/// Files written: the certificate and its key, side by side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Creates a CA in `dir` (`ca.pem`, `ca-key.pem`), valid for `days`.
/// Refuses to replace one: every certificate it signed would stop working.
pub fn create_ca(dir: &Path, days: u32) -> Result<Written, String> {
    let written = paths(dir, "ca");
    refuse_existing(&written)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = name("Drover cluster CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut params, days);
    let key = KeyPair::generate().map_err(|e| format!("generating the CA's key: {e}"))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("signing the CA's certificate: {e}"))?;
    write(&written, &cert.pem(), &key.serialize_pem())?;
    Ok(written)
}

/// What a certificate is for.
pub enum Subject<'a> {
    /// A node, reached at these addresses (IP addresses or DNS names).
    Node { id: u64, addrs: &'a [String] },
    /// A client: an operator, a CI job, a program.
    Client { name: &'a str },
}

/// Signs a certificate for `subject` with the CA in `ca_dir`, written to
/// `dir` as `node-<id>.pem` / `client-<name>.pem` and its `-key.pem`.
pub fn create_cert(
    ca_dir: &Path,
    dir: &Path,
    subject: &Subject,
    days: u32,
) -> Result<Written, String> {
    let ca = paths(ca_dir, "ca");
    let ca_cert = read(&ca.cert)?;
    let ca_key = KeyPair::from_pem(&read(&ca.key)?)
        .map_err(|e| format!("{}: not a private key in PEM: {e}", ca.key.display()))?;
    let issuer = Issuer::from_ca_cert_pem(&ca_cert, ca_key)
        .map_err(|e| format!("{}: not a CA certificate in PEM: {e}", ca.cert.display()))?;

    let mut params = CertificateParams::default();
    let (stem, identity) = match subject {
        Subject::Node { id, addrs } => {
            if addrs.is_empty() {
                return Err(
                    "--addr: a node's certificate needs the address it is reached at".into(),
                );
            }
            for addr in *addrs {
                params.subject_alt_names.push(san_of(addr)?);
            }
            params.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            (format!("node-{id}"), Identity::Node(*id))
        }
        Subject::Client { name } => {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            (
                format!("client-{name}"),
                Identity::Client((*name).to_string()),
            )
        }
    };
    identity.check()?;
    params.distinguished_name = name(&identity.to_string());
    let uri = identity
        .uri()
        .try_into()
        .map_err(|e| format!("{identity}: not a URI a certificate can carry: {e}"))?;
    params.subject_alt_names.push(SanType::URI(uri));
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    validity(&mut params, days);
    let written = paths(dir, &stem);
    refuse_existing(&written)?;
    let key = KeyPair::generate().map_err(|e| format!("generating a key: {e}"))?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| format!("signing the certificate: {e}"))?;
    write(&written, &cert.pem(), &key.serialize_pem())?;
    Ok(written)
}

fn san_of(addr: &str) -> Result<SanType, String> {
    // An address may come with its port (`10.0.0.1:7400`): the name is what
    // a client checks, not the port.
    let host = addr.parse::<std::net::SocketAddr>().map_or_else(
        |_| {
            addr.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string()
        },
        |a| a.ip().to_string(),
    );
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let valid = !host.is_empty()
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if !valid {
        return Err(format!(
            "--addr {addr:?}: neither an IP address nor a DNS name"
        ));
    }
    host.try_into()
        .map(SanType::DnsName)
        .map_err(|e| format!("--addr {addr:?}: {e}"))
}

fn name(common: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common);
    name
}

fn validity(params: &mut CertificateParams, days: u32) {
    let now = time::OffsetDateTime::now_utc();
    // A little in the past: clocks of the cluster's machines differ.
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(i64::from(days));
}

fn paths(dir: &Path, stem: &str) -> Written {
    Written {
        cert: dir.join(format!("{stem}.pem")),
        key: dir.join(format!("{stem}-key.pem")),
    }
}

fn refuse_existing(written: &Written) -> Result<(), String> {
    for path in [&written.cert, &written.key] {
        if path.exists() {
            return Err(format!(
                "{} exists; remove it first to replace it",
                path.display()
            ));
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn write(written: &Written, cert: &str, key: &str) -> Result<(), String> {
    if let Some(dir) = written.cert.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(&written.cert, cert)
        .map_err(|e| format!("cannot write {}: {e}", written.cert.display()))?;
    write_private(&written.key, key)
}

/// A key is readable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
