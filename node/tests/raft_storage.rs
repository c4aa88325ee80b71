//! openraft's own storage conformance suite, run against Drover's disk
//! log store and state machine on real files: every test of the suite but
//! one, which appends below the point the log was purged to — something a
//! Raft log never receives and Drover's log refuses (appends must continue
//! the log).

use drover_adapters::disk::RealFs;
use drover_node::raft::{LogStore, StateMachine, TypeConfig};
use openraft::StorageError;
use openraft::testing::{StoreBuilder, Suite};

struct OnDisk;

impl StoreBuilder<TypeConfig, LogStore<RealFs>, StateMachine<RealFs>, tempfile::TempDir>
    for OnDisk
{
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore<RealFs>, StateMachine<RealFs>), StorageError<u64>>
    {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (log, _) = LogStore::open(RealFs, dir.path()).expect("log opens");
        let state_machine = StateMachine::open(RealFs, dir.path()).expect("state machine opens");
        Ok((dir, log, state_machine))
    }
}

type DiskSuite =
    Suite<TypeConfig, LogStore<RealFs>, StateMachine<RealFs>, OnDisk, tempfile::TempDir>;

macro_rules! suite_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let runtime = tokio::runtime::Runtime::new().expect("a runtime");
                runtime.block_on(async {
                    let (_dir, log, state_machine) = OnDisk.build().await?;
                    DiskSuite::$name(log, state_machine).await
                })
                .expect(stringify!($name));
            }
        )*
    };
}

suite_tests!(
    last_membership_in_log_initial,
    last_membership_in_log,
    last_membership_in_log_multi_step,
    get_membership_initial,
    get_membership_from_log_and_empty_sm,
    get_membership_from_empty_log_and_sm,
    get_membership_from_log_le_sm_last_applied,
    get_membership_from_log_gt_sm_last_applied_1,
    get_membership_from_log_gt_sm_last_applied_2,
    get_initial_state_without_init,
    get_initial_state_with_state,
    get_initial_state_last_log_gt_sm,
    get_initial_state_last_log_lt_sm,
    get_initial_state_log_ids,
    get_initial_state_re_apply_committed,
    save_vote,
    get_log_entries,
    limited_get_log_entries,
    try_get_log_entry,
    initial_logs,
    get_log_state,
    get_log_id,
    last_id_in_log,
    last_applied_state,
    purge_logs_upto_0,
    purge_logs_upto_5,
    purge_logs_upto_20,
    delete_logs_since_11,
    delete_logs_since_0,
    append_to_log,
    snapshot_meta,
    apply_single,
    apply_multiple,
);

#[test]
fn transfer_snapshot() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime
        .block_on(DiskSuite::transfer_snapshot(&OnDisk))
        .expect("snapshot transfer");
}

/// `cluster status` reports as commit index what Raft last told the log
/// store was committed — not the applied index — and it never goes back.
#[test]
fn the_committed_index_is_what_raft_said_last_and_never_goes_back() {
    use openraft::storage::RaftLogStorage;
    use openraft::{CommittedLeaderId, LogId};

    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (mut log, _) = LogStore::open(RealFs, dir.path()).expect("log opens");
    let committed = log.committed();
    let at = |index| LogId::new(CommittedLeaderId::new(2, 1), index);
    assert_eq!(committed.get(), None, "nothing heard yet");
    runtime.block_on(async {
        log.save_committed(Some(at(7))).await.unwrap();
        assert_eq!(committed.get(), Some(7));
        log.save_committed(Some(at(5))).await.unwrap();
        assert_eq!(committed.get(), Some(7), "a commit index never goes back");
        log.save_committed(Some(at(9))).await.unwrap();
    });
    assert_eq!(committed.get(), Some(9));
}
