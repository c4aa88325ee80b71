//! Resource limits for processes: cgroup v2 when this node may create
//! cgroups (memory.max and cpu.max, enforced by the kernel), otherwise an
//! address-space rlimit for memory and no CPU limit. Which one is in force
//! is reported, never assumed.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitMechanism {
    /// Per-allocation cgroups under this directory.
    CgroupV2(PathBuf),
    /// `RLIMIT_AS` on the task; CPU is not limited.
    Rlimit,
}

impl fmt::Display for LimitMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CgroupV2(dir) => write!(f, "cgroup v2 under {} (memory.max, cpu.max)", dir.display()),
            Self::Rlimit => f.write_str(
                "rlimits: memory as an address-space limit (RLIMIT_AS); CPU not limited (no writable cgroup v2)",
            ),
        }
    }
}

/// Uses cgroup v2 if `root` is a v2 hierarchy offering the memory and cpu
/// controllers and a `drover` group can be created in it.
pub fn detect_limits(root: &Path) -> LimitMechanism {
    let controllers = std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
    let offers = |name: &str| controllers.split_whitespace().any(|c| c == name);
    if !(offers("memory") && offers("cpu")) {
        return LimitMechanism::Rlimit;
    }
    let group = root.join("drover");
    let usable = std::fs::create_dir_all(&group).is_ok()
        && std::fs::write(root.join("cgroup.subtree_control"), "+memory +cpu").is_ok()
        && std::fs::write(group.join("cgroup.subtree_control"), "+memory +cpu").is_ok();
    if usable {
        LimitMechanism::CgroupV2(group)
    } else {
        LimitMechanism::Rlimit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hierarchy_without_controllers_falls_back_to_rlimits() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(detect_limits(dir.path()), LimitMechanism::Rlimit);
        std::fs::write(dir.path().join("cgroup.controllers"), "pids io").unwrap();
        assert_eq!(detect_limits(dir.path()), LimitMechanism::Rlimit);
    }

    #[test]
    fn a_writable_v2_hierarchy_with_memory_and_cpu_is_used() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("cgroup.controllers"),
            "cpuset cpu io memory pids",
        )
        .unwrap();
        assert_eq!(
            detect_limits(dir.path()),
            LimitMechanism::CgroupV2(dir.path().join("drover"))
        );
    }

    #[test]
    fn the_fallback_says_what_is_not_enforced() {
        assert!(
            LimitMechanism::Rlimit
                .to_string()
                .contains("CPU not limited")
        );
    }
}
