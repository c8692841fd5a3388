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
