//! The f32 fused kernels: the scan of [`crate::fused`] with the animals of a thread in SIMD
//! lanes, so every step of every layer is one small matrix product `[L, in] × [in, out]`
//! over a block of L animals at once (structure of arrays: activation j of a block is one
//! SIMD vector, one animal per lane).
//!
//! - Activations, gates and the tape are f32; the policy weights w_t, their adjoint λ_t,
//!   the log-likelihood and the parameter gradients accumulate in f64 (the per-lane f32
//!   gradient sums are flushed into f64 every [`FLUSH_STEPS`] trials).
//! - Animals are sorted by length and cut into blocks of at most L; a lane past its
//!   animal's last trial is frozen (its updates are masked), so padding adds nothing to
//!   any sum.
//! - The exponential, sigmoid, tanh and softplus are short polynomials on SIMD vectors (the
//!   `std` versions are library calls, one lane at a time).
//! - SIMD through [`pulp`], picked at run time: AVX-512 (16 lanes) for large cohorts,
//!   AVX2 + FMA (8 lanes), NEON (4), or scalar.
//!
//! [`crate::fused::scan`] (f64 throughout) is the reference these kernels are tested against.

// The kernels index several parallel lane buffers by the same j; the index loops read like
// the equations they implement.
#![allow(clippy::needless_range_loop)]

use crate::fused::{InputMask, ScanOutput, ScanRule};
use denovo_rules::{HostSequence, SharedSequences};
use pulp::{Simd, WithSimd, bytemuck};

/// Trials between two flushes of the per-lane f32 gradient sums into f64.
pub const FLUSH_STEPS: usize = 256;

/// Bytes the RNN kernel may spend, over all threads, on keeping every step's record for
/// the adjoint pass (each thread gets its share). A block whose records do not fit keeps
/// only its gates r, z, n (3 · hidden vectors a trial) and recomputes gh_n and the head
/// from the kept h_t into a ring of [`CHUNK_STEPS`] records; one whose gates do not fit
/// either recomputes whole records there. At 140 × 20,000 on AVX-512 the records of a
/// 16-lane block would take 258 MB, its gates 123 MB.
pub const TAPE_BUDGET_BYTES_F32: usize = 256 << 20;

/// A 64-byte aligned block of 16 f32: the unit of [`Tape`] buffers (as aligned as any
/// SIMD vector pulp uses).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Aligned([f32; 16]);

// SAFETY: a plain array of f32 with no padding (size 64 = its alignment).
unsafe impl bytemuck::Zeroable for Aligned {}
// SAFETY: as above; every bit pattern is a valid f32 array.
unsafe impl bytemuck::Pod for Aligned {}

/// Tape buffers kept between scans, so that every epoch does not page-fault its tape in
/// again (buffers over glibc's mmap threshold go back to the kernel when freed).
static TAPES: std::sync::Mutex<Vec<Vec<Aligned>>> = std::sync::Mutex::new(Vec::new());

/// Most bytes [`TAPES`] keeps.
const TAPE_POOL_BYTES: usize = 768 << 20;

/// A tape buffer from the pool (contents left from earlier use: every kernel writes a
/// record before reading it), returned to it on drop.
struct Tape(Vec<Aligned>);

impl Tape {
    /// A buffer of at least `bytes`.
    fn take(bytes: usize) -> Tape {
        let units = bytes.div_ceil(64).max(1);
        let mut pool = TAPES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let best = (0..pool.len())
            .filter(|&i| pool[i].len() >= units)
            .min_by_key(|&i| pool[i].len());
        match best {
            Some(i) => Tape(pool.swap_remove(i)),
            None => Tape(vec![Aligned([0.0; 16]); units]),
        }
    }

    /// A buffer of at least `n` SIMD vectors of the flavour `S`.
    fn of_lanes<S: Simd>(n: usize) -> Tape {
        Tape::take(n * std::mem::size_of::<S::f32s>())
    }

    /// The first `n` vectors.
    fn lanes<S: Simd>(&mut self, n: usize) -> &mut [S::f32s] {
        &mut bytemuck::cast_slice_mut(&mut self.0)[..n]
    }

    /// The first `n` numbers, as f64.
    fn f64s(&mut self, n: usize) -> &mut [f64] {
        &mut bytemuck::cast_slice_mut(&mut self.0)[..n]
    }
}

impl Drop for Tape {
    fn drop(&mut self) {
        let mut pool = TAPES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let held: usize = pool.iter().map(|b| b.len() * 64).sum();
        if held + self.0.len() * 64 <= TAPE_POOL_BYTES {
            pool.push(std::mem::take(&mut self.0));
        }
    }
}

/// The lanes of a SIMD vector as plain numbers.
#[inline(always)]
fn lanes<S: Simd>(v: &S::f32s) -> &[f32] {
    bytemuck::cast_slice(std::slice::from_ref(v))
}

/// The lanes of a SIMD vector as plain numbers, writable.
#[inline(always)]
fn lanes_mut<S: Simd>(v: &mut S::f32s) -> &mut [f32] {
    bytemuck::cast_slice_mut(std::slice::from_mut(v))
}

/// e^x per lane (Cody–Waite reduction by ln 2, degree-6 polynomial; relative error < 3e-7;
/// x clamped to [−87, 88]). 2ⁿ is built in the exponent bits: rounding x / ln 2 by adding
/// 1.5 · 2²³ leaves n in the low bits of the sum.
#[inline(always)]
fn exp_v<S: Simd>(s: S, x: S::f32s) -> S::f32s {
    let x = s.min_f32s(s.max_f32s(x, s.splat_f32s(-87.0)), s.splat_f32s(88.0));
    let shift = s.splat_f32s(12_582_912.0);
    let t = s.mul_add_f32s(x, s.splat_f32s(std::f32::consts::LOG2_E), shift);
    let n = s.sub_f32s(t, shift);
    let r = s.mul_add_f32s(n, s.splat_f32s(-0.693_145_75), x);
    let r = s.mul_add_f32s(n, s.splat_f32s(-1.428_606_8e-6), r);
    let mut p = s.splat_f32s(1.0 / 720.0);
    for c in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = s.mul_add_f32s(p, r, s.splat_f32s(c));
    }
    // bits(t) = 0x4B40_0000 + n, so bits(2ⁿ) = (bits(t) − 0x4B40_0000 + 127) << 23.
    let bits = s.add_u32s(
        s.transmute_u32s_f32s(t),
        s.splat_u32s(127u32.wrapping_sub(0x4B40_0000)),
    );
    let scale = s.transmute_f32s_u32s(s.wrapping_dyn_shl_u32s(bits, s.splat_u32s(23)));
    s.mul_f32s(p, scale)
}

/// σ(x) = 1 / (1 + e^−x) per lane.
#[inline(always)]
fn sigmoid_v<S: Simd>(s: S, x: S::f32s) -> S::f32s {
    let one = s.splat_f32s(1.0);
    s.div_f32s(one, s.add_f32s(one, exp_v(s, s.neg_f32s(x))))
}

/// tanh x = 2 σ(2x) − 1 per lane (absolute error ~1e-7).
#[inline(always)]
fn tanh_v<S: Simd>(s: S, x: S::f32s) -> S::f32s {
    let two = s.splat_f32s(2.0);
    s.mul_add_f32s(two, sigmoid_v(s, s.mul_f32s(two, x)), s.splat_f32s(-1.0))
}

/// softplus(z) = max(z, 0) + ln(1 + e^−|z|) per lane, the logarithm by
/// ln m = 2 atanh((m−1)/(m+1)) on m ∈ [1, 2] (series to s¹¹; absolute error < 1e-7).
#[inline(always)]
fn softplus_v<S: Simd>(s: S, z: S::f32s) -> S::f32s {
    let e = exp_v(s, s.neg_f32s(s.abs_f32s(z)));
    let q = s.div_f32s(e, s.add_f32s(s.splat_f32s(2.0), e));
    let q2 = s.mul_f32s(q, q);
    let mut p = s.splat_f32s(1.0 / 11.0);
    for c in [1.0 / 9.0, 1.0 / 7.0, 1.0 / 5.0, 1.0 / 3.0, 1.0] {
        p = s.mul_add_f32s(p, q2, s.splat_f32s(c));
    }
    let log = s.mul_f32s(s.mul_f32s(s.splat_f32s(2.0), q), p);
    s.add_f32s(s.max_f32s(z, s.splat_f32s(0.0)), log)
}

/// A dense layer `out = b + in · W` in f32, with W also transposed for the adjoint.
/// (Weights stored splatted, one SIMD vector per weight, measured no faster than
/// broadcasting them per use on AVX2 or AVX-512, and they crowd the caches.)
struct Dense32 {
    n_in: usize,
    n_out: usize,
    /// `[in, out]`, row-major (burn's layout).
    weight: Vec<f32>,
    /// `[out, in]`, row-major.
    weight_t: Vec<f32>,
    bias: Vec<f32>,
    /// Offset of the weight in the flat parameter vector; the bias follows.
    w_at: usize,
    /// Index of the layer in its rule (its slot in [`Grads`]).
    slot: usize,
}

/// Reads dense layers off the flat parameter vector in order (the layout of
/// [`crate::fused`]).
struct Reader<'a> {
    params: &'a [f64],
    offset: usize,
    /// Dense layers read so far.
    layers: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Vec<f32> {
        let s = self.params[self.offset..self.offset + n]
            .iter()
            .map(|&v| v as f32)
            .collect();
        self.offset += n;
        s
    }

    fn dense(&mut self, n_in: usize, n_out: usize) -> Dense32 {
        let w_at = self.offset;
        let weight = self.take(n_in * n_out);
        let bias = self.take(n_out);
        let mut weight_t = vec![0.0; n_in * n_out];
        for i in 0..n_in {
            for o in 0..n_out {
                weight_t[o * n_in + i] = weight[i * n_out + o];
            }
        }
        self.layers += 1;
        Dense32 {
            n_in,
            n_out,
            weight,
            weight_t,
            bias,
            w_at,
            slot: self.layers - 1,
        }
    }

    fn mlp(&mut self, sizes: &[usize]) -> Mlp32 {
        let layers: Vec<Dense32> = sizes.windows(2).map(|p| self.dense(p[0], p[1])).collect();
        let mut offsets = vec![0];
        for s in sizes {
            offsets.push(offsets.last().copied().unwrap_or(0) + s);
        }
        Mlp32 { layers, offsets }
    }
}

/// `out[j] = finish(j, init(j) + Σ_i m[i, j] · v[i])` for `j < B`, the B accumulators in
/// registers and each weight broadcast per use: `m` is row-major with `stride` columns
/// starting at column 0 of `m`. (Splitting the sum over i into interleaved partial sums, so
/// that a narrow block runs more independent FMA chains, measured no faster.)
///
/// `finish` (a ReLU, or the adjoint's ReLU mask) runs on the registers before the store: as
/// a second pass over `out`, LLVM turned the mask into `vmaskmovps` stores, which are
/// microcoded on AMD's cores and took a third of the DNN scan's time on a Zen 4.
#[inline(always)]
fn product_block<S: Simd, const B: usize>(
    s: S,
    init: impl Fn(usize) -> f32,
    finish: impl Fn(usize, S::f32s) -> S::f32s,
    m: &[f32],
    stride: usize,
    v: &[S::f32s],
    out: &mut [S::f32s],
) {
    let mut acc = [s.splat_f32s(0.0); B];
    for j in 0..B {
        acc[j] = s.splat_f32s(init(j));
    }
    // One bounds check for the whole product instead of two per row (a fifth of the
    // kernels' instructions were bounds checks, and the scan is bound by instructions
    // issued, not by multiply-adds).
    assert!(v.is_empty() || (v.len() - 1) * stride + B <= m.len());
    let mut row = m.as_ptr();
    for x in v {
        for j in 0..B {
            // SAFETY: row i starts at i · stride and i · stride + j < m.len() by the
            // assertion above (i < v.len(), j < B).
            let w = unsafe { *row.add(j) };
            acc[j] = s.mul_add_f32s(s.splat_f32s(w), *x, acc[j]);
        }
        row = row.wrapping_add(stride);
    }
    for (j, (o, a)) in out[..B].iter_mut().zip(acc).enumerate() {
        *o = finish(j, a);
    }
}

/// `out[j] = finish(j, init(j) + Σ_i m[i, j] v[i])` for `j < n` (`m` row-major with
/// `stride` columns), in register blocks of 16 (AVX-512), 8, 2 and 1.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn product<S: Simd>(
    s: S,
    init: impl Fn(usize) -> f32 + Copy,
    finish: impl Fn(usize, S::f32s) -> S::f32s + Copy,
    m: &[f32],
    stride: usize,
    v: &[S::f32s],
    out: &mut [S::f32s],
    n: usize,
) {
    let mut j0 = 0;
    // 16 accumulators where there are 32 vector registers (AVX-512), else 8.
    if S::REGISTER_COUNT >= 32 {
        while j0 + 16 <= n {
            product_block::<S, 16>(
                s,
                |j| init(j0 + j),
                |j, a| finish(j0 + j, a),
                &m[j0..],
                stride,
                v,
                &mut out[j0..],
            );
            j0 += 16;
        }
    }
    while j0 + 8 <= n {
        product_block::<S, 8>(
            s,
            |j| init(j0 + j),
            |j, a| finish(j0 + j, a),
            &m[j0..],
            stride,
            v,
            &mut out[j0..],
        );
        j0 += 8;
    }
    while j0 + 2 <= n {
        product_block::<S, 2>(
            s,
            |j| init(j0 + j),
            |j, a| finish(j0 + j, a),
            &m[j0..],
            stride,
            v,
            &mut out[j0..],
        );
        j0 += 2;
    }
    if j0 < n {
        product_block::<S, 1>(
            s,
            |j| init(j0 + j),
            |j, a| finish(j0 + j, a),
            &m[j0..],
            stride,
            v,
            &mut out[j0..],
        );
    }
}

/// Where T trials' vectors are in a buffer: trial tt's start at `ptr + bases[tt] + at`,
/// all within the buffer's `len` vectors (checked where they are read or written).
#[derive(Clone, Copy)]
struct Spots<V, const T: usize> {
    ptr: *mut V,
    len: usize,
    bases: [usize; T],
    at: usize,
}

impl<V, const T: usize> Spots<V, T> {
    fn new(buffer: &mut [V], bases: [usize; T], at: usize) -> Self {
        Spots {
            ptr: buffer.as_mut_ptr(),
            len: buffer.len(),
            bases,
            at,
        }
    }

    /// The same trials `by` vectors further on.
    fn shifted(self, by: usize) -> Self {
        Spots {
            at: self.at + by,
            ..self
        }
    }

    /// Whether every trial's `n` vectors are in the buffer.
    fn fits(&self, n: usize) -> bool {
        self.bases.iter().all(|&b| b + self.at + n <= self.len)
    }
}

/// Vectors of several trials kept outside their records: the buffer, each trial's base in
/// it and the offset from the base.
type Elsewhere<'a, V> = (&'a mut [V], &'a [usize], usize);

/// The spots of T trials' inputs (in `x`, or in `out` when `None`) and outputs.
#[inline(always)]
#[allow(clippy::type_complexity)]
fn spots<V, const T: usize>(
    x: Option<&mut [V]>,
    out: &mut [V],
    (bases_x, x_at): ([usize; T], usize),
    (bases_out, out_at): ([usize; T], usize),
) -> (Spots<V, T>, Spots<V, T>) {
    let o = Spots::new(out, bases_out, out_at);
    let xs = match x {
        Some(x) => Spots::new(x, bases_x, x_at),
        None => Spots {
            bases: bases_x,
            at: x_at,
            ..o
        },
    };
    (xs, o)
}

/// [`product_block`] for T independent trials at once, each weight broadcast once for all
/// T: trial tt's input is `x`'s `n_in` vectors and it gets `out[j] = finish(j, init(j) +
/// Σ_i m[i, j] x[i])` at `out`'s first B. The same multiply-adds in the same order as
/// [`product_block`], so the results are identical; but T × B accumulators share each
/// load, where the scan's serial products issue one load per multiply-add.
///
/// `x` and `out` may be spots of one buffer; the caller keeps each trial's output apart
/// from every trial's input.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn group_block<S: Simd, const T: usize, const B: usize>(
    s: S,
    init: impl Fn(usize) -> f32,
    finish: impl Fn(usize, S::f32s) -> S::f32s,
    m: &[f32],
    stride: usize,
    x: Spots<S::f32s, T>,
    n_in: usize,
    out: Spots<S::f32s, T>,
) {
    let mut acc = [[s.splat_f32s(0.0); B]; T];
    for a in acc.iter_mut() {
        for j in 0..B {
            a[j] = s.splat_f32s(init(j));
        }
    }
    assert!(n_in == 0 || (n_in - 1) * stride + B <= m.len());
    assert!(x.fits(n_in) && out.fits(B));
    let mut row = m.as_ptr();
    for i in 0..n_in {
        // SAFETY: x.bases[tt] + x.at + i < x.len by the assertion above (i < n_in).
        let xs: [S::f32s; T] =
            std::array::from_fn(|tt| unsafe { *x.ptr.add(x.bases[tt] + x.at + i) });
        for j in 0..B {
            // SAFETY: i · stride + j < m.len() by the assertion above (i < n_in, j < B).
            let w = s.splat_f32s(unsafe { *row.add(j) });
            for tt in 0..T {
                acc[tt][j] = s.mul_add_f32s(w, xs[tt], acc[tt][j]);
            }
        }
        row = row.wrapping_add(stride);
    }
    for tt in 0..T {
        for j in 0..B {
            // SAFETY: out.bases[tt] + out.at + j < out.len by the assertion above (j < B).
            unsafe { *out.ptr.add(out.bases[tt] + out.at + j) = finish(j, acc[tt][j]) };
        }
    }
}

impl Dense32 {
    /// `out = b + input · W` for every lane, then `finish(j, out[j])` (see
    /// [`product_block`]).
    #[inline(always)]
    fn forward<S: Simd>(
        &self,
        s: S,
        input: &[S::f32s],
        out: &mut [S::f32s],
        finish: impl Fn(usize, S::f32s) -> S::f32s + Copy,
    ) {
        let bias = &self.bias;
        let (init, input, n) = (|j| bias[j], &input[..self.n_in], self.n_out);
        product(s, init, finish, &self.weight, n, input, out, n);
    }

    /// [`Dense32::forward`]'s outputs `outputs` of T trials (inputs at `x`, output
    /// `outputs.start + j` to `out`'s place j), in register blocks of T trials × 4, 2 and 1
    /// outputs. Each output is summed in the same order whatever the range, so the numbers
    /// are those of the whole product.
    #[inline(always)]
    fn forward_group<S: Simd, const T: usize>(
        &self,
        s: S,
        x: Spots<S::f32s, T>,
        out: Spots<S::f32s, T>,
        outputs: std::ops::Range<usize>,
        finish: impl Fn(usize, S::f32s) -> S::f32s + Copy,
    ) {
        let (n, n_in, bias) = (self.n_out, self.n_in, &self.bias);
        let (first, end) = (outputs.start, outputs.end.min(n));
        let mut j0 = first;
        while j0 + 4 <= end {
            let (init, fin) = (|j| bias[j0 + j], |j, a| finish(j0 + j, a));
            let (m, out) = (&self.weight[j0..], out.shifted(j0 - first));
            group_block::<S, T, 4>(s, init, fin, m, n, x, n_in, out);
            j0 += 4;
        }
        while j0 + 2 <= end {
            let (init, fin) = (|j| bias[j0 + j], |j, a| finish(j0 + j, a));
            let (m, out) = (&self.weight[j0..], out.shifted(j0 - first));
            group_block::<S, T, 2>(s, init, fin, m, n, x, n_in, out);
            j0 += 2;
        }
        if j0 < end {
            let (init, fin) = (|j| bias[j0 + j], |j, a| finish(j0 + j, a));
            let (m, out) = (&self.weight[j0..], out.shifted(j0 - first));
            group_block::<S, T, 1>(s, init, fin, m, n, x, n_in, out);
        }
    }

    /// [`Dense32::forward`] of independent trials: trial c's input at `bases_x[c] + x_at`
    /// of `x`, its output to `bases_out[c] + out_at` of `out` (which may be `x`: pass
    /// `None`), T trials at a time (4 with 32 vector registers, else 2).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn forward_trials<S: Simd>(
        &self,
        s: S,
        x: Option<&mut [S::f32s]>,
        x_at: (&[usize], usize),
        out: &mut [S::f32s],
        out_at: (&[usize], usize),
        finish: impl Fn(usize, S::f32s) -> S::f32s + Copy,
    ) {
        self.forward_trials_of(s, x, x_at, out, out_at, 0..self.n_out, finish);
    }

    /// [`Dense32::forward_trials`] of the outputs `outputs` only (output
    /// `outputs.start + j` to place j after `out_at`).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn forward_trials_of<S: Simd>(
        &self,
        s: S,
        x: Option<&mut [S::f32s]>,
        x_at: (&[usize], usize),
        out: &mut [S::f32s],
        out_at: (&[usize], usize),
        outputs: std::ops::Range<usize>,
        finish: impl Fn(usize, S::f32s) -> S::f32s + Copy,
    ) {
        if S::REGISTER_COUNT >= 32 {
            self.forward_trials_by::<S, 4>(s, x, x_at, out, out_at, outputs, finish);
        } else {
            self.forward_trials_by::<S, 2>(s, x, x_at, out, out_at, outputs, finish);
        }
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn forward_trials_by<S: Simd, const T: usize>(
        &self,
        s: S,
        mut x: Option<&mut [S::f32s]>,
        (bases_x, x_at): (&[usize], usize),
        out: &mut [S::f32s],
        (bases_out, out_at): (&[usize], usize),
        outputs: std::ops::Range<usize>,
        finish: impl Fn(usize, S::f32s) -> S::f32s + Copy,
    ) {
        assert_eq!(bases_x.len(), bases_out.len());
        let n = bases_x.len();
        let mut c = 0;
        while c + T <= n {
            let bx: [usize; T] = std::array::from_fn(|tt| bases_x[c + tt]);
            let bo: [usize; T] = std::array::from_fn(|tt| bases_out[c + tt]);
            let (xs, o) = spots(x.as_deref_mut(), out, (bx, x_at), (bo, out_at));
            self.forward_group::<S, T>(s, xs, o, outputs.clone(), finish);
            c += T;
        }
        for c in c..n {
            let (bx, bo) = ([bases_x[c]], [bases_out[c]]);
            let (xs, o) = spots(x.as_deref_mut(), out, (bx, x_at), (bo, out_at));
            self.forward_group::<S, 1>(s, xs, o, outputs.clone(), finish);
        }
    }

    /// ∂/∂input of the first `rows` inputs: `d_in[i] = finish(i, Σ_o W[i, o] d_out[o])`.
    #[inline(always)]
    fn input_adjoint<S: Simd>(
        &self,
        s: S,
        d_out: &[S::f32s],
        d_in: &mut [S::f32s],
        rows: usize,
        finish: impl Fn(usize, S::f32s) -> S::f32s + Copy,
    ) {
        let (d_out, n) = (&d_out[..self.n_out], self.n_in);
        product(s, |_| 0.0, finish, &self.weight_t, n, d_out, d_in, rows);
    }
}

/// An MLP with ReLU between layers. Its activations are an input block and, apart from it,
/// the rest `[hidden 1 | … | output]` (`offsets` count from the input's start).
struct Mlp32 {
    layers: Vec<Dense32>,
    offsets: Vec<usize>,
}

impl Mlp32 {
    fn width(&self) -> usize {
        *self.offsets.last().unwrap_or(&0)
    }

    /// Width of the input block.
    fn input_width(&self) -> usize {
        self.offsets[1]
    }

    /// Width of the activations after the input (hidden layers and output).
    fn rest_width(&self) -> usize {
        self.width() - self.input_width()
    }

    /// Where layer `i`'s output starts in the activations after the input.
    fn out_at(&self, i: usize) -> usize {
        self.offsets[i + 1] - self.offsets[1]
    }

    /// Where the output starts in the activations after the input.
    fn output_at(&self) -> usize {
        self.out_at(self.layers.len() - 1)
    }

    /// The slot (in [`Grads`]) of the output layer.
    fn last_slot(&self) -> usize {
        self.layers[self.layers.len() - 1].slot
    }

    /// Fills `rest` (every block after the input) from `input`.
    #[inline(always)]
    fn forward<S: Simd>(&self, s: S, input: &[S::f32s], rest: &mut [S::f32s]) {
        let last = self.layers.len() - 1;
        let zero = s.splat_f32s(0.0);
        for (i, layer) in self.layers.iter().enumerate() {
            let (done, next) = rest.split_at_mut(self.out_at(i));
            let x = if i == 0 {
                input
            } else {
                &done[self.out_at(i - 1)..]
            };
            let out = &mut next[..layer.n_out];
            if i < last {
                layer.forward(s, x, out, |_, a| s.max_f32s(a, zero));
            } else {
                layer.forward(s, x, out, |_, a| a);
            }
        }
    }

    /// [`Mlp32::forward`] of several independent trials: trial c's input block is at
    /// `input` (`Some((buffer, bases, at))`, else the first `input_width` vectors of its
    /// record) and its activations after the input go to `rest_at` of its record, record
    /// `records[c]` of `tape`. Trials go T at a time through each layer (see
    /// [`Dense32::forward_trials`]); the results are identical to [`Mlp32::forward`]'s.
    #[inline(always)]
    fn forward_trials<S: Simd>(
        &self,
        s: S,
        mut input: Option<Elsewhere<'_, S::f32s>>,
        tape: &mut [S::f32s],
        (records, rest_at): (&[usize], usize),
    ) {
        let last = self.layers.len() - 1;
        let zero = s.splat_f32s(0.0);
        let relu = |_, a| s.max_f32s(a, zero);
        let keep = |_, a| a;
        for (i, layer) in self.layers.iter().enumerate() {
            let out = (records, rest_at + self.out_at(i));
            let (x, at) = match (i, input.as_mut()) {
                (0, Some((buffer, bases, at))) => (Some(&mut **buffer), (*bases, *at)),
                (0, None) => (None, (records, 0)),
                _ => (None, (records, rest_at + self.out_at(i - 1))),
            };
            if i < last {
                layer.forward_trials(s, x, at, tape, out, relu);
            } else {
                layer.forward_trials(s, x, at, tape, out, keep);
            }
        }
    }

    /// Backprop one trial whose output adjoint is already in `g` (the output layer's
    /// slot): every layer's output adjoint is written into its slot of `g`, and ∂/∂input
    /// of the first `rows` inputs into `d_in[..rows]`. `rest`: the trial's activations
    /// after the input.
    #[inline(always)]
    fn backward<S: Simd>(
        &self,
        s: S,
        rest: &[S::f32s],
        g: &mut Grads<S>,
        d_in: &mut [S::f32s],
        rows: usize,
    ) {
        let zero = s.splat_f32s(0.0);
        for i in (1..self.layers.len()).rev() {
            let (layer, below) = (&self.layers[i], &self.layers[i - 1]);
            let (d_below, d) = g.d_pair(below.slot, layer.slot);
            // The ReLU's adjoint: 0 where the layer below's output was clipped.
            let out = &rest[self.out_at(i - 1)..][..below.n_out];
            let relu =
                |j: usize, a| s.select_f32s(s.less_than_or_equal_f32s(out[j], zero), zero, a);
            layer.input_adjoint(s, d, d_below, layer.n_in, relu);
        }
        let first = &self.layers[0];
        first.input_adjoint(s, g.d(first.slot), d_in, rows, |_, a| a);
    }

    /// Where every layer's input is kept in a ring `tape` of records `[input | rest]`
    /// (record t & `ring`).
    fn ring_rows<'a, V>(&self, tape: &'a [V], ring: usize) -> Vec<Rows<'a, V>> {
        let input = Rows {
            data: tape,
            offset: 0,
            stride: self.width(),
            shift: 0,
            mask: ring,
            flip: None,
        };
        let (n_in, width) = (self.input_width(), self.width());
        self.rows(input, tape, n_in, width, ring, None).collect()
    }

    /// Where every layer's input is kept: the input block as `input`, the others at
    /// `rest_at` + their place in records of `stride` vectors of `data`.
    fn rows<'a, V>(
        &self,
        input: Rows<'a, V>,
        data: &'a [V],
        rest_at: usize,
        stride: usize,
        mask: usize,
        flip: Option<usize>,
    ) -> impl Iterator<Item = Rows<'a, V>> + use<'a, '_, V> {
        (0..self.layers.len()).map(move |i| {
            if i == 0 {
                input
            } else {
                Rows {
                    data,
                    offset: rest_at + self.out_at(i - 1),
                    stride,
                    shift: 0,
                    mask,
                    flip,
                }
            }
        })
    }
}

/// The trials of one block of animals, one lane each (structure of arrays), packed for
/// one lane count: the kernels read it through [`Packed::view`].
struct Packed {
    /// Animals (indices into the scan's input) in lanes `0..members.len()`.
    members: Vec<usize>,
    /// Steps run: the longest member's scored end.
    steps: usize,
    /// Per trial `[x (K), choice, reward, answer, session start]`, `[steps, K + 4, L]`.
    ext: Vec<Aligned>,
    /// 1 on a member's scored trials, `[steps, L]`.
    scored: Vec<Aligned>,
    /// g_t when the update after the trial is used (t + 1 < the member's end; g_t the
    /// structure's gate, 1 for the free rule), else 0, `[steps, L]`.
    active: Vec<Aligned>,
}

/// A [`Packed`] block as SIMD vectors of the flavour `S`.
struct Block<'a, S: Simd> {
    steps: usize,
    /// `[steps, K + 4]`.
    ext: &'a [S::f32s],
    /// `[steps]`.
    scored: &'a [S::f32s],
    /// `[steps]`.
    active: &'a [S::f32s],
}

/// `n` f32 in whole [`Aligned`] units, zeroed.
fn aligned_zeros(n: usize) -> Vec<Aligned> {
    vec![Aligned([0.0; 16]); n.div_ceil(16)]
}

impl Packed {
    /// Packs `members` for `lanes` lanes.
    fn new(
        animals: &[HostSequence],
        members: Vec<usize>,
        lanes: usize,
        k: usize,
        gate: crate::structure::Gate,
    ) -> Self {
        let steps = members
            .iter()
            .map(|&m| animals[m].score.end)
            .max()
            .unwrap_or(0);
        let width = k + 4;
        let mut ext = aligned_zeros(steps * width * lanes);
        let mut scored = aligned_zeros(steps * lanes);
        let mut active = aligned_zeros(steps * lanes);
        {
            let e: &mut [f32] = bytemuck::cast_slice_mut(&mut ext);
            let sc: &mut [f32] = bytemuck::cast_slice_mut(&mut scored);
            let ac: &mut [f32] = bytemuck::cast_slice_mut(&mut active);
            // Trial by trial, every lane of a vector together (one pass over `ext`).
            let of: Vec<&HostSequence> = members.iter().map(|&m| &animals[m]).collect();
            for t in 0..steps {
                let row = &mut e[t * width * lanes..(t + 1) * width * lanes];
                for (l, a) in of.iter().enumerate().filter(|(_, a)| t < a.score.end) {
                    for j in 0..k {
                        row[j * lanes + l] = a.x[t * k + j] as f32;
                    }
                    row[k * lanes + l] = a.choice[t] as f32;
                    row[(k + 1) * lanes + l] = a.reward[t] as f32;
                    row[(k + 2) * lanes + l] = a.answer[t] as f32;
                    row[(k + 3) * lanes + l] = a.session_start[t] as f32;
                    sc[t * lanes + l] = f32::from(u8::from(a.score.contains(&t)));
                    ac[t * lanes + l] =
                        f32::from(u8::from(t + 1 < a.score.end)) * gate.value(a.reward[t]) as f32;
                }
            }
        }
        Packed {
            members,
            steps,
            ext,
            scored,
            active,
        }
    }

    /// The block as vectors of `S` (packed for `S::F32_LANES` lanes).
    fn view<S: Simd>(&self, k: usize) -> Block<'_, S> {
        Block {
            steps: self.steps,
            ext: &bytemuck::cast_slice(&self.ext)[..self.steps * (k + 4)],
            scored: &bytemuck::cast_slice(&self.scored)[..self.steps],
            active: &bytemuck::cast_slice(&self.active)[..self.steps],
        }
    }

    fn bytes(&self) -> usize {
        (self.ext.len() + self.scored.len() + self.active.len()) * 64
    }
}

/// What a cohort's packed blocks depend on besides its trials: each block's lanes,
/// threads, K, gate.
type PackKey = (Vec<usize>, usize, usize, crate::structure::Gate);

/// The packed blocks of recently scanned cohorts, most recent last: a training loop scans
/// the same cohorts every epoch, and packing them is ~5–10% of an epoch. An entry holds a
/// `Weak` to its cohort: while it exists the allocation cannot be reused by another cohort
/// nor changed (`Arc::get_mut` refuses while a `Weak` exists), so a pointer match means the
/// same trials; a dropped cohort never matches again.
#[allow(clippy::type_complexity)]
static PACKED: std::sync::Mutex<
    Vec<(
        std::sync::Weak<[HostSequence]>,
        PackKey,
        std::sync::Arc<Vec<Packed>>,
    )>,
> = std::sync::Mutex::new(Vec::new());

/// Most bytes of packed blocks [`PACKED`] keeps.
const PACKED_BYTES: usize = 384 << 20;

/// The cached blocks of `animals` under `key`, if any.
fn packed_lookup(animals: &SharedSequences, key: PackKey) -> Option<std::sync::Arc<Vec<Packed>>> {
    let mut cache = PACKED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    cache.retain(|(weak, _, _)| weak.strong_count() > 0);
    let at = cache.iter().position(|(weak, k, _)| {
        *k == key && std::ptr::addr_eq(weak.as_ptr(), std::sync::Arc::as_ptr(animals))
    })?;
    let entry = cache.remove(at);
    let blocks = entry.2.clone();
    cache.push(entry);
    Some(blocks)
}

/// Keeps `blocks` of `animals` under `key`, dropping the oldest entries over
/// [`PACKED_BYTES`].
fn packed_store(animals: &SharedSequences, key: PackKey, blocks: std::sync::Arc<Vec<Packed>>) {
    let bytes = |b: &Vec<Packed>| b.iter().map(Packed::bytes).sum::<usize>();
    if bytes(&blocks) > PACKED_BYTES {
        return;
    }
    let mut cache = PACKED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    cache.push((std::sync::Arc::downgrade(animals), key, blocks));
    while cache.iter().map(|(_, _, b)| bytes(b)).sum::<usize>() > PACKED_BYTES {
        cache.remove(0);
    }
}

/// Trials whose ∂/∂W outer products are summed together, in registers, by
/// [`Grads::contract`]; also the length of the ring of records the RNN kernel recomputes
/// into when its whole tape does not fit (a power of two).
const CHUNK_STEPS: usize = 16;

/// Where a dense layer's input of trial t is kept: record i = (t + shift) & mask of `data`
/// (`mask` is `usize::MAX` for a tape of every trial, `CHUNK_STEPS − 1` for a ring of the
/// last [`CHUNK_STEPS`] records), stored at `flip − i` when the tape is kept in reverse,
/// then `data[record · stride + offset..][..n_in]`.
struct Rows<'a, V> {
    data: &'a [V],
    offset: usize,
    stride: usize,
    shift: usize,
    mask: usize,
    flip: Option<usize>,
}

impl<V> Clone for Rows<'_, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V> Copy for Rows<'_, V> {}

impl<V> Rows<'_, V> {
    /// Where trial `t`'s input starts in `data`.
    #[inline(always)]
    fn at(&self, t: usize) -> usize {
        let i = (t + self.shift) & self.mask;
        let record = self.flip.map_or(i, |last| last - i);
        record * self.stride + self.offset
    }
}

/// One dense layer's output adjoints of the last trials (`[CHUNK_STEPS, out]`), waiting to
/// be contracted with its inputs (read where they are kept, see [`Rows`]) into its weight
/// gradient.
struct LayerChunk<S: Simd> {
    n_in: usize,
    n_out: usize,
    w_at: usize,
    ds: Vec<S::f32s>,
}

/// Per-lane parameter gradients (`[P, L]`): each dense layer's ∂/∂W = Σ_t x_t ⊗ d_t is
/// summed over [`CHUNK_STEPS`] trials at a time as a small matrix product per lane (the
/// accumulators in registers), into f32 sums that are flushed into f64 every
/// [`FLUSH_STEPS`] trials. The adjoint pass writes each layer's output adjoint straight
/// into its chunk; the inputs are read where they are kept, not copied.
struct Grads<S: Simd> {
    s: S,
    layers: Vec<LayerChunk<S>>,
    /// Trials pushed since the last contraction, and which they are.
    pending: usize,
    trials: [usize; CHUNK_STEPS],
    recent: Vec<S::f32s>,
    total: Vec<f64>,
    since_flush: usize,
}

impl<S: Simd> Grads<S> {
    fn new(s: S, p: usize, layers: &[&Dense32]) -> Self {
        let zero = s.splat_f32s(0.0);
        let mut chunks: Vec<LayerChunk<S>> = Vec::with_capacity(layers.len());
        for d in layers {
            assert_eq!(d.slot, chunks.len(), "layers in slot order");
            chunks.push(LayerChunk {
                n_in: d.n_in,
                n_out: d.n_out,
                w_at: d.w_at,
                ds: vec![zero; CHUNK_STEPS * d.n_out],
            });
        }
        Grads {
            s,
            layers: chunks,
            pending: 0,
            trials: [0; CHUNK_STEPS],
            recent: vec![zero; p],
            total: vec![0.0; p * S::F32_LANES],
            since_flush: 0,
        }
    }

    /// Layer `slot`'s output adjoint of the current trial.
    #[inline(always)]
    fn d(&self, slot: usize) -> &[S::f32s] {
        let c = &self.layers[slot];
        &c.ds[self.pending * c.n_out..][..c.n_out]
    }

    /// The current trial's output adjoints of layers `lower` < `upper`, the lower writable.
    #[inline(always)]
    fn d_pair(&mut self, lower: usize, upper: usize) -> (&mut [S::f32s], &[S::f32s]) {
        let t = self.pending;
        let (below, above) = self.layers.split_at_mut(upper);
        let (l, u) = (&mut below[lower], &above[0]);
        (
            &mut l.ds[t * l.n_out..][..l.n_out],
            &u.ds[t * u.n_out..][..u.n_out],
        )
    }

    /// The current trial's output adjoints of layers `a` < `b`, both writable.
    #[inline(always)]
    fn d_two(&mut self, a: usize, b: usize) -> (&mut [S::f32s], &mut [S::f32s]) {
        let t = self.pending;
        let (below, above) = self.layers.split_at_mut(b);
        let (l, u) = (&mut below[a], &mut above[0]);
        (
            &mut l.ds[t * l.n_out..][..l.n_out],
            &mut u.ds[t * u.n_out..][..u.n_out],
        )
    }

    /// The f32 gradient sums of the parameters from `at` on, and layer `slot`'s output
    /// adjoint of the current trial (to be written).
    #[inline(always)]
    fn recent_and_d(&mut self, at: usize, slot: usize) -> (&mut [S::f32s], &mut [S::f32s]) {
        let c = &mut self.layers[slot];
        (
            &mut self.recent[at..],
            &mut c.ds[self.pending * c.n_out..][..c.n_out],
        )
    }

    /// Ends trial `t` (its output adjoints written): contracts every [`CHUNK_STEPS`] trials,
    /// flushes every [`FLUSH_STEPS`]. `rows`: where each layer's inputs are kept, by slot
    /// (asked for only when they are read).
    #[inline(always)]
    fn tick<'a>(&mut self, t: usize, rows: impl FnOnce() -> Vec<Rows<'a, S::f32s>>)
    where
        S::f32s: 'a,
    {
        self.trials[self.pending] = t;
        self.pending += 1;
        self.since_flush += 1;
        if self.pending == CHUNK_STEPS || self.since_flush >= FLUSH_STEPS {
            let rows = rows();
            if self.pending == CHUNK_STEPS {
                self.contract(&rows);
            }
            if self.since_flush >= FLUSH_STEPS {
                self.flush(&rows);
            }
        }
    }

    /// Adds Σ_t x_t ⊗ d_t (weights) and Σ_t d_t (biases) of the pending trials to `recent`.
    #[inline(always)]
    fn contract(&mut self, rows: &[Rows<'_, S::f32s>]) {
        debug_assert_eq!(rows.len(), self.layers.len(), "a row source per layer");
        let (s, len) = (self.s, self.pending);
        for (c, r) in self.layers.iter().zip(rows) {
            let mut at = [0usize; CHUNK_STEPS];
            for (a, &t) in at.iter_mut().zip(&self.trials[..len]) {
                *a = r.at(t);
            }
            let at = &at[..len];
            let g = &mut self.recent[c.w_at..c.w_at + (c.n_in + 1) * c.n_out];
            let (gw, gb) = g.split_at_mut(c.n_in * c.n_out);
            // Each output's sum over the chunk in a register (trial by trial, the sums
            // went through memory: 2.7% of the 140 × 20,000 RNN scan), in trial order.
            for (o, b) in gb.iter_mut().enumerate() {
                let mut sum = *b;
                for t in 0..len {
                    sum = s.add_f32s(sum, c.ds[t * c.n_out + o]);
                }
                *b = sum;
            }
            // Register blocks that leave the accumulators, one row of inputs and one
            // output adjoint in registers (IB · OB + IB + 1 ≤ the register count).
            let (x, ds) = (r.data, &c.ds[..len * c.n_out]);
            if S::REGISTER_COUNT >= 32 {
                contract_layer::<S, 4, 4>(s, x, at, ds, c.n_in, c.n_out, gw);
            } else {
                contract_layer::<S, 2, 4>(s, x, at, ds, c.n_in, c.n_out, gw);
            }
        }
        self.pending = 0;
    }

    /// Contracts what is pending and adds the f32 sums into the f64 totals. Inlined so
    /// that it compiles with the kernel's SIMD features (as a function of its own it ran on
    /// SSE2: 1.9% of the 140 × 20,000 RNN epoch).
    #[inline(always)]
    fn flush(&mut self, rows: &[Rows<'_, S::f32s>]) {
        if self.pending > 0 {
            self.contract(rows);
        }
        let recent: &mut [f32] = bytemuck::cast_slice_mut(&mut self.recent);
        for (t, r) in self.total.iter_mut().zip(recent.iter_mut()) {
            *t += f64::from(*r);
            *r = 0.0;
        }
        self.since_flush = 0;
    }
}

/// `gw[i, o] += Σ_p x_p[i] ds[p, o]` over a layer (`gw` `[n_in, n_out]`, `ds`
/// `[pending, n_out]`, trial p's input at `xs[at[p]..]`), in IB × OB register blocks, then
/// narrower ones at the edges.
#[inline(always)]
fn contract_layer<S: Simd, const IB: usize, const OB: usize>(
    s: S,
    xs: &[S::f32s],
    at: &[usize],
    ds: &[S::f32s],
    n_in: usize,
    n_out: usize,
    gw: &mut [S::f32s],
) {
    let mut i0 = 0;
    while i0 + IB <= n_in {
        contract_row::<S, IB, OB>(s, xs, at, ds, i0, n_out, gw);
        i0 += IB;
    }
    while i0 < n_in {
        contract_row::<S, 1, OB>(s, xs, at, ds, i0, n_out, gw);
        i0 += 1;
    }
}

/// One band of IB inputs of [`contract_layer`], across every output.
#[inline(always)]
fn contract_row<S: Simd, const IB: usize, const OB: usize>(
    s: S,
    xs: &[S::f32s],
    at: &[usize],
    ds: &[S::f32s],
    i0: usize,
    n_out: usize,
    gw: &mut [S::f32s],
) {
    let mut o0 = 0;
    while o0 + OB <= n_out {
        contract_block::<S, IB, OB>(s, xs, at, ds, i0, o0, n_out, gw);
        o0 += OB;
    }
    if o0 + 2 <= n_out {
        contract_block::<S, IB, 2>(s, xs, at, ds, i0, o0, n_out, gw);
        o0 += 2;
    }
    if o0 < n_out {
        contract_block::<S, IB, 1>(s, xs, at, ds, i0, o0, n_out, gw);
    }
}

/// `gw[i, o] += Σ_p x_p[i] ds[p, o]` for the IB × OB block at (i0, o0), the accumulators
/// in registers, the inputs of a trial loaded once and the output adjoints one at a time.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn contract_block<S: Simd, const IB: usize, const OB: usize>(
    s: S,
    xs: &[S::f32s],
    at: &[usize],
    ds: &[S::f32s],
    i0: usize,
    o0: usize,
    n_out: usize,
    gw: &mut [S::f32s],
) {
    let mut acc = [[s.splat_f32s(0.0); OB]; IB];
    // Bounds checked once per block, not per trial (see `product_block`).
    assert!(at.iter().all(|&a| a + i0 + IB <= xs.len()));
    assert!(o0 + OB <= n_out && at.len() * n_out <= ds.len());
    let (x_at, d_at) = (xs.as_ptr(), ds.as_ptr());
    for (p, &a) in at.iter().enumerate() {
        // SAFETY: a + i0 + ii < xs.len() and p · n_out + o0 + oo < ds.len() by the
        // assertions above (ii < IB, oo < OB, p < at.len()).
        let x: [S::f32s; IB] = std::array::from_fn(|ii| unsafe { *x_at.add(a + i0 + ii) });
        let d: [S::f32s; OB] = std::array::from_fn(|oo| unsafe { *d_at.add(p * n_out + o0 + oo) });
        for oo in 0..OB {
            for ii in 0..IB {
                acc[ii][oo] = s.mul_add_f32s(x[ii], d[oo], acc[ii][oo]);
            }
        }
    }
    for ii in 0..IB {
        let row = &mut gw[(i0 + ii) * n_out + o0..][..OB];
        for oo in 0..OB {
            row[oo] = s.add_f32s(row[oo], acc[ii][oo]);
        }
    }
}

/// The policy part of one step, per lane: adds the trial's log-likelihood term
/// `y z − softplus(z)` (scored trials) to `ll` and returns the residual `y − σ(z)` (0 when
/// not scored), z = w · x with w `[K, L]` in f64.
#[inline(always)]
fn policy_step<S: Simd>(
    s: S,
    w: &[f64],
    ext: &[S::f32s],
    scored: S::f32s,
    ll: &mut [f64],
) -> S::f32s {
    let k = ext.len() - 4;
    let n = S::F32_LANES;
    let mut z64 = [0.0f64; 16];
    let mut z = s.splat_f32s(0.0);
    {
        let zl = lanes_mut::<S>(&mut z);
        for j in 0..k {
            let x = lanes::<S>(&ext[j]);
            for l in 0..n {
                z64[l] += w[j * n + l] * f64::from(x[l]);
            }
        }
        for l in 0..n {
            zl[l] = z64[l] as f32;
        }
    }
    let sp = softplus_v(s, z);
    let p = sigmoid_v(s, z);
    let y = ext[k];
    let (spl, yl, sl) = (lanes::<S>(&sp), lanes::<S>(&y), lanes::<S>(&scored));
    for l in 0..n {
        ll[l] += f64::from(sl[l]) * (f64::from(yl[l]) * z64[l] - f64::from(spl[l]));
    }
    s.mul_f32s(scored, s.sub_f32s(y, p))
}

/// λ (`[K, L]`, f64) += resid · x.
#[inline(always)]
fn add_policy_gradient<S: Simd>(lambda: &mut [f64], ext: &[S::f32s], resid: &S::f32s) {
    let n = S::F32_LANES;
    let r = lanes::<S>(resid);
    for j in 0..lambda.len() / n {
        let x = lanes::<S>(&ext[j]);
        for l in 0..n {
            lambda[j * n + l] += f64::from(r[l]) * f64::from(x[l]);
        }
    }
}

/// u = [w, x, y, r, a, s] as f32 lanes, w `[K, L]` in f64; the `dropped` columns at 0.
#[inline(always)]
fn fill_input<S: Simd>(s: S, u: &mut [S::f32s], w: &[f64], ext: &[S::f32s], dropped: &[usize]) {
    let n = S::F32_LANES;
    let k = w.len() / n;
    for j in 0..k {
        let uj = lanes_mut::<S>(&mut u[j]);
        for l in 0..n {
            uj[l] = w[j * n + l] as f32;
        }
    }
    u[k..k + ext.len()].copy_from_slice(ext);
    for &j in dropped {
        u[j] = s.splat_f32s(0.0);
    }
}

/// w_{t+1} = w_t + active · γ ⊙ o (`[K, L]`, f64).
#[inline(always)]
fn advance<S: Simd>(next: &mut [f64], w: &[f64], gamma: &[f32], o: &[S::f32s], active: &S::f32s) {
    let n = S::F32_LANES;
    let act = lanes::<S>(active);
    for (j, g) in gamma.iter().enumerate() {
        let oj = lanes::<S>(&o[j]);
        for l in 0..n {
            next[j * n + l] = w[j * n + l] + f64::from(act[l] * g * oj[l]);
        }
    }
}

/// The adjoint of the update at the output: γ's gradient += active · o · λ_{t+1} and
/// `d_o = active · γ ⊙ λ_{t+1}` (λ `[K, L]`, f64).
#[inline(always)]
fn update_adjoint<S: Simd>(
    s: S,
    gamma: &[f32],
    o: &[S::f32s],
    active: &S::f32s,
    lambda_next: &[f64],
    g_gamma: &mut [S::f32s],
    d_o: &mut [S::f32s],
) {
    let n = S::F32_LANES;
    for (j, g) in gamma.iter().enumerate() {
        let mut lam = s.splat_f32s(0.0);
        {
            let ll = lanes_mut::<S>(&mut lam);
            for l in 0..n {
                ll[l] = lambda_next[j * n + l] as f32;
            }
        }
        let lam = s.mul_f32s(*active, lam);
        g_gamma[j] = s.mul_add_f32s(o[j], lam, g_gamma[j]);
        d_o[j] = s.mul_f32s(s.splat_f32s(*g), lam);
    }
}

/// λ (`[K, L]`, f64) += d (the first K vectors).
#[inline(always)]
fn add_lanes<S: Simd>(lambda: &mut [f64], d: &[S::f32s]) {
    let n = S::F32_LANES;
    for j in 0..lambda.len() / n {
        let dj = lanes::<S>(&d[j]);
        for l in 0..n {
            lambda[j * n + l] += f64::from(dj[l]);
        }
    }
}

/// (h_t, h_{t+1}) of the reversed `hs` (`[steps, size]`, h_t in row `steps − 1 − t`),
/// the second writable; needs t + 1 < steps.
#[inline(always)]
fn h_pair<V>(hs: &mut [V], t: usize, steps: usize, size: usize) -> (&[V], &mut [V]) {
    let at = (steps - 1 - t) * size;
    let (below, above) = hs.split_at_mut(at);
    (&above[..size], &mut below[at - size..])
}

/// What one block's scan returns, lane-major per quantity.
struct BlockResult {
    /// `[L]`.
    ll: Vec<f64>,
    /// `[P, L]` (empty without gradients).
    d_params: Vec<f64>,
    /// `[K, L]` (empty without gradients).
    d_w0: Vec<f64>,
}

/// A rule's f32 kernel over one block; `w0` is `[K, L]`.
trait LaneKernel: Sync {
    fn n_params(&self) -> usize;
    fn gate(&self) -> crate::structure::Gate;
    fn block<S: Simd>(&self, s: S, b: &Block<'_, S>, w0: Vec<f64>, gradient: bool) -> BlockResult;
}

/// The DNN rule's f32 kernel.
struct Dnn32 {
    mask: InputMask,
    mlp: Mlp32,
    gamma: Vec<f32>,
    gamma_at: usize,
}

impl LaneKernel for Dnn32 {
    fn n_params(&self) -> usize {
        self.gamma_at + self.gamma.len()
    }

    fn gate(&self) -> crate::structure::Gate {
        self.mask.gate
    }

    #[inline(always)]
    fn block<S: Simd>(&self, s: S, b: &Block<'_, S>, w0: Vec<f64>, gradient: bool) -> BlockResult {
        let n = S::F32_LANES;
        let k = self.gamma.len();
        let kn = k * n;
        let width = self.mlp.width();
        let n_in = self.mlp.input_width();
        let ew = k + 4;
        let steps = b.steps;
        let zero = s.splat_f32s(0.0);
        // A ring of the last CHUNK_STEPS trials' activations `[CHUNK_STEPS, width]` (trial t
        // in record t mod CHUNK_STEPS). The adjoint pass recomputes each chunk of trials
        // from the kept w_t before it backpropagates through them: the MLP's input is
        // (w_t, trial t), so the recomputation is exact, and it reads nothing from memory
        // that a kept tape (`[steps, width]`, 95 MB a block at 20,000 trials) would stream.
        let ring = CHUNK_STEPS - 1;
        let tape_len = CHUNK_STEPS * width;
        let rec = |t: usize| t & ring;
        let mut tape_buf = Tape::of_lanes::<S>(tape_len);
        let tape = tape_buf.lanes::<S>(tape_len);
        // w_t of every trial `[steps, K, L]` and the policy's residual y − σ(z) `[steps]`.
        let mut w_buf = Tape::take(steps.max(1) * kn * 8);
        let ws = w_buf.f64s(steps.max(1) * kn);
        let mut resid_buf = Tape::of_lanes::<S>(steps);
        let resids = resid_buf.lanes::<S>(steps);
        ws[..kn].copy_from_slice(&w0);
        let mut ll = vec![0.0; n];
        let out_at = self.mlp.output_at();
        for t in 0..steps {
            let ext = &b.ext[t * ew..(t + 1) * ew];
            let (done, next) = ws.split_at_mut((t + 1) * kn);
            let w = &done[t * kn..];
            resids[t] = policy_step(s, w, ext, b.scored[t], &mut ll);
            if t + 1 == steps {
                break;
            }
            let acts = &mut tape[rec(t) * width..][..width];
            let (u, rest) = acts.split_at_mut(n_in);
            fill_input::<S>(s, u, w, ext, &self.mask.dropped);
            self.mlp.forward(s, u, rest);
            advance::<S>(
                &mut next[..kn],
                w,
                &self.gamma,
                &rest[out_at..],
                &b.active[t],
            );
        }
        if !gradient {
            return BlockResult {
                ll,
                d_params: Vec::new(),
                d_w0: Vec::new(),
            };
        }
        let layers: Vec<&Dense32> = self.mlp.layers.iter().collect();
        let mut g = Grads::new(s, self.n_params(), &layers);
        // λ_{t+1}, turned into λ_t in place (`[K, L]`, f64).
        let mut lambda = vec![0.0f64; kn];
        let mut d_in = vec![zero; n_in];
        for t in (0..steps).rev() {
            let ext = &b.ext[t * ew..(t + 1) * ew];
            if t + 1 < steps {
                if g.pending == 0 {
                    // The next chunk (trials t − CHUNK_STEPS + 1 ..= t, contracted together),
                    // trials side by side: they are independent given w_t.
                    let chunk = t.saturating_sub(ring)..=t;
                    let mut bases = [0usize; CHUNK_STEPS];
                    for (base, c) in bases.iter_mut().zip(chunk.clone()) {
                        let w = &ws[c * kn..(c + 1) * kn];
                        let ext = &b.ext[c * ew..(c + 1) * ew];
                        *base = rec(c) * width;
                        let u = &mut tape[*base..][..n_in];
                        fill_input::<S>(s, u, w, ext, &self.mask.dropped);
                    }
                    let bases = &bases[..chunk.count()];
                    self.mlp.forward_trials(s, None, tape, (bases, n_in));
                }
                let rest = &tape[rec(t) * width + n_in..][..width - n_in];
                let (g_gamma, d_o) = g.recent_and_d(self.gamma_at, self.mlp.last_slot());
                update_adjoint(
                    s,
                    &self.gamma,
                    &rest[out_at..],
                    &b.active[t],
                    &lambda,
                    g_gamma,
                    d_o,
                );
                self.mlp.backward(s, rest, &mut g, &mut d_in, k);
                // (A constant 0 in u_t when w_t is dropped.)
                if self.mask.sees_weights {
                    add_lanes::<S>(&mut lambda, &d_in);
                }
                g.tick(t, || self.mlp.ring_rows(tape, ring));
            }
            add_policy_gradient::<S>(&mut lambda, ext, &resids[t]);
        }
        g.flush(&self.mlp.ring_rows(tape, ring));
        BlockResult {
            ll,
            d_params: g.total,
            d_w0: lambda,
        }
    }
}

/// The RNN rule's f32 kernel.
struct Rnn32 {
    mask: InputMask,
    input: Dense32,
    hidden: Dense32,
    head: Mlp32,
    gamma: Vec<f32>,
    gamma_at: usize,
    size: usize,
    tape_budget: usize,
    /// The tape mode to use whatever the budget (tests); `None`: [`Rnn32::tape_mode`].
    force_tape: Option<TapeMode>,
}

/// What the RNN kernel's forward pass keeps for the adjoint pass, besides w_t and h_t.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TapeMode {
    /// Every trial's record (`[steps, record]`).
    Whole,
    /// Every trial's gates r, z, n (`[steps, 3 · size]`); the adjoint pass recomputes gh_n
    /// and the head into a ring of [`CHUNK_STEPS`] records (a third of the recomputation's
    /// multiply-adds, for under half the whole tape's bytes).
    Gates,
    /// Nothing: the adjoint pass recomputes each record into the ring.
    Ring,
}

impl Rnn32 {
    /// The most the block's tape may keep within the budget: the whole tape, else the
    /// gates, else nothing, for `steps` trials of vectors of `vector_bytes`.
    fn tape_mode(&self, steps: usize, vector_bytes: usize) -> TapeMode {
        if let Some(mode) = self.force_tape {
            return mode;
        }
        let bytes = |per_trial: usize| steps * per_trial * vector_bytes;
        if bytes(self.record_len()) <= self.tape_budget {
            TapeMode::Whole
        } else if bytes(3 * self.size) <= self.tape_budget {
            TapeMode::Gates
        } else {
            TapeMode::Ring
        }
    }

    /// One step's record: u, r, z, n, gh_n, then the head's activations after its input
    /// (the input, h_{t+1}, is kept with every h_t). In [`TapeMode::Gates`] r, z, n go to
    /// the gates' tape and the record's slots for them are left unused.
    fn record_len(&self) -> usize {
        self.input.n_in + 4 * self.size + self.head.rest_width()
    }

    /// Where the head's activations start in a record.
    fn head_at(&self) -> usize {
        self.input.n_in + 4 * self.size
    }

    /// Where each layer's inputs are kept (by slot): u in the records of `tape`, h_t and
    /// (the head's input) h_{t+1} in `hs` (in reverse: h_t in row `steps − 1 − t`), the
    /// head's hidden activations in the records. `ring`, `flip`: the records' [`Rows`]
    /// mask and reversal.
    fn rows<'a, V>(
        &'a self,
        tape: &'a [V],
        hs: &'a [V],
        steps: usize,
        (ring, flip): (usize, Option<usize>),
    ) -> Vec<Rows<'a, V>> {
        let len = self.record_len();
        let h = |shift| Rows {
            data: hs,
            offset: 0,
            stride: self.size,
            shift,
            mask: usize::MAX,
            flip: Some(steps - 1),
        };
        let u = Rows {
            data: tape,
            offset: 0,
            stride: len,
            shift: 0,
            mask: ring,
            flip,
        };
        let mut rows = vec![u, h(0)];
        rows.extend(self.head.rows(h(1), tape, self.head_at(), len, ring, flip));
        rows
    }

    /// One step from (w, h) with trial inputs `ext` into `record` and `h_next`; `gi`, `gh`
    /// scratch. The gates r, z, n go to `rzn` where given (the gates' tape), else into the
    /// record.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn step<S: Simd>(
        &self,
        s: S,
        record: &mut [S::f32s],
        rzn: Option<&mut [S::f32s]>,
        w: &[f64],
        h: &[S::f32s],
        h_next: &mut [S::f32s],
        ext: &[S::f32s],
        gi: &mut [S::f32s],
        gh: &mut [S::f32s],
    ) {
        let size = self.size;
        let (u, rest) = record.split_at_mut(self.input.n_in);
        let (gates, head) = rest.split_at_mut(4 * size);
        let (in_record, ghn) = gates.split_at_mut(3 * size);
        let rzn = rzn.unwrap_or(in_record);
        fill_input::<S>(s, u, w, ext, &self.mask.dropped);
        self.input.forward(s, u, gi, |_, a| a);
        self.hidden.forward(s, h, gh, |_, a| a);
        self.gates(s, gi, gh, h, (rzn, ghn), Some(h_next));
        self.head.forward(s, h_next, head);
    }

    /// The GRU's gates (r, z, n into `rzn`, gh_n into `ghn`) from the products `gi`, `gh`
    /// and h_t, and h_{t+1} into `h_next` when given (PyTorch's GRU cell).
    #[inline(always)]
    fn gates<S: Simd>(
        &self,
        s: S,
        gi: &[S::f32s],
        gh: &[S::f32s],
        h: &[S::f32s],
        (rzn, ghn): (&mut [S::f32s], &mut [S::f32s]),
        mut h_next: Option<&mut [S::f32s]>,
    ) {
        let size = self.size;
        let (r, rest) = rzn.split_at_mut(size);
        let (z, n) = rest.split_at_mut(size);
        for j in 0..size {
            let rj = sigmoid_v(s, s.add_f32s(gi[j], gh[j]));
            let zj = sigmoid_v(s, s.add_f32s(gi[size + j], gh[size + j]));
            let nj = tanh_v(s, s.mul_add_f32s(rj, gh[2 * size + j], gi[2 * size + j]));
            r[j] = rj;
            z[j] = zj;
            n[j] = nj;
            ghn[j] = gh[2 * size + j];
            if let Some(h_next) = h_next.as_deref_mut() {
                h_next[j] = s.mul_add_f32s(zj, s.sub_f32s(h[j], nj), nj);
            }
        }
    }

    /// Recomputes the records of independent trials `chunk` into `tape` from the kept w_t
    /// (`ws`) and h_t (`hs`, reversed over `steps`), T trials at a time through every
    /// product (see [`Dense32::forward_trials`]): the same numbers [`Rnn32::step`] wrote.
    /// `gi`, `gh`: scratch of [`CHUNK_STEPS`] × 3 · size.
    /// With `gates_kept`, r, z, n are on a tape of their own: only gh_n (the hidden
    /// product's last third) and the head are recomputed.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn recompute<S: Simd>(
        &self,
        s: S,
        gates_kept: bool,
        chunk: std::ops::RangeInclusive<usize>,
        rec: impl Fn(usize) -> usize,
        (tape, ws, hs): (&mut [S::f32s], &[f64], &mut [S::f32s]),
        (b, steps): (&Block<'_, S>, usize),
        gi: &mut [S::f32s],
        gh: &mut [S::f32s],
    ) {
        let (size, len, kn) = (
            self.size,
            self.record_len(),
            self.gamma.len() * S::F32_LANES,
        );
        let ew = self.gamma.len() + 4;
        let count = chunk.clone().count();
        assert!(count <= CHUNK_STEPS && *chunk.end() + 1 < steps.max(1));
        let mut records = [0usize; CHUNK_STEPS];
        let mut h_rows = [0usize; CHUNK_STEPS];
        let mut next_rows = [0usize; CHUNK_STEPS];
        let mut g_rows = [0usize; CHUNK_STEPS];
        for (i, c) in chunk.enumerate() {
            records[i] = rec(c) * len;
            h_rows[i] = (steps - 1 - c) * size;
            next_rows[i] = (steps - 2 - c) * size;
            g_rows[i] = i * 3 * size;
            let u = &mut tape[records[i]..][..self.input.n_in];
            let (w, ext) = (&ws[c * kn..(c + 1) * kn], &b.ext[c * ew..(c + 1) * ew]);
            fill_input::<S>(s, u, w, ext, &self.mask.dropped);
        }
        let (records, h_rows) = (&records[..count], &h_rows[..count]);
        let (next_rows, g_rows) = (&next_rows[..count], &g_rows[..count]);
        let keep = |_, a| a;
        let n_in = self.input.n_in;
        if gates_kept {
            // gh_n straight into the records' gh_n slots.
            let (h, ghn) = ((h_rows, 0), (records, n_in + 3 * size));
            let n_rows = 2 * size..3 * size;
            self.hidden
                .forward_trials_of(s, Some(hs), h, tape, ghn, n_rows, keep);
            let head_input = Some((&mut *hs, next_rows, 0));
            self.head
                .forward_trials(s, head_input, tape, (records, self.head_at()));
            return;
        }
        let input = (records, 0);
        self.input
            .forward_trials(s, Some(tape), input, gi, (g_rows, 0), keep);
        self.hidden
            .forward_trials(s, Some(hs), (h_rows, 0), gh, (g_rows, 0), keep);
        for i in 0..count {
            let (gi, gh) = (&gi[g_rows[i]..][..3 * size], &gh[g_rows[i]..][..3 * size]);
            let h = &hs[h_rows[i]..][..size];
            let gates = &mut tape[records[i] + n_in..][..4 * size];
            self.gates(s, gi, gh, h, gates.split_at_mut(3 * size), None);
        }
        let head_input = Some((&mut *hs, next_rows, 0));
        self.head
            .forward_trials(s, head_input, tape, (records, self.head_at()));
    }
}

impl LaneKernel for Rnn32 {
    fn n_params(&self) -> usize {
        self.gamma_at + self.gamma.len()
    }

    fn gate(&self) -> crate::structure::Gate {
        self.mask.gate
    }

    #[inline(always)]
    fn block<S: Simd>(&self, s: S, b: &Block<'_, S>, w0: Vec<f64>, gradient: bool) -> BlockResult {
        let nl = S::F32_LANES;
        let k = self.gamma.len();
        let kn = k * nl;
        let size = self.size;
        let ew = k + 4;
        let steps = b.steps;
        let len = self.record_len();
        let zero = s.splat_f32s(0.0);
        // With gradients, every trial's record while they fit the budget, else every
        // trial's gates and a ring of the last CHUNK_STEPS records that the adjoint pass
        // recomputes (in part), else the ring alone.
        let mode = self.tape_mode(steps, std::mem::size_of::<S::f32s>());
        let keep = gradient && mode == TapeMode::Whole;
        let gates_kept = gradient && mode == TapeMode::Gates;
        let tape_len = match (gradient, keep) {
            (true, true) => steps * len,
            (true, false) => CHUNK_STEPS * len,
            (false, _) => len,
        };
        // r, z, n of trial t at row steps − 1 − t (read in ascending order backwards).
        let gates_w = 3 * size;
        let gates_len = if gates_kept { steps * gates_w } else { 0 };
        let mut gates_buf = Tape::of_lanes::<S>(gates_len);
        let gates_tape = gates_buf.lanes::<S>(gates_len);
        let n_in = self.input.n_in;
        // Kept records are in reverse (trial t in record steps − 1 − t) so that the adjoint
        // pass reads them at ascending addresses; a ring is indexed by t mod CHUNK_STEPS.
        let (ring, flip) = if keep {
            (usize::MAX, Some(steps.max(1) - 1))
        } else {
            (CHUNK_STEPS - 1, None)
        };
        let rec = |t: usize| flip.map_or(t & ring, |last| last - t);
        let mut tape_buf = Tape::of_lanes::<S>(tape_len);
        let tape = tape_buf.lanes::<S>(tape_len);
        // w_t (f64, `[steps, K, L]`), h_t (`[steps, size]`, in reverse like the records)
        // and the policy's residual.
        let rows_n = steps.max(1);
        let mut w_buf = Tape::take(rows_n * kn * 8);
        let ws = w_buf.f64s(rows_n * kn);
        let mut h_buf = Tape::of_lanes::<S>(rows_n * size);
        let hs = h_buf.lanes::<S>(rows_n * size);
        let mut resid_buf = Tape::of_lanes::<S>(steps);
        let resids = resid_buf.lanes::<S>(steps);
        ws[..kn].copy_from_slice(&w0);
        hs[(rows_n - 1) * size..].fill(zero);
        let (mut gi, mut gh) = (vec![zero; 3 * size], vec![zero; 3 * size]);
        let chunk_gates = if keep { 0 } else { CHUNK_STEPS * 3 * size };
        let (mut gi_chunk, mut gh_chunk) = (vec![zero; chunk_gates], vec![zero; chunk_gates]);
        let mut ll = vec![0.0; nl];
        let head_at = self.head_at();
        let out_at = head_at + self.head.output_at();
        for t in 0..steps {
            let ext = &b.ext[t * ew..(t + 1) * ew];
            let (done, next) = ws.split_at_mut((t + 1) * kn);
            let w = &done[t * kn..];
            resids[t] = policy_step(s, w, ext, b.scored[t], &mut ll);
            if t + 1 == steps {
                break;
            }
            let record = if keep {
                &mut tape[rec(t) * len..][..len]
            } else {
                &mut tape[..len]
            };
            let (h, h_next) = h_pair(hs, t, steps, size);
            // The gates straight onto their tape (a copy from the record was a memmove of
            // 6 KB a trial).
            let rzn = if gates_kept {
                Some(&mut gates_tape[(steps - 1 - t) * gates_w..][..gates_w])
            } else {
                None
            };
            self.step(s, record, rzn, w, h, h_next, ext, &mut gi, &mut gh);
            advance::<S>(
                &mut next[..kn],
                w,
                &self.gamma,
                &record[out_at..],
                &b.active[t],
            );
        }
        if !gradient {
            return BlockResult {
                ll,
                d_params: Vec::new(),
                d_w0: Vec::new(),
            };
        }
        let mut layers = vec![&self.input, &self.hidden];
        layers.extend(&self.head.layers);
        let mut g = Grads::new(s, self.n_params(), &layers);
        let (input_slot, hidden_slot) = (self.input.slot, self.hidden.slot);
        // λ_{t+1} of w and of h, turned into λ_t in place.
        let mut lambda_w = vec![0.0f64; kn];
        let mut lambda_h = vec![zero; size];
        let mut d_a = vec![zero; size.max(self.input.n_in)];
        let mut d_b = vec![zero; size];
        let mut d_hp = vec![zero; size];
        let one = s.splat_f32s(1.0);
        for t in (0..steps).rev() {
            let ext = &b.ext[t * ew..(t + 1) * ew];
            if t + 1 < steps {
                let at = rec(t) * len;
                if !keep && g.pending == 0 {
                    // The next chunk (trials t − CHUNK_STEPS + 1 ..= t, contracted together),
                    // trials side by side: they are independent given (w_t, h_t).
                    let chunk = t.saturating_sub(CHUNK_STEPS - 1)..=t;
                    self.recompute(
                        s,
                        gates_kept,
                        chunk,
                        rec,
                        (&mut *tape, &*ws, &mut *hs),
                        (b, steps),
                        &mut gi_chunk,
                        &mut gh_chunk,
                    );
                }
                let record = &tape[at..at + len];
                let h = &hs[(steps - 1 - t) * size..][..size];
                let (_, rest) = record.split_at(n_in);
                let (gates, rest) = rest.split_at(gates_w);
                let gates = if gates_kept {
                    &gates_tape[(steps - 1 - t) * gates_w..][..gates_w]
                } else {
                    gates
                };
                let (r, rest_gates) = gates.split_at(size);
                let (z, n) = rest_gates.split_at(size);
                let (ghn, head) = rest.split_at(size);
                let (g_gamma, d_o) = g.recent_and_d(self.gamma_at, self.head.last_slot());
                update_adjoint(
                    s,
                    &self.gamma,
                    &record[out_at..],
                    &b.active[t],
                    &lambda_w,
                    g_gamma,
                    d_o,
                );
                self.head.backward(s, head, &mut g, &mut d_a, size);
                // h' = n + z (h − n); n = tanh(gi_n + r gh_n); r, z = σ(gi + gh).
                let (d_gi, d_gh) = g.d_two(input_slot, hidden_slot);
                for j in 0..size {
                    let d = s.add_f32s(d_a[j], lambda_h[j]);
                    d_hp[j] = d;
                    let (rj, zj, nj) = (r[j], z[j], n[j]);
                    let d_n = s.mul_f32s(
                        s.mul_f32s(d, s.sub_f32s(one, zj)),
                        s.negate_mul_add_f32s(nj, nj, one),
                    );
                    let d_z = s.mul_f32s(
                        s.mul_f32s(d, s.sub_f32s(h[j], nj)),
                        s.negate_mul_add_f32s(zj, zj, zj),
                    );
                    let d_r =
                        s.mul_f32s(s.mul_f32s(d_n, ghn[j]), s.negate_mul_add_f32s(rj, rj, rj));
                    d_gi[j] = d_r;
                    d_gh[j] = d_r;
                    d_gi[size + j] = d_z;
                    d_gh[size + j] = d_z;
                    d_gi[2 * size + j] = d_n;
                    d_gh[2 * size + j] = s.mul_f32s(d_n, rj);
                }
                self.input
                    .input_adjoint(s, g.d(input_slot), &mut d_a, k, |_, a| a);
                if self.mask.sees_weights {
                    add_lanes::<S>(&mut lambda_w, &d_a);
                }
                self.hidden
                    .input_adjoint(s, g.d(hidden_slot), &mut d_b, size, |_, a| a);
                for j in 0..size {
                    lambda_h[j] = s.mul_add_f32s(d_hp[j], z[j], d_b[j]);
                }
                g.tick(t, || self.rows(tape, hs, steps, (ring, flip)));
            }
            add_policy_gradient::<S>(&mut lambda_w, ext, &resids[t]);
        }
        g.flush(&self.rows(tape, hs, steps, (ring, flip)));
        BlockResult {
            ll,
            d_params: g.total,
            d_w0: lambda_w,
        }
    }
}

/// The f32 kernel of `rule` read off the flat parameters.
enum Built32 {
    Dnn(Dnn32),
    Rnn(Box<Rnn32>),
}

fn build(rule: &ScanRule, params: &[f64]) -> Built32 {
    assert_eq!(params.len(), rule.n_params(), "flat parameter length");
    let mut reader = Reader {
        params,
        offset: 0,
        layers: 0,
    };
    let k = rule.n_features();
    let mask = InputMask::new(rule.structure(), k);
    match rule {
        ScanRule::Dnn { sizes, .. } => {
            let mlp = reader.mlp(sizes);
            let gamma_at = reader.offset;
            Built32::Dnn(Dnn32 {
                mask,
                mlp,
                gamma: reader.take(k),
                gamma_at,
            })
        }
        ScanRule::Rnn {
            input,
            hidden,
            head,
            ..
        } => {
            let gru_input = reader.dense(*input, 3 * hidden);
            let gru_hidden = reader.dense(*hidden, 3 * hidden);
            let head = reader.mlp(head);
            let gamma_at = reader.offset;
            Built32::Rnn(Box::new(Rnn32 {
                mask,
                input: gru_input,
                hidden: gru_hidden,
                head,
                gamma: reader.take(k),
                gamma_at,
                size: *hidden,
                tape_budget: TAPE_BUDGET_BYTES_F32,
                force_tape: None,
            }))
        }
    }
}

/// Which SIMD instruction set the f32 kernels use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SimdLevel {
    /// The widest this CPU has, with AVX-512 only when the cohort fills its 16 lanes.
    #[default]
    Auto,
    /// AVX-512 (16 f32 lanes), where the CPU has it, else as `Auto`.
    Avx512,
    /// AVX2 + FMA (8 f32 lanes), where the CPU has it, else as `Auto`.
    Avx2,
    /// No SIMD: one lane (pulp's scalar flavour), the same code on every CPU.
    Portable,
}

/// [`crate::fused::scan`] in f32 with f64 accumulation: the log-likelihood of each animal
/// `[animals]` and, with `gradient`, ∂LL_a/∂θ `[animals × P]` and ∂LL_a/∂w0_a
/// `[animals × K]` (row-major, f64). Same arguments and output as the f64 reference;
/// agrees with it to ~1e-7 relative on log-likelihoods and ~1e-5 on gradients (tested in
/// `tests/f32_kernel.rs`).
///
/// # Panics
/// If `params` or `w0` have the wrong length (a programming error).
pub fn scan_f32(
    rule: &ScanRule,
    params: &[f64],
    w0: &[f64],
    animals: &[HostSequence],
    gradient: bool,
) -> ScanOutput {
    scan_f32_with(SimdLevel::Auto, rule, params, w0, animals, gradient)
}

/// [`scan_f32`] on a chosen SIMD level (for tests and benchmarks).
///
/// # Panics
/// As [`scan_f32`].
pub fn scan_f32_with(
    level: SimdLevel,
    rule: &ScanRule,
    params: &[f64],
    w0: &[f64],
    animals: &[HostSequence],
    gradient: bool,
) -> ScanOutput {
    scan_lanes(level, rule, params, w0, animals, None, gradient)
}

/// [`scan_f32`] of a shared cohort: the same output, with the cohort's trials packed into
/// lane blocks once and kept (while the cohort is alive, up to 384 MB of packed trials
/// over the cohorts scanned last) for the next scan of the same cohort — every epoch of a
/// training loop scans the same `SharedSequences`.
///
/// # Panics
/// As [`scan_f32`].
pub fn scan_f32_shared(
    rule: &ScanRule,
    params: &[f64],
    w0: &[f64],
    animals: &SharedSequences,
    gradient: bool,
) -> ScanOutput {
    scan_lanes(
        SimdLevel::Auto,
        rule,
        params,
        w0,
        animals,
        Some(animals),
        gradient,
    )
}

/// The f32 scan, the packed blocks kept for `shared` (the same cohort as `animals`).
fn scan_lanes(
    level: SimdLevel,
    rule: &ScanRule,
    params: &[f64],
    w0: &[f64],
    animals: &[HostSequence],
    shared: Option<&SharedSequences>,
    gradient: bool,
) -> ScanOutput {
    assert_eq!(w0.len(), animals.len() * rule.n_features(), "w0 length");
    let threads = denovo_rules::threads::kernel_threads()
        .min(animals.len())
        .max(1);
    let cohort = Cohort {
        animals,
        shared,
        plan: plan(level, animals, threads),
        threads,
    };
    match build(rule, params) {
        Built32::Dnn(kernel) => run_blocks(&cohort, &kernel, w0, gradient),
        Built32::Rnn(mut kernel) => {
            kernel.tape_budget = TAPE_BUDGET_BYTES_F32 / threads;
            run_blocks(&cohort, &*kernel, w0, gradient)
        }
    }
}

/// A scan's animals and how they are cut into lane blocks.
struct Cohort<'a> {
    animals: &'a [HostSequence],
    /// The same animals, shared, when their packed blocks may be kept between scans.
    shared: Option<&'a SharedSequences>,
    plan: Plan,
    threads: usize,
}

/// A scan's blocks: each block's animals (indices into the scan's input) and its lane
/// count; block b runs on thread `b % threads`.
type Plan = Vec<(Vec<usize>, usize)>;

/// The blocks `level` runs `animals` in on `threads` threads: [`blocks`] of one lane count,
/// except that `Auto` with AVX-512 ends each thread's share with an 8-lane block (AVX2)
/// where the share's remainder fits in one ([`mixed_blocks`]).
fn plan(level: SimdLevel, animals: &[HostSequence], threads: usize) -> Plan {
    let lanes = lane_count(level, animals.len(), threads);
    if level == SimdLevel::Auto && lanes == 16 {
        return mixed_blocks(animals, threads);
    }
    blocks(animals, lanes, threads)
        .into_iter()
        .map(|members| (members, lanes))
        .collect()
}

/// Each thread's share of `animals` (sorted by decreasing length) in full blocks of 16
/// lanes, then the remainder in one block of 8 lanes when it fits, else of 16: 140
/// animals on 2 threads run as 4 × 16 + 6 per thread (72 lanes, of which 70 used) instead
/// of 5 blocks of 14 (80 lanes). An 8-lane block costs ~0.7 of a 16-lane one on the Zen 4
/// measured (docs/perf.md), less than half a block's padding. Blocks come in rounds of
/// `threads`, one per thread, so that block b runs on thread `b % threads`.
fn mixed_blocks(animals: &[HostSequence], threads: usize) -> Plan {
    let n = animals.len();
    let threads = threads.max(1);
    let order = by_length(animals);
    let share = n.div_ceil(threads);
    let (full, rest) = (share / 16, share % 16);
    let mut widths = vec![16; full];
    match rest {
        0 => {}
        1..=8 => widths.push(8),
        _ => widths.push(16),
    }
    let mut plan = Vec::new();
    let mut next = order.into_iter();
    let rounds = widths.len();
    for (round, &width) in widths.iter().enumerate() {
        // Full blocks but in the last round, which splits what is left evenly.
        let left = next.len();
        for t in 0..threads {
            let take = if round + 1 < rounds {
                width
            } else {
                (left / threads + usize::from(t < left % threads)).min(width)
            };
            let members: Vec<usize> = next.by_ref().take(take).collect();
            if !members.is_empty() {
                plan.push((members, width));
            }
        }
    }
    debug_assert_eq!(next.len(), 0, "every animal in a block");
    plan
}

/// Cuts `n` animals, sorted by decreasing length, into blocks of at most `lanes`, the
/// number of blocks a multiple of `threads` where there are enough animals; block b goes
/// to thread `b % threads`.
fn blocks(animals: &[HostSequence], lanes: usize, threads: usize) -> Vec<Vec<usize>> {
    let n = animals.len();
    let order = by_length(animals);
    let count = n.div_ceil(lanes).div_ceil(threads) * threads;
    let per = n.div_ceil(count.clamp(1, n.max(1))).max(1);
    order.chunks(per).map(<[usize]>::to_vec).collect()
}

/// The animals' indices by decreasing length (scored end), so that a block's members end
/// close together.
fn by_length(animals: &[HostSequence]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..animals.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(animals[i].score.end));
    order
}

/// One thread's share of a scan, as a [`WithSimd`] operation: blocks `mine` of `all`,
/// read from `packed` when the cohort's blocks are kept, else packed here.
struct ThreadOp<'a, K> {
    lanes: usize,
    kernel: &'a K,
    animals: &'a [HostSequence],
    w0: &'a [f64],
    all: &'a Plan,
    packed: Option<&'a [Packed]>,
    mine: Vec<usize>,
    gradient: bool,
}

impl<K: LaneKernel> WithSimd for ThreadOp<'_, K> {
    /// Per block: its index, the block when packed here, its result.
    type Output = Vec<(usize, Option<Packed>, BlockResult)>;

    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) -> Self::Output {
        let n = S::F32_LANES;
        assert_eq!(n, self.lanes, "blocks cut for the dispatched lane count");
        let k = self.w0.len() / self.animals.len().max(1);
        let mut results = Vec::with_capacity(self.mine.len());
        for &i in &self.mine {
            let fresh = match self.packed {
                Some(_) => None,
                None => Some(Packed::new(
                    self.animals,
                    self.all[i].0.clone(),
                    n,
                    k,
                    self.kernel.gate(),
                )),
            };
            let packed = match (&fresh, self.packed) {
                (Some(p), _) => p,
                (None, Some(kept)) => &kept[i],
                (None, None) => unreachable!("packed above"),
            };
            let mut w = vec![0.0f64; k * n];
            for (l, &m) in packed.members.iter().enumerate() {
                for j in 0..k {
                    w[j * n + l] = self.w0[m * k + j];
                }
            }
            let result = self.kernel.block(s, &packed.view::<S>(k), w, self.gradient);
            results.push((i, fresh, result));
        }
        results
    }
}

/// The lane count `level` runs with for `n` animals on `threads` threads.
fn lane_count(level: SimdLevel, n: usize, threads: usize) -> usize {
    if level == SimdLevel::Portable {
        return 1;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let v4 = pulp::x86::V4::try_new().is_some();
        let v3 = pulp::x86::V3::try_new().is_some();
        let wide = match level {
            SimdLevel::Avx512 => v4,
            SimdLevel::Auto => v4 && n >= 12 * threads,
            _ => false,
        };
        if wide {
            return 16;
        }
        if v3 {
            return 8;
        }
    }
    let _ = (n, threads);
    pulp::Arch::new().dispatch(LaneCount)
}

struct LaneCount;

impl WithSimd for LaneCount {
    type Output = usize;
    fn with_simd<S: Simd>(self, _: S) -> usize {
        S::F32_LANES
    }
}

/// Runs `op` on the SIMD flavour `level` asks for (AVX-512 for `Auto` where the CPU has
/// it).
pub(crate) fn dispatch_op<Op: WithSimd>(level: SimdLevel, op: Op) -> Op::Output {
    #[cfg(target_arch = "x86_64")]
    {
        if matches!(level, SimdLevel::Auto | SimdLevel::Avx512)
            && let Some(v4) = pulp::x86::V4::try_new()
        {
            return Simd::vectorize(v4, op);
        }
        if level != SimdLevel::Portable
            && let Some(v3) = pulp::x86::V3::try_new()
        {
            return Simd::vectorize(v3, op);
        }
    }
    if level == SimdLevel::Portable {
        return Simd::vectorize(pulp::Scalar::new(), op);
    }
    pulp::Arch::new().dispatch(op)
}

/// Runs `op` with the SIMD flavour of `lanes` lanes.
fn dispatch<K: LaneKernel>(
    lanes: usize,
    op: ThreadOp<'_, K>,
) -> Vec<(usize, Option<Packed>, BlockResult)> {
    #[cfg(target_arch = "x86_64")]
    {
        if lanes == 16
            && let Some(v4) = pulp::x86::V4::try_new()
        {
            return Simd::vectorize(v4, op);
        }
        if lanes == 8
            && let Some(v3) = pulp::x86::V3::try_new()
        {
            return Simd::vectorize(v3, op);
        }
    }
    if lanes == 1 {
        return Simd::vectorize(pulp::Scalar::new(), op);
    }
    pulp::Arch::new().dispatch(op)
}

/// Runs `kernel` over every animal: blocks of lanes, split across threads.
fn run_blocks<K: LaneKernel>(
    cohort: &Cohort<'_>,
    kernel: &K,
    w0: &[f64],
    gradient: bool,
) -> ScanOutput {
    let (animals, threads) = (cohort.animals, cohort.threads);
    let n = animals.len();
    let k = w0.len() / n.max(1);
    let p = kernel.n_params();
    let mut out = ScanOutput {
        log_likelihood: vec![0.0; n],
        d_params: vec![0.0; if gradient { n * p } else { 0 }],
        d_w0: vec![0.0; if gradient { n * k } else { 0 }],
    };
    if n == 0 {
        return out;
    }
    let all = &cohort.plan;
    let key = (
        all.iter().map(|(_, lanes)| *lanes).collect(),
        threads,
        k,
        kernel.gate(),
    );
    let kept = cohort.shared.and_then(|a| packed_lookup(a, key.clone()));
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let mine: Vec<usize> = (t..all.len()).step_by(threads).collect();
                let packed = kept.as_deref().map(Vec::as_slice);
                scope.spawn(move || {
                    // The thread's blocks by lane count, each count on its SIMD flavour,
                    // the narrow ones first: an 8-lane block's whole tape (129 MB at 20,000
                    // trials) then serves, from the pool, the 16-lane blocks' gates (123
                    // MB); the other way round the pool would keep both.
                    let mut widths: Vec<usize> = mine.iter().map(|&i| all[i].1).collect();
                    widths.sort_unstable();
                    widths.dedup();
                    let mut done = Vec::with_capacity(mine.len());
                    for lanes in widths {
                        let op = ThreadOp {
                            lanes,
                            kernel,
                            animals,
                            w0,
                            all,
                            packed,
                            mine: mine
                                .iter()
                                .copied()
                                .filter(|&i| all[i].1 == lanes)
                                .collect(),
                            gradient,
                        };
                        done.extend(dispatch(lanes, op));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("scan thread panicked"))
            .collect()
    });
    let mut fresh: Vec<Option<Packed>> = (0..all.len()).map(|_| None).collect();
    for (i, packed, r) in results.into_iter().flatten() {
        fresh[i] = packed;
        let nl = r.ll.len();
        for (l, &m) in all[i].0.iter().enumerate() {
            out.log_likelihood[m] = r.ll[l];
            if gradient {
                for j in 0..p {
                    out.d_params[m * p + j] = r.d_params[j * nl + l];
                }
                for j in 0..k {
                    out.d_w0[m * k + j] = r.d_w0[j * nl + l];
                }
            }
        }
    }
    if let (Some(shared), None) = (cohort.shared, kept) {
        let packed: Option<Vec<Packed>> = fresh.into_iter().collect();
        if let Some(packed) = packed {
            packed_store(shared, key, std::sync::Arc::new(packed));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The polynomial functions against `std`'s, on pulp's scalar flavour.
    #[test]
    fn polynomials_match_std() {
        let s = pulp::Scalar::new();
        for i in -4000..=4000 {
            let x = i as f32 / 100.0;
            let xd = f64::from(x);
            let e = f64::from(exp_v(s, x));
            assert!((e - xd.exp()).abs() <= 3e-7 * xd.exp(), "exp({x}) = {e}");
            let sp = f64::from(softplus_v(s, x));
            let want = xd.max(0.0) + (-xd.abs()).exp().ln_1p();
            assert!(
                (sp - want).abs() <= 4e-7 * want.max(1.0),
                "softplus({x}) = {sp}, want {want}"
            );
            let th = f64::from(tanh_v(s, x));
            assert!((th - xd.tanh()).abs() <= 3e-7, "tanh({x}) = {th}");
            let sg = f64::from(sigmoid_v(s, x));
            assert!(
                (sg - 1.0 / (1.0 + (-xd).exp())).abs() <= 2e-7,
                "σ({x}) = {sg}"
            );
        }
    }

    /// The RNN kernel keeping only its gates, or nothing, and recomputing the rest into a
    /// ring (the tape over budget) gives exactly what keeping every record gives: animals
    /// longer and shorter than the ring, partly scored, on every SIMD level.
    #[test]
    fn rnn_ring_recompute_equals_kept_tape() {
        let animals: Vec<HostSequence> = [53usize, 40, 17, 9, 70]
            .iter()
            .enumerate()
            .map(|(i, &len)| HostSequence {
                x: (0..len)
                    .flat_map(|t| [((t * 5 + i) % 7) as f64 / 3.0 - 1.0, 1.0])
                    .collect(),
                choice: (0..len).map(|t| ((t * 3 + i) % 2) as f64).collect(),
                reward: (0..len).map(|t| ((t / 2 + i) % 2) as f64).collect(),
                answer: (0..len).map(|t| ((t / 3) % 2) as f64).collect(),
                session_start: (0..len).map(|t| f64::from(u8::from(t % 11 == 0))).collect(),
                score: (i % 2)..len - (i % 3),
            })
            .collect();
        let rule = ScanRule::Rnn {
            input: 8,
            hidden: 5,
            head: vec![5, 7, 2],
            structure: Default::default(),
        };
        let params: Vec<f64> = (0..rule.n_params())
            .map(|i| ((i * 37 % 23) as f64 - 11.0) / 30.0)
            .collect();
        let w0: Vec<f64> = (0..animals.len() * 2)
            .map(|i| i as f64 / 10.0 - 0.3)
            .collect();
        for level in [SimdLevel::Portable, SimdLevel::Avx2, SimdLevel::Auto] {
            let Built32::Rnn(mut kernel) = build(&rule, &params) else {
                unreachable!("an RNN rule")
            };
            let cohort = Cohort {
                animals: &animals,
                shared: None,
                plan: plan(level, &animals, 2),
                threads: 2,
            };
            let kept = run_blocks(&cohort, &*kernel, &w0, true);
            for mode in [TapeMode::Gates, TapeMode::Ring] {
                kernel.force_tape = Some(mode);
                let other = run_blocks(&cohort, &*kernel, &w0, true);
                assert_eq!(
                    kept.log_likelihood, other.log_likelihood,
                    "{level:?} {mode:?}"
                );
                assert_eq!(kept.d_params, other.d_params, "{level:?} {mode:?}");
                assert_eq!(kept.d_w0, other.d_w0, "{level:?} {mode:?}");
            }
            kernel.force_tape = None;
            kernel.tape_budget = 0;
            let ring = run_blocks(&cohort, &*kernel, &w0, true);
            assert_eq!(kept.log_likelihood, ring.log_likelihood, "{level:?}");
            assert_eq!(kept.d_params, ring.d_params, "{level:?}");
            assert_eq!(kept.d_w0, ring.d_w0, "{level:?}");
            assert!(kept.d_params.iter().any(|&g| g != 0.0));
        }
    }

    #[test]
    fn blocks_cover_every_animal_once() {
        let seq = |len: usize| HostSequence {
            x: vec![0.0; 2 * len],
            choice: vec![0.0; len],
            reward: vec![0.0; len],
            answer: vec![0.0; len],
            session_start: vec![0.0; len],
            score: 0..len,
        };
        for n in [1, 2, 3, 12, 17, 140] {
            let animals: Vec<HostSequence> = (0..n).map(|i| seq(5 + i % 7)).collect();
            for (lanes, threads) in [(8, 2), (16, 2), (8, 1), (8, 3), (1, 2)] {
                let b = blocks(&animals, lanes, threads);
                assert!(b.iter().all(|m| !m.is_empty() && m.len() <= lanes));
                let mut all: Vec<usize> = b.concat();
                all.sort_unstable();
                assert_eq!(all, (0..n).collect::<Vec<_>>(), "n {n}");
            }
            for threads in [1, 2, 3] {
                let plan = mixed_blocks(&animals, threads);
                assert!(plan.iter().all(|(m, l)| !m.is_empty() && m.len() <= *l));
                // Rounds of one block per thread, one lane count per round.
                for round in plan.chunks(threads) {
                    assert!(round.iter().all(|(_, l)| *l == round[0].1), "n {n}");
                }
                let mut all: Vec<usize> = plan.iter().flat_map(|(m, _)| m.clone()).collect();
                all.sort_unstable();
                assert_eq!(all, (0..n).collect::<Vec<_>>(), "n {n}, {threads} threads");
            }
        }
        // 140 on 2 threads: 4 full blocks of 16 and one of 8 holding 6, per thread.
        let animals: Vec<HostSequence> = (0..140).map(|_| seq(9)).collect();
        let plan = mixed_blocks(&animals, 2);
        let shape: Vec<(usize, usize)> = plan.iter().map(|(m, l)| (m.len(), *l)).collect();
        let mut want = vec![(16, 16); 8];
        want.extend([(6, 8), (6, 8)]);
        assert_eq!(shape, want);
    }
}
