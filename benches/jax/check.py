#!/usr/bin/env python3
"""Checks that epoch.py's JAX model is denovo's model: loads a denovo DNN/RNN run
directory (the fitted parameters from model.mpk, the data it names), runs the JAX scan
with those parameters in float64 and float32, and compares with what denovo's f64 kernel
wrote: each animal's training LL per trial (summary.json) and every w_t (weights.csv).

The run must score every trial from w0 = 0: `denovo fit DATA --model dnn|rnn --epochs 1
--gamma-init 0.5 --out RUN` (no held-out sessions, fixed-zero w0). Needs `msgpack`.
  python check.py RUN
"""
import csv, json, os, sys

import jax
import msgpack
import numpy as np

import epoch


def load_params(run, rule):
    """model.mpk (burn's named MessagePack record) as epoch.py's parameter dict."""
    with open(os.path.join(run, "model.mpk"), "rb") as f:
        item = msgpack.unpackb(f.read(), raw=False)["item"]

    def tensor(p):
        p = p["param"]
        dtype = {"F32": "<f4", "F64": "<f8"}[p["dtype"]]
        return np.frombuffer(p["bytes"], dtype).reshape(p["shape"]).astype(np.float64)

    def layer(d):
        return [tensor(d["weight"]), tensor(d["bias"])]

    if rule == "dnn":
        params = {"mlp": [layer(d) for d in item["layers"]]}
    else:
        gru = item["gru"]
        params = {"mlp": [layer(d) for d in item["head"]],
                  "gru_in": layer(gru["input"]), "gru_h": layer(gru["hidden"])}
    params["gamma"] = tensor(item["gamma"])
    return params


def main(run):
    summary = json.load(open(os.path.join(run, "summary.json")))
    rule = summary["model"]
    assert rule in ("dnn", "rnn"), f"a dnn or rnn run, not {rule}"
    assert summary["initial_weights"] == "fixed-zero" and not summary["heldout_sessions"], \
        "the check needs fixed-zero w0 and no held-out sessions"
    data, subjects = epoch.read_csv(summary["data"])
    assert subjects == summary["subjects"], "the run's animals, in the CSV's order"
    params = load_params(run, rule)
    with open(os.path.join(run, "weights.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    names = [c for c in rows[0] if c.startswith("w_")]
    mask = data[5]
    den_w = np.zeros(data[0].shape)
    for a, s in enumerate(subjects):
        w = [[float(r[c]) for c in names] for r in rows if r["subject"] == s]
        den_w[: len(w), a] = w
    den_ll = np.array([p["ll_per_trial"] for p in summary["train"]["per_animal"]])
    print(f"{run}: {rule}, {len(subjects)} animals, {int(mask.sum())} trials; denovo (f64 kernel) "
          f"LL/trial per animal {np.array2string(den_ll, precision=6)}")
    for precision in ("f64", "f32"):
        jax.config.update("jax_enable_x64", precision == "f64")
        dt = np.float64 if precision == "f64" else np.float32
        ll, w = epoch.scan_rule(jax.tree.map(lambda v: jax.numpy.asarray(v, dt), params),
                                tuple(jax.numpy.asarray(d, dt) for d in data), rule, keep_w=True)
        ll, w = np.asarray(ll, np.float64), np.asarray(w, np.float64)
        jax_ll = ll.sum(0) / mask.sum(0)
        dw = np.abs(w - den_w)[mask > 0].max()
        dll = np.abs(jax_ll - den_ll).max()
        print(f"  jax {precision}: loss {-ll.sum() / mask.sum():.10f} (denovo "
              f"{-summary['train']['ll_per_trial']:.10f}); max |dLL/trial| {dll:.2e}; "
              f"max |dw_t| {dw:.2e} over {int(mask.sum())} trials")


if __name__ == "__main__":
    main(sys.argv[1])
