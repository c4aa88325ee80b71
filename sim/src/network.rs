//! The simulated network as directed links. Every network fault is a set of
//! links cut; the network is the union of what the active faults cut. A
//! node always reaches its own address, whatever is cut, as on a real
//! network: a cut cable, a dead switch or a firewall between hosts never
//! breaks a host's connection to itself. (madsim's own per-node clog cuts
//! a node off from itself too, which made the simulator disagree with
//! production; it is not used.)
//!
//! Endpoints are the cluster's nodes (ids 1..) and the outsiders — the
//! clients and the observer — which stand with the rest of the world: a
//! group split off loses them too.

use std::collections::BTreeSet;

/// One end of a link: a node id, or an outsider's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum End {
    Node(u64),
    Outsider(u64),
}

/// Which way a group's links to everyone else are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Way {
    /// Nothing crosses.
    Both,
    /// The group hears nothing from the others; what it sends arrives.
    Deaf,
    /// What the group sends is lost; it still hears the others.
    Mute,
}

/// The network faults in force.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cuts {
    /// Groups of nodes cut off from every endpoint outside the group.
    pub groups: BTreeSet<(Vec<u64>, Way)>,
}

impl Cuts {
    /// Every directed link (from, to) the faults cut, among `ends`.
    pub fn blocked(&self, ends: &[End]) -> BTreeSet<(End, End)> {
        let mut blocked = BTreeSet::new();
        for (group, way) in &self.groups {
            let inside = |e: &End| matches!(e, End::Node(n) if group.contains(n));
            for a in ends.iter().filter(|e| inside(e)) {
                for b in ends.iter().filter(|e| !inside(e)) {
                    if *way != Way::Mute {
                        blocked.insert((*b, *a));
                    }
                    if *way != Way::Deaf {
                        blocked.insert((*a, *b));
                    }
                }
            }
        }
        debug_assert!(blocked.iter().all(|(from, to)| from != to));
        blocked
    }

    /// Whether `a` and `b` reach each other both ways.
    pub fn connected(&self, a: u64, b: u64) -> bool {
        a == b
            || self
                .groups
                .iter()
                .all(|(group, _)| group.contains(&a) == group.contains(&b))
    }
}

/// Whether `node` can get a command committed: some quorum of `voters`
/// that are up, all connected to each other both ways, with `node` among
/// them or connected both ways to one of them. `up` says which nodes run.
pub fn reaches_a_quorum(cuts: &Cuts, voters: &[u64], up: &dyn Fn(u64) -> bool, node: u64) -> bool {
    let live: Vec<u64> = voters.iter().copied().filter(|v| up(*v)).collect();
    let majority = voters.len() / 2 + 1;
    // At most five voters: every subset is few enough to try.
    (0u32..(1 << live.len())).any(|mask| {
        let members: Vec<u64> = (0..live.len())
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| live[i])
            .collect();
        members.len() >= majority
            && members
                .iter()
                .all(|a| members.iter().all(|b| cuts.connected(*a, *b)))
            && members.iter().any(|m| cuts.connected(*m, node))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends() -> Vec<End> {
        vec![End::Node(1), End::Node(2), End::Node(3), End::Outsider(0)]
    }

    #[test]
    fn a_node_cut_off_still_reaches_itself() {
        let mut cuts = Cuts::default();
        cuts.groups.insert((vec![1], Way::Both));
        let blocked = cuts.blocked(&ends());
        assert!(blocked.contains(&(End::Node(1), End::Node(2))));
        assert!(blocked.contains(&(End::Outsider(0), End::Node(1))));
        assert!(!blocked.iter().any(|(a, b)| a == b));
        assert!(!blocked.contains(&(End::Node(2), End::Node(3))));
    }

    #[test]
    fn a_split_side_talks_within_itself() {
        let mut cuts = Cuts::default();
        cuts.groups.insert((vec![1, 2], Way::Both));
        assert!(cuts.connected(1, 2));
        assert!(!cuts.connected(2, 3));
        let blocked = cuts.blocked(&ends());
        assert!(!blocked.contains(&(End::Node(1), End::Node(2))));
        assert!(blocked.contains(&(End::Node(3), End::Node(2))));
    }

    #[test]
    fn one_way_splits_cut_one_direction() {
        let mut cuts = Cuts::default();
        cuts.groups.insert((vec![1], Way::Deaf));
        let blocked = cuts.blocked(&ends());
        assert!(blocked.contains(&(End::Node(2), End::Node(1))));
        assert!(!blocked.contains(&(End::Node(1), End::Node(2))));
        assert!(!cuts.connected(1, 2), "a one-way link is no connection");
    }

    #[test]
    fn only_the_side_with_a_quorum_reaches_one() {
        let voters = [1, 2, 3, 4, 5];
        let all_up = |_| true;
        let mut cuts = Cuts::default();
        cuts.groups.insert((vec![1, 2, 6], Way::Both));
        assert!(!reaches_a_quorum(&cuts, &voters, &all_up, 1));
        assert!(
            !reaches_a_quorum(&cuts, &voters, &all_up, 6),
            "worker on the minority side"
        );
        assert!(reaches_a_quorum(&cuts, &voters, &all_up, 3));
        assert!(
            reaches_a_quorum(&cuts, &voters, &all_up, 7),
            "worker on the majority side"
        );
        let four_down = |n| n != 4 && n != 5;
        assert!(
            !reaches_a_quorum(&cuts, &voters, &four_down, 3),
            "two of five left up there"
        );
    }
}
