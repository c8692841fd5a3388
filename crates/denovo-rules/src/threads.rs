//! How many threads the hand-written kernels (the neural rules' fused scans in
//! `denovo-nn`, the parametric rules' closed-form pass in `denovo-train`) split the animals
//! across: every core by default, fewer inside [`with_kernel_threads`] — so that several
//! fits running side by side (the replicates of an ensemble) do not oversubscribe the
//! cores.

use std::cell::Cell;

thread_local! {
    static KERNEL_THREADS: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Runs `f` with the kernels it calls on this thread using at most `threads` threads
/// (at least 1); the previous limit is restored afterwards, also when `f` panics.
///
/// ```
/// use denovo_rules::threads::{kernel_threads, with_kernel_threads};
/// assert_eq!(with_kernel_threads(1, kernel_threads), 1);
/// ```
pub fn with_kernel_threads<T>(threads: usize, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<usize>);
    impl Drop for Restore {
        fn drop(&mut self) {
            KERNEL_THREADS.set(self.0);
        }
    }
    let _restore = Restore(KERNEL_THREADS.replace(Some(threads.max(1))));
    f()
}

/// The threads a kernel called on this thread may use: the limit of an enclosing
/// [`with_kernel_threads`], else the machine's available parallelism.
pub fn kernel_threads() -> usize {
    KERNEL_THREADS
        .get()
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |t| t.get()))
}
