//! The fused scans of the DNN and RNN rules as CubeCL kernels (feature `wgpu`): the
//! forward pass over every trial and the adjoint pass back run on the device in one
//! dispatch, one cube (workgroup) per animal, so `Autodiff<Wgpu>` training reads nothing
//! back to the host per epoch beyond what [`ScanBackend`](crate::ScanBackend) returns.
//!
//! The math is `fused.rs`'s (the f64 reference kernels), in f32: u_t = m ⊙ [w_t, x_t, y_t,
//! r_t, a_t, s_t] (m: 0 on dropped columns), o_t = MLP(u_t) (DNN; ReLU between layers) or
//! o_t = MLP(h_{t+1}) with h_{t+1} = GRU(h_t, u_t) (RNN; gates r, z, n as burn's GRU),
//! w_{t+1} = w_t + g_t γ ⊙ o_t (g_t the gate), LL = Σ_{scored t} y_t z_t − softplus(z_t)
//! with z_t = w_t · x_t; the adjoint λ_t = ∂LL/∂w_t = λ_{t+1} + (y_t − σ(z_t)) x_t
//! [scored] + m ⊙ (∂Δw/∂w_t)ᵀ λ_{t+1} (and λ_h for the RNN), parameter gradients accumulated
//! per animal.
//!
//! Layout of one cube (`CUBE_DIM_X` = [`UNITS`] units): unit j owns output j of every
//! layer (strided by the cube size when a layer is wider) and column j of that layer's
//! weight gradient. Shared memory holds the current trial's state row (DNN: `[w_t |
//! MLP activations]`; RNN: `[w_t | h_t | u_t | gi | gh | r | z | n | head activations]`),
//! two gradient scratch rows and λ. With gradients the forward pass writes every trial's
//! state row to a tape in device memory (`[animals, trials, row]` f32, no recomputation);
//! the adjoint pass reads it back, each element by the unit that wrote it (so a cube
//! barrier orders it), and accumulates ∂LL_a/∂θ straight into row a of the `[animals, P]`
//! output. Parameters are read from device memory (no shared-memory copy).
//!
//! The trials (x, y, r, a, s, scored range) are packed to f32 and uploaded on every call
//! (host → device only). Sums run in f32 (no f64 accumulation as on the CPU).

use crate::fused::ScanRule;
use burn::backend::Wgpu;
use burn::backend::wgpu::{WgpuDevice, WgpuRuntime};
use burn::tensor::{Int, Tensor as BurnTensor, TensorData};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::{empty_device_dtype, zeros_client};
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;
use denovo_rules::HostSequence;

/// Units per cube (a multiple of the 32-wide warps of NVIDIA GPUs); a layer wider than
/// this is strided across the units.
pub(crate) const UNITS: u32 = 32;

/// A numerically stable softplus ln(1 + eᶻ) = max(z, 0) + ln(1 + e^−|z|).
#[cube]
fn softplus<F: Float>(z: F) -> F {
    F::max(z, F::new(0.0)) + (F::new(1.0) + F::exp(F::new(0.0) - F::abs(z))).ln()
}

/// σ(z), split by sign so that e^z never overflows.
#[cube]
fn sigmoid<F: Float>(z: F) -> F {
    if z >= F::new(0.0) {
        F::new(1.0) / (F::new(1.0) + F::exp(F::new(0.0) - z))
    } else {
        let e = F::exp(z);
        e / (F::new(1.0) + e)
    }
}

/// The gate g_t of a trial with reward `r` (0: none, 1: correct only, 2: error only).
#[cube]
fn gate_value<F: Float>(gate: u32, r: F) -> F {
    let mut g = F::new(1.0);
    if gate == 1 {
        if r <= F::new(0.0) {
            g = F::new(0.0);
        }
    } else if gate == 2 && r > F::new(0.0) {
        g = F::new(0.0);
    }
    g
}

/// w_t · x_t from the state row (w_t at `st[0..k]`).
#[cube]
fn logit<F: Float>(st: &SharedMemory<F>, x: &Tensor<F>, x_at: usize, k: usize) -> F {
    let mut z = F::new(0.0);
    for i in 0..k {
        z += st[i] * x[x_at + i];
    }
    z
}

/// The policy's own term of the adjoint, shared by both kernels: unit j < K writes
/// λ_{t,j} = λ_{t+1,j} + (y_t − σ(w_t · x_t)) x_{t,j} (the second term on `scored` trials
/// only) into `lam[j]`, from λ_{t+1} at `lam[K..2K]` and w_t at `st[0..K]`.
#[cube]
#[allow(clippy::too_many_arguments)]
fn policy_adjoint<F: Float>(
    st: &SharedMemory<F>,
    lam: &mut SharedMemory<F>,
    x: &Tensor<F>,
    x_at: usize,
    y: F,
    scored: bool,
    kk: usize,
    unit: usize,
) {
    if unit < kk {
        let mut v = lam[kk + unit];
        if scored {
            let z = logit::<F>(st, x, x_at, kk);
            v += (y - sigmoid::<F>(z)) * x[x_at + unit];
        }
        lam[unit] = v;
    }
}

/// The adjoint of the update w_{t+1} = w_t + g γ ⊙ o at the rule's output `o` (at
/// `out_at` in the state row `st`), shared by both kernels: unit j < K adds g o_j λ_{t+1,j}
/// to γ_j's gradient (at `grad_at + gamma_at + j` of `d_params`) and writes ∂/∂o_j =
/// g γ_j λ_{t+1,j} into scratch row 0 of `d`; λ_{t+1} is `lam[K..2K]`.
#[cube]
#[allow(clippy::too_many_arguments)]
fn update_adjoint<F: Float>(
    st: &SharedMemory<F>,
    lam: &SharedMemory<F>,
    d: &mut SharedMemory<F>,
    params: &Tensor<F>,
    d_params: &mut Tensor<F>,
    g: F,
    out_at: usize,
    gamma_at: usize,
    grad_at: usize,
    kk: usize,
    unit: usize,
) {
    if unit < kk {
        let ln = lam[kk + unit];
        d_params[grad_at + gamma_at + unit] += g * st[out_at + unit] * ln;
        d[unit] = g * params[gamma_at + unit] * ln;
    }
}

/// The adjoint of one trial through an MLP (the DNN's, or the RNN's head), shared by both
/// kernels: reads ∂/∂(last layer's output) from scratch row 0 of `d` (rows of `mw`), adds
/// each layer's parameter gradients into `d_params[grad_at..]` (unit j owns output column
/// j, so no atomics), and leaves ∂/∂(first layer's input) in the scratch row at
/// `mw − ((n_layers − 1) mod 2) · mw`. `layers` is the layer table `[L, 4]` (inputs,
/// outputs, weight offset in `params`, input offset from `base` in the state row `st`).
#[cube]
#[allow(clippy::too_many_arguments)]
fn mlp_adjoint<F: Float, I: Numeric>(
    st: &SharedMemory<F>,
    d: &mut SharedMemory<F>,
    params: &Tensor<F>,
    d_params: &mut Tensor<F>,
    layers: &Tensor<I>,
    n_layers: usize,
    mw: usize,
    base: usize,
    grad_at: usize,
    unit: usize,
    stride: usize,
) {
    let last = n_layers - 1;
    // The two scratch rows alternate by layer: layer `lr` (counted from the last) reads
    // ∂/∂output from row lr % 2 and writes ∂/∂input to the other.
    for lr in 0..n_layers {
        let l = last - lr;
        let cur = (lr % 2) * mw;
        let nxt = mw - cur;
        let n_in = u32::cast_from(layers[l * 4]) as usize;
        let n_out = u32::cast_from(layers[l * 4 + 1]) as usize;
        let w_at = u32::cast_from(layers[l * 4 + 2]) as usize;
        let in_at = base + u32::cast_from(layers[l * 4 + 3]) as usize;
        let o_at = in_at + n_in;
        // Through the ReLU (every layer but the last).
        if l < last {
            let mut j = unit;
            while j < n_out {
                if st[o_at + j] <= F::new(0.0) {
                    d[cur + j] = F::new(0.0);
                }
                j += stride;
            }
            sync_cube();
        }
        let mut j = unit;
        while j < n_out {
            let dj = d[cur + j];
            d_params[grad_at + w_at + n_in * n_out + j] += dj;
            for i in 0..n_in {
                d_params[grad_at + w_at + i * n_out + j] += st[in_at + i] * dj;
            }
            j += stride;
        }
        let mut i = unit;
        while i < n_in {
            let mut v = F::new(0.0);
            for j in 0..n_out {
                v += params[w_at + i * n_out + j] * d[cur + j];
            }
            d[nxt + i] = v;
            i += stride;
        }
        sync_cube();
    }
}

/// The whole DNN scan of one animal per cube (see the module docs). Shapes: `params` [P],
/// `w0` [A, K], `x` [A, T, K], `trials` [A, T, 4], `meta` [A, 2] (first scored trial, end),
/// `layers` [L, 4], `mask` [input width]; outputs `ll` [A] and, with `gradient`, `tape`
/// [A, T, K + width], `d_params` [A, P], `d_w0` [A, K].
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn dnn_scan_kernel<F: Float, I: Numeric>(
    params: &Tensor<F>,
    w0: &Tensor<F>,
    x: &Tensor<F>,
    trials: &Tensor<F>,
    meta: &Tensor<I>,
    layers: &Tensor<I>,
    mask: &Tensor<F>,
    ll_out: &mut Tensor<F>,
    tape: &mut Tensor<F>,
    d_params: &mut Tensor<F>,
    d_w0: &mut Tensor<F>,
    n_layers: u32,
    gamma_at: u32,
    n_trials: u32,
    gate: u32,
    #[comptime] k: u32,
    #[comptime] width: u32,
    #[comptime] max_width: u32,
    #[comptime] gradient: bool,
    #[define(F, I)] _dtypes: [StorageType; 2],
) {
    let a = CUBE_POS_X as usize;
    let unit = UNIT_POS_X as usize;
    let stride = CUBE_DIM_X as usize;
    let kk = k as usize;
    let per_trial = (k + width) as usize;
    let n_layers = n_layers as usize;
    let gamma_at = gamma_at as usize;
    let t_max = n_trials as usize;
    let p = params.len();
    let start = u32::cast_from(meta[2 * a]) as usize;
    let end = u32::cast_from(meta[2 * a + 1]) as usize;
    let last = n_layers - 1;

    // The state row [w_t | activations]; the activations start at k.
    let mut st = SharedMemory::<F>::new((k + width) as usize);
    // Two scratch rows for ∂/∂(layer output) and ∂/∂(layer input).
    let mut d = SharedMemory::<F>::new((2 * max_width) as usize);
    // λ_t and λ_{t+1}.
    let mut lam = SharedMemory::<F>::new((2 * k) as usize);

    if gradient {
        // Zero this animal's gradient row, each entry by the unit that accumulates it.
        for l in 0..n_layers {
            let n_in = u32::cast_from(layers[l * 4]) as usize;
            let n_out = u32::cast_from(layers[l * 4 + 1]) as usize;
            let w_at = u32::cast_from(layers[l * 4 + 2]) as usize;
            let mut j = unit;
            while j < n_out {
                for i in 0..n_in {
                    d_params[a * p + w_at + i * n_out + j] = F::new(0.0);
                }
                d_params[a * p + w_at + n_in * n_out + j] = F::new(0.0);
                j += stride;
            }
        }
        if unit < kk {
            d_params[a * p + gamma_at + unit] = F::new(0.0);
        }
    }
    if unit < kk {
        st[unit] = w0[a * kk + unit];
    }
    sync_cube();

    // Forward.
    let mut ll = F::new(0.0);
    for t in 0..end {
        let row = a * t_max + t;
        let x_at = row * kk;
        if t + 1 < end {
            // u_t into the input block.
            let n_input = 2 * kk + 4;
            let mut j = unit;
            while j < n_input {
                let v = if j < kk {
                    st[j]
                } else if j < 2 * kk {
                    x[x_at + j - kk]
                } else {
                    trials[row * 4 + j - 2 * kk]
                };
                st[kk + j] = mask[j] * v;
                j += stride;
            }
            sync_cube();
            for l in 0..n_layers {
                let n_in = u32::cast_from(layers[l * 4]) as usize;
                let n_out = u32::cast_from(layers[l * 4 + 1]) as usize;
                let w_at = u32::cast_from(layers[l * 4 + 2]) as usize;
                let in_at = kk + u32::cast_from(layers[l * 4 + 3]) as usize;
                let out_at = in_at + n_in;
                let mut j = unit;
                while j < n_out {
                    let mut v = params[w_at + n_in * n_out + j];
                    for i in 0..n_in {
                        v += st[in_at + i] * params[w_at + i * n_out + j];
                    }
                    if l < last {
                        v = F::max(v, F::new(0.0));
                    }
                    st[out_at + j] = v;
                    j += stride;
                }
                sync_cube();
            }
        }
        if gradient {
            let mut e = unit;
            while e < per_trial {
                tape[row * per_trial + e] = st[e];
                e += stride;
            }
        }
        if unit == 0 && t >= start {
            let z = logit::<F>(&st, x, x_at, kk);
            ll += trials[row * 4] * z - softplus::<F>(z);
        }
        sync_cube();
        if t + 1 < end && unit < kk {
            let g = gate_value::<F>(gate, trials[row * 4 + 1]);
            // The MLP's output block ends the state row.
            let out_at = width as usize;
            let step = g * params[gamma_at + unit] * st[out_at + unit];
            st[unit] += step;
        }
        sync_cube();
    }
    if unit == 0 {
        ll_out[a] = ll;
    }
    if gradient {
        // Adjoint: lam[0..k] = λ_t, lam[k..2k] = λ_{t+1}.
        if unit < kk {
            lam[kk + unit] = F::new(0.0);
        }
        sync_cube();
        for tr in 0..end {
            let t = end - 1 - tr;
            let row = a * t_max + t;
            let x_at = row * kk;
            let mut e = unit;
            while e < per_trial {
                st[e] = tape[row * per_trial + e];
                e += stride;
            }
            sync_cube();
            policy_adjoint::<F>(
                &st,
                &mut lam,
                x,
                x_at,
                trials[row * 4],
                t >= start,
                kk,
                unit,
            );
            let g = gate_value::<F>(gate, trials[row * 4 + 1]);
            if t + 1 < end && g != F::new(0.0) {
                let out_at = width as usize;
                let mw = max_width as usize;
                update_adjoint::<F>(
                    &st,
                    &lam,
                    &mut d,
                    params,
                    d_params,
                    g,
                    out_at,
                    gamma_at,
                    a * p,
                    kk,
                    unit,
                );
                sync_cube();
                mlp_adjoint::<F, I>(
                    &st,
                    &mut d,
                    params,
                    d_params,
                    layers,
                    n_layers,
                    mw,
                    kk,
                    a * p,
                    unit,
                    stride,
                );
                // The w_t columns of u_t (mask 0 when w_t is dropped), in the row the
                // first layer wrote.
                if unit < kk {
                    let fin = mw - ((n_layers - 1) % 2) * mw;
                    let dw = mask[unit] * d[fin + unit];
                    lam[unit] += dw;
                }
            }
            sync_cube();
            if unit < kk {
                lam[kk + unit] = lam[unit];
            }
            sync_cube();
        }
        if unit < kk {
            d_w0[a * kk + unit] = lam[kk + unit];
        }
    }
}

/// The whole RNN scan of one animal per cube: h_{t+1} = GRU(h_t, u_t) (gates r, z, n),
/// o_t = MLP(h_{t+1}), w_{t+1} = w_t + g_t γ ⊙ o_t; the adjoint carries λ_w and λ_h back
/// through time (the math of `fused.rs`'s RNN kernel). Shapes as [`dnn_scan_kernel`], with
/// `layers` the head's layer table (input offsets relative to the head block); the state
/// row is `[w (K) | h (H) | u | gi (3H) | gh (3H) | r | z | n | head activations]`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn rnn_scan_kernel<F: Float, I: Numeric>(
    params: &Tensor<F>,
    w0: &Tensor<F>,
    x: &Tensor<F>,
    trials: &Tensor<F>,
    meta: &Tensor<I>,
    layers: &Tensor<I>,
    mask: &Tensor<F>,
    ll_out: &mut Tensor<F>,
    tape: &mut Tensor<F>,
    d_params: &mut Tensor<F>,
    d_w0: &mut Tensor<F>,
    n_layers: u32,
    gamma_at: u32,
    n_trials: u32,
    gate: u32,
    #[comptime] k: u32,
    #[comptime] hidden: u32,
    #[comptime] head_width: u32,
    #[comptime] max_width: u32,
    #[comptime] gradient: bool,
    #[define(F, I)] _dtypes: [StorageType; 2],
) {
    let a = CUBE_POS_X as usize;
    let unit = UNIT_POS_X as usize;
    let stride = CUBE_DIM_X as usize;
    let kk = k as usize;
    let hh = hidden as usize;
    let g3 = 3 * hh;
    let n_input = 2 * kk + 4;
    let h_at = kk;
    let u_at = kk + hh;
    let gi_at = u_at + n_input;
    let gh_at = gi_at + g3;
    let r_at = gh_at + g3;
    let z_at = r_at + hh;
    let n_at = z_at + hh;
    let head_at = n_at + hh;
    let per_trial = (k + hidden + 2 * k + 4 + 9 * hidden + head_width) as usize;
    let out_at = per_trial - kk;
    // Flat offsets of the GRU's input and hidden layers (weights then biases).
    let wi_at = 0usize;
    let bi_at = n_input * g3;
    let wh_at = bi_at + g3;
    let bh_at = wh_at + hh * g3;
    let n_layers = n_layers as usize;
    let gamma_at = gamma_at as usize;
    let t_max = n_trials as usize;
    let p = params.len();
    let start = u32::cast_from(meta[2 * a]) as usize;
    let end = u32::cast_from(meta[2 * a + 1]) as usize;
    let last = n_layers - 1;
    let mw = max_width as usize;

    let mut st =
        SharedMemory::<F>::new((k + hidden + 2 * k + 4 + 9 * hidden + head_width) as usize);
    let mut d = SharedMemory::<F>::new((2 * max_width) as usize);
    // ∂/∂gi and ∂/∂gh (3H each), ∂/∂h_{t+1} (H), λ_h of the next step (H).
    let mut dg = SharedMemory::<F>::new((8 * hidden) as usize);
    let mut lam = SharedMemory::<F>::new((2 * k) as usize);

    if gradient {
        let mut j = unit;
        while j < g3 {
            for i in 0..n_input {
                d_params[a * p + wi_at + i * g3 + j] = F::new(0.0);
            }
            d_params[a * p + bi_at + j] = F::new(0.0);
            for i in 0..hh {
                d_params[a * p + wh_at + i * g3 + j] = F::new(0.0);
            }
            d_params[a * p + bh_at + j] = F::new(0.0);
            j += stride;
        }
        for l in 0..n_layers {
            let n_in = u32::cast_from(layers[l * 4]) as usize;
            let n_out = u32::cast_from(layers[l * 4 + 1]) as usize;
            let w_at = u32::cast_from(layers[l * 4 + 2]) as usize;
            let mut j = unit;
            while j < n_out {
                for i in 0..n_in {
                    d_params[a * p + w_at + i * n_out + j] = F::new(0.0);
                }
                d_params[a * p + w_at + n_in * n_out + j] = F::new(0.0);
                j += stride;
            }
        }
        if unit < kk {
            d_params[a * p + gamma_at + unit] = F::new(0.0);
        }
    }
    if unit < kk {
        st[unit] = w0[a * kk + unit];
    }
    let mut j = unit;
    while j < hh {
        st[h_at + j] = F::new(0.0);
        j += stride;
    }
    sync_cube();

    // Forward.
    let mut ll = F::new(0.0);
    for t in 0..end {
        let row = a * t_max + t;
        let x_at = row * kk;
        if t + 1 < end {
            let mut j = unit;
            while j < n_input {
                let v = if j < kk {
                    st[j]
                } else if j < 2 * kk {
                    x[x_at + j - kk]
                } else {
                    trials[row * 4 + j - 2 * kk]
                };
                st[u_at + j] = mask[j] * v;
                j += stride;
            }
            sync_cube();
            let mut j = unit;
            while j < g3 {
                let mut vi = params[bi_at + j];
                for i in 0..n_input {
                    vi += st[u_at + i] * params[wi_at + i * g3 + j];
                }
                let mut vh = params[bh_at + j];
                for i in 0..hh {
                    vh += st[h_at + i] * params[wh_at + i * g3 + j];
                }
                st[gi_at + j] = vi;
                st[gh_at + j] = vh;
                j += stride;
            }
            sync_cube();
            let mut j = unit;
            while j < hh {
                let r = sigmoid::<F>(st[gi_at + j] + st[gh_at + j]);
                let z = sigmoid::<F>(st[gi_at + hh + j] + st[gh_at + hh + j]);
                let n = F::tanh(st[gi_at + 2 * hh + j] + r * st[gh_at + 2 * hh + j]);
                st[r_at + j] = r;
                st[z_at + j] = z;
                st[n_at + j] = n;
                st[head_at + j] = n + z * (st[h_at + j] - n);
                j += stride;
            }
            sync_cube();
            for l in 0..n_layers {
                let n_in = u32::cast_from(layers[l * 4]) as usize;
                let n_out = u32::cast_from(layers[l * 4 + 1]) as usize;
                let w_at = u32::cast_from(layers[l * 4 + 2]) as usize;
                let in_at = head_at + u32::cast_from(layers[l * 4 + 3]) as usize;
                let o_at = in_at + n_in;
                let mut j = unit;
                while j < n_out {
                    let mut v = params[w_at + n_in * n_out + j];
                    for i in 0..n_in {
                        v += st[in_at + i] * params[w_at + i * n_out + j];
                    }
                    if l < last {
                        v = F::max(v, F::new(0.0));
                    }
                    st[o_at + j] = v;
                    j += stride;
                }
                sync_cube();
            }
        }
        if gradient {
            let mut e = unit;
            while e < per_trial {
                tape[row * per_trial + e] = st[e];
                e += stride;
            }
        }
        if unit == 0 && t >= start {
            let z = logit::<F>(&st, x, x_at, kk);
            ll += trials[row * 4] * z - softplus::<F>(z);
        }
        sync_cube();
        if t + 1 < end {
            if unit < kk {
                let g = gate_value::<F>(gate, trials[row * 4 + 1]);
                let step = g * params[gamma_at + unit] * st[out_at + unit];
                st[unit] += step;
            }
            let mut j = unit;
            while j < hh {
                let h_next = st[head_at + j];
                st[h_at + j] = h_next;
                j += stride;
            }
        }
        sync_cube();
    }
    if unit == 0 {
        ll_out[a] = ll;
    }
    if gradient {
        // lam[0..k] = λ_w,t, lam[k..2k] = λ_w,t+1; dg[7H..8H] = λ_h,t+1.
        let lh_at = 7 * hh;
        let hp_at = 6 * hh;
        if unit < kk {
            lam[kk + unit] = F::new(0.0);
        }
        let mut j = unit;
        while j < hh {
            dg[lh_at + j] = F::new(0.0);
            j += stride;
        }
        sync_cube();
        for tr in 0..end {
            let t = end - 1 - tr;
            let row = a * t_max + t;
            let x_at = row * kk;
            let mut e = unit;
            while e < per_trial {
                st[e] = tape[row * per_trial + e];
                e += stride;
            }
            sync_cube();
            policy_adjoint::<F>(
                &st,
                &mut lam,
                x,
                x_at,
                trials[row * 4],
                t >= start,
                kk,
                unit,
            );
            if t + 1 < end {
                let g = gate_value::<F>(gate, trials[row * 4 + 1]);
                update_adjoint::<F>(
                    &st,
                    &lam,
                    &mut d,
                    params,
                    d_params,
                    g,
                    out_at,
                    gamma_at,
                    a * p,
                    kk,
                    unit,
                );
                sync_cube();
                mlp_adjoint::<F, I>(
                    &st,
                    &mut d,
                    params,
                    d_params,
                    layers,
                    n_layers,
                    mw,
                    head_at,
                    a * p,
                    unit,
                    stride,
                );
                // ∂/∂h_{t+1} through the head and the later steps, then through the gates.
                let fin = mw - ((n_layers - 1) % 2) * mw;
                let mut j = unit;
                while j < hh {
                    let d_hp = d[fin + j] + dg[lh_at + j];
                    let r = st[r_at + j];
                    let z = st[z_at + j];
                    let n = st[n_at + j];
                    let d_n = d_hp * (F::new(1.0) - z) * (F::new(1.0) - n * n);
                    let d_z = d_hp * (st[h_at + j] - n) * z * (F::new(1.0) - z);
                    let d_r = d_n * st[gh_at + 2 * hh + j] * r * (F::new(1.0) - r);
                    dg[j] = d_r;
                    dg[hh + j] = d_z;
                    dg[2 * hh + j] = d_n;
                    dg[g3 + j] = d_r;
                    dg[g3 + hh + j] = d_z;
                    dg[g3 + 2 * hh + j] = d_n * r;
                    dg[hp_at + j] = d_hp;
                    j += stride;
                }
                sync_cube();
                // The GRU's layers: parameter gradients by column, ∂/∂w_t and ∂/∂h_t by row.
                let mut j = unit;
                while j < g3 {
                    let di = dg[j];
                    let dh = dg[g3 + j];
                    d_params[a * p + bi_at + j] += di;
                    for i in 0..n_input {
                        d_params[a * p + wi_at + i * g3 + j] += st[u_at + i] * di;
                    }
                    d_params[a * p + bh_at + j] += dh;
                    for i in 0..hh {
                        d_params[a * p + wh_at + i * g3 + j] += st[h_at + i] * dh;
                    }
                    j += stride;
                }
                if unit < kk {
                    let mut v = F::new(0.0);
                    for j in 0..g3 {
                        v += params[wi_at + unit * g3 + j] * dg[j];
                    }
                    let dw = mask[unit] * v;
                    lam[unit] += dw;
                }
                let mut i = unit;
                while i < hh {
                    let mut v = F::new(0.0);
                    for j in 0..g3 {
                        v += params[wh_at + i * g3 + j] * dg[g3 + j];
                    }
                    dg[lh_at + i] = v + dg[hp_at + i] * st[z_at + i];
                    i += stride;
                }
            }
            sync_cube();
            if unit < kk {
                lam[kk + unit] = lam[unit];
            }
            sync_cube();
        }
        if unit < kk {
            d_w0[a * kk + unit] = lam[kk + unit];
        }
    }
}

/// What [`device_scan`] returns: LL `[animals]`, and with gradients ∂LL_a/∂θ `[animals, P]` and
/// ∂LL_a/∂w0_a `[animals, K]`, all on the device.
pub(crate) type DeviceScan<R> = (CubeTensor<R>, Option<(CubeTensor<R>, CubeTensor<R>)>);

/// Whether [`device_scan`] runs `rule` on the device: the DNN and RNN rules (any gate, any
/// dropped inputs) with at most [`UNITS`] policy weights. Anything else runs the host
/// kernel.
pub(crate) fn supported(rule: &ScanRule) -> bool {
    rule.n_features() as u32 <= UNITS
}

/// A host vector uploaded as a float tensor of shape `shape`.
fn floats<const D: usize>(
    v: Vec<f32>,
    shape: [usize; D],
    device: &WgpuDevice,
) -> CubeTensor<WgpuRuntime> {
    BurnTensor::<Wgpu, D>::from_data(TensorData::new(v, shape), device)
        .into_primitive()
        .tensor()
}

/// Runs the DNN scan on the device (see the module docs): flat parameters `params` `[P]`,
/// initial weights `w0` `[animals, K]`, the animals' trials uploaded once per call.
///
/// # Panics
/// If `rule` is not [`supported`] or the shapes disagree with it (programming errors).
pub(crate) fn device_scan(
    rule: &ScanRule,
    params: CubeTensor<WgpuRuntime>,
    w0: CubeTensor<WgpuRuntime>,
    animals: &[HostSequence],
    gradient: bool,
) -> DeviceScan<WgpuRuntime> {
    assert!(supported(rule), "rule not supported on the device");
    let (n, k, p) = (animals.len(), rule.n_features(), rule.n_params());
    let n_input = crate::rule_input_size(k);
    // The MLP (the DNN's, or the RNN's head), where its parameters start, and the GRU's
    // hidden size.
    let (sizes, structure, mut w_at, gru) = match rule {
        ScanRule::Dnn { sizes, structure } => (sizes, structure, 0, None),
        ScanRule::Rnn {
            input,
            hidden,
            head,
            structure,
        } => {
            assert_eq!(*input, n_input, "input width");
            let gru = (input + 1) * 3 * hidden + (hidden + 1) * 3 * hidden;
            (head, structure, gru, Some(*hidden))
        }
    };
    if gru.is_none() {
        assert_eq!(sizes[0], n_input, "input width");
    }
    let client = params.client.clone();
    let device = params.device.clone();
    let params = into_contiguous(params);
    let w0 = into_contiguous(w0);
    let f32_dtype = burn::tensor::DType::F32;
    let ll = empty_device_dtype(
        client.clone(),
        device.clone(),
        burn::tensor::Shape::new([n]),
        f32_dtype,
    );
    if n == 0 {
        let grads = gradient.then(|| {
            let z = |shape: [usize; 2]| {
                zeros_client(
                    client.clone(),
                    device.clone(),
                    burn::tensor::Shape::new(shape),
                    f32_dtype,
                )
            };
            (z([0, p]), z([0, k]))
        });
        return (ll, grads);
    }

    // The layer table and offsets, in the order of the flat parameter vector.
    let mut table = Vec::new();
    let mut act_at = 0usize;
    for pair in sizes.windows(2) {
        table.extend([pair[0], pair[1], w_at, act_at].map(|v| v as i32));
        w_at += (pair[0] + 1) * pair[1];
        act_at += pair[0];
    }
    let gamma_at = w_at;
    let width: usize = sizes.iter().sum();
    let max_width = sizes.iter().copied().max().unwrap_or(1);
    let mut mask = vec![1.0f32; n_input];
    for j in structure.dropped_columns(k) {
        mask[j] = 0.0;
    }
    let gate = match structure.gate {
        crate::Gate::None => 0u32,
        crate::Gate::CorrectOnly => 1,
        crate::Gate::ErrorOnly => 2,
    };

    // The trials, padded to the longest animal: x [A, T, K], (y, r, a, s) [A, T, 4], and
    // (first scored trial, end) [A, 2].
    let t_max = animals
        .iter()
        .map(|a| a.score.end)
        .max()
        .unwrap_or(0)
        .max(1);
    let mut x = vec![0.0f32; n * t_max * k];
    let mut trials = vec![0.0f32; n * t_max * 4];
    let mut meta = Vec::with_capacity(2 * n);
    for (i, a) in animals.iter().enumerate() {
        let end = a.score.end;
        for t in 0..end {
            let row = i * t_max + t;
            for j in 0..k {
                x[row * k + j] = a.x[t * k + j] as f32;
            }
            trials[row * 4] = a.choice[t] as f32;
            trials[row * 4 + 1] = a.reward[t] as f32;
            trials[row * 4 + 2] = a.answer[t] as f32;
            trials[row * 4 + 3] = a.session_start[t] as f32;
        }
        meta.extend([a.score.start.min(end) as i32, end as i32]);
    }
    let int = |v: Vec<i32>, len: usize| -> CubeTensor<WgpuRuntime> {
        BurnTensor::<Wgpu, 1, Int>::from_data(TensorData::new(v, [len]), &device).into_primitive()
    };
    let n_layers = sizes.len() - 1;
    let x = floats(x, [n, t_max, k], &device);
    let trials = floats(trials, [n, t_max, 4], &device);
    let meta = int(meta, 2 * n);
    let layers = int(table, n_layers * 4);
    let mask = floats(mask, [n_input], &device);
    let i_dtype = meta.dtype;

    let empty = |len: usize| {
        empty_device_dtype(
            client.clone(),
            device.clone(),
            burn::tensor::Shape::new([len.max(1)]),
            f32_dtype,
        )
    };
    // One trial's state row: [w | activations] (DNN), [w | h | u | gates | head] (RNN).
    let per_trial = match gru {
        None => k + width,
        Some(h) => k + h + n_input + 9 * h + width,
    };
    let (tape, d_params, d_w0) = if gradient {
        (empty(n * t_max * per_trial), empty(n * p), empty(n * k))
    } else {
        (empty(1), empty(1), empty(1))
    };
    let to_u32 = |v: usize| u32::try_from(v).expect("sizes fit u32");
    match gru {
        None => {
            dnn_scan_kernel::launch::<WgpuRuntime>(
                &client,
                CubeCount::Static(to_u32(n), 1, 1),
                CubeDim::new_1d(UNITS),
                params.into_tensor_arg(),
                w0.into_tensor_arg(),
                x.into_tensor_arg(),
                trials.into_tensor_arg(),
                meta.into_tensor_arg(),
                layers.into_tensor_arg(),
                mask.into_tensor_arg(),
                ll.clone().into_tensor_arg(),
                tape.into_tensor_arg(),
                d_params.clone().into_tensor_arg(),
                d_w0.clone().into_tensor_arg(),
                to_u32(n_layers),
                to_u32(gamma_at),
                to_u32(t_max),
                gate,
                to_u32(k),
                to_u32(width),
                to_u32(max_width),
                gradient,
                [f32_dtype.into(), i_dtype.into()],
            );
        }
        Some(h) => {
            rnn_scan_kernel::launch::<WgpuRuntime>(
                &client,
                CubeCount::Static(to_u32(n), 1, 1),
                CubeDim::new_1d(UNITS),
                params.into_tensor_arg(),
                w0.into_tensor_arg(),
                x.into_tensor_arg(),
                trials.into_tensor_arg(),
                meta.into_tensor_arg(),
                layers.into_tensor_arg(),
                mask.into_tensor_arg(),
                ll.clone().into_tensor_arg(),
                tape.into_tensor_arg(),
                d_params.clone().into_tensor_arg(),
                d_w0.clone().into_tensor_arg(),
                to_u32(n_layers),
                to_u32(gamma_at),
                to_u32(t_max),
                gate,
                to_u32(k),
                to_u32(h),
                to_u32(width),
                to_u32(max_width),
                gradient,
                [f32_dtype.into(), i_dtype.into()],
            );
        }
    }
    let grads = gradient.then(|| (reshape(d_params, [n, p]), reshape(d_w0, [n, k])));
    (ll, grads)
}

/// A contiguous `[len]` tensor viewed as `shape`.
fn reshape(t: CubeTensor<WgpuRuntime>, shape: [usize; 2]) -> CubeTensor<WgpuRuntime> {
    let t: BurnTensor<Wgpu, 1> =
        BurnTensor::from_primitive(burn::tensor::TensorPrimitive::Float(t));
    t.reshape(shape).into_primitive().tensor()
}
