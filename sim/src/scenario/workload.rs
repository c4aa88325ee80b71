//! The work the clients submit, as job specs drawn from the knobs.

use drover_core::JobId;
use drover_core::job::JobKind;
use drover_core::spec::{Format, parse_job_spec};

use crate::knobs::{Knobs, SERVICE_CPU_MILLIS, SYSTEM_CPU_MILLIS};
use crate::reality::Service;

/// A service spec's id and what bounds its instances (defaults included).
pub(super) fn shape_of(spec: &str) -> (JobId, Service) {
    let spec = parse_job_spec(spec, Format::Toml).expect("the workload's service specs are valid");
    let replicas = match spec.kind {
        JobKind::Service { replicas } => u64::from(replicas),
        JobKind::Batch | JobKind::System => 0,
    };
    let service = Service {
        replicas,
        max_parallel: u64::from(spec.update.max_parallel),
    };
    (spec.id, service)
}

/// The work the clients submit: its specs follow from the knobs.
pub(super) struct Workload<'k> {
    pub(super) knobs: &'k Knobs,
}

impl Workload<'_> {
    pub(super) fn batch(&self, n: u64) -> (String, String) {
        let job = format!("job-{n}");
        let spec = format!(
            "id = \"{job}\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"sim\", \"{}\", \"0\"]\n[task.resources]\ncpu_millis = {}\n",
            self.knobs.batch_run_ms, self.knobs.batch_cpu_millis
        );
        (job, spec)
    }

    pub(super) fn service_name(k: u64) -> String {
        format!("svc-{k}")
    }

    /// Service `k`; `version` changes its task (an update).
    pub(super) fn service(&self, k: u64, version: u64) -> String {
        let mut spec = format!(
            "id = \"{}\"\nkind = \"service\"\nreplicas = {}\n[task]\ndriver = \"exec\"\ncommand = [\"sim\", \"3600000\", \"0\"]\nenv = {{ VERSION = \"{version}\" }}\n[task.resources]\ncpu_millis = {SERVICE_CPU_MILLIS}\nmemory = \"256MiB\"\n[[task.port]]\nlabel = \"http\"\n",
            Self::service_name(k),
            self.knobs.replicas
        );
        if k == 0 && self.knobs.regions > 1 {
            spec.push_str(&format!(
                "[[constraint]]\nattribute = \"node.region\"\nvalue = \"{}\"\n",
                self.pinned_region()
            ));
        }
        spec
    }

    /// Service `k` as its spec says (defaults included), for the reality
    /// ledger's bounds.
    pub(super) fn service_shape(&self, k: u64) -> (JobId, Service) {
        shape_of(&self.service(k, 1))
    }

    pub(super) fn pinned_region(&self) -> String {
        format!("r{}", self.knobs.pinned_region())
    }

    pub(super) fn system() -> String {
        format!(
            "id = \"agent\"\nkind = \"system\"\n[task]\ndriver = \"exec\"\ncommand = [\"sim\", \"3600000\", \"0\"]\n[task.resources]\ncpu_millis = {SYSTEM_CPU_MILLIS}\n[[task.port]]\nlabel = \"agent\"\nstatic = 9100\n"
        )
    }

    /// Long-running jobs, submitted first: services, then the system job.
    pub(super) fn long_running(&self) -> Vec<(String, String)> {
        let mut jobs: Vec<(String, String)> = (0..self.knobs.services)
            .map(|k| (Self::service_name(k), self.service(k, 1)))
            .collect();
        if self.knobs.system_job {
            jobs.push(("agent".into(), Self::system()));
        }
        jobs
    }
}
