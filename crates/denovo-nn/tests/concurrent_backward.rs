//! A rule's flat parameters keep every gradient while other threads run `backward()`
//! (burn 0.21's autodiff graph cleanup is process-wide: tracel-ai/burn#5573).
//!
//! After one backward pass a parameter's graph entry is gone, so the next pass's
//! `reshape` of a weight starts a graph of its own; if that graph's only tensor is
//! dropped inside `Tensor::cat` before the cat's node is registered, another thread's
//! `backward()` frees the reshape's step and the weight comes back without a gradient.
//! `flat_parameters` keeps the pieces alive across the cat; this loops the pattern
//! against threads that do nothing but `backward()`.

use burn::backend::{Autodiff, NdArray};
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
use denovo_nn::{DnnConfig, RnnConfig};
use std::sync::atomic::{AtomicBool, Ordering};

type B = Autodiff<NdArray<f32>>;
type Grads = <B as AutodiffBackend>::Gradients;

/// The parameters (index, shape) without a gradient in `grads`.
struct Missing<'a> {
    grads: &'a Grads,
    index: usize,
    missing: Vec<(usize, Vec<usize>)>,
}

impl ModuleVisitor<B> for Missing<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if param.grad(self.grads).is_none() {
            self.missing.push((self.index, param.shape().to_vec()));
        }
        self.index += 1;
    }
}

fn missing<M: Module<B>>(module: &M, grads: &Grads) -> Vec<(usize, Vec<usize>)> {
    let mut v = Missing {
        grads,
        index: 0,
        missing: Vec::new(),
    };
    module.visit(&mut v);
    v.missing
}

/// `rounds` backward passes through `flat` of the same (reused) parameters of `module`,
/// while two threads run unrelated backward passes; every pass must reach every parameter.
fn hammer<M: Module<B> + Sync>(module: &M, flat: impl Fn(&M) -> Tensor<B, 1> + Sync) {
    let rounds = 300;
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    let x = Tensor::<B, 1>::ones([4], &Default::default()).require_grad();
                    let _ = (x.clone() * x).sum().backward();
                }
            });
        }
        let mut failures = Vec::new();
        for round in 0..rounds {
            let grads = (flat(module) * 1.5).sum().backward();
            let m = missing(module, &grads);
            if !m.is_empty() {
                failures.push((round, m));
            }
        }
        done.store(true, Ordering::Relaxed);
        assert!(
            failures.is_empty(),
            "{} of {rounds} passes lost gradients (round, [(parameter, shape)]): {:?}",
            failures.len(),
            &failures[..failures.len().min(5)]
        );
    });
}

#[test]
fn dnn_flat_parameters_keep_their_gradients_under_concurrent_backward() {
    let rule = DnnConfig {
        hidden: vec![128, 128],
        ..Default::default()
    }
    .init::<B>(2, &Default::default());
    hammer(&rule, |r| r.flat_parameters());
}

#[test]
fn rnn_flat_parameters_keep_their_gradients_under_concurrent_backward() {
    let rule = RnnConfig {
        hidden: 64,
        head: vec![128],
        ..Default::default()
    }
    .init::<B>(2, &Default::default());
    hammer(&rule, |r| r.flat_parameters());
}
