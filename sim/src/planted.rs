//! The bugs the simulator's own tests plant, by name (`--plant`).

/// Bugs the simulator's own tests plant, to prove the invariants bite.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlantedBugs {
    /// The disk claims fsync without doing it.
    pub lying_fsync: bool,
    /// Nodes carry the core's planted bugs (`drover_core::planted`).
    pub core: Option<drover_core::planted::Bug>,
}

impl PlantedBugs {
    pub const NAMES: [&'static str; 11] = [
        "lying-fsync",
        "ack-before-commit",
        "skip-capacity-check",
        "ignore-constraints",
        "unpaced-liveness",
        "stale-contact",
        "length-as-torn",
        "stale-reads",
        "destroy-before-create",
        "ignore-region",
        "ignore-held-ports",
    ];

    pub fn parse(name: &str) -> Result<Self, String> {
        use drover_core::planted::Bug;
        let core = match name {
            "lying-fsync" => {
                return Ok(Self {
                    lying_fsync: true,
                    core: None,
                });
            }
            "ack-before-commit" => Bug::AckBeforeCommit,
            "skip-capacity-check" => Bug::SkipCapacityCheck,
            "ignore-constraints" => Bug::IgnoreConstraints,
            "unpaced-liveness" => Bug::UnpacedLiveness,
            "stale-contact" => Bug::StaleContact,
            "length-as-torn" => Bug::LengthAsTorn,
            "stale-reads" => Bug::StaleReads,
            "destroy-before-create" => Bug::DestroyBeforeCreate,
            "ignore-region" => Bug::IgnoreRegion,
            "ignore-held-ports" => Bug::IgnoreHeldPorts,
            other => {
                return Err(format!(
                    "unknown planted bug {other:?}; known: {}",
                    Self::NAMES.join(", ")
                ));
            }
        };
        Ok(Self {
            lying_fsync: false,
            core: Some(core),
        })
    }

    pub fn name(&self) -> Option<&'static str> {
        use drover_core::planted::Bug;
        if self.lying_fsync {
            return Some("lying-fsync");
        }
        self.core.map(|bug| match bug {
            Bug::AckBeforeCommit => "ack-before-commit",
            Bug::SkipCapacityCheck => "skip-capacity-check",
            Bug::IgnoreConstraints => "ignore-constraints",
            Bug::UnpacedLiveness => "unpaced-liveness",
            Bug::StaleContact => "stale-contact",
            Bug::LengthAsTorn => "length-as-torn",
            Bug::StaleReads => "stale-reads",
            Bug::DestroyBeforeCreate => "destroy-before-create",
            Bug::IgnoreRegion => "ignore-region",
            Bug::IgnoreHeldPorts => "ignore-held-ports",
        })
    }
}
