//! Symmetric positive-definite block-tridiagonal matrices: factorisation, solves, log
//! determinant and selected inversion in O(T K³).
//!
//! A matrix of T × T blocks of size K × K with diagonal blocks A_t and super-diagonal blocks
//! B_t = H_{t,t+1} (the sub-diagonal blocks are B_tᵀ). The block LDLᵀ factorisation
//! H = L D Lᵀ has D = diag(S_t) with the Schur complements
//! S_0 = A_0, S_{t+1} = A_{t+1} − B_tᵀ S_t⁻¹ B_t, and L unit lower bidiagonal with
//! L_{t+1,t} = B_tᵀ S_t⁻¹ (the block Thomas algorithm / the information form of the
//! Rauch–Tung–Striebel smoother). The selected inverse (the diagonal and super-diagonal
//! blocks of H⁻¹) follows Rybicki & Hummer (1991) / the RTS backward pass:
//! Σ_{T−1,T−1} = S_{T−1}⁻¹, Σ_{t,t+1} = −S_t⁻¹ B_t Σ_{t+1,t+1},
//! Σ_tt = S_t⁻¹ − Σ_{t,t+1} B_tᵀ S_t⁻¹.
//!
//! The K × K factorisations and products use `nalgebra`; only the block recursion is here.

use crate::WalkError;
use nalgebra::{DMatrix, DVector};

/// A symmetric block-tridiagonal matrix: `n` × `n` blocks of size `k` × `k`.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockTridiag {
    /// Block size K.
    pub k: usize,
    /// Number of block rows T.
    pub n: usize,
    /// Diagonal blocks A_t, row-major, `[n, k, k]`.
    pub diag: Vec<f64>,
    /// Super-diagonal blocks B_t = H_{t,t+1}, row-major, `[n − 1, k, k]`.
    pub upper: Vec<f64>,
}

impl BlockTridiag {
    /// The zero matrix of `n` × `n` blocks of size `k`.
    pub fn zeros(k: usize, n: usize) -> Self {
        BlockTridiag {
            k,
            n,
            diag: vec![0.0; n * k * k],
            upper: vec![0.0; n.saturating_sub(1) * k * k],
        }
    }

    /// Diagonal block A_t as an `nalgebra` matrix.
    pub fn a(&self, t: usize) -> DMatrix<f64> {
        let kk = self.k * self.k;
        DMatrix::from_row_slice(self.k, self.k, &self.diag[t * kk..(t + 1) * kk])
    }

    /// Super-diagonal block B_t = H_{t,t+1}.
    pub fn b(&self, t: usize) -> DMatrix<f64> {
        let kk = self.k * self.k;
        DMatrix::from_row_slice(self.k, self.k, &self.upper[t * kk..(t + 1) * kk])
    }

    /// The dense matrix, `[n k, n k]` (for tests on small problems).
    pub fn to_dense(&self) -> DMatrix<f64> {
        let (k, n) = (self.k, self.n);
        let mut m = DMatrix::zeros(n * k, n * k);
        for t in 0..n {
            m.view_mut((t * k, t * k), (k, k)).copy_from(&self.a(t));
            if t + 1 < n {
                let b = self.b(t);
                m.view_mut((t * k, (t + 1) * k), (k, k)).copy_from(&b);
                m.view_mut(((t + 1) * k, t * k), (k, k))
                    .copy_from(&b.transpose());
            }
        }
        m
    }

    /// H v for a vector `v` of length n k.
    pub fn mul_vec(&self, v: &[f64]) -> Vec<f64> {
        let k = self.k;
        let mut out = vec![0.0; v.len()];
        for t in 0..self.n {
            let vt = DVector::from_column_slice(&v[t * k..(t + 1) * k]);
            let mut o = self.a(t) * &vt;
            if t + 1 < self.n {
                o += self.b(t) * DVector::from_column_slice(&v[(t + 1) * k..(t + 2) * k]);
            }
            if t > 0 {
                o += self.b(t - 1).transpose() * DVector::from_column_slice(&v[(t - 1) * k..t * k]);
            }
            out[t * k..(t + 1) * k].copy_from_slice(o.as_slice());
        }
        out
    }

    /// The block LDLᵀ factorisation. Errors: [`WalkError::NotPositiveDefinite`] when a Schur
    /// complement has no Cholesky factor (H is not positive definite, or holds NaN).
    pub fn factor(&self) -> Result<Factor, WalkError> {
        let (k, n) = (self.k, self.n);
        let kk = k * k;
        let mut sinv: Vec<f64> = Vec::with_capacity(n * kk);
        let mut logdet = 0.0;
        let mut sb = vec![0.0; kk];
        for t in 0..n {
            // S_t = A_t − B_{t−1}ᵀ S_{t−1}⁻¹ B_{t−1} (the products as plain loops).
            let mut s = DMatrix::from_row_slice(k, k, &self.diag[t * kk..(t + 1) * kk]);
            if t > 0 {
                let si = &sinv[(t - 1) * kk..t * kk];
                let b = &self.upper[(t - 1) * kk..t * kk];
                for p in 0..k {
                    for j in 0..k {
                        sb[p * k + j] = (0..k).map(|q| si[p * k + q] * b[q * k + j]).sum();
                    }
                }
                for i in 0..k {
                    for j in 0..k {
                        s[(i, j)] -= (0..k).map(|p| b[p * k + i] * sb[p * k + j]).sum::<f64>();
                    }
                }
            }
            let chol =
                nalgebra::Cholesky::new(s).ok_or(WalkError::NotPositiveDefinite { block: t })?;
            logdet += 2.0
                * chol
                    .l_dirty()
                    .diagonal()
                    .iter()
                    .map(|d| d.ln())
                    .sum::<f64>();
            // Symmetric: column-major storage reads as row-major.
            sinv.extend_from_slice(chol.inverse().as_slice());
        }
        if !logdet.is_finite() {
            return Err(WalkError::NotPositiveDefinite { block: n });
        }
        Ok(Factor { k, n, sinv, logdet })
    }
}

/// The block LDLᵀ factorisation of a [`BlockTridiag`]: the inverses S_t⁻¹ of the Schur
/// complements and log det H.
#[derive(Debug, Clone)]
pub struct Factor {
    k: usize,
    n: usize,
    /// S_t⁻¹, `[n, k, k]` (symmetric).
    sinv: Vec<f64>,
    /// log det H = Σ_t log det S_t.
    pub logdet: f64,
}

impl Factor {
    fn s_inv(&self, t: usize) -> DMatrix<f64> {
        let kk = self.k * self.k;
        DMatrix::from_column_slice(self.k, self.k, &self.sinv[t * kk..(t + 1) * kk])
    }

    /// Solves H d = g for `g` of length n k (the matrix `h` that was factored). The K-vector
    /// products are plain loops on the stored blocks (no allocation per block).
    pub fn solve(&self, h: &BlockTridiag, g: &[f64]) -> Vec<f64> {
        let (k, n) = (self.k, self.n);
        let kk = k * k;
        // Forward: u_t = g_t − B_{t−1}ᵀ S_{t−1}⁻¹ u_{t−1}.
        let mut u = g.to_vec();
        let mut tmp = vec![0.0; k];
        for t in 1..n {
            let si = &self.sinv[(t - 1) * kk..t * kk];
            let b = &h.upper[(t - 1) * kk..t * kk];
            for (i, ti) in tmp.iter_mut().enumerate() {
                *ti = (0..k).map(|j| si[i * k + j] * u[(t - 1) * k + j]).sum();
            }
            for j in 0..k {
                // (Bᵀ tmp)_j = Σ_i B_ij tmp_i.
                let v: f64 = (0..k).map(|i| b[i * k + j] * tmp[i]).sum();
                u[t * k + j] -= v;
            }
        }
        // Backward: d_t = S_t⁻¹ (u_t − B_t d_{t+1}).
        let mut d = vec![0.0; n * k];
        let mut r = vec![0.0; k];
        for t in (0..n).rev() {
            r.copy_from_slice(&u[t * k..(t + 1) * k]);
            if t + 1 < n {
                let b = &h.upper[t * kk..(t + 1) * kk];
                for (i, ri) in r.iter_mut().enumerate() {
                    *ri -= (0..k)
                        .map(|j| b[i * k + j] * d[(t + 1) * k + j])
                        .sum::<f64>();
                }
            }
            let si = &self.sinv[t * kk..(t + 1) * kk];
            for i in 0..k {
                d[t * k + i] = (0..k).map(|j| si[i * k + j] * r[j]).sum();
            }
        }
        d
    }

    /// The selected inverse of H: its diagonal blocks Σ_tt (`[n, k, k]`) and super-diagonal
    /// blocks Σ_{t,t+1} (`[n − 1, k, k]`), both row-major.
    pub fn selected_inverse(&self, h: &BlockTridiag) -> (Vec<f64>, Vec<f64>) {
        let (k, n) = (self.k, self.n);
        let kk = k * k;
        let mut diag = vec![0.0; n * kk];
        let mut upper = vec![0.0; n.saturating_sub(1) * kk];
        if n == 0 {
            return (diag, upper);
        }
        let mut next = self.s_inv(n - 1);
        diag[(n - 1) * kk..].copy_from_slice(next.transpose().as_slice());
        for t in (0..n.saturating_sub(1)).rev() {
            let si = self.s_inv(t);
            let b = h.b(t);
            let off = -(&si * &b * &next);
            let st = &si - &off * b.transpose() * &si;
            // Symmetrise against rounding.
            let st = (&st + st.transpose()) * 0.5;
            upper[t * kk..(t + 1) * kk].copy_from_slice(off.transpose().as_slice());
            diag[t * kk..(t + 1) * kk].copy_from_slice(st.transpose().as_slice());
            next = st;
        }
        (diag, upper)
    }
}
