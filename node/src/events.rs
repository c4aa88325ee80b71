//! The event stream as this node serves it: pages of its replica's events
//! (`drover_core::events`), each page whole log indexes, and — when
//! following — the next page as soon as the replica applies more. Every
//! page says the index to resume after, so a client that reconnects there
//! misses nothing and sees nothing twice, whichever node it reaches.

use std::pin::Pin;

use drover_core::events::{Event, Topic};
use drover_proto::v1::{EventsRequest, JsonReply};
use futures_util::Stream;
use serde_json::json;
use tokio::sync::watch;
use tonic::Status;

use crate::raft::SharedState;

/// Events per page, about (a page never splits an index).
const PAGE: usize = 500;

pub type EventStream = Pin<Box<dyn Stream<Item = Result<JsonReply, Status>> + Send>>;

/// One page: the events, and the index through which this replica has
/// told everything (resume after it).
pub struct Page {
    pub events: Vec<Event>,
    pub through: u64,
}

/// What a stream asks for.
#[derive(Clone)]
pub struct Interest {
    topics: Vec<Topic>,
    follow: bool,
}

impl Interest {
    /// The topics named (all when none), or an error naming the bad one.
    pub fn of(request: &EventsRequest) -> Result<Self, Status> {
        let topics = request
            .topics
            .iter()
            .flat_map(|t| t.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| Topic::parse(t).map_err(Status::invalid_argument))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            topics,
            follow: request.follow,
        })
    }
}

/// The events after `after` that this replica holds, up to a page.
pub async fn page(state: &SharedState, after: u64, interest: &Interest) -> Result<Page, Status> {
    let replica = state.read().await;
    let applied = replica.last_applied.map_or(0, |id| id.index);
    let events = replica
        .state
        .events_since(after, &interest.topics, PAGE)
        .map_err(|gone| Status::failed_precondition(gone.to_string()))?;
    // A page cut short at PAGE ends with a whole index; otherwise
    // everything applied so far has been looked at.
    let through = match events.last() {
        Some(last) if events.len() >= PAGE => last.index,
        _ => applied.max(after),
    };
    Ok(Page { events, through })
}

pub fn reply(page: &Page) -> JsonReply {
    JsonReply {
        json: json!({ "events": page.events, "index": page.through }).to_string(),
    }
}

/// Where a stream stands between pages.
struct Cursor {
    state: SharedState,
    applied: watch::Receiver<u64>,
    interest: Interest,
    /// The first page, read before the stream began (its errors are the
    /// call's).
    first: Option<Page>,
    /// Everything through this index has been told.
    after: u64,
    /// The last page held everything this replica had applied.
    caught_up: bool,
    done: bool,
}

impl Cursor {
    /// The next page with events, or `None` when the stream ends.
    async fn next(&mut self) -> Option<Result<JsonReply, Status>> {
        while !self.done {
            let page = if let Some(first) = self.first.take() {
                first
            } else {
                if self.caught_up && !self.applied_past(self.after).await {
                    return None;
                }
                match page(&self.state, self.after, &self.interest).await {
                    Ok(page) => page,
                    Err(status) => {
                        self.done = true;
                        return Some(Err(status));
                    }
                }
            };
            self.after = page.through;
            self.caught_up = page.events.len() < PAGE;
            self.done = self.caught_up && !self.interest.follow;
            if !page.events.is_empty() {
                return Some(Ok(reply(&page)));
            }
        }
        None
    }

    /// Waits until the replica has applied past `index`; false when it
    /// never will (the node is shutting down).
    async fn applied_past(&mut self, index: u64) -> bool {
        while *self.applied.borrow_and_update() <= index {
            if self.applied.changed().await.is_err() {
                return false;
            }
        }
        true
    }
}

/// Pages from `first` on: while following, the next as soon as the
/// replica applies more; otherwise it ends once everything applied has
/// been told.
pub fn stream(
    state: SharedState,
    applied: watch::Receiver<u64>,
    first: Page,
    interest: Interest,
) -> EventStream {
    let cursor = Cursor {
        state,
        applied,
        after: first.through,
        caught_up: false,
        first: Some(first),
        interest,
        done: false,
    };
    Box::pin(futures_util::stream::unfold(
        cursor,
        |mut cursor| async move {
            let item = cursor.next().await?;
            Some((item, cursor))
        },
    ))
}
