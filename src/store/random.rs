//! Random bytes for execution ids and temporary file names.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// `N` bytes from the OS random source. Should that ever be unavailable,
/// falls back to a mix of time, pid and a process-wide counter, which is
/// still unique per process and call.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if getrandom::fill(&mut out).is_err() {
        fallback_fill(&mut out);
    }
    out
}

fn fallback_fill(out: &mut [u8]) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut state = nanos ^ (u64::from(std::process::id()) << 32);
    for chunk in out.chunks_mut(8) {
        state ^= COUNTER.fetch_add(1, Ordering::Relaxed);
        let word = splitmix64(&mut state).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct() {
        assert_ne!(random_bytes::<16>(), random_bytes::<16>());
        let (mut a, mut b) = ([0u8; 13], [0u8; 13]);
        fallback_fill(&mut a);
        fallback_fill(&mut b);
        assert_ne!(a, b);
    }
}
