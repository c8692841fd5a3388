//! The machine's f32 peak: a short loop of independent fused multiply-adds on every core,
//! for `denovo bench`'s "fraction of peak".

use pulp::{Simd, WithSimd};
use std::time::Instant;

/// Independent FMA chains per thread (enough to cover the FMA latency on two units).
const CHAINS: usize = 12;

/// Timed rounds of [`peak_gflops`]; the fastest is reported.
const ROUNDS: usize = 5;

struct FmaLoop {
    iterations: usize,
}

impl WithSimd for FmaLoop {
    type Output = (f32, usize);

    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) -> (f32, usize) {
        let mut acc = [s.splat_f32s(1.0); CHAINS];
        let a = s.splat_f32s(0.999_999);
        let b = s.splat_f32s(1e-7);
        for _ in 0..self.iterations {
            for v in acc.iter_mut() {
                *v = s.mul_add_f32s(*v, a, b);
            }
        }
        let mut total = s.splat_f32s(0.0);
        for v in acc {
            total = s.add_f32s(total, v);
        }
        let lanes: &[f32] = pulp::bytemuck::cast_slice(std::slice::from_ref(&total));
        (lanes.iter().sum(), S::F32_LANES)
    }
}

/// Measured f32 peak of this machine in GFLOP/s (an FMA counts 2 flops): every available
/// core runs [`CHAINS`] independent FMA chains in the widest SIMD the kernels use on it
/// (`level`), for about `millis` ms in all, split into [`ROUNDS`] rounds of which the
/// fastest counts. Returns (GFLOP/s, lanes per vector).
pub fn peak_gflops(level: crate::SimdLevel, millis: u64) -> (f64, usize) {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    // Calibrate on one thread: iterations for ~millis ms.
    let run = |iterations: usize| crate::lanes::dispatch_op(level, FmaLoop { iterations });
    let mut iterations = 1 << 14;
    loop {
        let t = Instant::now();
        std::hint::black_box(run(iterations));
        if t.elapsed().as_millis() as u64 >= millis / 4 || iterations > 1 << 30 {
            iterations = (iterations as f64 * millis as f64
                / (t.elapsed().as_secs_f64() * 1e3).max(1e-3)) as usize;
            break;
        }
        iterations *= 4;
    }
    // The best of ROUNDS rounds: the ceiling, not what other tenants of a shared machine
    // leave of it (one 300 ms round read from 116 to 226 GFLOP/s on the same VM).
    let iterations = (iterations / ROUNDS).max(1);
    let mut best = (0.0f64, 1usize);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let lanes = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| scope.spawn(move || run(iterations)))
                .collect();
            handles
                .into_iter()
                .map(|h| std::hint::black_box(h.join().expect("peak thread")).1)
                .max()
                .unwrap_or(1)
        });
        let seconds = start.elapsed().as_secs_f64();
        let flops = 2.0 * (CHAINS * lanes * iterations * threads) as f64;
        if flops / seconds / 1e9 > best.0 {
            best = (flops / seconds / 1e9, lanes);
        }
    }
    best
}
