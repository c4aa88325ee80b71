//! Who may call: the ACL token a public call carries (`authorization:
//! Bearer <token>`), checked against this node's replica for the one
//! capability the call needs, and carried along when a call is relayed.
//! The decisions are the core's (`drover_core::acl`); this is transport.

use drover_core::acl::{ACCESSOR_LEN, Denied, NewToken, Policy, SECRET_LEN};
use serde_json::{Value, json};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Request, Status};

/// `[acl]` as a node applies it.
#[derive(Debug, Clone, Default)]
pub struct Setting {
    /// Every public call needs a token.
    pub enabled: bool,
    /// Where an operator who lost the management token writes the last
    /// bootstrap's index to bootstrap again (as Nomad's reset index).
    pub reset_file: std::path::PathBuf,
}

/// The file name of [`Setting::reset_file`] in a node's data directory.
pub const RESET_FILE: &str = "acl-bootstrap-reset";

pub const TOKEN_KEY: &str = "authorization";
const BEARER: &str = "Bearer ";

/// The token a request carries, if any.
pub fn presented(metadata: &MetadataMap) -> Option<&str> {
    let value = metadata.get(TOKEN_KEY)?.to_str().ok()?;
    Some(value.strip_prefix(BEARER).unwrap_or(value).trim())
}

/// `message` as a new request carrying `token`.
pub fn carrying<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(value) = token.and_then(|t| MetadataValue::try_from(format!("{BEARER}{t}")).ok()) {
        request.metadata_mut().insert(TOKEN_KEY, value);
    }
    request
}

/// The request to send on: the same message, the caller's token, the
/// region it named, and whether it is one region's part of a call
/// another region answers for all.
pub fn forward<T>(request: Request<T>) -> Request<T> {
    let token = presented(request.metadata()).map(str::to_string);
    let carried: Vec<_> = [
        crate::federation::REGION_KEY,
        crate::federation::FEDERATED_KEY,
    ]
    .into_iter()
    .filter_map(|key| Some((key, request.metadata().get(key)?.clone())))
    .collect();
    let mut forwarded = carrying(request.into_inner(), token.as_deref());
    for (key, value) in carried {
        forwarded.metadata_mut().insert(key, value);
    }
    forwarded
}

/// No token, or one not known: UNAUTHENTICATED; a good token without the
/// capability: PERMISSION_DENIED.
pub fn refusal(denied: &Denied) -> Status {
    if denied.is_permission() {
        Status::permission_denied(denied.to_string())
    } else {
        Status::unauthenticated(denied.to_string())
    }
}

/// A new token with fresh random accessor, secret and salt: the record
/// the log carries and the text to give the caller, once.
pub fn draw(name: String, policy: Policy) -> (NewToken, String) {
    let accessor = hex(&rand::random::<[u8; ACCESSOR_LEN / 2]>());
    let secret = hex(&rand::random::<[u8; SECRET_LEN / 2]>());
    let token = NewToken::new(accessor.clone(), name, policy, rand::random(), &secret);
    (token, format!("{accessor}.{secret}"))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// A policy as a request names it: `management`, `job-write` (with its
/// pools) or `read`.
pub fn policy(name: &str, pools: Vec<String>) -> Result<Policy, Status> {
    if name != "job-write" && !pools.is_empty() {
        return Err(Status::invalid_argument(
            "pools: only a job-write policy is limited to pools",
        ));
    }
    match name {
        "management" => Ok(Policy::Management),
        "job-write" => Ok(Policy::JobWrite { pools }),
        "read" => Ok(Policy::Read),
        other => Err(Status::invalid_argument(format!(
            "policy: {other:?} is not a policy (management, job-write or read)"
        ))),
    }
}

/// The pools a job-write policy limits writes to; empty otherwise.
pub fn pools_of(policy: &Policy) -> Vec<String> {
    match policy {
        Policy::JobWrite { pools } => pools.clone(),
        _ => Vec::new(),
    }
}

/// A token as the API shows it: never its secret.
pub fn token_doc(token: &drover_core::acl::Token) -> Value {
    let pools = pools_of(&token.policy);
    json!({
        "accessor": token.accessor,
        "name": token.name,
        "policy": token.policy.name(),
        "pools": pools,
        "created_ms": token.created_ms,
        "create_index": token.create_index,
    })
}
