//! Following a list's pages to the end. Each page is read on its own, so a
//! list read while it changes holds every item that existed throughout,
//! once, in id order — not a snapshot of one instant.

use std::future::Future;

use drover_node::client::status_message;
use drover_proto::v1::{JsonReply, Read};
use serde_json::Value;

use super::Filter;
use super::cluster::parse;

/// Every page of a collection (`list` is `list_jobs` or `list_nodes`)
/// as `filter` narrows it, the items under `key`.
pub async fn read_list<F, Fut>(
    api: &drover_node::client::Connection,
    key: &str,
    filter: &Filter,
    stale: bool,
    list: F,
) -> Result<Value, String>
where
    F: Fn(drover_node::client::Connection, Read) -> Fut,
    Fut: Future<Output = Result<tonic::Response<JsonReply>, tonic::Status>>,
{
    all_pages(key, |page_token| {
        let request = Read {
            stale,
            page_token,
            prefix: filter.prefix.clone(),
            status: filter.status.clone(),
            page_size: filter.page_size,
        };
        let reply = list(api.clone(), request);
        async move {
            let reply = reply.await.map_err(|e| status_message(&e))?;
            parse(&reply.into_inner().json)
        }
    })
    .await
}

/// Every page of a list: the first page's document with the items of all
/// pages under `key`.
pub async fn all_pages<F, Fut>(key: &str, mut fetch: F) -> Result<Value, String>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<Value, String>>,
{
    let mut token = String::new();
    let mut items = Vec::new();
    let mut first: Option<Value> = None;
    loop {
        let mut doc = fetch(token.clone()).await?;
        if let Some(Value::Array(page)) = doc.get_mut(key).map(Value::take) {
            items.extend(page);
        }
        let next = doc["next_page_token"].as_str().map(String::from);
        first.get_or_insert(doc);
        match next {
            Some(next) if next != token => token = next,
            _ => break,
        }
    }
    let mut doc = first.unwrap_or_default();
    if let Some(fields) = doc.as_object_mut() {
        fields.remove("next_page_token");
        fields.insert(key.to_string(), Value::Array(items));
    }
    Ok(doc)
}
