//! The ACL calls of the public API: bootstrap, tokens made, listed,
//! revoked, and the caller's own token.

use drover_core::CommandKind;
use drover_core::acl::Policy;
use drover_core::state::{ApplyError, Success};
use drover_proto::v1::AclTokenRequest;
use serde_json::{Value, json};
use tonic::{Request, Status};

use crate::access;
use crate::api::ApiService;

impl ApiService {
    /// The first management token, or another after a reset. Its secret
    /// is in this answer only.
    pub(crate) async fn bootstrap(&self) -> Result<Value, Status> {
        self.acl_enabled()?;
        let reset_index = self.reset_index()?;
        let (token, secret) = access::draw("bootstrap".into(), Policy::Management);
        let accessor = token.accessor.clone();
        let (index, outcome) = self
            .commit(CommandKind::AclBootstrap { token, reset_index })
            .await?;
        match outcome {
            Ok(_) => {
                if reset_index.is_some() {
                    // Spent: a file left behind must not allow another.
                    let _ = std::fs::remove_file(&self.acl.reset_file);
                }
                Ok(created(
                    &accessor,
                    "bootstrap",
                    &Policy::Management,
                    &secret,
                    index,
                ))
            }
            Err(e) => Err(Status::failed_precondition(e.to_string())),
        }
    }

    /// The index an operator wrote to the reset file, if there is one.
    fn reset_index(&self) -> Result<Option<u64>, Status> {
        let path = &self.acl.reset_file;
        match std::fs::read_to_string(path) {
            Ok(text) => text.trim().parse().map(Some).map_err(|_| {
                Status::failed_precondition(format!(
                    "{}: {:?} is not a log index (the one `drover acl bootstrap` named)",
                    path.display(),
                    text.trim()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Status::internal(format!("{}: {e}", path.display()))),
        }
    }

    /// Tokens are made and revoked only where they are checked.
    pub(crate) fn acl_enabled(&self) -> Result<(), Status> {
        if self.acl.enabled {
            return Ok(());
        }
        Err(Status::failed_precondition(
            "ACLs are not enabled on this node: set [acl] enabled = true in every node's node.toml (docs/security.md)",
        ))
    }

    pub(crate) async fn create_token(&self, request: AclTokenRequest) -> Result<Value, Status> {
        self.acl_enabled()?;
        let policy = access::policy(&request.policy, request.pools)?;
        let (token, secret) = access::draw(request.name.clone(), policy.clone());
        if let Some(problem) = token.problem() {
            return Err(Status::invalid_argument(problem));
        }
        let accessor = token.accessor.clone();
        let (index, outcome) = self.commit(CommandKind::AclCreateToken(token)).await?;
        match outcome {
            Ok(_) => Ok(created(&accessor, &request.name, &policy, &secret, index)),
            Err(ApplyError::InvalidToken(problem)) => Err(Status::invalid_argument(problem)),
            Err(e) => Err(Status::failed_precondition(e.to_string())),
        }
    }

    pub(crate) async fn revoke_token(&self, accessor: &str) -> Result<Value, Status> {
        self.acl_enabled()?;
        let command = CommandKind::AclRevokeToken {
            accessor: accessor.to_string(),
        };
        let (index, outcome) = self.commit(command).await?;
        match outcome {
            Ok(Success::TokenRevoked { accessor }) => {
                // The revocation holds here before the caller hears of it;
                // a write forwarded to the leader returns on the leader's
                // apply, not this replica's.
                let mut applied = self.applied.clone();
                let here = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    applied.wait_for(|at| *at >= index),
                )
                .await
                .is_ok_and(|seen| seen.is_ok());
                Ok(json!({
                    "accessor": accessor,
                    "revoked": true,
                    "index": index,
                    "applied_here": here,
                }))
            }
            Err(ApplyError::UnknownToken(accessor)) => Err(Status::not_found(format!(
                "no token with accessor {accessor}"
            ))),
            other => Err(Status::internal(format!("revoking {accessor}: {other:?}"))),
        }
    }

    pub(crate) async fn token_list(&self) -> Value {
        let replica = self.state.read().await;
        let acl = replica.state.acl();
        let tokens: Vec<Value> = acl.tokens().map(access::token_doc).collect();
        json!({
            "enabled": self.acl.enabled,
            "bootstrap_index": acl.bootstrap_index(),
            "tokens": tokens,
            "index": replica.state.index(),
        })
    }

    /// The caller's token as this replica knows it.
    pub(crate) async fn token_of<T>(&self, request: &Request<T>) -> Result<Value, Status> {
        if !self.acl.enabled {
            return Ok(json!({ "enabled": false }));
        }
        let replica = self.state.read().await;
        let token = replica
            .state
            .acl()
            .check(
                access::presented(request.metadata()),
                drover_core::acl::Capability::Read,
            )
            .map_err(|denied| access::refusal(&denied))?;
        let mut doc = access::token_doc(token);
        doc["enabled"] = json!(true);
        Ok(doc)
    }
}

/// A token just made: the only answer that holds its secret, as callers
/// present it (`<accessor>.<secret>`).
fn created(accessor: &str, name: &str, policy: &Policy, secret: &str, index: u64) -> Value {
    let pools = access::pools_of(policy);
    json!({
        "accessor": accessor,
        "secret": secret,
        "name": name,
        "policy": policy.name(),
        "pools": pools,
        "index": index,
    })
}
