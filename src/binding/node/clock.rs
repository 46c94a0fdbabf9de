//! The coarse clock the cache's reads check expiry against.

/// Now, in epoch milliseconds, from the kernel's coarse clock: it is updated at every tick, so
/// it is up to one tick (1–4 ms) behind [`now_millis`], and costs a fifth of it (5 against 25
/// ns). Where there is no coarse clock, the same as [`now_millis`].
pub fn recent_millis() -> i64 {
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec for the call to fill.
        if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) } == 0 {
            return ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000;
        }
    }
    crate::core::value::now_millis()
}
