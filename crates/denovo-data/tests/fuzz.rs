//! Every loader fuzzed (seeded, deterministic): valid files of each format (trials CSV,
//! IBL processed CSV, ALF .npy, the parquet trials table) mutated — bytes changed,
//! inserted, cut — and arbitrary bytes. No input panics, and every rejection names the
//! file (for an ALF tree: the damaged file, or the session folder it was skipped in).

use denovo_data::{Format, load};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use std::path::Path;

/// A mutation of a file's bytes.
#[derive(Debug, Clone)]
enum Mutation {
    /// Set the byte at (position modulo length) to a value.
    Set(usize, u8),
    /// Insert bytes at a position.
    Insert(usize, Vec<u8>),
    /// Cut the file at a position.
    Truncate(usize),
    /// Remove a range.
    Remove(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Set(p, b)),
        2 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(p, b)| Mutation::Insert(p, b)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), 1usize..64).prop_map(|(p, n)| Mutation::Remove(p, n)),
    ]
}

/// Either mutations of the valid file or arbitrary bytes.
fn input() -> impl Strategy<Value = Result<Vec<Mutation>, Vec<u8>>> {
    prop_oneof![
        5 => prop::collection::vec(mutation(), 1..6).prop_map(Ok),
        1 => prop::collection::vec(any::<u8>(), 0..512).prop_map(Err),
    ]
}

fn apply(valid: &[u8], input: &Result<Vec<Mutation>, Vec<u8>>) -> Vec<u8> {
    let mutations = match input {
        Ok(m) => m,
        Err(bytes) => return bytes.clone(),
    };
    let mut b = valid.to_vec();
    for m in mutations {
        let at = |p: usize, len: usize| if len == 0 { 0 } else { p % (len + 1) };
        match m {
            Mutation::Set(p, v) if !b.is_empty() => {
                let i = p % b.len();
                b[i] = *v;
            }
            Mutation::Set(..) => {}
            Mutation::Insert(p, bytes) => {
                let i = at(*p, b.len());
                b.splice(i..i, bytes.iter().copied());
            }
            Mutation::Truncate(p) => b.truncate(at(*p, b.len())),
            Mutation::Remove(p, n) => {
                let i = at(*p, b.len());
                let end = (i + n).min(b.len());
                b.drain(i..end);
            }
        }
    }
    b
}

fn config() -> Config {
    Config {
        cases: std::env::var("DENOVO_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000),
        rng_seed: RngSeed::Fixed(14),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Loads `path` (a file, or a tree holding the damaged file `damaged`) and checks the
/// outcome: an error names the damaged file (or, for a tree, its session folder); a
/// success that skipped the session names the session folder.
fn check(path: &Path, damaged: &Path, session: Option<&Path>) -> Result<(), TestCaseError> {
    let name = damaged.file_name().unwrap().to_string_lossy().to_string();
    let folder = session.map(|s| s.display().to_string());
    match load(path, Format::Auto) {
        Ok(d) => {
            for s in &d.skipped {
                let text = s.to_string();
                prop_assert!(
                    text.contains(&name) || folder.as_ref().is_some_and(|f| text.contains(f)),
                    "a skip that names neither file nor session: {text}"
                );
            }
        }
        Err(e) => {
            let text = e.to_string();
            prop_assert!(
                text.contains(&name) || folder.as_ref().is_some_and(|f| text.contains(f)),
                "a rejection that does not name the file: {text}"
            );
        }
    }
    Ok(())
}

const TRIALS_CSV: &str = "subject,session,trial,stim,choice,answer,reward\n\
    m1,1,1,0.5,1,1,1\nm1,1,2,-0.25,1,0,0\nm1,2,1,1,0,0,1\nm2,1,1,0,1,1,1\n";
const IBL_CSV: &str = ",contrastLeft,contrastRight,choice,feedbackType,probabilityLeft,lab,subject,date,session,answer\n\
    0,,0.25,1,1,0.5,labA,m1,2019-03-01,001,1\n1,0.0625,nan,1,0,0.5,labA,m1,2019-03-01,001,0\n\
    2,1.0,,0,1,0.2,labA,m1,2019-03-02,1,0\n";

/// A one-session ALF tree; returns its session folder.
fn alf_tree(root: &Path) -> std::path::PathBuf {
    let session = root.join("m1/2020-01-01/001");
    let alf = session.join("alf");
    std::fs::create_dir_all(&alf).unwrap();
    let nan = f64::NAN;
    for (field, v) in [
        ("choice", vec![-1.0, 1.0, 0.0, -1.0]),
        ("contrastLeft", vec![nan, 0.5, 0.25, nan]),
        ("contrastRight", vec![1.0, nan, nan, 0.0]),
        ("feedbackType", vec![1.0, 1.0, -1.0, -1.0]),
        ("probabilityLeft", vec![0.5; 4]),
    ] {
        npyz::to_file_1d(alf.join(format!("_ibl_trials.{field}.npy")), v).unwrap();
    }
    session
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn trials_csv_never_panics(input in input()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fuzz.csv");
        std::fs::write(&path, apply(TRIALS_CSV.as_bytes(), &input)).unwrap();
        check(&path, &path, None)?;
    }

    #[test]
    fn ibl_csv_never_panics(input in input()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fuzz_ibl.csv");
        std::fs::write(&path, apply(IBL_CSV.as_bytes(), &input)).unwrap();
        check(&path, &path, None)?;
    }

    #[test]
    fn alf_npy_never_panics(input in input(), field in 0usize..5) {
        let dir = tempfile::tempdir().unwrap();
        let session = alf_tree(dir.path());
        let names = ["choice", "contrastLeft", "contrastRight", "feedbackType", "probabilityLeft"];
        let damaged = session.join(format!("alf/_ibl_trials.{}.npy", names[field]));
        let valid = std::fs::read(&damaged).unwrap();
        std::fs::write(&damaged, apply(&valid, &input)).unwrap();
        check(dir.path(), &damaged, Some(&session))?;
    }

    #[test]
    fn alf_table_never_panics(input in input()) {
        let dir = tempfile::tempdir().unwrap();
        let session = dir.path().join("m1/2020-01-01/001");
        let alf = session.join("alf");
        std::fs::create_dir_all(&alf).unwrap();
        let damaged = alf.join("_ibl_trials.table.pqt");
        let nan = f64::NAN;
        denovo_data::write_trials_table(&damaged, &[
            ("choice", vec![-1.0, 1.0, 0.0, -1.0]),
            ("contrastLeft", vec![nan, 0.5, 0.25, nan]),
            ("contrastRight", vec![1.0, nan, nan, 0.0]),
            ("feedbackType", vec![1.0, 1.0, -1.0, -1.0]),
            ("probabilityLeft", vec![0.5; 4]),
        ]).unwrap();
        let valid = std::fs::read(&damaged).unwrap();
        std::fs::write(&damaged, apply(&valid, &input)).unwrap();
        check(dir.path(), &damaged, Some(&session))?;
    }
}

/// The valid files themselves load (so the fuzzing starts from files that are read).
#[test]
fn the_fuzzed_files_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let (t, i) = (dir.path().join("t.csv"), dir.path().join("i.csv"));
    std::fs::write(&t, TRIALS_CSV).unwrap();
    std::fs::write(&i, IBL_CSV).unwrap();
    assert_eq!(load(&t, Format::Auto).unwrap().n_trials(), 4);
    assert_eq!(load(&i, Format::Auto).unwrap().n_trials(), 3);
    let tree = tempfile::tempdir().unwrap();
    alf_tree(tree.path());
    assert_eq!(load(tree.path(), Format::Auto).unwrap().n_trials(), 3);
}
