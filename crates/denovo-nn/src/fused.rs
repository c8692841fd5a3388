//! Fused scan kernels of the built-in neural rules: the whole scan — forward through every
//! trial and the adjoint pass back — in plain `f64`, with no per-trial tensor graph.
//!
//! Both rules read u_t = [w_t, x_t, y_t, r_t, a_t, s_t] after trial t and move the
//! weights by w_{t+1} = w_t + γ ⊙ o_t; an animal's log-likelihood is Σ y z − softplus(z)
//! with z = w_t · x_t over its scored trials.
//!
//! - DNN: o_t = MLP(u_t). The forward pass keeps every activation of one animal.
//! - RNN: h_{t+1} = GRU(h_t, u_t), o_t = MLP(h_{t+1}). The forward pass keeps w_t and h_t
//!   per trial, and every step's gates while they fit [`TAPE_BUDGET_BYTES`] per thread;
//!   beyond that the adjoint pass recomputes each step from (w_t, h_t).
//!
//! Backward: λ_t = ∂LL/∂w_t is the sum of (y_t − p_t) x_t on scored trials, λ_{t+1}, and
//! the path through the update; parameter gradients accumulate along the way, one buffer
//! per animal (the scan's output is one log-likelihood per animal, so the backward of
//! [`ScanBackend::rule_scan`](crate::ScanBackend::rule_scan) only weights them). Animals
//! are split across threads; the hot loops are compiled twice, for baseline x86-64 and for
//! AVX2, and picked at run time.
//!
//! Parameters travel as one flat vector, in the order of [`ScanRule`]: per dense layer its
//! weight (`[in × out]`, row-major, burn's layout) then its bias, and γ last.

// The kernels index several parallel buffers by the same j; the index loops read like the
// equations they implement.
#![allow(clippy::needless_range_loop)]

use crate::structure::Structure;
use denovo_rules::HostSequence;
use denovo_rules::closed_form::{sigmoid, softplus};

/// Which built-in rule a scan runs, with its layer sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanRule {
    /// Δw = γ ⊙ MLP(u): `sizes` = [input, hidden…, features].
    Dnn {
        /// Widths of the MLP, input and output included.
        sizes: Vec<usize>,
        /// Gate and dropped inputs ([`Structure::default`]: the free rule).
        structure: Structure,
    },
    /// h' = GRU(h, u), Δw = γ ⊙ MLP(h'): parameters are the GRU's input layer
    /// (`input × 3·hidden`) and hidden layer (`hidden × 3·hidden`), gates ordered r, z, n,
    /// then the head's layers.
    Rnn {
        /// Width of u.
        input: usize,
        /// GRU hidden size.
        hidden: usize,
        /// Widths of the head MLP, `hidden` first and the features last.
        head: Vec<usize>,
        /// Gate and dropped inputs ([`Structure::default`]: the free rule).
        structure: Structure,
    },
}

impl ScanRule {
    /// The rule's structural hypothesis (gate, dropped inputs).
    pub fn structure(&self) -> &Structure {
        match self {
            ScanRule::Dnn { structure, .. } | ScanRule::Rnn { structure, .. } => structure,
        }
    }

    /// Number of policy weights.
    pub fn n_features(&self) -> usize {
        let sizes = match self {
            ScanRule::Dnn { sizes, .. } => sizes,
            ScanRule::Rnn { head, .. } => head,
        };
        sizes.last().copied().unwrap_or(0)
    }

    /// Length of the flat parameter vector.
    pub fn n_params(&self) -> usize {
        let dense =
            |sizes: &[usize]| -> usize { sizes.windows(2).map(|p| (p[0] + 1) * p[1]).sum() };
        let layers = match self {
            ScanRule::Dnn { sizes, .. } => dense(sizes),
            ScanRule::Rnn {
                input,
                hidden,
                head,
                ..
            } => dense(&[*input, 3 * hidden]) + dense(&[*hidden, 3 * hidden]) + dense(head),
        };
        layers + self.n_features()
    }

    /// Multiply-adds × 2 of one trial's forward step.
    pub fn forward_flops_per_trial(&self) -> f64 {
        let dense =
            |sizes: &[usize]| -> f64 { sizes.windows(2).map(|p| 2.0 * (p[0] * p[1]) as f64).sum() };
        match self {
            ScanRule::Dnn { sizes, .. } => dense(sizes),
            ScanRule::Rnn {
                input,
                hidden,
                head,
                ..
            } => dense(&[*input, 3 * hidden]) + dense(&[*hidden, 3 * hidden]) + dense(head),
        }
    }
}

/// What a scan returns.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanOutput {
    /// Log-likelihood of each animal's scored trials, `[animals]`.
    pub log_likelihood: Vec<f64>,
    /// ∂LL_a/∂θ per animal, `[animals × params]` row-major (empty without gradients).
    pub d_params: Vec<f64>,
    /// ∂LL_a/∂w0_a, `[animals × features]` row-major (empty without gradients).
    pub d_w0: Vec<f64>,
}

/// Runs `rule` with flat parameters `params` over `animals` from initial weights `w0`
/// (`animals × features`); with `gradient`, also the adjoint pass.
///
/// # Panics
/// If `params` or `w0` have the wrong length (a programming error).
pub fn scan(
    rule: &ScanRule,
    params: &[f64],
    w0: &[f64],
    animals: &[HostSequence],
    gradient: bool,
) -> ScanOutput {
    assert_eq!(w0.len(), animals.len() * rule.n_features(), "w0 length");
    match build(rule, params) {
        Built::Dnn(kernel) => run(&kernel, animals, w0, gradient),
        Built::Rnn(kernel) => run(&kernel, animals, w0, gradient),
    }
}

/// The policy weights of every animal on trials `0..until[i]` under `rule` with flat
/// parameters `params`, from initial weights `w0` (`animals × features`): `result[i]` is
/// row-major `until[i] × features` (w_t predicts trial t). Forward only, animals split
/// across threads — the host path for evaluation, trajectories and reports.
///
/// # Panics
/// If `params`, `w0` or `until` have the wrong length, or `until[i]` exceeds animal i's
/// trials (a programming error).
pub fn trajectories(
    rule: &ScanRule,
    params: &[f64],
    w0: &[f64],
    animals: &[HostSequence],
    until: &[usize],
) -> Vec<Vec<f64>> {
    assert_eq!(w0.len(), animals.len() * rule.n_features(), "w0 length");
    assert_eq!(until.len(), animals.len(), "one length per animal");
    match build(rule, params) {
        Built::Dnn(kernel) => walk_all(&kernel, animals, w0, until),
        Built::Rnn(kernel) => walk_all(&kernel, animals, w0, until),
    }
}

/// A rule's kernel, read off its flat parameters.
enum Built {
    Dnn(DnnKernel),
    Rnn(RnnKernel),
}

fn build(rule: &ScanRule, params: &[f64]) -> Built {
    assert_eq!(params.len(), rule.n_params(), "flat parameter length");
    let input = InputMask::new(rule.structure(), rule.n_features());
    match rule {
        ScanRule::Dnn { sizes, .. } => {
            let mut layers = Layers::new(params);
            let kernel = DnnKernel {
                input,
                mlp: Mlp::new(sizes, &mut layers),
                // (γ's offset first: `take` moves past it.)
                gamma_at: layers.offset,
                gamma: layers.take(rule.n_features()).to_vec(),
            };
            assert_eq!(kernel.n_params(), params.len(), "every parameter read");
            Built::Dnn(kernel)
        }
        ScanRule::Rnn {
            input: n_input,
            hidden,
            head,
            ..
        } => {
            let mut layers = Layers::new(params);
            let gru_input = layers.dense(*n_input, 3 * hidden);
            let gru_hidden = layers.dense(*hidden, 3 * hidden);
            let head = Mlp::new(head, &mut layers);
            let kernel = RnnKernel {
                mask: input,
                input: gru_input,
                hidden: gru_hidden,
                head,
                gamma_at: layers.offset,
                gamma: layers.take(rule.n_features()).to_vec(),
                size: *hidden,
                tape_budget: TAPE_BUDGET_BYTES,
            };
            assert_eq!(kernel.n_params(), params.len(), "every parameter read");
            Built::Rnn(kernel)
        }
    }
}

/// How `n` animals are split across threads: (threads, animals per thread).
fn split_animals(n: usize) -> (usize, usize) {
    let threads = denovo_rules::threads::kernel_threads().min(n).max(1);
    (threads, n.div_ceil(threads).max(1))
}

/// [`Kernel::walk`] over every animal, split across threads.
fn walk_all<K: Kernel>(
    kernel: &K,
    animals: &[HostSequence],
    w0: &[f64],
    until: &[usize],
) -> Vec<Vec<f64>> {
    let n = animals.len();
    let k = w0.len() / n.max(1);
    for (a, &u) in animals.iter().zip(until) {
        assert!(u <= a.choice.len(), "until {u} > {} trials", a.choice.len());
    }
    let mut out: Vec<Vec<f64>> = until.iter().map(|&u| Vec::with_capacity(u * k)).collect();
    let (_, chunk) = split_animals(n);
    std::thread::scope(|scope| {
        for (((a, w), u), o) in animals
            .chunks(chunk)
            .zip(w0.chunks((chunk * k).max(1)))
            .zip(until.chunks(chunk))
            .zip(out.chunks_mut(chunk))
        {
            scope.spawn(move || {
                for i in 0..a.len() {
                    kernel.walk(&a[i], &w[i * k..(i + 1) * k], u[i], &mut o[i]);
                }
            });
        }
    });
    out
}

/// Reads dense layers off the flat parameter vector in order.
struct Layers<'a> {
    params: &'a [f64],
    offset: usize,
}

impl<'a> Layers<'a> {
    fn new(params: &'a [f64]) -> Self {
        Layers { params, offset: 0 }
    }

    fn take(&mut self, n: usize) -> &'a [f64] {
        let s = &self.params[self.offset..self.offset + n];
        self.offset += n;
        s
    }

    fn dense(&mut self, n_in: usize, n_out: usize) -> Dense {
        let w_at = self.offset;
        let weight = self.take(n_in * n_out).to_vec();
        let bias = self.take(n_out).to_vec();
        Dense {
            n_in,
            n_out,
            weight,
            bias,
            w_at,
        }
    }
}

/// Σ aᵢbᵢ with four independent partial sums, so that the compiler can keep the sum in
/// SIMD lanes (a single running sum is one long dependency chain).
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = a4
        .remainder()
        .iter()
        .zip(b4.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a4.zip(b4) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    (acc[0] + acc[2]) + (acc[1] + acc[3]) + tail
}

/// A dense layer `out = b + in · W` (W `[in × out]`, burn's layout) in plain numbers.
struct Dense {
    n_in: usize,
    n_out: usize,
    weight: Vec<f64>,
    bias: Vec<f64>,
    /// Offset of the weight in the flat parameter (and gradient) vector; the bias follows.
    w_at: usize,
}

impl Dense {
    /// `out = b + input · W`.
    #[inline(always)]
    fn forward(&self, input: &[f64], out: &mut [f64]) {
        out.copy_from_slice(&self.bias);
        for (i, &v) in input.iter().enumerate() {
            if v != 0.0 {
                let row = &self.weight[i * self.n_out..(i + 1) * self.n_out];
                out.iter_mut().zip(row).for_each(|(o, w)| *o += v * w);
            }
        }
    }

    /// Accumulates ∂/∂W and ∂/∂b from `d_out` into the flat `grads` and writes ∂/∂input
    /// into `d_in`.
    #[inline(always)]
    fn backward(&self, input: &[f64], d_out: &[f64], d_in: &mut [f64], grads: &mut [f64]) {
        let (gw, gb) = grads[self.w_at..self.w_at + (self.n_in + 1) * self.n_out]
            .split_at_mut(self.n_in * self.n_out);
        gb.iter_mut().zip(d_out).for_each(|(g, d)| *g += d);
        for (i, &v) in input.iter().enumerate() {
            let row = &self.weight[i * self.n_out..(i + 1) * self.n_out];
            if v != 0.0 {
                let grow = &mut gw[i * self.n_out..(i + 1) * self.n_out];
                grow.iter_mut().zip(d_out).for_each(|(g, d)| *g += v * d);
            }
            d_in[i] = dot(row, d_out);
        }
    }
}

/// An MLP with ReLU between layers (none after the last). Activations live in one buffer:
/// `[input | layer 1 out | … | last out]`.
struct Mlp {
    layers: Vec<Dense>,
    /// Start of every block in the activation buffer (input first), and its end.
    offsets: Vec<usize>,
}

impl Mlp {
    fn new(sizes: &[usize], params: &mut Layers<'_>) -> Mlp {
        let layers: Vec<Dense> = sizes.windows(2).map(|p| params.dense(p[0], p[1])).collect();
        let mut offsets = vec![0];
        for s in sizes {
            offsets.push(offsets.last().copied().unwrap_or(0) + s);
        }
        Mlp { layers, offsets }
    }

    /// Length of the activation buffer.
    fn width(&self) -> usize {
        *self.offsets.last().unwrap_or(&0)
    }

    /// The widest block (for scratch buffers).
    fn max_width(&self) -> usize {
        self.offsets
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or(0)
    }

    /// The output block of a filled activation buffer.
    fn output<'a>(&self, acts: &'a [f64]) -> &'a [f64] {
        &acts[self.offsets[self.layers.len()]..self.width()]
    }

    /// Fills every block after the input.
    #[inline(always)]
    fn forward(&self, acts: &mut [f64]) {
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            let (prev, next) = acts.split_at_mut(self.offsets[i + 1]);
            let out = &mut next[..l.n_out];
            l.forward(&prev[self.offsets[i]..], out);
            if i < last {
                out.iter_mut().for_each(|o| *o = o.max(0.0));
            }
        }
    }

    /// Backprop `d_out` (∂/∂output) through a filled activation buffer; ∂/∂input ends in
    /// `d_a[..input]`. `d_a`, `d_b`: scratch of [`Mlp::max_width`].
    #[inline(always)]
    fn backward(
        &self,
        acts: &[f64],
        d_out: &[f64],
        d_a: &mut Vec<f64>,
        d_b: &mut Vec<f64>,
        grads: &mut [f64],
    ) {
        let n = self.layers.len();
        d_a[..d_out.len()].copy_from_slice(d_out);
        for i in (0..n).rev() {
            let l = &self.layers[i];
            if i + 1 < n {
                let out = &acts[self.offsets[i + 1]..self.offsets[i + 2]];
                d_a.iter_mut().zip(out).for_each(|(d, &o)| {
                    if o <= 0.0 {
                        *d = 0.0;
                    }
                });
            }
            let input = &acts[self.offsets[i]..self.offsets[i + 1]];
            l.backward(input, &d_a[..l.n_out], &mut d_b[..l.n_in], grads);
            std::mem::swap(d_a, d_b);
        }
    }
}

/// A [`Structure`] as the kernels apply it: the gate and the columns of u_t held at 0.
pub(crate) struct InputMask {
    /// Columns of u_t held at 0.
    pub(crate) dropped: Vec<usize>,
    /// Whether ∂Δw/∂w_t flows into the adjoint (w_t not dropped).
    pub(crate) sees_weights: bool,
    /// The gate.
    pub(crate) gate: crate::structure::Gate,
}

impl InputMask {
    pub(crate) fn new(structure: &Structure, k: usize) -> InputMask {
        InputMask {
            dropped: structure.dropped_columns(k),
            sees_weights: structure.sees_weights(),
            gate: structure.gate,
        }
    }

    /// g_t: 1 where the update after trial `t` is allowed, else 0.
    #[inline(always)]
    fn gate(&self, a: &HostSequence, t: usize) -> f64 {
        self.gate.value(a.reward[t])
    }

    /// Fills u_t = [w, x, y, r, a, s] for trial `t` of `a`, dropped columns at 0.
    #[inline(always)]
    fn rule_input(&self, u: &mut [f64], w: &[f64], a: &HostSequence, t: usize) {
        let k = w.len();
        u[..k].copy_from_slice(w);
        u[k..2 * k].copy_from_slice(&a.x[t * k..(t + 1) * k]);
        u[2 * k] = a.choice[t];
        u[2 * k + 1] = a.reward[t];
        u[2 * k + 2] = a.answer[t];
        u[2 * k + 3] = a.session_start[t];
        for &j in &self.dropped {
            u[j] = 0.0;
        }
    }
}

/// Trial `t`'s log-likelihood term with weights `w`, or 0 when the trial is not scored.
#[inline(always)]
fn trial_log_likelihood(a: &HostSequence, w: &[f64], t: usize) -> f64 {
    if !a.score.contains(&t) {
        return 0.0;
    }
    let k = w.len();
    let z: f64 = w
        .iter()
        .zip(&a.x[t * k..(t + 1) * k])
        .map(|(u, v)| u * v)
        .sum();
    a.choice[t] * z - softplus(z)
}

/// Adds ∂(trial `t`'s log-likelihood)/∂w to `lambda` when the trial is scored.
#[inline(always)]
fn add_trial_gradient(lambda: &mut [f64], a: &HostSequence, w: &[f64], t: usize) {
    if !a.score.contains(&t) {
        return;
    }
    let k = w.len();
    let x = &a.x[t * k..(t + 1) * k];
    let z: f64 = w.iter().zip(x).map(|(u, v)| u * v).sum();
    let resid = a.choice[t] - sigmoid(z);
    lambda.iter_mut().zip(x).for_each(|(l, v)| *l += resid * v);
}

/// A rule's fused forward (+ adjoint) pass over one animal.
trait Kernel: Sync {
    /// Length of the flat parameter vector.
    fn n_params(&self) -> usize;
    /// The animal's log-likelihood; with `grads` (zeroed, flat), also its parameter
    /// gradients there and ∂LL/∂w0 in `d_w0`.
    fn animal(&self, a: &HostSequence, w0: &[f64], grads: Option<(&mut [f64], &mut [f64])>) -> f64;
    /// Appends the policy weights w_t of trials `0..until` to `out` (forward only).
    fn walk(&self, a: &HostSequence, w0: &[f64], until: usize, out: &mut Vec<f64>);
}

/// One thread's share of a scan.
#[inline(always)]
fn worker<K: Kernel>(
    kernel: &K,
    animals: &[HostSequence],
    w0: &[f64],
    out: (&mut [f64], &mut [f64], &mut [f64]),
    gradient: bool,
) {
    let (ll, d_params, d_w0) = out;
    let (p, k) = (kernel.n_params(), w0.len() / animals.len().max(1));
    for (i, animal) in animals.iter().enumerate() {
        let w = &w0[i * k..(i + 1) * k];
        ll[i] = if gradient {
            let g = (
                &mut d_params[i * p..(i + 1) * p],
                &mut d_w0[i * k..(i + 1) * k],
            );
            kernel.animal(animal, w, Some(g))
        } else {
            kernel.animal(animal, w, None)
        };
    }
}

/// [`worker`] compiled for AVX2 (4 f64 lanes instead of SSE2's 2).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn worker_avx2<K: Kernel>(
    kernel: &K,
    animals: &[HostSequence],
    w0: &[f64],
    out: (&mut [f64], &mut [f64], &mut [f64]),
    gradient: bool,
) {
    worker(kernel, animals, w0, out, gradient);
}

/// Runs [`worker`] in the widest SIMD flavour this CPU has (detected at run time, so the
/// binary stays portable).
fn dispatch<K: Kernel>(
    kernel: &K,
    animals: &[HostSequence],
    w0: &[f64],
    out: (&mut [f64], &mut [f64], &mut [f64]),
    gradient: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { worker_avx2(kernel, animals, w0, out, gradient) };
        return;
    }
    worker(kernel, animals, w0, out, gradient);
}

/// Runs `kernel` over every animal, split across threads.
fn run<K: Kernel>(kernel: &K, animals: &[HostSequence], w0: &[f64], gradient: bool) -> ScanOutput {
    let n = animals.len();
    let k = w0.len() / n.max(1);
    let p = kernel.n_params();
    let mut out = ScanOutput {
        log_likelihood: vec![0.0; n],
        d_params: vec![0.0; if gradient { n * p } else { 0 }],
        d_w0: vec![0.0; if gradient { n * k } else { 0 }],
    };
    let (threads, chunk) = split_animals(n);
    std::thread::scope(|scope| {
        let ll = out.log_likelihood.chunks_mut(chunk);
        // Without gradients the buffers are empty: hand every thread an empty slice.
        let mut d_params: Vec<&mut [f64]> = out.d_params.chunks_mut((chunk * p).max(1)).collect();
        let mut d_w0: Vec<&mut [f64]> = out.d_w0.chunks_mut((chunk * k).max(1)).collect();
        d_params.resize_with(threads, Default::default);
        d_w0.resize_with(threads, Default::default);
        for ((((a, w), ll), dp), dw) in animals
            .chunks(chunk)
            .zip(w0.chunks((chunk * k).max(1)))
            .zip(ll)
            .zip(d_params)
            .zip(d_w0)
        {
            scope.spawn(move || dispatch(kernel, a, w, (ll, dp, dw), gradient));
        }
    });
    out
}

/// The DNN rule's kernel.
struct DnnKernel {
    input: InputMask,
    mlp: Mlp,
    gamma: Vec<f64>,
    gamma_at: usize,
}

impl DnnKernel {
    /// w ← w + g_t γ ⊙ MLP(u_t) after trial `t`, the MLP's activations left in `acts`.
    #[inline(always)]
    fn advance(&self, acts: &mut [f64], w: &mut [f64], a: &HostSequence, t: usize) {
        self.input.rule_input(acts, w, a, t);
        self.mlp.forward(acts);
        let o = self.mlp.output(acts);
        let gate = self.input.gate(a, t);
        w.iter_mut()
            .zip(&self.gamma)
            .zip(o)
            .for_each(|((w, g), o)| *w += gate * g * o);
    }
}

impl Kernel for DnnKernel {
    fn n_params(&self) -> usize {
        self.gamma_at + self.gamma.len()
    }

    #[inline(always)]
    fn animal(&self, a: &HostSequence, w0: &[f64], grads: Option<(&mut [f64], &mut [f64])>) -> f64 {
        let k = w0.len();
        let end = a.score.end;
        // Per trial: w_t, then the MLP's activation buffer (one buffer without gradients).
        let width = self.mlp.width();
        let per_trial = k + width;
        let keep = grads.is_some();
        let mut acts = vec![0.0; if keep { end * per_trial } else { per_trial }];
        let mut w = w0.to_vec();
        let mut ll = 0.0;
        for t in 0..end {
            let at = if keep { t * per_trial } else { 0 };
            let (ws, rest) = acts[at..at + per_trial].split_at_mut(k);
            ws.copy_from_slice(&w);
            ll += trial_log_likelihood(a, &w, t);
            if t + 1 == end {
                break;
            }
            self.advance(rest, &mut w, a, t);
        }
        let Some((grads, d_w0)) = grads else {
            return ll;
        };
        let mut lambda_next = vec![0.0; k];
        let mut lambda = vec![0.0; k];
        let mut d_o = vec![0.0; k];
        let (mut d_a, mut d_b) = (
            vec![0.0; self.mlp.max_width()],
            vec![0.0; self.mlp.max_width()],
        );
        for t in (0..end).rev() {
            let (w_t, rest) = acts[t * per_trial..(t + 1) * per_trial].split_at(k);
            lambda.copy_from_slice(&lambda_next);
            add_trial_gradient(&mut lambda, a, w_t, t);
            // A gated-off step (g_t = 0) contributes nothing to any gradient.
            let gate = self.input.gate(a, t);
            if t + 1 < end && gate != 0.0 {
                let o = self.mlp.output(rest);
                for j in 0..k {
                    grads[self.gamma_at + j] += gate * o[j] * lambda_next[j];
                    d_o[j] = gate * self.gamma[j] * lambda_next[j];
                }
                self.mlp.backward(rest, &d_o, &mut d_a, &mut d_b, grads);
                // The w_t part of the input u_t (a constant 0 when w_t is dropped).
                if self.input.sees_weights {
                    lambda.iter_mut().zip(&d_a[..k]).for_each(|(l, d)| *l += d);
                }
            }
            std::mem::swap(&mut lambda, &mut lambda_next);
        }
        d_w0.copy_from_slice(&lambda_next);
        ll
    }

    fn walk(&self, a: &HostSequence, w0: &[f64], until: usize, out: &mut Vec<f64>) {
        let mut acts = vec![0.0; self.mlp.width()];
        let mut w = w0.to_vec();
        for t in 0..until {
            out.extend_from_slice(&w);
            if t + 1 == until {
                break;
            }
            self.advance(&mut acts, &mut w, a, t);
        }
    }
}

/// The RNN rule's kernel.
struct RnnKernel {
    mask: InputMask,
    input: Dense,
    hidden: Dense,
    head: Mlp,
    gamma: Vec<f64>,
    gamma_at: usize,
    size: usize,
    /// Per-thread bytes for keeping step records (see [`TAPE_BUDGET_BYTES`]).
    tape_budget: usize,
}

/// One GRU step's record: the input, gate pre-activations, gates and the head's
/// activations, as slices of one flat buffer.
struct GruStep<'a> {
    u: &'a mut [f64],
    gi: &'a mut [f64],
    gh: &'a mut [f64],
    r: &'a mut [f64],
    z: &'a mut [f64],
    n: &'a mut [f64],
    /// The head's activation buffer; its input block is h_{t+1}.
    head: &'a mut [f64],
}

/// Per-thread memory the RNN kernel may spend on keeping every step's record for the
/// backward pass; longer sequences recompute each step from (w_t, h_t) instead.
pub const TAPE_BUDGET_BYTES: usize = 64 << 20;

impl RnnKernel {
    /// Length of one step's record.
    fn record_len(&self) -> usize {
        self.input.n_in + 9 * self.size + self.head.width()
    }

    /// Cuts a record into its parts.
    #[inline(always)]
    fn parts<'a>(&self, record: &'a mut [f64]) -> GruStep<'a> {
        let h = self.size;
        let (u, rest) = record.split_at_mut(self.input.n_in);
        let (gi, rest) = rest.split_at_mut(3 * h);
        let (gh, rest) = rest.split_at_mut(3 * h);
        let (r, rest) = rest.split_at_mut(h);
        let (z, rest) = rest.split_at_mut(h);
        let (n, head) = rest.split_at_mut(h);
        GruStep {
            u,
            gi,
            gh,
            r,
            z,
            n,
            head,
        }
    }

    /// One step from (w, h) after trial `t` into `record` (h_{t+1} is the head's input,
    /// o_t its output).
    #[inline(always)]
    fn step(&self, record: &mut [f64], w: &[f64], h: &[f64], a: &HostSequence, t: usize) {
        let size = self.size;
        let s = self.parts(record);
        self.mask.rule_input(s.u, w, a, t);
        self.input.forward(s.u, s.gi);
        self.hidden.forward(h, s.gh);
        for j in 0..size {
            s.r[j] = sigmoid(s.gi[j] + s.gh[j]);
            s.z[j] = sigmoid(s.gi[size + j] + s.gh[size + j]);
            s.n[j] = (s.gi[2 * size + j] + s.r[j] * s.gh[2 * size + j]).tanh();
            s.head[j] = s.n[j] + s.z[j] * (h[j] - s.n[j]);
        }
        self.head.forward(s.head);
    }
}

impl Kernel for RnnKernel {
    fn n_params(&self) -> usize {
        self.gamma_at + self.gamma.len()
    }

    #[inline(always)]
    fn animal(&self, a: &HostSequence, w0: &[f64], grads: Option<(&mut [f64], &mut [f64])>) -> f64 {
        let k = w0.len();
        let size = self.size;
        let end = a.score.end;
        // Per trial: w_t and h_t, and every step's record when it fits the budget (else
        // the backward pass recomputes it).
        let per_trial = k + size;
        let mut states = vec![0.0; end * per_trial];
        let len = self.record_len();
        let keep = grads.is_some() && end * len * std::mem::size_of::<f64>() <= self.tape_budget;
        let mut tape = vec![0.0; if keep { end * len } else { len }];
        if end > 0 {
            states[..k].copy_from_slice(w0);
        }
        let mut ll = 0.0;
        for t in 0..end {
            let (now, next) = states.split_at_mut((t + 1) * per_trial);
            let (w, h) = now[t * per_trial..].split_at(k);
            ll += trial_log_likelihood(a, w, t);
            if t + 1 == end {
                break;
            }
            let record = if keep {
                &mut tape[t * len..(t + 1) * len]
            } else {
                &mut tape[..]
            };
            self.step(record, w, h, a, t);
            let head = self.parts(record).head;
            let o = self.head.output(head);
            let gate = self.mask.gate(a, t);
            for j in 0..k {
                next[j] = w[j] + gate * self.gamma[j] * o[j];
            }
            next[k..per_trial].copy_from_slice(&head[..size]);
        }
        let Some((grads, d_w0)) = grads else {
            return ll;
        };
        let mut lambda_w_next = vec![0.0; k];
        let mut lambda_w = vec![0.0; k];
        let mut lambda_h_next = vec![0.0; size];
        let mut d_o = vec![0.0; k];
        let width = self.head.max_width().max(3 * size).max(self.input.n_in);
        let (mut d_a, mut d_b) = (vec![0.0; width], vec![0.0; width]);
        let (mut d_gi, mut d_gh) = (vec![0.0; 3 * size], vec![0.0; 3 * size]);
        let mut d_hp = vec![0.0; size];
        for t in (0..end).rev() {
            let (w, h) = states[t * per_trial..(t + 1) * per_trial].split_at(k);
            lambda_w.copy_from_slice(&lambda_w_next);
            add_trial_gradient(&mut lambda_w, a, w, t);
            if t + 1 < end {
                let record = if keep {
                    &mut tape[t * len..(t + 1) * len]
                } else {
                    self.step(&mut tape, w, h, a, t);
                    &mut tape[..]
                };
                let s = self.parts(record);
                let o = self.head.output(s.head);
                let gate = self.mask.gate(a, t);
                for j in 0..k {
                    grads[self.gamma_at + j] += gate * o[j] * lambda_w_next[j];
                    d_o[j] = gate * self.gamma[j] * lambda_w_next[j];
                }
                self.head.backward(s.head, &d_o, &mut d_a, &mut d_b, grads);
                // ∂/∂h_{t+1}: through the head and through the later steps.
                for j in 0..size {
                    d_hp[j] = d_a[j] + lambda_h_next[j];
                }
                // h' = n + z (h − n); n = tanh(gi_n + r gh_n); r, z = σ(gi + gh).
                for j in 0..size {
                    let (r, z, n) = (s.r[j], s.z[j], s.n[j]);
                    let d_n = d_hp[j] * (1.0 - z) * (1.0 - n * n);
                    let d_z = d_hp[j] * (h[j] - n) * z * (1.0 - z);
                    let d_r = d_n * s.gh[2 * size + j] * r * (1.0 - r);
                    d_gi[j] = d_r;
                    d_gh[j] = d_r;
                    d_gi[size + j] = d_z;
                    d_gh[size + j] = d_z;
                    d_gi[2 * size + j] = d_n;
                    d_gh[2 * size + j] = d_n * r;
                }
                self.input
                    .backward(s.u, &d_gi, &mut d_a[..self.input.n_in], grads);
                // (A constant 0 in u_t when w_t is dropped.)
                if self.mask.sees_weights {
                    lambda_w
                        .iter_mut()
                        .zip(&d_a[..k])
                        .for_each(|(l, d)| *l += d);
                }
                self.hidden.backward(h, &d_gh, &mut d_b[..size], grads);
                for j in 0..size {
                    lambda_h_next[j] = d_b[j] + d_hp[j] * s.z[j];
                }
            }
            std::mem::swap(&mut lambda_w, &mut lambda_w_next);
        }
        d_w0.copy_from_slice(&lambda_w_next);
        ll
    }

    fn walk(&self, a: &HostSequence, w0: &[f64], until: usize, out: &mut Vec<f64>) {
        let k = w0.len();
        let size = self.size;
        let mut record = vec![0.0; self.record_len()];
        let mut w = w0.to_vec();
        let mut h = vec![0.0; size];
        for t in 0..until {
            out.extend_from_slice(&w);
            if t + 1 == until {
                break;
            }
            self.step(&mut record, &w, &h, a, t);
            let head = self.parts(&mut record).head;
            let o = self.head.output(head);
            let gate = self.mask.gate(a, t);
            for j in 0..k {
                w[j] += gate * self.gamma[j] * o[j];
            }
            h.copy_from_slice(&head[..size]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sequence of `n` trials with varied inputs, scored on `score`.
    fn sequence(n: usize, score: std::ops::Range<usize>, seed: usize) -> HostSequence {
        let v = |t: usize, m: usize| (((t * 7 + seed * 3 + m) % 11) as f64 - 5.0) / 5.0;
        HostSequence {
            x: (0..n).flat_map(|t| [v(t, 0), 1.0]).collect(),
            choice: (0..n)
                .map(|t| f64::from(u8::from((t + seed).is_multiple_of(3))))
                .collect(),
            reward: (0..n)
                .map(|t| f64::from(u8::from(!(t * 5 + seed).is_multiple_of(4))))
                .collect(),
            answer: (0..n).map(|t| ((t + 2 * seed) % 2) as f64).collect(),
            session_start: (0..n)
                .map(|t| f64::from(u8::from(t.is_multiple_of(17))))
                .collect(),
            score,
        }
    }

    fn rnn() -> (ScanRule, Vec<f64>) {
        let rule = ScanRule::Rnn {
            input: 8,
            hidden: 6,
            head: vec![6, 5, 2],
            structure: Structure::default(),
        };
        let params = (0..rule.n_params())
            .map(|i| ((i * 37 % 23) as f64 - 11.0) / 20.0)
            .collect();
        (rule, params)
    }

    /// Recomputing every step in the backward pass gives exactly what keeping the step
    /// records gives, and the forward-only scan the same log-likelihoods.
    #[test]
    fn rnn_recompute_equals_kept_records() {
        let (rule, params) = rnn();
        let animals = [sequence(60, 0..60, 1), sequence(45, 5..40, 2)];
        let w0 = [0.3, -0.2, -0.5, 0.1];
        let kept = scan(&rule, &params, &w0, &animals, true);
        let ScanRule::Rnn {
            input,
            hidden,
            head,
            ..
        } = &rule
        else {
            unreachable!()
        };
        let mut layers = Layers::new(&params);
        let kernel = RnnKernel {
            mask: InputMask::new(&Structure::default(), 2),
            input: layers.dense(*input, 3 * hidden),
            hidden: layers.dense(*hidden, 3 * hidden),
            head: Mlp::new(head, &mut layers),
            gamma_at: layers.offset,
            gamma: layers.take(2).to_vec(),
            size: *hidden,
            tape_budget: 0,
        };
        let recomputed = run(&kernel, &animals, &w0, true);
        assert!(
            kept.log_likelihood
                .iter()
                .all(|v| v.is_finite() && *v < 0.0)
        );
        assert!(kept.d_w0.iter().all(|v| *v != 0.0));
        assert_eq!(kept, recomputed);
        let forward = scan(&rule, &params, &w0, &animals, false);
        assert_eq!(forward.log_likelihood, kept.log_likelihood);
        assert!(forward.d_params.is_empty() && forward.d_w0.is_empty());
    }

    /// The flat layout's length matches the layers it describes.
    #[test]
    fn parameter_counts() {
        let dnn = ScanRule::Dnn {
            sizes: vec![8, 32, 32, 2],
            structure: Structure::default(),
        };
        assert_eq!(dnn.n_params(), 9 * 32 + 33 * 32 + 33 * 2 + 2);
        let (rnn, _) = rnn();
        assert_eq!(rnn.n_params(), 9 * 18 + 7 * 18 + 7 * 5 + 6 * 2 + 2);
    }
}

/// The completed trial a [`HostStep`] reads: the regressors x_t (`[features]`) and the
/// choice, reward, correct side and session-start flag of trial t.
#[derive(Debug, Clone, Copy)]
pub struct HostTrial<'a> {
    /// Regressors of the trial, `[features]`.
    pub x: &'a [f64],
    /// The choice y_t (0 left, 1 right).
    pub choice: f64,
    /// The reward r_t.
    pub reward: f64,
    /// The correct side a_t.
    pub answer: f64,
    /// The session-start flag s_t.
    pub session_start: f64,
}

/// One step of a built-in neural rule on the host, in `f64`, with its Jacobian in the
/// weights: w' = w + g_t γ ⊙ o_t and ∂w'/∂w — what a rule with noise
/// (`denovo_walk::WeightDrift`) needs of the rule.
///
/// - DNN: o_t = MLP(u_t(w)); the Jacobian is exact (forward-mode tangents through the
///   MLP, one per weight; the ReLUs make it piecewise constant in w).
/// - RNN: h' = GRU(h, u_t(w)), o_t = MLP(h'); the incoming hidden state h is an input of
///   the step (the caller holds or advances it) and the Jacobian is ∂w'/∂w at that fixed h
///   (tangents through the GRU's input path and the head).
///
/// Dropped inputs stay at 0 and the gate multiplies the step as in the fused scan; with
/// the weights dropped the Jacobian is the identity.
pub struct HostStep {
    built: Built,
    k: usize,
    /// Activations (DNN) or the step record (RNN).
    buf: Vec<f64>,
    /// Tangent scratch.
    ta: Vec<f64>,
    tb: Vec<f64>,
    dh: Vec<f64>,
}

impl std::fmt::Debug for HostStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostStep")
            .field("features", &self.k)
            .field("hidden", &self.hidden_size())
            .finish()
    }
}

impl Mlp {
    /// The output's tangent for an input tangent already in `ta[..input]`, at a filled
    /// activation buffer `acts` (inputs and ReLU masks of the forward pass); the result is
    /// left in `ta[..output]`. `ta`, `tb`: scratch of [`Mlp::max_width`].
    fn tangent(&self, acts: &[f64], ta: &mut Vec<f64>, tb: &mut Vec<f64>) {
        let n = self.layers.len();
        for (i, l) in self.layers.iter().enumerate() {
            let out = &mut tb[..l.n_out];
            out.iter_mut().for_each(|o| *o = 0.0);
            for (r, &v) in ta[..l.n_in].iter().enumerate() {
                if v != 0.0 {
                    let row = &l.weight[r * l.n_out..(r + 1) * l.n_out];
                    out.iter_mut().zip(row).for_each(|(o, w)| *o += v * w);
                }
            }
            if i + 1 < n {
                let act = &acts[self.offsets[i + 1]..self.offsets[i + 2]];
                out.iter_mut().zip(act).for_each(|(o, &a)| {
                    if a <= 0.0 {
                        *o = 0.0;
                    }
                });
            }
            std::mem::swap(ta, tb);
        }
    }
}

impl InputMask {
    /// Fills u_t = [w, x, y, r, a, s] of one trial, dropped columns at 0.
    fn fill(&self, u: &mut [f64], w: &[f64], trial: &HostTrial<'_>) {
        let k = w.len();
        u[..k].copy_from_slice(w);
        u[k..2 * k].copy_from_slice(trial.x);
        u[2 * k] = trial.choice;
        u[2 * k + 1] = trial.reward;
        u[2 * k + 2] = trial.answer;
        u[2 * k + 3] = trial.session_start;
        for &j in &self.dropped {
            u[j] = 0.0;
        }
    }
}

impl HostStep {
    /// The step of `rule` with flat parameters `params` ([`ScanRule`]'s order, e.g.
    /// `DnnRule::flat_parameters` read to the host).
    ///
    /// # Panics
    /// If `params` has the wrong length (a programming error).
    pub fn new(rule: &ScanRule, params: &[f64]) -> HostStep {
        let built = build(rule, params);
        let k = rule.n_features();
        let (buf, width) = match &built {
            Built::Dnn(kernel) => (vec![0.0; kernel.mlp.width()], kernel.mlp.max_width()),
            Built::Rnn(kernel) => (
                vec![0.0; kernel.record_len()],
                kernel.head.max_width().max(kernel.size),
            ),
        };
        HostStep {
            built,
            k,
            buf,
            ta: vec![0.0; width],
            tb: vec![0.0; width],
            dh: vec![0.0; 3 * width],
        }
    }

    /// The number of policy weights K.
    pub fn n_features(&self) -> usize {
        self.k
    }

    /// The GRU's hidden size H (0 for the DNN rule, which has no hidden state).
    pub fn hidden_size(&self) -> usize {
        match &self.built {
            Built::Dnn(_) => 0,
            Built::Rnn(kernel) => kernel.size,
        }
    }

    /// One step after `trial` from the weights `w` (`[K]`) and, for the RNN, the hidden
    /// state `h` before it (`[H]`; empty for the DNN): the next weights into `next`
    /// (`[K]`), the next hidden state into `h_next` (`[H]`) and ∂next/∂w into `jac`
    /// (`[K, K]`, row-major: `jac[i·K + j]` = ∂next_i/∂w_j; h held fixed).
    ///
    /// # Panics
    /// On slices of the wrong length (a programming error).
    pub fn step(
        &mut self,
        w: &[f64],
        h: &[f64],
        trial: &HostTrial<'_>,
        next: &mut [f64],
        h_next: &mut [f64],
        jac: &mut [f64],
    ) {
        let k = self.k;
        assert!(w.len() == k && next.len() == k && jac.len() == k * k && trial.x.len() == k);
        jac.iter_mut().for_each(|j| *j = 0.0);
        for i in 0..k {
            jac[i * k + i] = 1.0;
        }
        let HostStep {
            built,
            buf,
            ta,
            tb,
            dh,
            ..
        } = self;
        match built {
            Built::Dnn(kernel) => {
                let n_in = kernel.mlp.offsets[1];
                kernel.input.fill(&mut buf[..n_in], w, trial);
                kernel.mlp.forward(buf);
                let g = kernel.input.gate.value(trial.reward);
                let o = kernel.mlp.output(buf);
                for i in 0..k {
                    next[i] = w[i] + g * kernel.gamma[i] * o[i];
                }
                if g == 0.0 || !kernel.input.sees_weights {
                    return;
                }
                for j in 0..k {
                    ta[..n_in].iter_mut().for_each(|v| *v = 0.0);
                    ta[j] = 1.0;
                    kernel.mlp.tangent(buf, ta, tb);
                    for i in 0..k {
                        jac[i * k + j] += g * kernel.gamma[i] * ta[i];
                    }
                }
            }
            Built::Rnn(kernel) => {
                let size = kernel.size;
                assert!(h.len() == size && h_next.len() == size);
                let s = kernel.parts(buf);
                kernel.mask.fill(s.u, w, trial);
                kernel.input.forward(s.u, s.gi);
                kernel.hidden.forward(h, s.gh);
                for j in 0..size {
                    s.r[j] = sigmoid(s.gi[j] + s.gh[j]);
                    s.z[j] = sigmoid(s.gi[size + j] + s.gh[size + j]);
                    s.n[j] = (s.gi[2 * size + j] + s.r[j] * s.gh[2 * size + j]).tanh();
                    s.head[j] = s.n[j] + s.z[j] * (h[j] - s.n[j]);
                }
                kernel.head.forward(s.head);
                h_next.copy_from_slice(&s.head[..size]);
                let g = kernel.mask.gate.value(trial.reward);
                let o = kernel.head.output(s.head);
                for i in 0..k {
                    next[i] = w[i] + g * kernel.gamma[i] * o[i];
                }
                if g == 0.0 || !kernel.mask.sees_weights {
                    return;
                }
                let n_out = 3 * size;
                for j in 0..k {
                    // d gi = e_j · W_in (row j); h fixed, so d gh = 0.
                    let row = &kernel.input.weight[j * n_out..(j + 1) * n_out];
                    dh[..n_out].copy_from_slice(row);
                    for m in 0..size {
                        let (r, z, n) = (s.r[m], s.z[m], s.n[m]);
                        let dr = r * (1.0 - r) * dh[m];
                        let dz = z * (1.0 - z) * dh[size + m];
                        let dn = (1.0 - n * n) * (dh[2 * size + m] + dr * s.gh[2 * size + m]);
                        // h' = n + z (h − n).
                        ta[m] = (1.0 - z) * dn + (h[m] - n) * dz;
                    }
                    kernel.head.tangent(s.head, ta, tb);
                    for i in 0..k {
                        jac[i * k + j] += g * kernel.gamma[i] * ta[i];
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod host_step_tests {
    use super::*;

    /// A seeded rule's flat parameters (an LCG: the test needs varied numbers only).
    fn params(rule: &ScanRule, scale: f64) -> Vec<f64> {
        let mut state = 99u64;
        (0..rule.n_params())
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                scale * (((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5)
            })
            .collect()
    }

    /// The host step's Jacobian matches central differences of its output, for the DNN and
    /// the RNN (at a fixed hidden state), and its next weights match the fused kernels'
    /// trajectory (the DNN's first step).
    #[test]
    fn jacobian_matches_finite_differences() {
        let k = 3;
        let dnn = ScanRule::Dnn {
            sizes: vec![2 * k + 4, 8, 8, k],
            structure: Structure::default(),
        };
        let rnn = ScanRule::Rnn {
            input: 2 * k + 4,
            hidden: 6,
            head: vec![6, 8, k],
            structure: Structure::default(),
        };
        let x = [0.4, -0.7, 1.0];
        let trial = HostTrial {
            x: &x,
            choice: 1.0,
            reward: 1.0,
            answer: 1.0,
            session_start: 0.0,
        };
        for rule in [dnn, rnn] {
            let p = params(&rule, 2.0);
            let mut step = HostStep::new(&rule, &p);
            let hs = step.hidden_size();
            let h: Vec<f64> = (0..hs).map(|i| 0.3 * (i as f64).sin()).collect();
            let w = [0.3, -0.2, 0.5];
            let (mut next, mut hn, mut jac) = (vec![0.0; k], vec![0.0; hs], vec![0.0; k * k]);
            step.step(&w, &h, &trial, &mut next, &mut hn, &mut jac);
            let (mut np, mut nm, mut scratch) = (vec![0.0; k], vec![0.0; k], vec![0.0; k * k]);
            for j in 0..k {
                let e = 1e-6;
                let (mut wp, mut wm) = (w, w);
                wp[j] += e;
                wm[j] -= e;
                step.step(&wp, &h, &trial, &mut np, &mut hn, &mut scratch);
                step.step(&wm, &h, &trial, &mut nm, &mut hn, &mut scratch);
                for i in 0..k {
                    let fd = (np[i] - nm[i]) / (2.0 * e);
                    assert!(
                        (fd - jac[i * k + j]).abs() < 1e-7 * (1.0 + fd.abs()),
                        "{rule:?} ∂{i}/∂{j}: {fd} vs {}",
                        jac[i * k + j]
                    );
                }
            }
            // The Jacobian is not the identity's (the test checks a real dependence).
            let off: f64 = (0..k * k)
                .map(|i| (jac[i] - f64::from(i % (k + 1) == 0)).abs())
                .sum();
            assert!(off > 1e-3, "{rule:?}: Jacobian {jac:?}");
            if let ScanRule::Dnn { .. } = rule {
                let seq = HostSequence {
                    x: x.iter().chain(&x).copied().collect(),
                    choice: vec![1.0, 0.0],
                    reward: vec![1.0, 0.0],
                    answer: vec![1.0, 1.0],
                    session_start: vec![0.0, 0.0],
                    score: 0..2,
                };
                let path = trajectories(&rule, &p, &w, &[seq], &[2]);
                for i in 0..k {
                    assert!((path[0][k + i] - next[i]).abs() < 1e-12);
                }
            }
        }
    }
}
