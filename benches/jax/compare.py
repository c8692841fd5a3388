#!/usr/bin/env python3
"""Side-by-side table of epoch.py's JSON lines and `denovo bench --json` documents.

  python compare.py jax.jsonl denovo_small.json denovo_large.json

Files of (one or more) pretty-printed JSON documents with `rows` are denovo's (schema
`denovo.bench/1`; rows without `precision`, from before denovo had f32 kernels, are f64);
other files hold epoch.py lines (`--json`; non-JSON lines are skipped). Rows match on
(model, precision, animals, trials); of duplicates, JAX's last line wins and denovo's row
from the document with the fewest rows (its RSS then is that workload's). Ratio = JAX/denovo.
Note: denovo's s/epoch is the mean of its timed epochs, the first included; epoch.py's is
the median after a compile + warm-up epoch.
"""
import json, re, sys

jax_rows, denovo_rows, denovo_rss = {}, {}, {}
for path in sys.argv[1:]:
    text = open(path).read()
    # denovo's documents are pretty-printed: each starts with a line `{` (one per try).
    docs = [json.loads(c) for c in re.split(r"(?m)^(?=\{$)", text) if c.startswith("{\n")]
    for doc in docs:
        for r in doc.get("rows", []):
            if r.get("path", "fused") == "fused":
                key = (r["model"], r.get("precision", "f64"), r["animals"], r["trials"])
                if len(doc["rows"]) <= denovo_rows.get(key, (1e9,))[0]:
                    denovo_rows[key] = (len(doc["rows"]), r["seconds_per_epoch"])
                    denovo_rss[key] = doc.get("process_peak_rss_mb")
    if docs:
        continue
    for line in text.splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(r, dict) and r.get("path") == "jax-scan":
            jax_rows[(r["model"], r["precision"], r["animals"], r["trials"])] = r

print(f"{'rule':4} {'prec':4} {'workload':>12} {'JAX s/ep':>9} {'RSS MB':>7} "
      f"{'denovo s/ep':>11} {'RSS MB*':>7} {'JAX/denovo':>10}")
for key in sorted(set(jax_rows) | set(denovo_rows)):
    j, d = jax_rows.get(key), denovo_rows.get(key, (0, None))[1]
    fmt = lambda v, f: format(v, f) if v is not None else "-"
    print(f"{key[0]:4} {key[1]:4} {f'{key[2]} x {key[3]}':>12} "
          f"{fmt(j and j['seconds_per_epoch'], '9.4f'):>9} {fmt(j and j['peak_rss_mb'], '7.0f'):>7} "
          f"{fmt(d, '11.4f'):>11} {fmt(denovo_rss.get(key), '7.0f'):>7} "
          f"{fmt(j and d and j['seconds_per_epoch'] / d, '10.1f'):>10}")
print("* denovo's process peak RSS covers every workload of that `denovo bench` process")
