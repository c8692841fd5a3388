//! Fused kernels of the built-in neural rules: the whole scan — forward through every
//! trial and the adjoint pass back — in plain `f64`, with no per-trial tensor graph.
//!
//! Both rules read u_t = [w_t, x_t, y_t, r_t, a_t, s_t] after trial t and move the
//! weights by w_{t+1} = w_t + γ ⊙ o_t; the log-likelihood is Σ y z − softplus(z) with
//! z = w_t · x_t over the scored trials.
//!
//! - DNN: o_t = MLP(u_t). The forward pass keeps every activation of one animal.
//! - RNN: h_{t+1} = GRU(h_t, u_t), o_t = MLP(h_{t+1}). The forward pass keeps only w_t
//!   and h_t per trial; the adjoint pass recomputes the gates and the read-out of each
//!   trial from them (memory `trials × (features + hidden)` per thread instead of every
//!   gate).
//!
//! Backward: λ_t = ∂LL/∂w_t is the sum of (y_t − p_t) x_t on scored trials, λ_{t+1}, and
//! the path through the update; parameter gradients accumulate along the way. Animals
//! are split across threads; each thread holds its own gradient accumulators.

use crate::{DnnRule, RnnRule};
use burn::module::{Param, ParamId};
use burn::nn::Linear;
use burn::tensor::{Tensor, backend::Backend};
use denovo_glm::to_f64_vec;
use denovo_rules::closed_form::{sigmoid, softplus};
use denovo_rules::{FusedGradient, HostSequence};

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
    weight_id: ParamId,
    bias_id: Option<ParamId>,
    n_in: usize,
    n_out: usize,
    weight: Vec<f64>,
    bias: Vec<f64>,
    /// Index of the weight's gradient buffer (the bias's is the next one).
    grad: usize,
}

impl Dense {
    fn of<B: Backend>(l: &Linear<B>, grad: usize) -> Dense {
        let [n_in, n_out] = l.weight.val().dims();
        Dense {
            weight_id: l.weight.id,
            bias_id: l.bias.as_ref().map(|b| b.id),
            n_in,
            n_out,
            weight: to_f64_vec(l.weight.val()),
            bias: l
                .bias
                .as_ref()
                .map_or_else(|| vec![0.0; n_out], |b| to_f64_vec(b.val())),
            grad,
        }
    }

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

    /// Accumulates ∂/∂W and ∂/∂b from `d_out` and writes ∂/∂input into `d_in`.
    #[inline(always)]
    fn backward(&self, input: &[f64], d_out: &[f64], d_in: &mut [f64], grads: &mut [Vec<f64>]) {
        let (gw, gb) = grads[self.grad..self.grad + 2].split_at_mut(1);
        gb[0].iter_mut().zip(d_out).for_each(|(g, d)| *g += d);
        for (i, &v) in input.iter().enumerate() {
            let row = &self.weight[i * self.n_out..(i + 1) * self.n_out];
            let grow = &mut gw[0][i * self.n_out..(i + 1) * self.n_out];
            if v != 0.0 {
                grow.iter_mut().zip(d_out).for_each(|(g, d)| *g += v * d);
            }
            d_in[i] = dot(row, d_out);
        }
    }

    /// The (id, shape) of the weight and, when present, the bias, with their buffers.
    fn gradients(&self, grads: &mut [Vec<f64>], out: &mut Vec<(ParamId, Vec<usize>, Vec<f64>)>) {
        out.push((
            self.weight_id,
            vec![self.n_in, self.n_out],
            std::mem::take(&mut grads[self.grad]),
        ));
        if let Some(id) = self.bias_id {
            out.push((
                id,
                vec![self.n_out],
                std::mem::take(&mut grads[self.grad + 1]),
            ));
        }
    }

    fn grad_buffers(&self) -> [Vec<f64>; 2] {
        [vec![0.0; self.weight.len()], vec![0.0; self.n_out]]
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
    fn of<B: Backend>(layers: &[Linear<B>], first_grad: usize) -> Mlp {
        let layers: Vec<Dense> = layers
            .iter()
            .enumerate()
            .map(|(i, l)| Dense::of(l, first_grad + 2 * i))
            .collect();
        let mut offsets = vec![0, layers[0].n_in];
        for l in &layers {
            offsets.push(offsets.last().copied().unwrap_or(0) + l.n_out);
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
    /// `d_a[..n_in]`. `d_a`, `d_b`: scratch of [`Mlp::max_width`].
    #[inline(always)]
    fn backward(
        &self,
        acts: &[f64],
        d_out: &[f64],
        d_a: &mut Vec<f64>,
        d_b: &mut Vec<f64>,
        grads: &mut [Vec<f64>],
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

    fn grad_buffers(&self) -> Vec<Vec<f64>> {
        self.layers.iter().flat_map(Dense::grad_buffers).collect()
    }

    fn gradients(&self, grads: &mut [Vec<f64>], out: &mut Vec<(ParamId, Vec<usize>, Vec<f64>)>) {
        for l in &self.layers {
            l.gradients(grads, out);
        }
    }
}

/// Fills u_t = [w, x, y, r, a, s] for trial `t` of `a`.
#[inline(always)]
fn rule_input(u: &mut [f64], w: &[f64], a: &HostSequence, t: usize) {
    let k = w.len();
    u[..k].copy_from_slice(w);
    u[k..2 * k].copy_from_slice(&a.x[t * k..(t + 1) * k]);
    u[2 * k] = a.choice[t];
    u[2 * k + 1] = a.reward[t];
    u[2 * k + 2] = a.answer[t];
    u[2 * k + 3] = a.session_start[t];
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

/// A rule's fused forward + adjoint pass over one animal.
trait Kernel: Sync {
    /// Fresh, zeroed gradient buffers (one per parameter tensor).
    fn grad_buffers(&self) -> Vec<Vec<f64>>;
    /// Adds the animal's log-likelihood to `ll` and its parameter gradients to `grads`;
    /// returns ∂LL/∂w0.
    fn animal(
        &self,
        a: &HostSequence,
        w0: &[f64],
        grads: &mut [Vec<f64>],
        ll: &mut f64,
    ) -> Vec<f64>;
    /// Moves the summed gradients out as (id, shape, values).
    fn gradients(&self, grads: Vec<Vec<f64>>) -> Vec<(ParamId, Vec<usize>, Vec<f64>)>;
}

/// One thread's share: the animals `animals` with initial weights `w0` (`k` per animal).
type Share = (Vec<Vec<f64>>, f64, Vec<f64>);

#[inline(always)]
fn worker<K: Kernel>(kernel: &K, animals: &[HostSequence], w0: &[f64], k: usize) -> Share {
    let mut grads = kernel.grad_buffers();
    let mut ll = 0.0;
    let mut d_w0 = Vec::with_capacity(w0.len());
    for (i, animal) in animals.iter().enumerate() {
        d_w0.extend(kernel.animal(animal, &w0[i * k..(i + 1) * k], &mut grads, &mut ll));
    }
    (grads, ll, d_w0)
}

/// [`worker`] compiled for AVX2 (4 f64 lanes instead of SSE2's 2).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn worker_avx2<K: Kernel>(kernel: &K, animals: &[HostSequence], w0: &[f64], k: usize) -> Share {
    worker(kernel, animals, w0, k)
}

/// Runs [`worker`] in the widest SIMD flavour this CPU has (detected at run time, so the
/// binary stays portable).
fn dispatch<K: Kernel>(kernel: &K, animals: &[HostSequence], w0: &[f64], k: usize) -> Share {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { worker_avx2(kernel, animals, w0, k) };
    }
    worker(kernel, animals, w0, k)
}

/// Runs `kernel` over every animal, split across threads, and sums the gradients.
fn run<K: Kernel>(kernel: &K, animals: &[HostSequence], w0: &[f64]) -> FusedGradient {
    let k = if animals.is_empty() {
        0
    } else {
        w0.len() / animals.len()
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(animals.len())
        .max(1);
    let chunk = animals.len().div_ceil(threads).max(1);
    let parts: Vec<Share> = std::thread::scope(|scope| {
        let handles: Vec<_> = animals
            .chunks(chunk)
            .zip(w0.chunks(chunk * k.max(1)))
            .map(|(a, w)| scope.spawn(move || dispatch(kernel, a, w, k)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker thread"))
            .collect()
    });
    let mut total = kernel.grad_buffers();
    let mut log_likelihood = 0.0;
    let mut d_w0 = Vec::with_capacity(w0.len());
    for (g, ll, d) in parts {
        log_likelihood += ll;
        for (t, v) in total.iter_mut().zip(g) {
            t.iter_mut().zip(v).for_each(|(a, b)| *a += b);
        }
        d_w0.extend(d);
    }
    FusedGradient {
        log_likelihood,
        params: kernel.gradients(total),
        d_w0,
    }
}

/// γ in plain numbers.
fn plain_gamma<B: Backend>(gamma: &Param<Tensor<B, 1>>) -> (ParamId, Vec<f64>) {
    (gamma.id, to_f64_vec(gamma.val()))
}

/// The DNN rule's kernel.
struct DnnKernel {
    mlp: Mlp,
    gamma_id: ParamId,
    gamma: Vec<f64>,
}

impl Kernel for DnnKernel {
    fn grad_buffers(&self) -> Vec<Vec<f64>> {
        let mut g = self.mlp.grad_buffers();
        g.push(vec![0.0; self.gamma.len()]);
        g
    }

    #[inline(always)]
    fn animal(
        &self,
        a: &HostSequence,
        w0: &[f64],
        grads: &mut [Vec<f64>],
        ll: &mut f64,
    ) -> Vec<f64> {
        let k = w0.len();
        let end = a.score.end;
        let gi = grads.len() - 1;
        // Per trial: w_t, then the MLP's activation buffer.
        let width = self.mlp.width();
        let per_trial = k + width;
        let mut acts = vec![0.0; end * per_trial];
        let mut w = w0.to_vec();
        for t in 0..end {
            let (ws, rest) = acts[t * per_trial..(t + 1) * per_trial].split_at_mut(k);
            ws.copy_from_slice(&w);
            *ll += trial_log_likelihood(a, &w, t);
            if t + 1 == end {
                break;
            }
            rule_input(rest, &w, a, t);
            self.mlp.forward(rest);
            let o = self.mlp.output(rest);
            w.iter_mut()
                .zip(&self.gamma)
                .zip(o)
                .for_each(|((w, g), o)| *w += g * o);
        }
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
            if t + 1 < end {
                let o = self.mlp.output(rest);
                for j in 0..k {
                    grads[gi][j] += o[j] * lambda_next[j];
                    d_o[j] = self.gamma[j] * lambda_next[j];
                }
                self.mlp.backward(rest, &d_o, &mut d_a, &mut d_b, grads);
                // The w_t part of the input u_t.
                lambda.iter_mut().zip(&d_a[..k]).for_each(|(l, d)| *l += d);
            }
            std::mem::swap(&mut lambda, &mut lambda_next);
        }
        lambda_next
    }

    fn gradients(&self, mut grads: Vec<Vec<f64>>) -> Vec<(ParamId, Vec<usize>, Vec<f64>)> {
        let mut out = Vec::new();
        let gamma = grads.pop().unwrap_or_default();
        self.mlp.gradients(&mut grads, &mut out);
        out.push((self.gamma_id, vec![self.gamma.len()], gamma));
        out
    }
}

/// The fused log-likelihood and gradient of a DNN rule (see the module docs).
pub fn dnn_fused_gradient<B: Backend>(
    rule: &DnnRule<B>,
    animals: &[HostSequence],
    w0: &[f64],
) -> FusedGradient {
    let (gamma_id, gamma) = plain_gamma(&rule.gamma);
    let kernel = DnnKernel {
        mlp: Mlp::of(&rule.layers, 0),
        gamma_id,
        gamma,
    };
    run(&kernel, animals, w0)
}

/// The RNN rule's kernel. Gradient buffers: the GRU's input layer (2), its hidden layer
/// (2), the head's layers (2 each), then γ.
struct RnnKernel {
    input: Dense,
    hidden: Dense,
    head: Mlp,
    gamma_id: ParamId,
    gamma: Vec<f64>,
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
const TAPE_BUDGET_BYTES: usize = 64 << 20;

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
        rule_input(s.u, w, a, t);
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
    fn grad_buffers(&self) -> Vec<Vec<f64>> {
        let mut g: Vec<Vec<f64>> = self
            .input
            .grad_buffers()
            .into_iter()
            .chain(self.hidden.grad_buffers())
            .collect();
        g.extend(self.head.grad_buffers());
        g.push(vec![0.0; self.gamma.len()]);
        g
    }

    #[inline(always)]
    fn animal(
        &self,
        a: &HostSequence,
        w0: &[f64],
        grads: &mut [Vec<f64>],
        ll: &mut f64,
    ) -> Vec<f64> {
        let k = w0.len();
        let size = self.size;
        let end = a.score.end;
        let gi = grads.len() - 1;
        // Per trial: w_t and h_t, and every step's record when it fits the budget (else
        // the backward pass recomputes it).
        let per_trial = k + size;
        let mut states = vec![0.0; end * per_trial];
        let len = self.record_len();
        let keep = end * len * std::mem::size_of::<f64>() <= self.tape_budget;
        let mut tape = vec![0.0; if keep { end * len } else { len }];
        if end > 0 {
            states[..k].copy_from_slice(w0);
        }
        for t in 0..end {
            let (now, next) = states.split_at_mut((t + 1) * per_trial);
            let (w, h) = now[t * per_trial..].split_at(k);
            *ll += trial_log_likelihood(a, w, t);
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
            for j in 0..k {
                next[j] = w[j] + self.gamma[j] * o[j];
            }
            next[k..per_trial].copy_from_slice(&head[..size]);
        }
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
                for j in 0..k {
                    grads[gi][j] += o[j] * lambda_w_next[j];
                    d_o[j] = self.gamma[j] * lambda_w_next[j];
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
                lambda_w
                    .iter_mut()
                    .zip(&d_a[..k])
                    .for_each(|(l, d)| *l += d);
                self.hidden.backward(h, &d_gh, &mut d_b[..size], grads);
                for j in 0..size {
                    lambda_h_next[j] = d_b[j] + d_hp[j] * s.z[j];
                }
            }
            std::mem::swap(&mut lambda_w, &mut lambda_w_next);
        }
        lambda_w_next
    }

    fn gradients(&self, mut grads: Vec<Vec<f64>>) -> Vec<(ParamId, Vec<usize>, Vec<f64>)> {
        let mut out = Vec::new();
        let gamma = grads.pop().unwrap_or_default();
        self.input.gradients(&mut grads, &mut out);
        self.hidden.gradients(&mut grads, &mut out);
        self.head.gradients(&mut grads, &mut out);
        out.push((self.gamma_id, vec![self.gamma.len()], gamma));
        out
    }
}

/// The fused log-likelihood and gradient of an RNN rule (see the module docs).
pub fn rnn_fused_gradient<B: Backend>(
    rule: &RnnRule<B>,
    animals: &[HostSequence],
    w0: &[f64],
) -> FusedGradient {
    rnn_fused_gradient_with_budget(rule, animals, w0, TAPE_BUDGET_BYTES)
}

/// [`rnn_fused_gradient`] with a given per-thread budget for keeping step records.
fn rnn_fused_gradient_with_budget<B: Backend>(
    rule: &RnnRule<B>,
    animals: &[HostSequence],
    w0: &[f64],
    tape_budget: usize,
) -> FusedGradient {
    let (gamma_id, gamma) = plain_gamma(&rule.gamma);
    let kernel = RnnKernel {
        input: Dense::of(&rule.gru.input, 0),
        hidden: Dense::of(&rule.gru.hidden, 2),
        head: Mlp::of(&rule.head, 4),
        gamma_id,
        gamma,
        size: rule.gru.size,
        tape_budget,
    };
    run(&kernel, animals, w0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RnnConfig;
    use burn::backend::NdArray;

    /// A sequence of `n` trials with varied inputs, scored on `score`.
    fn sequence(n: usize, score: std::ops::Range<usize>, seed: usize) -> HostSequence {
        let v = |t: usize, m: usize| (((t * 7 + seed * 3 + m) % 11) as f64 - 5.0) / 5.0;
        HostSequence {
            x: (0..n).flat_map(|t| [v(t, 0), 1.0]).collect(),
            choice: (0..n).map(|t| ((t + seed) % 3 == 0) as u8 as f64).collect(),
            reward: (0..n)
                .map(|t| ((t * 5 + seed) % 4 != 0) as u8 as f64)
                .collect(),
            answer: (0..n).map(|t| ((t + 2 * seed) % 2) as f64).collect(),
            session_start: (0..n).map(|t| (t % 17 == 0) as u8 as f64).collect(),
            score,
        }
    }

    /// Recomputing every step in the backward pass gives exactly what keeping the step
    /// records gives.
    #[test]
    fn rnn_recompute_equals_kept_records() {
        let rule = RnnConfig {
            gamma_init: 0.2,
            ..RnnConfig::default()
        }
        .init::<NdArray<f64>>(2, &Default::default());
        let animals = [sequence(60, 0..60, 1), sequence(45, 5..40, 2)];
        let w0 = [0.3, -0.2, -0.5, 0.1];
        let kept = rnn_fused_gradient_with_budget(&rule, &animals, &w0, usize::MAX);
        let recomputed = rnn_fused_gradient_with_budget(&rule, &animals, &w0, 0);
        assert!(kept.log_likelihood.is_finite());
        assert!(kept.d_w0.iter().all(|v| *v != 0.0));
        assert_eq!(kept, recomputed);
    }
}
