//! The link between regions, as the simulator models it. Regions talk
//! only through [`crate::federation::Federation`], so every call from one
//! region to another passes [`crossing`] each way. madsim gives every
//! link one latency; a simulation of several regions sets the wide-area
//! latency here (50–150 ms each way, say) while the links inside a region
//! keep theirs. Outside simulator builds it compiles away.

#[cfg(madsim)]
static LATENCY_MS: std::sync::Mutex<Option<(u64, u64)>> = std::sync::Mutex::new(None);

/// Sets the one-way latency between regions, drawn per crossing from
/// `[low, high]` ms (madsim's seeded source), for the simulations that
/// follow; `None`: no more than the network's own.
#[cfg(madsim)]
pub fn set_latency(range_ms: Option<(u64, u64)>) {
    *LATENCY_MS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = range_ms;
}

/// One crossing of the link between regions: waits its latency.
#[cfg(madsim)]
pub async fn crossing() {
    use madsim::rand::Rng;
    let range = *LATENCY_MS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((low, high)) = range {
        let ms = madsim::rand::thread_rng().gen_range(low..=high.max(low));
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

// The same signature in both builds: outside the simulator it waits for
// nothing.
#[cfg(not(madsim))]
#[inline]
#[allow(clippy::unused_async)]
pub async fn crossing() {}
