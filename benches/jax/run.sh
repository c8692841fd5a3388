#!/bin/bash
# Measures the table of README.md: every figure in its own process, each started when the
# machine is quiet and retried (up to 4 times) while something else ran beside it.
#   benches/jax/run.sh [OUT_DIR]      (default /tmp/denovo-jax-bench)
# Needs the venv ($JAXVENV, default ~/.cache/denovo/jaxvenv) and a release build of denovo
# ($DENOVO, default $CARGO_TARGET_DIR or ~/.cache/denovo/target, then release/denovo).
set -u
cd "$(dirname "$0")"
OUT=${1:-/tmp/denovo-jax-bench}
PY=${JAXVENV:-$HOME/.cache/denovo/jaxvenv}/bin/python
DENOVO=${DENOVO:-${CARGO_TARGET_DIR:-$HOME/.cache/denovo/target}/release/denovo}
mkdir -p "$OUT"
q() { echo "== $(date -u +%FT%TZ) $*" >&2; $PY quiet.py --tries 4 "$@"; }
for prec in "" --f64; do
  for spec in "dnn 12 10000" "rnn 12 10000" "dnn 140 20000" "rnn 140 20000"; do
    set -- $spec
    q $PY epoch.py --rule $1 --animals $2 --trials $3 --json $prec | tee -a "$OUT/jax.jsonl"
  done
done
if [ -x "$DENOVO" ]; then
  echo "denovo: $DENOVO built $(stat -c %y "$DENOVO")" >&2
  for m in dnn rnn; do
    q "$DENOVO" bench --models $m --generic-trials 0 --epochs 5 --json > "$OUT/denovo_${m}_small.json"
    # --epochs 25: 5 timed epochs at 140 x 20,000 (a fifth of --epochs there)
    q "$DENOVO" bench --models $m --generic-trials 0 --large --epochs 25 --json > "$OUT/denovo_${m}_large.json"
  done
fi
$PY compare.py "$OUT"/jax.jsonl "$OUT"/denovo_*.json
