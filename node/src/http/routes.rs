//! One handler per REST resource, each a thin translation to the gRPC
//! API's own method on this node: the same forwarding to the leader, the
//! same reads and the same JSON documents as `drover ... --json`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use drover_core::spec::{Format, parse_job_spec};
use drover_proto::v1::api_server::Api;
use drover_proto::v1::{
    AclRevokeRequest, AclTokenRequest, DrainRequest, Empty, EventsRequest, JobRef, JsonReply,
    LogsRequest, Read, ReadJob, RevertRequest, SubmitJobReply, SubmitJobRequest,
};
use serde_json::{Value, json};
use tonic::Request;

use super::error::ApiError;
use crate::api::ApiService;

pub type Shared = Arc<ApiService>;
type Answer = Result<Response, ApiError>;
type RawQuery = Result<Query<BTreeMap<String, String>>, QueryRejection>;
type Id = Result<Path<String>, PathRejection>;

/// The query parameters of one request, read by name with errors that
/// name the parameter.
struct Params(BTreeMap<String, String>);

impl Params {
    fn from(params: RawQuery) -> Result<Self, ApiError> {
        params
            .map(|Query(map)| Self(map))
            .map_err(|e| ApiError::bad_request(format!("query: {e}")))
    }

    fn text(&self, name: &str) -> String {
        self.0.get(name).cloned().unwrap_or_default()
    }

    fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.0.get(name).map(String::as_str) {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1" | "") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "{name}: {other:?} is not true or false"
            ))),
        }
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        self.0
            .get(name)
            .map(|raw| {
                raw.parse().map_err(|_| {
                    ApiError::bad_request(format!("{name}: {raw:?} is not a non-negative integer"))
                })
            })
            .transpose()
    }
}

/// Who calls and for which region: the ACL token from an
/// `Authorization: Bearer` header, or a `token` query parameter for a
/// browser's `EventSource`, which cannot set headers; the region from a
/// `region` query parameter.
pub struct Caller {
    token: Option<String>,
    region: Option<String>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim().to_string());
        let query = |name: &str| {
            parts.uri.query().and_then(|q| {
                q.split('&')
                    .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
            })
        };
        Ok(Self {
            token: header.or_else(|| query("token")),
            region: query("region"),
        })
    }
}

impl Caller {
    /// `message` as a call of the gRPC API carrying this caller's token
    /// and region.
    fn call<T>(&self, message: T) -> Request<T> {
        let mut request = crate::access::carrying(message, self.token.as_deref());
        if let Some(region) = self
            .region
            .as_deref()
            .and_then(|r| tonic::metadata::MetadataValue::try_from(r).ok())
        {
            request
                .metadata_mut()
                .insert(crate::federation::REGION_KEY, region);
        }
        request
    }
}

fn id(path: Id) -> Result<String, ApiError> {
    path.map(|Path(id)| id)
        .map_err(|e| ApiError::bad_request(format!("path: {e}")))
}

/// A JSON document the gRPC API already rendered, served as it is.
fn document(reply: tonic::Response<JsonReply>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        reply.into_inner().json,
    )
        .into_response()
}

fn written(reply: tonic::Response<SubmitJobReply>) -> Response {
    let reply = reply.into_inner();
    let mut doc = json!({ "job": reply.job, "version": reply.version, "index": reply.index });
    if !reply.regions.is_empty() {
        doc["regions"] = crate::multiregion::outcomes_doc(&reply.regions);
    }
    Json(doc).into_response()
}

fn read(params: &Params) -> Result<Read, ApiError> {
    Ok(Read {
        stale: params.flag("stale")?,
        page_size: params.number("page_size")?.unwrap_or(0),
        page_token: params.text("page_token"),
        prefix: params.text("prefix"),
        status: params.text("status"),
    })
}

fn read_job(job: String, params: &Params) -> Result<ReadJob, ApiError> {
    Ok(ReadJob {
        job,
        stale: params.flag("stale")?,
        page_size: params.number("page_size")?.unwrap_or(0),
        page_token: params.text("page_token"),
    })
}

pub async fn list_jobs(State(api): State<Shared>, caller: Caller, params: RawQuery) -> Answer {
    let request = read(&Params::from(params)?)?;
    Ok(document(api.list_jobs(caller.call(request)).await?))
}

pub async fn get_job(
    State(api): State<Shared>,
    caller: Caller,
    job: Id,
    params: RawQuery,
) -> Answer {
    let request = read_job(id(job)?, &Params::from(params)?)?;
    Ok(document(api.job_status(caller.call(request)).await?))
}

/// The job's allocations, a page at a time: the job document's
/// `allocations` with its paging and the reasons anything is pending.
pub async fn job_allocations(
    State(api): State<Shared>,
    caller: Caller,
    job: Id,
    params: RawQuery,
) -> Answer {
    let request = read_job(id(job)?, &Params::from(params)?)?;
    let reply = api.job_status(caller.call(request)).await?.into_inner();
    let doc: Value = serde_json::from_str(&reply.json)
        .map_err(|e| ApiError::from(tonic::Status::internal(e.to_string())))?;
    Ok(Json(json!({
        "job": doc["id"],
        "allocations": doc["allocations"],
        "pending": doc["pending"],
        "next_page_token": doc["next_page_token"],
        "index": doc["index"],
    }))
    .into_response())
}

pub async fn job_history(
    State(api): State<Shared>,
    caller: Caller,
    job: Id,
    params: RawQuery,
) -> Answer {
    let request = read_job(id(job)?, &Params::from(params)?)?;
    Ok(document(api.job_history(caller.call(request)).await?))
}

type SpecBody = Result<Bytes, axum::extract::rejection::BytesRejection>;

/// The body, or why it could not be read: over the limit, or cut short.
fn read_body(body: SpecBody) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!(
                "body: over the limit of {} bytes (a spec is at most {} bytes)",
                crate::limits::MAX_REQUEST_BYTES,
                drover_core::spec::MAX_SPEC_BYTES
            ))
        } else {
            ApiError::bad_request(format!("body: {rejection}"))
        }
    })
}

/// The spec in the body, TOML or JSON (by `Content-Type`, or by its first
/// character), checked here first so that a spec that does not parse is
/// answered with every problem's field path, line and column.
fn spec_request(
    headers: &HeaderMap,
    params: &Params,
    body: &Bytes,
) -> Result<SubmitJobRequest, ApiError> {
    let spec = std::str::from_utf8(body)
        .map_err(|e| ApiError::bad_request(format!("body: the spec is not UTF-8 text: {e}")))?
        .to_string();
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let file_name = match params.text("file_name") {
        name if !name.is_empty() => name,
        _ if json => "spec.json".to_string(),
        _ => "spec".to_string(),
    };
    if let Err(errors) = parse_job_spec(&spec, Format::detect(&file_name, &spec)) {
        return Err(ApiError::invalid_spec(&errors, &file_name));
    }
    Ok(SubmitJobRequest {
        spec,
        file_name,
        check_index: params.number("check_index")?,
        idempotency_key: idempotency_key(headers)?,
    })
}

/// `Idempotency-Key` (the IETF draft's header): a retry with the same key
/// yields what the first write did.
fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str().map(str::to_string).map_err(|_| {
                ApiError::bad_request("Idempotency-Key: not visible ASCII text".to_string())
            })
        })
        .transpose()
        .map(Option::unwrap_or_default)
}

pub async fn submit_job(
    State(api): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    params: RawQuery,
    body: SpecBody,
) -> Answer {
    let request = spec_request(&headers, &Params::from(params)?, &read_body(body)?)?;
    Ok(written(api.submit_job(caller.call(request)).await?))
}

pub async fn plan_job(
    State(api): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    params: RawQuery,
    body: SpecBody,
) -> Answer {
    let request = spec_request(&headers, &Params::from(params)?, &read_body(body)?)?;
    Ok(document(api.plan_job(caller.call(request)).await?))
}

pub async fn stop_job(State(api): State<Shared>, caller: Caller, job: Id) -> Answer {
    let request = JobRef { job: id(job)? };
    Ok(written(api.stop_job(caller.call(request)).await?))
}

pub async fn revert_job(
    State(api): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    job: Id,
    params: RawQuery,
) -> Answer {
    let params = Params::from(params)?;
    let version = params
        .number("version")?
        .ok_or_else(|| ApiError::bad_request("version: required (the version to go back to)"))?;
    let request = RevertRequest {
        job: id(job)?,
        version,
        check_index: params.number("check_index")?,
        idempotency_key: idempotency_key(&headers)?,
    };
    Ok(written(api.revert_job(caller.call(request)).await?))
}

pub async fn promote_job(State(api): State<Shared>, caller: Caller, job: Id) -> Answer {
    let request = JobRef { job: id(job)? };
    Ok(written(api.promote_job(caller.call(request)).await?))
}

pub async fn list_services(State(api): State<Shared>, caller: Caller, params: RawQuery) -> Answer {
    let request = read(&Params::from(params)?)?;
    Ok(document(api.list_services(caller.call(request)).await?))
}

/// A service's endpoints that serve, and its instances' health.
pub async fn get_service(
    State(api): State<Shared>,
    caller: Caller,
    name: Id,
    params: RawQuery,
) -> Answer {
    let request = read_job(id(name)?, &Params::from(params)?)?;
    Ok(document(api.service_status(caller.call(request)).await?))
}

pub async fn list_nodes(State(api): State<Shared>, caller: Caller, params: RawQuery) -> Answer {
    let request = read(&Params::from(params)?)?;
    Ok(document(api.list_nodes(caller.call(request)).await?))
}

/// Starts a drain, or ends one with `enable=false`.
pub async fn drain_node(
    State(api): State<Shared>,
    caller: Caller,
    node: Id,
    params: RawQuery,
) -> Answer {
    let params = Params::from(params)?;
    let enable = match params.0.get("enable") {
        None => true,
        Some(_) => params.flag("enable")?,
    };
    let request = DrainRequest {
        node: id(node)?,
        enable,
    };
    Ok(document(api.drain_node(caller.call(request)).await?))
}

pub async fn cluster(State(api): State<Shared>, caller: Caller) -> Answer {
    Ok(document(api.cluster_status(caller.call(Empty {})).await?))
}

pub async fn cluster_members(State(api): State<Shared>, caller: Caller) -> Answer {
    Ok(document(api.cluster_members(caller.call(Empty {})).await?))
}

/// How long a followed log waits between looks when nothing new came.
const FOLLOW_EVERY: Duration = Duration::from_millis(500);

/// An allocation's output (`stream=stdout|stderr`, from `offset`): one
/// slice, with where to go on in `Drover-Next-Offset`; or with
/// `follow=true`, everything from `offset` as it comes, until the
/// allocation has finished.
pub async fn job_logs(
    State(api): State<Shared>,
    caller: Caller,
    job: Id,
    params: RawQuery,
) -> Answer {
    let params = Params::from(params)?;
    let stderr = match params.text("stream").as_str() {
        "" | "stdout" => false,
        "stderr" => true,
        other => {
            return Err(ApiError::bad_request(format!(
                "stream: {other:?} is neither stdout nor stderr"
            )));
        }
    };
    let request = LogsRequest {
        job: id(job)?,
        alloc: params.text("alloc"),
        stderr,
        offset: params.number("offset")?.unwrap_or(0),
    };
    let first = api
        .job_logs(caller.call(request.clone()))
        .await?
        .into_inner();
    if !params.flag("follow")? {
        let mut response = Body::from(first.data).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        headers.insert("drover-alloc", header_value(&first.alloc));
        headers.insert(
            "drover-next-offset",
            header_value(&first.next_offset.to_string()),
        );
        headers.insert("drover-finished", header_value(&first.finished.to_string()));
        return Ok(response);
    }
    let alloc = first.alloc.clone();
    let stream = futures_util::stream::unfold(
        (api, caller, LogsRequest { alloc, ..request }, Some(first)),
        |(api, caller, mut request, first)| async move {
            let slice = match first {
                Some(slice) => Ok(slice),
                None => api
                    .job_logs(caller.call(request.clone()))
                    .await
                    .map(tonic::Response::into_inner),
            };
            let slice = match slice {
                Ok(slice) => slice,
                Err(status) => {
                    // Said in the stream, then ended: the status line has gone.
                    let error = std::io::Error::other(status.message().to_string());
                    return Some((Err(error), (api, caller, request, None)));
                }
            };
            if slice.data.is_empty() {
                if slice.finished {
                    return None;
                }
                tokio::time::sleep(FOLLOW_EVERY).await;
                return Some((Ok(Bytes::new()), (api, caller, request, None)));
            }
            request.offset = slice.next_offset;
            Some((Ok(Bytes::from(slice.data)), (api, caller, request, None)))
        },
    );
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(stream),
    )
        .into_response())
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The event stream as server-sent events: one message per page of whole
/// log indexes (`event: events`, `id:` the index to resume after, `data:`
/// the page as the gRPC stream sends it), so a browser's `EventSource`
/// resumes through `Last-Event-ID` with no gap and no repeat. `from`,
/// `topic` (comma-separated) and `follow` as `drover events`.
pub async fn events(
    State(api): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    params: RawQuery,
) -> Answer {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use futures_util::StreamExt;
    let params = Params::from(params)?;
    let after = match headers.get("last-event-id") {
        Some(raw) => raw
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| ApiError::bad_request("Last-Event-ID: not a log index"))?,
        None => params.number("from")?.unwrap_or(0),
    };
    let request = EventsRequest {
        after,
        topics: vec![params.text("topic")],
        follow: params.flag("follow")?,
    };
    let stream = api
        .events(caller.call(request))
        .await
        .map_err(|status| match status.code() {
            tonic::Code::FailedPrecondition => ApiError::gone(status.message()),
            _ => ApiError::from(status),
        })?
        .into_inner();
    let messages = stream.map(|item| {
        Ok::<_, std::convert::Infallible>(match item {
            Ok(page) => {
                let index = serde_json::from_str::<Value>(&page.json)
                    .ok()
                    .and_then(|p| p["index"].as_u64())
                    .unwrap_or(0);
                Event::default()
                    .event("events")
                    .id(index.to_string())
                    .data(page.json)
            }
            // Said in the stream, which then ends: the status has gone.
            Err(status) => Event::default()
                .event("error")
                .data(ApiError::from(status).body.to_string()),
        })
    });
    Ok(Sse::new(messages)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// The node's Prometheus metrics (OpenMetrics text; docs/metrics.md);
/// with ACLs, for a token that may read (Prometheus: `authorization`
/// in the scrape config).
pub async fn metrics(State(api): State<Shared>, caller: Caller) -> Answer {
    api.allow_read_here(caller.call(Empty {})).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        api.metrics_page().await,
    )
        .into_response())
}

pub async fn acl_bootstrap(State(api): State<Shared>, caller: Caller) -> Answer {
    Ok(document(api.acl_bootstrap(caller.call(Empty {})).await?))
}

pub async fn acl_self(State(api): State<Shared>, caller: Caller) -> Answer {
    Ok(document(api.acl_self(caller.call(Empty {})).await?))
}

pub async fn acl_tokens(State(api): State<Shared>, caller: Caller) -> Answer {
    Ok(document(api.acl_list_tokens(caller.call(Empty {})).await?))
}

/// A new token from `{"name": ..., "policy": ..., "pools": [...]}`.
pub async fn acl_create_token(
    State(api): State<Shared>,
    caller: Caller,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Answer {
    let Json(body) = body.map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
    let text = |name: &str| body[name].as_str().unwrap_or_default().to_string();
    let pools = match &body["pools"] {
        Value::Null => Vec::new(),
        Value::Array(items) => items
            .iter()
            .map(|p| {
                p.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ApiError::bad_request("pools: a list of pool names"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(ApiError::bad_request("pools: a list of pool names")),
    };
    let request = AclTokenRequest {
        name: text("name"),
        policy: text("policy"),
        pools,
    };
    Ok(document(api.acl_create_token(caller.call(request)).await?))
}

pub async fn acl_revoke_token(State(api): State<Shared>, caller: Caller, accessor: Id) -> Answer {
    let request = AclRevokeRequest {
        accessor: id(accessor)?,
    };
    Ok(document(api.acl_revoke_token(caller.call(request)).await?))
}

/// Counts each answered request by its route (not its path: ids would
/// make a label per job) and status.
pub async fn count_request(
    State(api): State<Shared>,
    route: axum::extract::MatchedPath,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // `:id` rather than `{id}`: braces inside a label value trip up
    // lenient exposition parsers.
    let route = route.as_str().replace('{', ":").replace('}', "");
    let method = format!("{} {route}", request.method());
    let response = next.run(request).await;
    api.metrics
        .request("http", &method, response.status().as_str());
    response
}
