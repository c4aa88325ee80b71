//! Group commit: commands that arrive while earlier groups are still being
//! committed go out together in the next group — one log entry on the
//! leader, one forwarded call on any other node — so a burst of writes
//! pays for one append, one fsync and one round trip instead of one each.
//! A lone command goes out at once, alone: groups only form behind groups
//! already in flight, so batching adds no wait when the node is idle.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use drover_core::CommandKind;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Groups being committed at once. While they are, new commands queue and
/// go out together in the next one: the fewer in flight, the larger the
/// groups; more than one keeps the disk busy while a round trip runs.
const GROUPS_IN_FLIGHT: usize = 2;
/// Commands in one group, at most.
const MAX_COMMANDS: usize = 512;
/// Encoded bytes of one group's commands, at most, unless a single command
/// is larger (a spec may be 1 MiB): a group is replicated as one entry.
const MAX_BYTES: usize = 512 * 1024;
const QUEUE: usize = 4096;
/// How long the next group waits for room before it goes anyway: groups
/// in flight that long are stuck (forwarded to a leader that was cut off,
/// or a leader without a quorum; they wait out their timeouts), and the
/// writes queued behind them may be for a new leader.
const STALLED: Duration = Duration::from_millis(500);

/// Commands that go out together, and how many times they were forwarded
/// already (the most of any of them).
pub struct Group {
    pub kinds: Vec<CommandKind>,
    pub hops: u8,
}

struct Pending<T> {
    kind: CommandKind,
    hops: u8,
    size: usize,
    reply: oneshot::Sender<T>,
}

/// Queues commands and hands them, grouped, to a commit function that
/// answers one `T` per command, in order. Clones share one queue.
pub struct Batcher<T> {
    queue: mpsc::Sender<Pending<T>>,
}

impl<T> Clone for Batcher<T> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

/// The batcher is gone: the node is shutting down.
#[derive(Debug)]
pub struct Closed;

impl<T: Send + 'static> Batcher<T> {
    pub fn start<F, Fut>(commit: F) -> Self
    where
        F: Fn(Group) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<T>> + Send + 'static,
    {
        let (queue, pending) = mpsc::channel(QUEUE);
        tokio::spawn(run(Arc::new(commit), pending));
        Self { queue }
    }

    /// Commits `kind` in some group and answers what its commit said of it.
    pub async fn write(&self, kind: CommandKind, hops: u8) -> Result<T, Closed> {
        self.queue(kind, hops).await?.answer().await
    }

    /// Queues `kind` behind everything queued before; its answer comes
    /// through the ticket. Commands queued one after another without
    /// waiting between go out in as few groups as the limits allow.
    pub async fn queue(&self, kind: CommandKind, hops: u8) -> Result<Ticket<T>, Closed> {
        let size = postcard::experimental::serialized_size(&kind).unwrap_or(MAX_BYTES);
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            kind,
            hops,
            size,
            reply,
        };
        self.queue.send(pending).await.map_err(|_| Closed)?;
        Ok(Ticket(answer))
    }
}

/// A queued command's answer, to come.
pub struct Ticket<T>(oneshot::Receiver<T>);

impl<T> Ticket<T> {
    pub async fn answer(self) -> Result<T, Closed> {
        self.0.await.map_err(|_| Closed)
    }
}

async fn run<T, F, Fut>(commit: Arc<F>, mut queue: mpsc::Receiver<Pending<T>>)
where
    T: Send + 'static,
    F: Fn(Group) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<T>> + Send + 'static,
{
    let in_flight = Arc::new(Semaphore::new(GROUPS_IN_FLIGHT));
    // The command that did not fit in the previous group starts the next.
    let mut carried: Option<Pending<T>> = None;
    loop {
        let first = match carried.take() {
            Some(first) => first,
            None => match queue.recv().await {
                Some(first) => first,
                None => return,
            },
        };
        // Waiting for room is what lets the queue fill behind `first`.
        let permit = match tokio::time::timeout(STALLED, in_flight.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Some(permit),
            Ok(Err(_)) => return,
            Err(_) => None,
        };
        let mut bytes = first.size;
        let mut group = vec![first];
        while group.len() < MAX_COMMANDS {
            let Ok(next) = queue.try_recv() else { break };
            if bytes + next.size > MAX_BYTES {
                carried = Some(next);
                break;
            }
            bytes += next.size;
            group.push(next);
        }
        let commit = commit.clone();
        tokio::spawn(async move {
            let hops = group.iter().map(|p| p.hops).max().unwrap_or(0);
            let (kinds, replies): (Vec<CommandKind>, Vec<oneshot::Sender<T>>) =
                group.into_iter().map(|p| (p.kind, p.reply)).unzip();
            let count = kinds.len();
            let answers = commit(Group { kinds, hops }).await;
            assert_eq!(answers.len(), count, "one answer per command of a group");
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(answer);
            }
            drop(permit);
        });
    }
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use std::sync::Mutex;

    use drover_core::NodeId;

    use super::*;

    fn heartbeat(n: usize) -> CommandKind {
        CommandKind::Heartbeat {
            node: NodeId::new(format!("n{n}")).unwrap(),
        }
    }

    #[test]
    fn groups_stuck_in_flight_hold_up_the_next_one_only_briefly() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let waited = runtime.block_on(async {
            let batcher = Batcher::start(|group: Group| async move {
                let stuck = group.kinds.iter().any(|k| *k == heartbeat(0));
                if stuck {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                vec![stuck; group.kinds.len()]
            });
            // Two stuck groups take all the room there is.
            for _ in 0..2 {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.write(heartbeat(0), 0).await });
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let started = std::time::Instant::now();
            let answer = batcher.write(heartbeat(1), 0).await.unwrap();
            assert!(!answer);
            started.elapsed()
        });
        assert!(
            waited < Duration::from_secs(5),
            "a write behind stuck groups waited {waited:?}"
        );
        runtime.shutdown_background();
    }

    #[test]
    fn commands_behind_groups_in_flight_go_out_together_and_each_hears_its_own_answer() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let answers = runtime.block_on(async move {
            let batcher = Batcher::start(move |group: Group| {
                seen.lock().unwrap().push(group.kinds.len());
                async move {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    group
                        .kinds
                        .iter()
                        .map(|k| match k {
                            CommandKind::Heartbeat { node } => node.to_string(),
                            _ => unreachable!(),
                        })
                        .collect::<Vec<_>>()
                }
            });
            let writes = (0..200).map(|n| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.write(heartbeat(n), 0).await.unwrap() })
            });
            let mut answers = Vec::new();
            for write in writes.collect::<Vec<_>>() {
                answers.push(write.await.unwrap());
            }
            answers
        });
        let expected: Vec<String> = (0..200).map(|n| format!("n{n}")).collect();
        assert_eq!(
            answers, expected,
            "each write is answered with its own result"
        );
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 200);
        assert!(
            sizes.len() < 20,
            "200 concurrent writes went out in {} groups: {sizes:?}",
            sizes.len()
        );
    }
}
