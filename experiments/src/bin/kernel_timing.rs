//! Times one forward + adjoint scan of the built-in neural rules, f32 lanes vs f64:
//! `cargo run --release -p denovo-experiments --bin kernel_timing -- ANIMALS TRIALS [REPS]`.
use denovo_nn::{ScanRule, SimdLevel, scan, scan_f32_shared, scan_f32_with};
use denovo_rules::HostSequence;
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let (n, len, reps) = (args[0], args[1], *args.get(2).unwrap_or(&3));
    let which = std::env::var("KERNELS").unwrap_or_else(|_| "f32,f64".into());
    let animals: std::sync::Arc<[HostSequence]> = (0..n)
        .map(|i| HostSequence {
            x: (0..len)
                .flat_map(|t| [((t * 7 + i) % 9) as f64 / 4.0 - 1.0, 1.0])
                .collect(),
            choice: (0..len).map(|t| ((t + i) % 2) as f64).collect(),
            reward: (0..len).map(|t| ((t / 3 + i) % 2) as f64).collect(),
            answer: (0..len).map(|t| ((t / 2) % 2) as f64).collect(),
            session_start: (0..len)
                .map(|t| f64::from(u8::from(t % 400 == 0)))
                .collect(),
            score: 0..len,
        })
        .collect();
    for level in [SimdLevel::Avx2, SimdLevel::Avx512]
        .into_iter()
        .filter(|_| std::env::var_os("PEAK").is_some())
    {
        let (peak, lanes) = denovo_nn::peak_gflops(level, 400);
        println!("peak {level:?}: {peak:.1} GFLOP/s ({lanes} lanes)");
    }
    for rule in [
        ScanRule::Dnn {
            sizes: vec![8, 32, 32, 2],
            structure: Default::default(),
        },
        ScanRule::Rnn {
            input: 8,
            hidden: 32,
            head: vec![32, 32, 32, 2],
            structure: Default::default(),
        },
    ] {
        let name = if matches!(rule, ScanRule::Dnn { .. }) {
            "dnn"
        } else {
            "rnn"
        };
        if !std::env::var("RULES")
            .unwrap_or_else(|_| "dnn,rnn".into())
            .contains(name)
        {
            continue;
        }
        let p: Vec<f64> = (0..rule.n_params())
            .map(|i| ((i * 37 % 23) as f64 - 11.0) / 60.0)
            .collect();
        let w0 = vec![0.0; n * 2];
        let grad = std::env::var("GRAD").as_deref() != Ok("0");
        let flops =
            rule.forward_flops_per_trial() * if grad { 3.0 } else { 1.0 } * (n * len) as f64;
        for kernel in which.split(',') {
            let mut best = f64::INFINITY;
            let mut total = 0.0;
            for _ in 0..reps {
                let t = Instant::now();
                let level = match std::env::var("SIMD").as_deref() {
                    Ok("avx512") => SimdLevel::Avx512,
                    Ok("avx2") => SimdLevel::Avx2,
                    Ok("portable") => SimdLevel::Portable,
                    _ => SimdLevel::Auto,
                };
                // As in training: a shared cohort (its packed trials kept between scans),
                // unless a SIMD level is asked for.
                let out = if kernel == "f32" && level == SimdLevel::Auto {
                    scan_f32_shared(&rule, &p, &w0, &animals, grad)
                } else if kernel == "f32" {
                    scan_f32_with(level, &rule, &p, &w0, &animals, grad)
                } else {
                    scan(&rule, &p, &w0, &animals, grad)
                };
                std::hint::black_box(out);
                let seconds = t.elapsed().as_secs_f64();
                best = best.min(seconds);
                total += seconds;
            }
            let name = if matches!(rule, ScanRule::Dnn { .. }) {
                "dnn"
            } else {
                "rnn"
            };
            println!(
                "{name} {kernel} {n}x{len}: {best:.4} s (mean {:.4} s)  {:.1} GFLOP/s",
                total / reps as f64,
                flops / best / 1e9
            );
        }
    }
}
