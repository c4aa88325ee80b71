//! Reschedule backoff: exponential from `delay` up to `max_delay`.

use crate::job::ReschedulePolicy;

/// Delay before replacing an allocation that failed on its `attempts`-th
/// try (0 for the first allocation of a slot).
pub fn delay_ms(policy: &ReschedulePolicy, attempts: u32) -> u64 {
    let factor = 1u64.checked_shl(attempts.min(63)).unwrap_or(u64::MAX);
    policy
        .delay_ms
        .saturating_mul(factor)
        .min(policy.max_delay_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let p = ReschedulePolicy {
            attempts: 10,
            delay_ms: 1000,
            max_delay_ms: 5000,
        };
        let delays: Vec<u64> = (0..5).map(|a| delay_ms(&p, a)).collect();
        assert_eq!(delays, [1000, 2000, 4000, 5000, 5000]);
        assert_eq!(delay_ms(&p, 200), 5000);
    }
}
