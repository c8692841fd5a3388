//! Time-major batches of animals, padded to the longest with masks.

use burn::tensor::{Bool, Tensor, TensorData, backend::Backend};
use denovo_data::SubjectDesign;
use denovo_glm::float_tensor;
use denovo_rules::{HostSequence, SharedSequences, TrialBatch};
use std::ops::Range;
use std::sync::OnceLock;

/// Which trials of one subject a batch runs through and which of those it scores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectWindow {
    /// Trials `0..run` are stepped through (the rule's state must pass through every
    /// earlier trial to reach a later one).
    pub run: usize,
    /// Trials whose choices count in the log-likelihood (a sub-range of `0..run`).
    pub score: Range<usize>,
}

impl SubjectWindow {
    /// Runs through and scores every trial of a subject with `n` trials.
    pub fn all(n: usize) -> Self {
        SubjectWindow {
            run: n,
            score: 0..n,
        }
    }
    /// Runs and scores trials `0..end` (e.g. the training sessions).
    pub fn until(end: usize) -> Self {
        SubjectWindow {
            run: end,
            score: 0..end,
        }
    }
    /// Runs every trial of a subject with `n` trials, scoring `start..n` (held-out
    /// future sessions).
    pub fn from(start: usize, n: usize) -> Self {
        SubjectWindow {
            run: n,
            score: start.min(n)..n,
        }
    }
}

/// A batch of animals as one time-major sequence: step t holds trial t of every animal
/// (`[animals, …]` tensors); animals shorter than the longest are padded with zeros, and
/// padded or unscored trials are masked out of the likelihood.
///
/// The trials are kept as plain numbers per animal ([`SequenceBatch::host`], what the
/// closed-form and fused paths read); the per-step tensors of the generic path are built
/// on the batch's device the first time [`SequenceBatch::steps`] is called, so a fit that
/// never takes the generic path never uploads one tensor per trial.
#[derive(Debug, Clone)]
pub struct SequenceBatch<B: Backend> {
    /// Number of scored trials per animal.
    pub scored: Vec<usize>,
    /// Number of regressors.
    pub n_features: usize,
    /// The same trials as plain numbers, per animal (for the closed-form and fused paths).
    pub host: SharedSequences,
    device: B::Device,
    steps: OnceLock<Steps<B>>,
}

/// The generic path's per-step tensors.
#[derive(Debug, Clone)]
struct Steps<B: Backend> {
    trials: Vec<TrialBatch<B>>,
    ignore: Vec<Tensor<B, 1, Bool>>,
}

impl<B: Backend> SequenceBatch<B> {
    /// Every trial of every subject, all scored.
    pub fn whole(subjects: &[SubjectDesign], device: &B::Device) -> Self {
        let refs: Vec<&SubjectDesign> = subjects.iter().collect();
        let windows: Vec<SubjectWindow> = subjects
            .iter()
            .map(|s| SubjectWindow::all(s.n_trials()))
            .collect();
        Self::new(&refs, &windows, device)
    }

    /// Builds the batch of `subjects`, each with its window.
    ///
    /// # Panics
    /// If `windows` and `subjects` differ in length, or a window runs past its subject's
    /// trials or scores outside its run (programming errors, not data errors).
    pub fn new(subjects: &[&SubjectDesign], windows: &[SubjectWindow], device: &B::Device) -> Self {
        assert_eq!(subjects.len(), windows.len(), "one window per subject");
        let k = subjects.first().map_or(0, |s| s.n_features);
        for (s, w) in subjects.iter().zip(windows) {
            assert!(
                w.run <= s.n_trials() && w.score.end <= w.run,
                "window outside the subject's trials"
            );
            assert_eq!(s.n_features, k, "all subjects need the same regressors");
        }
        let host = subjects
            .iter()
            .zip(windows)
            .map(|(s, w)| HostSequence {
                x: s.x[..w.run * k].to_vec(),
                choice: s.choice[..w.run].to_vec(),
                reward: s.reward[..w.run].to_vec(),
                answer: s.answer[..w.run].to_vec(),
                session_start: s.session_start[..w.run]
                    .iter()
                    .map(|&b| f64::from(u8::from(b)))
                    .collect(),
                score: w.score.clone(),
            })
            .collect();
        SequenceBatch {
            scored: windows.iter().map(|w| w.score.len()).collect(),
            n_features: k,
            host,
            device: device.clone(),
            steps: OnceLock::new(),
        }
    }

    /// One completed-trial batch per time step (built on first use).
    pub fn steps(&self) -> &[TrialBatch<B>] {
        &self.built().trials
    }

    /// Per step, `true` where the trial does **not** count (padding or unscored),
    /// `[animals]` (built on first use).
    pub fn ignore(&self) -> &[Tensor<B, 1, Bool>] {
        &self.built().ignore
    }

    /// Number of time steps (the longest run).
    pub fn n_steps(&self) -> usize {
        self.host.iter().map(|h| h.choice.len()).max().unwrap_or(0)
    }

    fn built(&self) -> &Steps<B> {
        self.steps.get_or_init(|| {
            let (a, k, device) = (self.n_animals(), self.n_features, &self.device);
            let t_max = self.n_steps();
            let vec1 = |v: Vec<f64>| float_tensor::<B, 1>(v, [a], device);
            let mut trials = Vec::with_capacity(t_max);
            let mut ignore = Vec::with_capacity(t_max);
            for t in 0..t_max {
                let mut x = vec![0.0; a * k];
                let (mut y, mut r, mut ans, mut start) =
                    (vec![0.0; a], vec![0.0; a], vec![0.0; a], vec![0.0; a]);
                let mut skip = vec![true; a];
                for (i, h) in self.host.iter().enumerate() {
                    if t < h.choice.len() {
                        x[i * k..(i + 1) * k].copy_from_slice(&h.x[t * k..(t + 1) * k]);
                        y[i] = h.choice[t];
                        r[i] = h.reward[t];
                        ans[i] = h.answer[t];
                        start[i] = h.session_start[t];
                        skip[i] = !h.score.contains(&t);
                    }
                }
                trials.push(TrialBatch {
                    x: float_tensor(x, [a, k], device),
                    choice: vec1(y),
                    reward: vec1(r),
                    answer: vec1(ans),
                    session_start: vec1(start),
                });
                ignore.push(Tensor::from_data(TensorData::new(skip, [a]), device));
            }
            Steps { trials, ignore }
        })
    }

    /// The batch of animals `idx` (in that order), on the same device.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn select(&self, idx: &[usize]) -> Self {
        let host: Vec<HostSequence> = idx.iter().map(|&i| self.host[i].clone()).collect();
        SequenceBatch {
            scored: idx.iter().map(|&i| self.scored[i]).collect(),
            n_features: self.n_features,
            host: host.into(),
            device: self.device.clone(),
            steps: OnceLock::new(),
        }
    }

    /// Number of animals.
    pub fn n_animals(&self) -> usize {
        self.scored.len()
    }

    /// Total number of scored trials.
    pub fn n_scored(&self) -> usize {
        self.scored.iter().sum()
    }
}

/// The animals `0..n` in a shuffled order cut into chunks of `size` (the last may be
/// shorter): the minibatches of epoch `epoch`. The order depends only on `seed` and `epoch`
/// (a seeded Fisher–Yates shuffle), so a resumed fit takes the same minibatches.
pub fn shuffled_chunks(n: usize, size: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
    use rand::seq::SliceRandom;
    use rand::{SeedableRng, rngs::StdRng};
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = StdRng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    order.shuffle(&mut rng);
    order.chunks(size.max(1)).map(<[usize]>::to_vec).collect()
}
