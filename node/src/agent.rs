//! Starting a node: open the disk, start Raft, serve gRPC, join or form
//! the cluster, and run the background loops until shutdown.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drover_adapters::exec::{Drivers, Executor, ProcessExecutor, SharedExecutor, detect_limits};

use drover_adapters::disk::{DiskError, FileSystem, RealFs};
use drover_core::reconcile::ReconcileConfig;
use drover_proto::v1::api_server::ApiServer;
use drover_proto::v1::internal_server::InternalServer;
use openraft::{BasicNode, Config, SnapshotPolicy};
use tracing::{info, warn};

use crate::api::ApiService;
use crate::config::{DockerSetting, ExecSetting, NodeConfig, RaftTimingMs};
use crate::contact_record::ContactFile;
use crate::control::{gc_loop, leader_loop, membership_loop};
use crate::internal::InternalService;
use crate::membership::{Announcement, Announcements, announce_until_added};
use crate::propose::Proposer;
use crate::raft::{
    Assigned, CommittedIndex, Connections, LogStore, Raft, SharedState, StateMachine, WIRE_LIMIT,
};
use crate::recovering::{self, Abstention};
use crate::worker::Worker;

/// A running node's handles.
#[derive(Clone)]
pub struct Node {
    pub raft: Raft,
    pub proposer: Proposer,
    pub state: SharedState,
    pub assigned: Assigned,
    /// Set while the node withholds its vote after losing its log's tail.
    pub abstention: Abstention,
    pub committed: CommittedIndex,
    /// The replica's last applied index, as it moves.
    pub applied: tokio::sync::watch::Receiver<u64>,
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// Raft log entries between snapshots when node.toml does not say: as
/// etcd's default. A snapshot writes the whole state, so its cost grows
/// with the state; taken every few thousand entries, it dominated a
/// leader holding 100,000 jobs.
pub const SNAPSHOT_EVERY: u64 = 100_000;

pub fn raft_config(timing: RaftTimingMs, snapshot_every: Option<u64>) -> Result<Config, String> {
    let every = snapshot_every.unwrap_or(SNAPSHOT_EVERY);
    if every < 10 {
        return Err(format!(
            "snapshot_every: {every} entries is too few (at least 10)"
        ));
    }
    Config {
        cluster_name: "drover".into(),
        heartbeat_interval: timing.heartbeat,
        election_timeout_min: timing.election_min,
        election_timeout_max: timing.election_max,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(every),
        // Entries kept behind a snapshot, so a follower a little behind
        // catches up from the log instead of a whole snapshot.
        max_in_snapshot_log_to_keep: (every / 10).min(1000),
        ..Config::default()
    }
    .validate()
    .map_err(|e| format!("raft configuration: {e}"))
}

/// What a node runs on: its disk, and the executor for its work (none on
/// nodes that run no work). Production passes the machine's; the
/// simulator passes simulated ones.
pub struct Environment<F> {
    pub fs: F,
    pub executor: Option<SharedExecutor>,
}

impl Environment<RealFs> {
    /// The real disk and, if the node's role runs work, the exec driver
    /// and (as configured) the docker driver, both writing output to
    /// `<data_dir>/allocs`.
    pub async fn machine(config: &NodeConfig) -> Result<Self, String> {
        let executor: Option<SharedExecutor> = if config.role.runs_work() {
            let allocs = config.data_dir.join("allocs");
            let limits = detect_limits(Path::new("/sys/fs/cgroup"));
            info!("exec driver resource limits: {limits}");
            let exec = ProcessExecutor::new(&allocs, limits)?;
            let docker = docker_driver(config, &allocs).await?;
            let mut drivers = Drivers::new(Box::new(exec), docker);
            if config.exec == ExecSetting::Off {
                info!("exec driver: off (node.toml)");
                drivers = drivers.without_exec("exec = \"off\" in node.toml");
            }
            Some(Arc::new(Mutex::new(drivers)))
        } else {
            None
        };
        Ok(Self {
            fs: RealFs,
            executor,
        })
    }
}

/// The docker driver as `config.docker` asks: `Err` inside says why this
/// worker has none (and so fails docker tasks with that reason).
async fn docker_driver(
    config: &NodeConfig,
    allocs: &Path,
) -> Result<Result<Box<dyn Executor + Send>, String>, String> {
    if config.docker == DockerSetting::Off {
        info!("docker driver: off (node.toml)");
        return Ok(Err("turned off in node.toml".into()));
    }
    connect_docker(allocs, &config.name(), config.docker).await
}

#[cfg(not(madsim))]
async fn connect_docker(
    allocs: &Path,
    node: &str,
    setting: DockerSetting,
) -> Result<Result<Box<dyn Executor + Send>, String>, String> {
    use drover_adapters::exec::docker::DockerExecutor;
    match DockerExecutor::connect(allocs, node).await {
        Ok(docker) => {
            info!("docker driver: ready");
            Ok(Ok(Box::new(docker)))
        }
        Err(e) if setting == DockerSetting::Required => {
            Err(format!("docker driver required by node.toml: {e}"))
        }
        Err(e) => {
            warn!("docker driver: unavailable, docker tasks will fail here: {e}");
            Ok(Err(e))
        }
    }
}

#[cfg(madsim)]
#[allow(clippy::unused_async)] // the same signature as the real one
async fn connect_docker(
    _allocs: &Path,
    _node: &str,
    _setting: DockerSetting,
) -> Result<Result<Box<dyn Executor + Send>, String>, String> {
    Ok(Err("not built into simulator builds".into()))
}

/// Opens storage and starts Raft; does not serve yet.
pub async fn start<F: FileSystem + Clone>(config: &NodeConfig, fs: F) -> Result<Node, String> {
    let raft_dir = config.data_dir.join("raft");
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let (log, recovery) = LogStore::open(fs.clone(), &raft_dir).map_err(|e| refusal(&e))?;
    let mut log = log.with_metrics(metrics.clone());
    recovering::step_down(&mut log, config.id).await?;
    let committed = log.committed();
    if let Some((offset, bytes)) = recovery.truncated {
        warn!(
            "{}: cut off a tail of {bytes} bytes at byte {offset}, never acknowledged: {}",
            raft_dir.join("raft.log").display(),
            recovery.torn_because.as_deref().unwrap_or("cut short"),
        );
    }
    if let Some(version) = recovery.upgraded_from {
        info!(
            "{}: rewritten from log format {version} to the current one",
            raft_dir.join("raft.log").display()
        );
    }
    let log_end = log.last_index().await;
    // A tail cut now, and one cut at an earlier start that no leader has
    // yet brought this log past.
    let record = recovering::Record::new(fs.clone(), &raft_dir);
    let earlier = record.read().map_err(|e| refusal(&e))?;
    let cut_now = match recovery.truncated {
        Some((_, cut)) => Some(recovering::LostTail {
            up_to: recovering::must_reach(log_end, cut),
            term_at_most: log
                .entries_term_at_most()
                .await
                .map_err(|e| format!("reading the vote: {e}"))?,
        }),
        None => None,
    };
    let lost_tail = match (earlier, cut_now) {
        (Some(a), Some(b)) => Some(a.and(b)),
        (a, b) => a.or(b),
    };
    if let Some(lost) = lost_tail {
        record.write(lost).map_err(|e| refusal(&e))?;
    }
    let state_machine = StateMachine::open(fs, &raft_dir).map_err(|e| refusal(&e))?;
    let state = state_machine.shared();
    let assigned = state_machine.assigned();
    let applied = state_machine.watch();
    let raft = Raft::new(
        config.id,
        Arc::new(raft_config(config.raft.millis()?, config.snapshot_every)?),
        Connections,
        log,
        state_machine,
    )
    .await
    .map_err(|e| format!("starting raft: {e}"))?;
    let control = config
        .control_addrs()
        .iter()
        .map(ToString::to_string)
        .collect();
    let proposer = Proposer::new(raft.clone(), control).with_metrics(metrics.clone());
    let abstention = match lost_tail {
        Some(lost) if config.role.is_voter() => recovering::abstain_until(&raft, lost, record),
        _ => Abstention::default(),
    };
    Ok(Node {
        raft,
        proposer,
        state,
        assigned,
        abstention,
        committed,
        applied,
        metrics,
    })
}

/// Serves until the server ends or Raft stops for good on a storage error
/// (a failed fsync, a log that went backwards): the node then exits, so
/// that it restarts from what its disk really holds instead of serving a
/// replica that no longer moves.
async fn until_exit(
    server: &mut std::pin::Pin<&mut impl Future<Output = Result<(), tonic::transport::Error>>>,
    exit: tokio::sync::oneshot::Sender<()>,
    raft: &Raft,
    listen: SocketAddr,
) -> Result<(), String> {
    // `biased`: tokio picks a branch at random otherwise, from a source the
    // simulator cannot seed, and a seed would no longer replay.
    tokio::select! {
        biased;
        result = server.as_mut() => result.map_err(|e| format!("serving on {listen}: {e}")),
        why = raft_stopped(raft) => {
            let _ = exit.send(());
            let _ = tokio::time::timeout(SERVER_WIND_DOWN, server.as_mut()).await;
            Err(format!(
                "raft stopped: {why}; this node exits so that it restarts from its disk"
            ))
        }
    }
}

/// The node's worker: it polls its own replica first when it has one,
/// and keeps its last contact in the data directory.
fn worker_of<F: FileSystem>(
    config: &NodeConfig,
    node: &Node,
    (id, executor): (drover_core::NodeId, SharedExecutor),
    reconcile: &ReconcileConfig,
    fs: F,
    member: bool,
) -> Worker {
    let mut control: Vec<SocketAddr> = Vec::new();
    if member {
        control.push(config.advertise());
    }
    control.extend(config.control_addrs());
    Worker::new(
        id,
        control,
        node.proposer.clone(),
        executor,
        Duration::from_millis(reconcile.max_disconnect_ms),
    )
    .with_contact_record(Arc::new(ContactFile::new(fs, &config.data_dir)))
    .with_metrics(node.metrics.clone())
    .with_volumes(config.volume_paths())
}

/// What runs on every node: its heartbeats, and the leader's loop (idle
/// unless it leads; it also counts the leader changes it sees).
fn every_node_tasks(
    node: &Node,
    registration: drover_core::NodeRegistration,
    reconcile: ReconcileConfig,
    owed: crate::worker::ReportsOwed,
) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(membership_loop(
            node.proposer.clone(),
            registration,
            heartbeat_interval(&reconcile),
            owed,
        )),
        tokio::spawn(leader_loop(
            node.raft.clone(),
            node.proposer.clone(),
            node.state.clone(),
            reconcile,
            node.metrics.clone(),
        )),
    ]
}

/// The gRPC server, counting the public API's requests.
#[cfg(not(madsim))]
fn server_builder(
    node: &Node,
) -> tonic::transport::Server<
    tower::layer::util::Stack<crate::grpc_requests::CountRequests, tower::layer::util::Identity>,
> {
    use crate::limits::{KEEPALIVE_INTERVAL, KEEPALIVE_TIMEOUT, REQUEST_TIMEOUT};
    tonic::transport::Server::builder()
        .timeout(REQUEST_TIMEOUT)
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .layer(crate::grpc_requests::CountRequests(node.metrics.clone()))
}

/// The node's TLS identity from `[tls]`, made the process's own for every
/// connection it opens; errors name the file.
#[cfg(not(madsim))]
fn load_tls(config: &NodeConfig) -> Result<Option<crate::tls::Tls>, String> {
    let Some(files) = &config.tls else {
        return Ok(None);
    };
    let tls = crate::tls::Tls::load(files.clone()).map_err(|e| format!("[tls]: {e}"))?;
    crate::tls::install(tls.clone());
    info!(cert = %files.cert.display(), "mutual TLS on every connection");
    Ok(Some(tls))
}

/// A gRPC server running until its shutdown signal.
#[cfg(not(madsim))]
type Serving = std::pin::Pin<Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send>>;

/// The gRPC server on its listener: over mutual TLS when the node has
/// `[tls]`, each connection knowing whose certificate it presented.
#[cfg(not(madsim))]
fn serve_grpc<L>(
    router: tonic::transport::server::Router<L>,
    listener: crate::limits::LimitedListener,
    tls: Option<crate::tls::Tls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Serving, String>
where
    L: tower::Layer<tonic::service::Routes> + Send + 'static,
    L::Service: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
        > + Clone
        + Send
        + 'static,
    <L::Service as tower::Service<http::Request<tonic::body::Body>>>::Future: Send,
    <L::Service as tower::Service<http::Request<tonic::body::Body>>>::Error:
        Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    Ok(match tls {
        Some(tls) => {
            let listener = crate::tls::TlsListener::new(listener, tls, "gRPC")
                .map_err(|e| format!("gRPC listener: {e}"))?;
            Box::pin(router.serve_with_incoming_shutdown(listener.incoming(), shutdown))
        }
        None => Box::pin(router.serve_with_incoming_shutdown(listener.incoming(), shutdown)),
    })
}

/// The gRPC server's address, taken before the node serves (a port in use
/// stops the start naming it), holding at most so many connections.
#[cfg(not(madsim))]
async fn grpc_listener(listen: SocketAddr) -> Result<crate::limits::LimitedListener, String> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("listen = \"{listen}\": cannot listen there: {e}"))?;
    Ok(crate::limits::LimitedListener::new(
        listener,
        crate::limits::MAX_CONNECTIONS,
        "gRPC",
    ))
}

/// The simulator's server takes no layers.
#[cfg(madsim)]
fn server_builder(_node: &Node) -> tonic::transport::Server {
    tonic::transport::Server::builder()
}

/// Listens on the REST API's address at once (a port in use stops the
/// start), and serves it in a task of its own.
#[cfg(not(madsim))]
async fn serve_http(
    addr: Option<SocketAddr>,
    api: Arc<ApiService>,
    tls: Option<crate::tls::Tls>,
) -> Result<Option<tokio::task::JoinHandle<()>>, String> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let listener = crate::http::bind(addr).await?;
    info!(%addr, tls = tls.is_some(), "REST API listening");
    Ok(Some(tokio::spawn(async move {
        if let Err(e) = crate::http::serve(listener, api, tls).await {
            warn!("{e}");
        }
    })))
}

#[cfg(madsim)]
#[allow(clippy::unused_async)]
async fn serve_http(
    addr: Option<SocketAddr>,
    _api: Arc<ApiService>,
) -> Result<Option<tokio::task::JoinHandle<()>>, String> {
    match addr {
        Some(addr) => Err(format!(
            "http = \"{addr}\": the simulator serves no REST API"
        )),
        None => Ok(None),
    }
}

/// DNS discovery, where `dns` is set: only a node holding a replica can
/// answer, from it.
#[cfg(not(madsim))]
async fn serve_dns(
    config: &NodeConfig,
    member: bool,
    node: &Node,
) -> Result<Option<tokio::task::JoinHandle<()>>, String> {
    if let Some(addr) = config.dns.filter(|_| !member) {
        return Err(format!(
            "dns = \"{addr}\": this {} node is not one of the voters in its peers list, so it holds no replica of the state to answer from; set dns on a control or hybrid voter",
            config.role
        ));
    }
    crate::dns::serve(config.dns, node.state.clone(), node.raft.clone()).await
}

#[cfg(madsim)]
#[allow(clippy::unused_async)]
async fn serve_dns(
    config: &NodeConfig,
    _member: bool,
    _node: &Node,
) -> Result<Option<tokio::task::JoinHandle<()>>, String> {
    match config.dns {
        Some(addr) => Err(format!("dns = \"{addr}\": the simulator serves no DNS")),
        None => Ok(None),
    }
}

/// What the node registers as: its configuration, with the drivers its
/// executor offers.
fn registration_of(
    config: &NodeConfig,
    executor: Option<&SharedExecutor>,
) -> Result<drover_core::NodeRegistration, String> {
    let mut registration = config.registration()?;
    if let Some(executor) = executor {
        let executor = executor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        registration.drivers = executor.drivers().into_iter().collect();
    }
    Ok(registration)
}

/// How long a node that exits waits for its server to finish the calls
/// under way (a worker's long poll among them).
const SERVER_WIND_DOWN: Duration = Duration::from_secs(5);

/// How often the node looks whether Raft has stopped for good.
const RAFT_CHECK_EVERY: Duration = Duration::from_millis(250);

/// Resolves when Raft has stopped for good, saying why. Looked at on a
/// timer rather than by waiting on Raft's metrics channel: waiting on it
/// from the node's main task made two simulations in one process differ
/// (madsim's determinism check), and the simulator must run this very
/// code — a node that stayed up with a stopped Raft would answer its
/// worker from a replica that no longer moves, while its heartbeats,
/// forwarded to the leader, kept it ready.
async fn raft_stopped(raft: &Raft) -> String {
    loop {
        if let Err(fatal) = &raft.metrics().borrow().running_state {
            return fatal.to_string();
        }
        tokio::time::sleep(RAFT_CHECK_EVERY).await;
    }
}

/// Why the node will not start on its disk, and what the operator does
/// next. Damaged state is never served and never cut: entries this node
/// acknowledged may be on no other replica.
fn refusal(error: &DiskError) -> String {
    if !error.is_corruption() {
        return error.to_string();
    }
    format!(
        "{error}\n\
         This node refuses to start rather than serve or cut data it may have acknowledged. \
         Keep the data directory as it is for inspection (copy it aside); the rest of the \
         cluster carries on while a majority of voters is up. To bring the node back, replace \
         it with a fresh one (docs/operations.md, \"A damaged disk\")."
    )
}

/// A third of the TTL, so two heartbeats may be lost before it expires;
/// at most every 3 s.
fn heartbeat_interval(config: &ReconcileConfig) -> Duration {
    Duration::from_millis((config.heartbeat_ttl_ms / 3).min(3000))
}

/// Stops every task `executor` runs — SIGTERM, then SIGKILL once `grace`
/// has passed — and waits until none is left (or a few seconds past the
/// grace). For a node that ends for good (`drover dev`); an agent that
/// only restarts leaves its tasks to be adopted. Returns how many there
/// were and how many are still running.
pub async fn stop_every_task(executor: &SharedExecutor, grace: Duration) -> (usize, usize) {
    let lock = || {
        executor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    let running = lock().running();
    for alloc in &running {
        lock().stop(*alloc, grace);
    }
    let deadline = tokio::time::Instant::now() + grace + Duration::from_secs(5);
    loop {
        let left = {
            let mut executor = lock();
            let _ = executor.poll();
            executor.running().len()
        };
        if left == 0 || tokio::time::Instant::now() >= deadline {
            return (running.len(), left);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs a node until `shutdown` completes.
pub async fn run(
    config: NodeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let environment = Environment::machine(&config).await?;
    run_in(config, environment, shutdown).await
}

/// Runs a node in `environment` until `shutdown` completes.
/// Every initial voter initialises with the same membership, so a
/// partition right after the first election cannot strand a node as a
/// learner. Only a node with an empty log may do it.
async fn form_or_join(raft: &Raft, config: &NodeConfig) {
    let members: BTreeMap<_, _> = config
        .peers
        .iter()
        .map(|p| (p.id, BasicNode::new(p.addr.to_string())))
        .collect();
    // A node restarted on its own log has nothing to form: asking Raft
    // anyway would log its refusal as an error at every restart.
    if raft.is_initialized().await.unwrap_or(false) {
        info!("resuming the cluster this node's log belongs to");
        return;
    }
    match raft.initialize(members).await {
        Ok(()) => info!("formed a new cluster of {} voters", config.peers.len()),
        Err(e) => info!("joining the existing cluster ({e})"),
    }
}

/// What a control or hybrid node runs beside serving: announcing itself
/// until it is added, when started with `join`, and breaking split votes.
fn voter_tasks(
    config: &NodeConfig,
    node: &Node,
    join: Vec<String>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, String> {
    let mut tasks = Vec::new();
    if !config.role.is_voter() {
        return Ok(tasks);
    }
    if !config.is_initial_voter() {
        tasks.push(tokio::spawn(announce_until_added(
            node.raft.clone(),
            node.proposer.peers().clone(),
            Announcement {
                id: config.id,
                addr: config.advertise().to_string(),
            },
            join,
        )));
    }
    let (gc_policy, gc_every_ms) = config.gc.policy()?;
    tasks.push(tokio::spawn(gc_loop(
        node.raft.clone(),
        node.proposer.clone(),
        node.state.clone(),
        gc_policy,
        Duration::from_millis(gc_every_ms),
    )));
    let timing = config.raft.millis()?;
    tasks.push(tokio::spawn(crate::election::break_split_votes(
        node.raft.clone(),
        node.abstention.clone(),
        Duration::from_millis(2 * timing.election_max),
    )));
    Ok(tasks)
}

/// The internal service and the public API of `node`.
fn services(
    config: &NodeConfig,
    node: &Node,
    executor: Option<SharedExecutor>,
    member: bool,
    control_addrs: &[String],
) -> Result<(InternalService, Arc<ApiService>), String> {
    let announcements = Announcements::default();
    let internal = InternalService {
        raft: node.raft.clone(),
        proposer: node.proposer.clone(),
        state: node.state.clone(),
        assigned: node.assigned.clone(),
        executor,
        abstention: node.abstention.clone(),
        announcements: announcements.clone(),
        contact: crate::takeover::LeaderContact::default(),
        // openraft's leader lease is its longest election timeout.
        lease: Duration::from_millis(config.raft.millis()?.election_max),
        nodes_only: config.tls.is_some(),
    };
    let api = ApiService {
        raft: node.raft.clone(),
        proposer: node.proposer.clone(),
        state: node.state.clone(),
        committed: node.committed.clone(),
        applied: node.applied.clone(),
        metrics: node.metrics.clone(),
        upstream: (!member).then(|| control_addrs.to_vec()),
        announcements,
        membership_changes: crate::membership::ChangeLock::default(),
        federation: crate::federation::Federation::new(
            config.region.clone(),
            config.other_regions()?,
        ),
        acl: crate::access::Setting {
            enabled: config.acl.enabled,
            reset_file: config.data_dir.join(crate::access::RESET_FILE),
        },
        transport: crate::api::Transport {
            tls: config.tls.is_some(),
            acl: config.acl.enabled,
            insecure: if config.unprotected().is_empty() {
                Vec::new()
            } else {
                config
                    .exposed()
                    .iter()
                    .map(|(key, addr)| format!("{key} = \"{addr}\""))
                    .collect()
            },
        },
    };
    Ok((internal, Arc::new(api)))
}

pub async fn run_in<F: FileSystem + Clone>(
    config: NodeConfig,
    environment: Environment<F>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    #[cfg(not(madsim))]
    let tls = load_tls(&config)?;
    let registration = registration_of(&config, environment.executor.as_ref())?;
    config.check_volume_paths()?;
    let reconcile = config.liveness.reconcile_config()?;
    let fs = environment.fs;
    let node = start(&config, fs.clone()).await?;
    let executor = environment.executor;
    // The initial voters hold a replica and answer from it; worker and
    // edge nodes hold none and relay the public API to the control nodes,
    // as a node started with `join` does until it is added.
    let member = config.is_initial_voter();
    let control_addrs: Vec<String> = config
        .control_addrs()
        .iter()
        .map(ToString::to_string)
        .collect();
    let (internal, api) = services(&config, &node, executor.clone(), member, &control_addrs)?;
    #[cfg(not(madsim))]
    let grpc_listener = grpc_listener(config.listen).await?;
    #[cfg(not(madsim))]
    let http = serve_http(config.http, api.clone(), tls.clone()).await?;
    #[cfg(madsim)]
    let http = serve_http(config.http, api.clone()).await?;
    let dns = serve_dns(&config, member, &node).await?;
    let listen = config.listen;
    // Ends the server when Raft stops, so that its address is free again
    // for the process that takes over.
    let (exit, exiting) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        tokio::select! {
            biased;
            () = shutdown => {}
            _ = exiting => {}
        }
    };
    let router = server_builder(&node)
        .add_service(
            InternalServer::new(internal)
                .max_decoding_message_size(WIRE_LIMIT)
                .max_encoding_message_size(WIRE_LIMIT),
        )
        .add_service(
            ApiServer::from_arc(api)
                .max_decoding_message_size(crate::limits::MAX_REQUEST_BYTES)
                .max_encoding_message_size(crate::limits::MAX_REPLY_BYTES),
        );
    #[cfg(not(madsim))]
    let server = serve_grpc(router, grpc_listener, tls.clone(), shutdown)?;
    #[cfg(madsim)]
    let server = router.serve_with_shutdown(listen, shutdown);
    tokio::pin!(server);
    if member {
        form_or_join(&node.raft, &config).await;
    }
    let worker = executor.map(|executor| {
        let id = registration.id.clone();
        worker_of(
            &config,
            &node,
            (id, executor),
            &reconcile,
            fs.clone(),
            member,
        )
    });
    let owed = worker
        .as_ref()
        .map(Worker::reports_owed)
        .unwrap_or_default();
    let mut background = every_node_tasks(&node, registration.clone(), reconcile, owed);
    background.extend(voter_tasks(&config, &node, control_addrs)?);
    background.extend(http);
    background.extend(dns);
    #[cfg(not(madsim))]
    background.extend(tls.as_ref().map(crate::tls::Tls::watch));
    if let Some(worker) = worker {
        background.push(tokio::spawn(worker.run()));
    }
    info!(id = config.id, %listen, "serving");
    let outcome = until_exit(&mut server, exit, &node.raft, listen).await;
    for task in background {
        task.abort();
    }
    let _ = node.raft.shutdown().await;
    outcome
}
