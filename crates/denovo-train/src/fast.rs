//! The closed-form fast path: the log-likelihood of a weights-only parametric rule and its
//! exact gradient by forward-mode sensitivities, in plain `f64`, animals split over threads.
//!
//! For each animal it carries the state's sensitivities J = ∂s_t/∂θ (S × P) and
//! ∂s_t/∂w0 (S × K): with A = ∂s'/∂s and G = ∂s'/∂θ of a step, J_{t+1} = A J_t + G. The
//! likelihood's gradient is Σ_t (y_t − p_t) x_tᵀ (∂w/∂s J_t + ∂w/∂θ) over scored trials. The result equals
//! the generic autodiff path (tests assert it); it runs hundreds of times faster because no
//! per-trial tensor graph is built.

use denovo_rules::ClosedForm;
use denovo_rules::HostSequence;
use denovo_rules::closed_form::{sigmoid, softplus};

/// Log-likelihood and gradient of a closed-form rule over a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedFormValue {
    /// Summed log-likelihood of the scored trials.
    pub log_likelihood: f64,
    /// ∂LL/∂θ, in [`ClosedForm::params`] order.
    pub d_theta: Vec<f64>,
    /// ∂LL/∂w0, `[animals × features]` row-major.
    pub d_w0: Vec<f64>,
}

/// Evaluates the log-likelihood of `rule` on `animals` from initial weights `w0`
/// (`animals × features`, row-major) with its gradient in the parameters and in w0.
pub fn closed_form_value(
    rule: &ClosedForm,
    animals: &[HostSequence],
    w0: &[f64],
    k: usize,
) -> ClosedFormValue {
    let threads = denovo_rules::threads::kernel_threads()
        .min(animals.len())
        .max(1);
    let chunk = animals.len().div_ceil(threads).max(1);
    let parts: Vec<ClosedFormValue> = std::thread::scope(|scope| {
        let handles: Vec<_> = animals
            .chunks(chunk)
            .zip(w0.chunks(chunk * k))
            .map(|(a, w)| scope.spawn(move || animals_value(rule, a, w, k)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker thread"))
            .collect()
    });
    let n_p = rule.n_params();
    let mut total = ClosedFormValue {
        log_likelihood: 0.0,
        d_theta: vec![0.0; n_p],
        d_w0: Vec::with_capacity(w0.len()),
    };
    for part in parts {
        total.log_likelihood += part.log_likelihood;
        for (t, v) in total.d_theta.iter_mut().zip(part.d_theta) {
            *t += v;
        }
        total.d_w0.extend(part.d_w0);
    }
    total
}

/// Per-animal work buffers of the forward-mode pass, allocated once per thread.
struct Buffers {
    s: Vec<f64>,
    next: Vec<f64>,
    w: Vec<f64>,
    dw_ds: Vec<f64>,
    dw_dtheta: Vec<f64>,
    a: Vec<f64>,
    g: Vec<f64>,
    j_theta: Vec<f64>,
    j_w0: Vec<f64>,
    tmp_theta: Vec<f64>,
    tmp_w0: Vec<f64>,
    xw: Vec<f64>,
}

impl Buffers {
    fn new(k: usize, dim: usize, n_p: usize) -> Self {
        Buffers {
            s: vec![0.0; dim],
            next: vec![0.0; dim],
            w: vec![0.0; k],
            dw_ds: vec![0.0; k * dim],
            dw_dtheta: vec![0.0; k * n_p],
            a: vec![0.0; dim * dim],
            g: vec![0.0; dim * n_p],
            j_theta: vec![0.0; dim * n_p],
            j_w0: vec![0.0; dim * k],
            tmp_theta: vec![0.0; dim * n_p],
            tmp_w0: vec![0.0; dim * k],
            xw: vec![0.0; dim],
        }
    }
}

/// out[r, q] = Σ_m a[r, m] b[m, q] (+ c[r, q] when given); a is rows×inner.
fn matmul_add(
    a: &[f64],
    b: &[f64],
    c: Option<&[f64]>,
    rows: usize,
    inner: usize,
    cols: usize,
    out: &mut [f64],
) {
    for r in 0..rows {
        for q in 0..cols {
            let mut acc = c.map_or(0.0, |c| c[r * cols + q]);
            for m in 0..inner {
                acc += a[r * inner + m] * b[m * cols + q];
            }
            out[r * cols + q] = acc;
        }
    }
}

fn animals_value(
    rule: &ClosedForm,
    animals: &[HostSequence],
    w0: &[f64],
    k: usize,
) -> ClosedFormValue {
    let n_p = rule.n_params();
    let dim = rule.state_dim(k);
    let mut out = ClosedFormValue {
        log_likelihood: 0.0,
        d_theta: vec![0.0; n_p],
        d_w0: vec![0.0; animals.len() * k],
    };
    let mut b = Buffers::new(k, dim, n_p);
    for (i, a) in animals.iter().enumerate() {
        rule.initial_state(
            &w0[i * k..(i + 1) * k],
            &mut b.s,
            &mut b.j_w0,
            &mut b.j_theta,
        );
        // Only the trials up to the last scored one matter.
        let end = a.score.end;
        for t in 0..end {
            let x = &a.x[t * k..(t + 1) * k];
            if a.score.contains(&t) {
                rule.weights(&b.s, &mut b.w, &mut b.dw_ds, &mut b.dw_dtheta);
                let z: f64 = b.w.iter().zip(x).map(|(u, v)| u * v).sum();
                let y = a.choice[t];
                out.log_likelihood += y * z - softplus(z);
                let resid = y - sigmoid(z);
                // dLL/dz · xᵀ (∂w/∂s J + ∂w/∂θ), and dLL/dz · xᵀ ∂w/∂s Jw0.
                for (m, xm) in b.xw.iter_mut().enumerate() {
                    *xm = (0..k).map(|j| x[j] * b.dw_ds[j * dim + m]).sum();
                }
                for q in 0..n_p {
                    let direct: f64 = (0..k).map(|j| x[j] * b.dw_dtheta[j * n_p + q]).sum();
                    let via_state: f64 = (0..dim).map(|m| b.xw[m] * b.j_theta[m * n_p + q]).sum();
                    out.d_theta[q] += resid * (direct + via_state);
                }
                for q in 0..k {
                    let via_state: f64 = (0..dim).map(|m| b.xw[m] * b.j_w0[m * k + q]).sum();
                    out.d_w0[i * k + q] += resid * via_state;
                }
            }
            if t + 1 == end {
                break;
            }
            rule.step(
                &b.s,
                x,
                a.choice[t],
                a.reward[t],
                a.answer[t],
                &mut b.next,
                &mut b.a,
                &mut b.g,
            );
            // J ← A J + G; Jw0 ← A Jw0; s ← s'.
            matmul_add(
                &b.a,
                &b.j_theta,
                Some(&b.g),
                dim,
                dim,
                n_p,
                &mut b.tmp_theta,
            );
            matmul_add(&b.a, &b.j_w0, None, dim, dim, k, &mut b.tmp_w0);
            std::mem::swap(&mut b.j_theta, &mut b.tmp_theta);
            std::mem::swap(&mut b.j_w0, &mut b.tmp_w0);
            std::mem::swap(&mut b.s, &mut b.next);
        }
    }
    out
}

/// Runs `rule` through one animal from `w0`, calling `visit(t, w_t)` with the weights that
/// predict each trial `t < until`.
pub fn closed_form_walk(
    rule: &ClosedForm,
    a: &HostSequence,
    w0: &[f64],
    until: usize,
    mut visit: impl FnMut(usize, &[f64]),
) {
    let k = w0.len();
    let n_p = rule.n_params();
    let dim = rule.state_dim(k);
    let mut b = Buffers::new(k, dim, n_p);
    rule.initial_state(w0, &mut b.s, &mut b.j_w0, &mut b.j_theta);
    for t in 0..until {
        rule.weights(&b.s, &mut b.w, &mut b.dw_ds, &mut b.dw_dtheta);
        visit(t, &b.w);
        if t + 1 == until {
            break;
        }
        let x = &a.x[t * k..(t + 1) * k];
        rule.step(
            &b.s,
            x,
            a.choice[t],
            a.reward[t],
            a.answer[t],
            &mut b.next,
            &mut b.a,
            &mut b.g,
        );
        std::mem::swap(&mut b.s, &mut b.next);
    }
}
