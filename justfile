# denovo development recipes (https://github.com/casey/just). Everything here is plain
# cargo; the recipes only save typing.

# run every test
test:
    cargo test --workspace

# formatting and lints as CI checks them
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# what CI runs
ci:
    bash .ci/run

# the built-in main job
demo:
    cargo run --release -p denovo -- demo

# criterion benchmarks
bench:
    cargo bench -p denovo-benches

# check that the GPU backend still compiles
check-wgpu:
    cargo check -p denovo --features wgpu

# start a one-node SLURM cluster on localhost (root; Debian's slurm-wlm and munge installed)
# for `denovo sweep --slurm` and its test (DENOVO_SLURM=1 cargo test -p denovo --test sweep_cli)
slurm-up:
    bash scripts/slurm-up.sh
