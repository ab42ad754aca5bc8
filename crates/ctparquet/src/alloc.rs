//! The C allocator, tuned for how the converter uses memory.
//!
//! glibc's malloc gives threads arenas of their own (up to eight per core). Decoding runs on
//! blocking-pool threads and its buffers are freed by the thread that routes and encodes them,
//! so each arena keeps freed memory the others cannot reuse: a day's conversion peaked ~50%
//! higher than with two arenas (measured: 519 MB vs 339 MB on a 300,000-event day, same speed).

/// Limit glibc's malloc to two arenas. Call it first thing in `main`, before threads start.
/// Does nothing on other C libraries.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
