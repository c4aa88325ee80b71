//! Resource vectors. All arithmetic is checked: a sum that would overflow is a
//! refusal, never a wrap-around that makes a full node look empty.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a task asks for, or what a node offers.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Resources {
    /// Thousandths of a CPU core.
    pub cpu_millis: u64,
    /// Mebibytes (1 MiB = 1,048,576 bytes).
    pub memory_mb: u64,
    pub gpus: u32,
}

impl Resources {
    pub const ZERO: Self = Self {
        cpu_millis: 0,
        memory_mb: 0,
        gpus: 0,
    };

    pub fn new(cpu_millis: u64, memory_mb: u64, gpus: u32) -> Self {
        Self {
            cpu_millis,
            memory_mb,
            gpus,
        }
    }

    #[must_use]
    pub fn checked_add(self, other: Self) -> Option<Self> {
        Some(Self {
            cpu_millis: self.cpu_millis.checked_add(other.cpu_millis)?,
            memory_mb: self.memory_mb.checked_add(other.memory_mb)?,
            gpus: self.gpus.checked_add(other.gpus)?,
        })
    }

    #[must_use]
    /// Saturating difference: what is left of `self` after `used`.
    pub fn saturating_sub(self, used: Self) -> Self {
        Self {
            cpu_millis: self.cpu_millis.saturating_sub(used.cpu_millis),
            memory_mb: self.memory_mb.saturating_sub(used.memory_mb),
            gpus: self.gpus.saturating_sub(used.gpus),
        }
    }

    /// True when every dimension of `ask` fits in `self`.
    pub fn covers(self, ask: Self) -> bool {
        ask.cpu_millis <= self.cpu_millis
            && ask.memory_mb <= self.memory_mb
            && ask.gpus <= self.gpus
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} millicpu, {} MiB", self.cpu_millis, self.memory_mb)?;
        if self.gpus > 0 {
            write!(f, ", {} GPU", self.gpus)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_refuses_overflow() {
        let big = Resources::new(u64::MAX, 1, 1);
        assert_eq!(big.checked_add(Resources::new(1, 0, 0)), None);
        assert_eq!(
            Resources::new(1, 2, 3).checked_add(Resources::new(10, 20, 30)),
            Some(Resources::new(11, 22, 33))
        );
    }

    #[test]
    fn covers_needs_every_dimension() {
        let node = Resources::new(1000, 1024, 0);
        assert!(node.covers(Resources::new(1000, 1024, 0)));
        assert!(!node.covers(Resources::new(1001, 1, 0)));
        assert!(!node.covers(Resources::new(1, 1, 1)));
    }
}
