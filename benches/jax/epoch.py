#!/usr/bin/env python3
"""JAX reference for `denovo bench`: seconds per full-batch training epoch (forward +
backward + Adam) of the DNN and RNN learning rules, written as a plain user would write
them in JAX: one `jax.lax.scan` over trials, all animals of a step in one matrix product,
the whole epoch under `jax.jit`, float32 on XLA's CPU backend. Not part of CI.

The model is denovo's (crates/denovo-nn/src/fused.rs):
  policy   p(right_t) = sigmoid(z_t), z_t = w_t . x_t,  x_t = [stim, 1]  (K = 2)
  score    LL = sum_t y_t z_t - softplus(z_t); loss = -sum LL / scored trials
  input    u_t = [w_t, x_t, choice, reward, answer, session_start]  (2K + 4 = 8)
  DNN      w_{t+1} = w_t + gamma * MLP(u_t), MLP 8 -> 32 -> 32 -> K, ReLU between layers
  RNN      h_{t+1} = GRU(h_t, u_t) (hidden 32, PyTorch gates r, z, n), then
           w_{t+1} = w_t + gamma * MLP(h_{t+1}), MLP 32 -> 32 -> 32 -> K
  w_0 = 0, h_0 = 0; every trial scored (CSV animals of unequal length are padded, masked).
Training as `denovo bench`: Adam (lr 3e-3, eps 1e-10) after clipping each parameter
tensor's gradient to norm 1 (burn's GradientClipping::Norm, per parameter).

Usage (one workload per process, so the peak RSS is that workload's):
  python epoch.py --rule dnn                          # 12 animals x 10,000 trials
  python epoch.py --rule rnn --animals 140 --trials 20000 --json
  python epoch.py --rule dnn --csv cohort.csv         # a denovo trials CSV
"""
import argparse, csv, json, os, resource, statistics, time

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np


def simulate(animals, trials, seed):
    """A REINFORCE cohort in denovo's layout (IBL contrasts, tanh(5c)/tanh(5) stimulus,
    sessions of 300-500 trials, alpha = 2^-4, 2^-6); same shapes and kind of data as
    `denovo bench`, not the same random draws. Arrays are time-major [T, A, ...]."""
    rng = np.random.default_rng(seed)
    c = rng.choice([0, 0.0625, 0.125, 0.25, 0.5, 1.0], (trials, animals))
    side = rng.integers(0, 2, (trials, animals))  # correct side (1 = right)
    stim = np.tanh(5 * np.where(side == 1, c, -c)) / np.tanh(5)
    x = np.stack([stim, np.ones_like(stim)], -1)
    start = np.zeros((trials, animals))
    for a in range(animals):
        t = 0
        while t < trials:
            start[t, a] = 1
            t += rng.integers(300, 501)
    alpha, w = np.array([1 / 16, 1 / 64]), np.zeros((animals, 2))
    y = np.zeros((trials, animals))
    for t in range(trials):
        p = 1 / (1 + np.exp(-(w * x[t]).sum(-1)))
        y[t] = rng.random(animals) < p
        r = (y[t] == side[t]).astype(float)
        w += alpha * (r * (y[t] - p))[:, None] * x[t]
    reward = (y == side).astype(float)
    return x, y, reward, side.astype(float), start, np.ones((trials, animals))


def read_csv(path, gain=5.0):
    """A denovo trials CSV (`denovo simulate` writes one): subject, session, choice,
    answer, optional reward (default choice == answer), and `stim` or contrastLeft/Right
    (stim = tanh(gain c)/tanh(gain)). Rows in order; animals padded to the longest."""
    by = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            by.setdefault(row["subject"], []).append(row)
    T, A = max(len(v) for v in by.values()), len(by)
    out = [np.zeros((T, A, 2))] + [np.zeros((T, A)) for _ in range(5)]
    x, y, r, ans, start, mask = out
    for a, rows in enumerate(by.values()):
        for t, row in enumerate(rows):
            if "stim" in row:
                s = float(row["stim"])
            else:
                s = np.tanh(gain * (float(row["contrastRight"]) - float(row["contrastLeft"])))
                s /= np.tanh(gain)
            x[t, a] = s, 1.0
            y[t, a], ans[t, a] = float(row["choice"]), float(row["answer"])
            r[t, a] = float(row["reward"]) if row.get("reward") else float(y[t, a] == ans[t, a])
            start[t, a] = t == 0 or row["session"] != rows[t - 1]["session"]
            mask[t, a] = 1
    return (*out,), list(by)


def dense(rng, n_in, n_out):
    """burn's default Linear init: weight [in, out] and bias ~ U(-1/sqrt(in), 1/sqrt(in))."""
    b = 1 / np.sqrt(n_in)
    return [rng.uniform(-b, b, (n_in, n_out)), rng.uniform(-b, b, n_out)]


def init_params(rule, k=2, hidden=32, seed=0, gamma_init=1e-3):
    rng, u = np.random.default_rng(seed), 2 * k + 4
    sizes = [u, 32, 32, k] if rule == "dnn" else [hidden, 32, 32, k]
    p = {"mlp": [dense(rng, i, o) for i, o in zip(sizes, sizes[1:])]}
    if rule == "rnn":
        p["gru_in"], p["gru_h"] = dense(rng, u, 3 * hidden), dense(rng, hidden, 3 * hidden)
    p["gamma"] = np.full(k, gamma_init)
    return p


def scan_rule(params, data, rule, keep_w=False):
    """Per-trial log-likelihood [T, A] (and w_t [T, A, K] with keep_w)."""

    def mlp(v):
        for i, (W, b) in enumerate(params["mlp"]):
            v = v @ W + b
            v = jax.nn.relu(v) if i + 1 < len(params["mlp"]) else v
        return v

    def step(carry, d):
        w, h = carry
        x, y, r, a, s, m = d
        z = jnp.sum(w * x, -1)
        ll = m * (y * z - jax.nn.softplus(z))
        u = jnp.concatenate([w, x, jnp.stack([y, r, a, s], -1)], -1)
        if rule == "dnn":
            o = mlp(u)
        else:
            (Wi, bi), (Wh, bh) = params["gru_in"], params["gru_h"]
            ir, iz, i_n = jnp.split(u @ Wi + bi, 3, -1)
            hr, hz, h_n = jnp.split(h @ Wh + bh, 3, -1)
            rg, zg = jax.nn.sigmoid(ir + hr), jax.nn.sigmoid(iz + hz)
            n = jnp.tanh(i_n + rg * h_n)
            h = (1 - zg) * n + zg * h
            o = mlp(h)
        return (w + params["gamma"] * o, h), ((ll, w) if keep_w else ll)

    x = data[0]
    w0 = jnp.zeros(x.shape[1:], x.dtype)
    h0 = jnp.zeros((x.shape[1], params["gru_h"][0].shape[0]), x.dtype) if rule == "rnn" else None
    return jax.lax.scan(step, (w0, h0), data)[1]


def loss_fn(params, data, rule):
    """-LL per scored trial (denovo's training loss)."""
    return -jnp.sum(scan_rule(params, data, rule)) / jnp.sum(data[5])


def clip(grads, norm=1.0):
    """Each tensor's gradient scaled to L2 norm <= `norm` (burn's per-parameter clipping)."""
    return jax.tree.map(lambda g: g * jnp.minimum(1.0, norm / (jnp.linalg.norm(g) + 1e-38)), grads)


def make_optimizer(lr=3e-3, b1=0.9, b2=0.999, eps=1e-10):
    """(name, init, update(grads, state, params) -> (params, state)): optax's Adam if
    installed, else the same Adam by hand."""
    try:
        import optax
    except ImportError:
        def init(p):
            z = jax.tree.map(jnp.zeros_like, p)
            return 0, z, z
        def update(g, state, p):
            t, m, v = state[0] + 1, *state[1:]
            m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
            v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
            step = lambda p, m, v: p - lr * (m / (1 - b1**t)) / (jnp.sqrt(v / (1 - b2**t)) + eps)
            return jax.tree.map(step, p, m, v), (t, m, v)
        return "hand-written Adam", init, update
    opt = optax.adam(lr, b1=b1, b2=b2, eps=eps)
    def update(g, state, p):
        updates, state = opt.update(g, state, p)
        return optax.apply_updates(p, updates), state
    return f"optax {optax.__version__} adam", opt.init, update


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rule", choices=["dnn", "rnn"], default="dnn")
    ap.add_argument("--animals", type=int, default=12)
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--csv", help="a denovo trials CSV instead of the simulated cohort")
    ap.add_argument("--epochs", type=int, default=5, help="timed epochs (median reported)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--f64", action="store_true", help="float64 instead of float32")
    ap.add_argument("--json", action="store_true", help="also print one JSON line")
    args = ap.parse_args()
    jax.config.update("jax_enable_x64", args.f64)
    dtype = jnp.float64 if args.f64 else jnp.float32

    data = read_csv(args.csv)[0] if args.csv else simulate(args.animals, args.trials, args.seed)
    data = tuple(jnp.asarray(d, dtype) for d in data)
    T, A = data[1].shape
    params = jax.tree.map(lambda v: jnp.asarray(v, dtype), init_params(args.rule, seed=args.seed))
    adam, opt_init, opt_update = make_optimizer()
    opt_state = opt_init(params)

    @jax.jit
    def epoch(params, opt_state, data):
        loss, g = jax.value_and_grad(loss_fn)(params, data, args.rule)
        params, opt_state = opt_update(clip(g), opt_state, params)
        return params, opt_state, loss

    t0 = time.perf_counter()
    params, opt_state, loss = jax.block_until_ready(epoch(params, opt_state, data))
    first = time.perf_counter() - t0  # compile + one epoch, not counted
    times = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        params, opt_state, loss = jax.block_until_ready(epoch(params, opt_state, data))
        times.append(time.perf_counter() - t0)
    row = {
        "schema": "denovo.jax-bench/1", "model": args.rule, "path": "jax-scan",
        "precision": "f64" if args.f64 else "f32", "animals": A, "trials": T,
        "data": args.csv or "simulated", "seconds_per_epoch": statistics.median(times),
        "epoch_seconds": times, "compile_and_first_epoch_seconds": first,
        "final_loss": float(loss),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3,  # kB -> MB
        "jax": jax.__version__, "jaxlib": jaxlib.__version__, "optimizer": adam,
        "cpus": os.cpu_count(), "loadavg": os.getloadavg(), "device": str(jax.devices()[0]),
    }
    print(f"jax {row['jax']} / jaxlib {row['jaxlib']} on {row['device']}, {row['cpus']} CPUs, {adam}")
    print(f"{args.rule} jax-scan {row['precision']} {A} x {T} trials  {row['seconds_per_epoch']:.4f} s/epoch "
          f"(median of {args.epochs}; compile + first {first:.1f} s)  peak RSS {row['peak_rss_mb']:.0f} MB  "
          f"loss {row['final_loss']:.5f}  load {row['loadavg'][0]:.2f}")
    if args.json:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
