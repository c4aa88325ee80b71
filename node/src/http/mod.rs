//! The REST API: every node answers HTTP on its `http` address with the
//! resources of the gRPC API (`routes`), errors as JSON (`error`), the
//! OpenAPI document that describes them (`openapi`), its metrics, and the
//! dashboard at `/ui` (`ui.html`: one page, no build step, that reads the
//! same API and follows the event stream). Not built into the simulator,
//! which speaks gRPC only.

mod error;
mod openapi;
mod routes;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::api::ApiService;

pub use error::ApiError;

/// The address is taken before the node serves, so that a port in use
/// stops the start with a message that names it.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("http = \"{addr}\": cannot listen there: {e}"))
}

pub fn router(api: Arc<ApiService>) -> Router {
    Router::new()
        .route("/", get(|| async { axum::response::Redirect::to("/ui") }))
        .route("/ui", get(dashboard))
        .route("/metrics", get(routes::metrics))
        .route("/v1/openapi.json", get(openapi::serve))
        .route("/v1/jobs", get(routes::list_jobs).post(routes::submit_job))
        .route("/v1/jobs/plan", post(routes::plan_job))
        .route(
            "/v1/jobs/{id}",
            get(routes::get_job).delete(routes::stop_job),
        )
        .route("/v1/jobs/{id}/allocations", get(routes::job_allocations))
        .route("/v1/jobs/{id}/history", get(routes::job_history))
        .route("/v1/jobs/{id}/revert", post(routes::revert_job))
        .route("/v1/jobs/{id}/promote", post(routes::promote_job))
        .route("/v1/jobs/{id}/logs", get(routes::job_logs))
        .route("/v1/nodes", get(routes::list_nodes))
        .route("/v1/services", get(routes::list_services))
        .route("/v1/services/{id}", get(routes::get_service))
        .route("/v1/nodes/{id}/drain", post(routes::drain_node))
        .route("/v1/cluster", get(routes::cluster))
        .route("/v1/cluster/members", get(routes::cluster_members))
        .route("/v1/events", get(routes::events))
        .route("/v1/acl/bootstrap", post(routes::acl_bootstrap))
        .route("/v1/acl/self", get(routes::acl_self))
        .route(
            "/v1/acl/tokens",
            get(routes::acl_tokens).post(routes::acl_create_token),
        )
        .route(
            "/v1/acl/tokens/{id}",
            axum::routing::delete(routes::acl_revoke_token),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            api.clone(),
            routes::count_request,
        ))
        .fallback(|| async { ApiError::not_found("no such resource; see /v1/openapi.json") })
        .layer(axum::extract::DefaultBodyLimit::max(
            crate::limits::MAX_REQUEST_BYTES,
        ))
        .with_state(api)
}

/// The dashboard: embedded in the binary, served as it is.
async fn dashboard() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("ui.html"))
}

/// Serves until the task is dropped.
/// Over mutual TLS when the node has `[tls]`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    api: Arc<ApiService>,
    tls: Option<crate::tls::Tls>,
) -> Result<(), String> {
    let listener =
        crate::limits::LimitedListener::new(listener, crate::limits::MAX_CONNECTIONS, "REST API");
    match tls {
        Some(tls) => {
            let listener = crate::tls::TlsListener::new(listener, tls, "REST API")
                .map_err(|e| format!("http: {e}"))?;
            serve_connections(listener, router(api)).await;
        }
        None => serve_connections(listener, router(api)).await,
    }
    Ok(())
}

/// Each connection served in a task of its own, HTTP/1.1 or HTTP/2. A
/// client gets [`HEADER_READ_TIMEOUT`] to send a request's headers: one
/// that trickles them holds a connection that long, not for ever. Serves
/// until the task is dropped.
///
/// [`HEADER_READ_TIMEOUT`]: crate::limits::HEADER_READ_TIMEOUT
async fn serve_connections<L>(mut listener: L, router: Router)
where
    L: axum::serve::Listener,
{
    loop {
        let (io, _) = listener.accept().await;
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let mut builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            builder
                .http1()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(crate::limits::HEADER_READ_TIMEOUT);
            // Errors end one connection (a client gone, a timeout), and
            // say nothing the client does not already know.
            let _ = builder
                .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(io), service)
                .await;
        });
    }
}
