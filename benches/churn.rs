//! A million short batch jobs through a whole in-memory cluster — the
//! real state machine, reconciler, scheduler and garbage collector, with
//! workers that finish every task a second after it is placed — once with
//! garbage collection and once without, in the same run. Every 100k jobs
//! it prints what the replicated state holds, its snapshot size, and this
//! process's resident memory.
//!
//! `cargo bench -p drover-benches --bench churn -- [JOBS] [PER_SECOND]`
//! (defaults: 1,000,000 jobs, 500 submitted per simulated second). Each
//! run is a process of its own, so that its resident memory is its own;
//! the run without collection stops at a fifth of the jobs: it only grows.

use drover_benches::{Log, batch, cluster};
use drover_core::gc::{self, GcPolicy};
use drover_core::reconcile::{Attention, Leadership, ReconcileConfig, plan_cycle_in};
use drover_core::scheduler::SchedulerConfig;
use drover_core::state::AllocReport;
use drover_core::{AllocStatus, ClusterState, CommandKind};

const NODES: usize = 50;
const GC_EVERY_S: u64 = 30;

struct Churn {
    log: Log,
    attention: Attention,
    now_ms: u64,
    policy: Option<GcPolicy>,
    submitted: usize,
}

impl Churn {
    fn new(policy: Option<GcPolicy>) -> Self {
        Self {
            log: Log::new(cluster(NODES, 1)),
            attention: Attention::default(),
            now_ms: drover_benches::NOW_MS,
            policy,
            submitted: 0,
        }
    }

    /// One simulated second: submissions, workers finishing what runs,
    /// heartbeats, one leader pass, and a collection every minute.
    fn second(&mut self, submit: usize) {
        self.now_ms += 1000;
        for _ in 0..submit {
            let job = batch(&format!("job-{}", self.submitted), 100, 64);
            self.submitted += 1;
            self.log.apply_at(self.now_ms, CommandKind::SubmitJob(job));
        }
        self.finish_running();
        let nodes: Vec<_> = self.log.state.nodes().map(|n| n.id.clone()).collect();
        let heartbeats = nodes
            .into_iter()
            .map(|node| CommandKind::Heartbeat { node })
            .collect();
        self.log
            .apply_at(self.now_ms, CommandKind::Batch(heartbeats));
        self.leader_pass();
        if let Some(policy) = self.policy
            && (self.now_ms / 1000).is_multiple_of(GC_EVERY_S)
        {
            while let Some(found) = gc::find(&self.log.state, self.now_ms, &policy, 1000) {
                self.log
                    .apply_at(self.now_ms, CommandKind::CollectGarbage(found));
            }
        }
    }

    fn finish_running(&mut self) {
        let reports: Vec<CommandKind> = self
            .log
            .state
            .allocs()
            .filter(|a| !a.status.is_terminal())
            .map(|a| {
                CommandKind::AllocUpdate(AllocReport {
                    alloc: a.id,
                    node: a.node.clone(),
                    status: AllocStatus::Complete,
                    exit_code: Some(0),
                    message: "exited 0".into(),
                })
            })
            .collect();
        for chunk in reports.chunks(1000) {
            self.log
                .apply_at(self.now_ms, CommandKind::Batch(chunk.to_vec()));
        }
    }

    fn leader_pass(&mut self) {
        let pass = self.attention.next_pass(&self.log.state, self.now_ms);
        let cycle = plan_cycle_in(
            &self.log.state,
            &pass.scope,
            self.now_ms,
            &ReconcileConfig::default(),
            Leadership { since_ms: 0 },
            SchedulerConfig::default(),
        );
        for command in cycle.commands.clone() {
            self.log.apply_at(self.now_ms, command);
        }
        self.attention.landed(&pass, &cycle);
    }
}

fn resident_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

fn mib(bytes: usize) -> f64 {
    f64::from(u32::try_from(bytes).unwrap_or(u32::MAX)) / (1024.0 * 1024.0)
}

fn report(label: &str, state: &ClusterState, submitted: usize) {
    let started = std::time::Instant::now();
    let found = gc::find(state, u64::MAX / 2, &GcPolicy::default(), usize::MAX);
    let find_ms = started.elapsed().as_secs_f64() * 1000.0;
    drop(found);
    println!(
        "| {label} | {submitted} | {} | {} | {:.1} | {:.0} | {find_ms:.1} |",
        state.jobs().count(),
        state.allocs().count(),
        mib(state.snapshot().len()),
        resident_mib(),
    );
}

fn run(label: &str, policy: Option<GcPolicy>, jobs: usize, per_second: usize) {
    let mut churn = Churn::new(policy);
    let step = (jobs / 10).max(1);
    let mut next = step;
    while churn.submitted < jobs {
        churn.second(per_second.min(jobs - churn.submitted));
        if churn.submitted >= next {
            report(label, &churn.log.state, churn.submitted);
            next += step;
        }
    }
}

const RUN: &str = "DROVER_CHURN_RUN";

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .filter_map(|a| a.parse::<usize>().ok());
    let jobs = args.next().unwrap_or(1_000_000);
    let per_second = args.next().unwrap_or(500);
    let policy = GcPolicy {
        job_retention_ms: 60_000,
        alloc_retention_ms: 60_000,
        ..GcPolicy::default()
    };
    match std::env::var(RUN).as_deref() {
        Ok("collected") => run("collected", Some(policy), jobs, per_second),
        Ok("never") => run("never collected", None, jobs / 5, per_second),
        _ => {
            println!(
                "{jobs} batch jobs, {per_second}/s, {NODES} nodes; collection every {GC_EVERY_S}s, jobs kept 60s after they finish"
            );
            println!(
                "| run | submitted | jobs held | allocations held | snapshot MiB | RSS MiB | find ms (every job walked) |"
            );
            println!("|---|---|---|---|---|---|---|");
            for which in ["collected", "never"] {
                let status = std::process::Command::new(std::env::current_exe().expect("own path"))
                    .args(std::env::args().skip(1))
                    .env(RUN, which)
                    .status()
                    .expect("the run starts");
                assert!(status.success(), "the {which} run failed");
            }
        }
    }
}
