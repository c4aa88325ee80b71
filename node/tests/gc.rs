//! Garbage collection against real agents and real processes: finished
//! batch jobs leave the replicated state after their retention, what each
//! worker kept of their allocations leaves its disk, and no task runs a
//! second time because its record was forgotten (counted by the tasks
//! themselves, in files they append to). A failing service keeps only its
//! newest allocations while it goes on being replaced.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{FAST, cluster_with, job_ids, leader, run_job, status, wait_for};

const GC: &str = "[gc]\ninterval = \"500ms\"\njob_retention = \"2s\"\nalloc_retention = \"1s\"\nkeep_allocs = 0\n";

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |text| text.lines().count())
}

fn alloc_dirs(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for n in 1..=3 {
        let allocs = dir.join(format!("data-{n}")).join("allocs");
        for entry in std::fs::read_dir(allocs).into_iter().flatten().flatten() {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    found
}

#[test]
fn finished_work_is_forgotten_everywhere_and_never_runs_again() {
    let dir = tempfile::tempdir().unwrap();
    let agents = cluster_with(dir.path(), &format!("{FAST}{GC}"));
    leader(&agents);
    let addr = agents[0].addr();
    let jobs: Vec<String> = (0..12).map(|n| format!("once-{n}")).collect();
    for job in &jobs {
        let runs = dir.path().join(format!("runs-{job}"));
        let spec = format!(
            "id = \"{job}\"\nkind = \"batch\"\n[task]\ndriver = \"exec\"\ncommand = [\"sh\", \"-c\", \"echo ran >> {}\"]\n",
            runs.display()
        );
        assert!(run_job(dir.path(), &addr, job, &spec), "{job} refused");
    }
    let flaky_runs = dir.path().join("runs-flaky");
    let flaky = format!(
        "id = \"flaky\"\nkind = \"service\"\nreplicas = 1\n[task]\ndriver = \"exec\"\ncommand = [\"sh\", \"-c\", \"echo ran >> {}; sleep 0.3; exit 1\"]\n[restart]\nattempts = 0\n[reschedule]\nattempts = 1000\ndelay = \"100ms\"\nmax_delay = \"200ms\"\n",
        flaky_runs.display()
    );
    assert!(run_job(dir.path(), &addr, "flaky", &flaky));

    // Every batch job ran, finished, and was then forgotten by the cluster.
    wait_for(
        "the batch jobs to be collected",
        Duration::from_secs(90),
        || {
            let ids = job_ids(&addr)?;
            (!ids.iter().any(|id| id.starts_with("once-"))).then_some(())
        },
    );
    for job in &jobs {
        assert_eq!(
            lines(&dir.path().join(format!("runs-{job}"))),
            1,
            "{job} ran once before it was collected"
        );
    }
    // The workers remove their directories once they learn of it.
    let flaky_dirs = |doc: &serde_json::Value| -> Vec<String> {
        doc["allocations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["id"].as_str().map(String::from))
            .collect()
    };
    wait_for(
        "the collected allocations' directories to go",
        Duration::from_secs(60),
        || {
            let doc = status(&addr, "flaky")?;
            let live = flaky_dirs(&doc);
            let left: Vec<String> = alloc_dirs(dir.path())
                .into_iter()
                .filter(|d| !live.contains(d))
                .collect();
            // Only allocations of the service that ended since the last ask.
            (left.len() <= 3).then_some(())
        },
    );

    // A while later: no batch task ran again, and the failing service,
    // replaced again and again, holds a bounded number of allocations.
    std::thread::sleep(Duration::from_secs(4));
    for job in &jobs {
        assert_eq!(
            lines(&dir.path().join(format!("runs-{job}"))),
            1,
            "{job} ran again after it was collected"
        );
    }
    assert!(
        job_ids(&addr)
            .unwrap()
            .iter()
            .all(|id| !id.starts_with("once-"))
    );
    let flaky_started = lines(&flaky_runs);
    let doc = status(&addr, "flaky").expect("the service is still there");
    let kept = flaky_dirs(&doc).len();
    assert!(
        flaky_started >= 8 && kept <= 4,
        "the service started {flaky_started} times and the cluster holds {kept} of its allocations: {doc}"
    );
}
