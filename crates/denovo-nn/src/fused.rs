//! The DNN rule's fused kernel: the whole scan — forward through every trial and the
//! adjoint pass back — in plain `f64`, with no per-trial tensor graph.
//!
//! Forward, per animal: u_t = [w_t, x_t, y_t, r_t, a_t, s_t]; h⁰ = u_t, hˡ = relu(Wₗᵀ hˡ⁻¹ + bₗ)
//! (no relu on the last layer) = o_t; w_{t+1} = w_t + γ ⊙ o_t; LL += y z − softplus(z),
//! z = w_t · x_t on scored trials. Backward: λ_t = ∂LL/∂w_t is the sum of
//! (y_t − p_t) x_t on scored trials, λ_{t+1}, and (∂u_t/∂w_t)ᵀ MLPᵀ(γ ⊙ λ_{t+1});
//! parameter gradients accumulate along the way. Activations of one animal are kept (the
//! recompute-per-chunk variant comes with the issue-5 kernels); animals are split across
//! threads.

use crate::DnnRule;
use burn::module::ParamId;
use burn::tensor::backend::Backend;
use denovo_glm::to_f64_vec;
use denovo_rules::closed_form::{sigmoid, softplus};
use denovo_rules::{FusedGradient, HostSequence};

/// Per layer: (weight id, bias id, inputs, outputs, weight [in × out], bias [out]).
type PlainLayer = (ParamId, Option<ParamId>, usize, usize, Vec<f64>, Vec<f64>);

/// The DNN's parameters as plain numbers.
struct Plain {
    layers: Vec<PlainLayer>,
    gamma_id: ParamId,
    gamma: Vec<f64>,
}

impl Plain {
    fn of<B: Backend>(rule: &DnnRule<B>) -> Plain {
        let layers = rule
            .layers
            .iter()
            .map(|l| {
                let [n_in, n_out] = l.weight.val().dims();
                let bias = l
                    .bias
                    .as_ref()
                    .map(|b| to_f64_vec(b.val()))
                    .unwrap_or_else(|| vec![0.0; n_out]);
                (
                    l.weight.id,
                    l.bias.as_ref().map(|b| b.id),
                    n_in,
                    n_out,
                    to_f64_vec(l.weight.val()),
                    bias,
                )
            })
            .collect();
        Plain {
            layers,
            gamma_id: rule.gamma.id,
            gamma: to_f64_vec(rule.gamma.val()),
        }
    }
}

/// Gradient accumulators, one per parameter tensor.
struct Grads {
    layers: Vec<(Vec<f64>, Vec<f64>)>,
    gamma: Vec<f64>,
    log_likelihood: f64,
}

impl Grads {
    fn zeros(p: &Plain) -> Grads {
        Grads {
            layers: p
                .layers
                .iter()
                .map(|l| (vec![0.0; l.4.len()], vec![0.0; l.5.len()]))
                .collect(),
            gamma: vec![0.0; p.gamma.len()],
            log_likelihood: 0.0,
        }
    }
    fn add(&mut self, other: Grads) {
        self.log_likelihood += other.log_likelihood;
        for ((w, b), (ow, ob)) in self.layers.iter_mut().zip(other.layers) {
            w.iter_mut().zip(ow).for_each(|(a, v)| *a += v);
            b.iter_mut().zip(ob).for_each(|(a, v)| *a += v);
        }
        self.gamma
            .iter_mut()
            .zip(other.gamma)
            .for_each(|(a, v)| *a += v);
    }
}

/// The fused log-likelihood and gradient of `rule` (see the module docs).
pub fn dnn_fused_gradient<B: Backend>(
    rule: &DnnRule<B>,
    animals: &[HostSequence],
    w0: &[f64],
) -> FusedGradient {
    let plain = Plain::of(rule);
    let k = plain.gamma.len();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(animals.len())
        .max(1);
    let chunk = animals.len().div_ceil(threads).max(1);
    let parts: Vec<(Grads, Vec<f64>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = animals
            .chunks(chunk)
            .zip(w0.chunks(chunk * k))
            .map(|(a, w)| {
                let plain = &plain;
                scope.spawn(move || {
                    let mut g = Grads::zeros(plain);
                    let mut d_w0 = Vec::with_capacity(w.len());
                    for (i, animal) in a.iter().enumerate() {
                        d_w0.extend(animal_gradient(
                            plain,
                            animal,
                            &w[i * k..(i + 1) * k],
                            &mut g,
                        ));
                    }
                    (g, d_w0)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker thread"))
            .collect()
    });
    let mut total = Grads::zeros(&plain);
    let mut d_w0 = Vec::with_capacity(w0.len());
    for (g, d) in parts {
        total.add(g);
        d_w0.extend(d);
    }
    let mut params = Vec::new();
    for (l, (gw, gb)) in plain.layers.iter().zip(total.layers) {
        params.push((l.0, vec![l.2, l.3], gw));
        if let Some(id) = l.1 {
            params.push((id, vec![l.3], gb));
        }
    }
    params.push((plain.gamma_id, vec![k], total.gamma));
    FusedGradient {
        log_likelihood: total.log_likelihood,
        params,
        d_w0,
    }
}

/// One animal: forward (keeping activations), then the adjoint pass. Returns ∂LL/∂w0.
fn animal_gradient(p: &Plain, a: &HostSequence, w0: &[f64], g: &mut Grads) -> Vec<f64> {
    let k = w0.len();
    let end = a.score.end;
    let n_layers = p.layers.len();
    // Activations per trial: the input u and every layer's output (post-relu, raw last).
    let widths: Vec<usize> = std::iter::once(2 * k + 4)
        .chain(p.layers.iter().map(|l| l.3))
        .collect();
    let per_trial: usize = widths.iter().sum::<usize>() + k;
    let mut acts = vec![0.0; end * per_trial];
    let mut w = w0.to_vec();
    for t in 0..end {
        let x = &a.x[t * k..(t + 1) * k];
        let base = t * per_trial;
        acts[base..base + k].copy_from_slice(&w);
        let mut off = base + k;
        // u_t
        acts[off..off + k].copy_from_slice(&w);
        acts[off + k..off + 2 * k].copy_from_slice(x);
        acts[off + 2 * k] = a.choice[t];
        acts[off + 2 * k + 1] = a.reward[t];
        acts[off + 2 * k + 2] = a.answer[t];
        acts[off + 2 * k + 3] = a.session_start[t];
        if a.score.contains(&t) {
            let z: f64 = w.iter().zip(x).map(|(u, v)| u * v).sum();
            g.log_likelihood += a.choice[t] * z - softplus(z);
        }
        if t + 1 == end {
            break;
        }
        for (li, l) in p.layers.iter().enumerate() {
            let (n_in, n_out) = (l.2, l.3);
            let (prev, next) = acts.split_at_mut(off + n_in);
            let input = &prev[off..off + n_in];
            let out = &mut next[..n_out];
            out.copy_from_slice(&l.5);
            for (i, &v) in input.iter().enumerate() {
                if v != 0.0 {
                    let row = &l.4[i * n_out..(i + 1) * n_out];
                    out.iter_mut().zip(row).for_each(|(o, wv)| *o += v * wv);
                }
            }
            if li + 1 < n_layers {
                out.iter_mut().for_each(|o| *o = o.max(0.0));
            }
            off += n_in;
        }
        let o = &acts[off..off + k];
        for j in 0..k {
            w[j] += p.gamma[j] * o[j];
        }
    }
    // Adjoint: λ = ∂LL/∂w_t, from the last trial back.
    let mut lambda_next = vec![0.0; k];
    let mut lambda = vec![0.0; k];
    let max_width = *widths.iter().max().unwrap_or(&0);
    let (mut d_out, mut d_in) = (vec![0.0; max_width], vec![0.0; max_width]);
    for t in (0..end).rev() {
        let base = t * per_trial;
        let w_t = &acts[base..base + k];
        let x = &a.x[t * k..(t + 1) * k];
        lambda
            .iter_mut()
            .zip(&lambda_next)
            .for_each(|(l, n)| *l = *n);
        if a.score.contains(&t) {
            let z: f64 = w_t.iter().zip(x).map(|(u, v)| u * v).sum();
            let resid = a.choice[t] - sigmoid(z);
            lambda.iter_mut().zip(x).for_each(|(l, v)| *l += resid * v);
        }
        if t + 1 < end {
            // w_{t+1} = w_t + γ ⊙ o_t: backprop λ_{t+1} through the MLP.
            let offsets: Vec<usize> = widths
                .iter()
                .scan(base + k, |acc, wdt| {
                    let o = *acc;
                    *acc += wdt;
                    Some(o)
                })
                .collect();
            let o_off = offsets[n_layers];
            for j in 0..k {
                g.gamma[j] += acts[o_off + j] * lambda_next[j];
                d_out[j] = p.gamma[j] * lambda_next[j];
            }
            for li in (0..n_layers).rev() {
                let l = &p.layers[li];
                let (n_in, n_out) = (l.2, l.3);
                let out_off = offsets[li + 1];
                if li + 1 < n_layers {
                    // relu'
                    for o in 0..n_out {
                        if acts[out_off + o] <= 0.0 {
                            d_out[o] = 0.0;
                        }
                    }
                }
                let in_off = offsets[li];
                let (gw, gb) = &mut g.layers[li];
                for o in 0..n_out {
                    gb[o] += d_out[o];
                }
                for i in 0..n_in {
                    let v = acts[in_off + i];
                    let row = &l.4[i * n_out..(i + 1) * n_out];
                    let grow = &mut gw[i * n_out..(i + 1) * n_out];
                    let mut acc = 0.0;
                    for o in 0..n_out {
                        grow[o] += v * d_out[o];
                        acc += row[o] * d_out[o];
                    }
                    d_in[i] = acc;
                }
                d_out[..n_in].copy_from_slice(&d_in[..n_in]);
            }
            // The w_t part of the input u_t.
            lambda
                .iter_mut()
                .zip(&d_out[..k])
                .for_each(|(l, d)| *l += d);
        }
        std::mem::swap(&mut lambda, &mut lambda_next);
    }
    lambda_next
}
