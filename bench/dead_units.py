#!/usr/bin/python3
"""Counts the dead units of a model trained with Adam, from its knotnet checkpoint alone.

A unit (a conv's output channel, a dense layer's output) whose ReLU was off for every image
gets no gradient: its incoming weights and its bias stop moving. Adam's first moment (the
checkpoint's optimizer/slot0) then shrinks by beta_1 = 0.9 a step, from ~1e-4..1e-2 to below
1e-20 in 350-400 steps, and float32 keeps it at a few denormals from there on. So a unit whose
every first moment (kernel and bias) is below 1e-20 has had no gradient for at least the last
~350 steps, on any image of any batch: it is dead, and stays dead (docs/quality_bar.md,
"Dead units").

The flat optimizer state follows the layers in spec order and each layer's trainable parameters
in order (kernel, bias; batch-norm's gamma, beta), as engine/model.cpp binds them. The script
checks its reading of that layout: a unit's kernel and bias get their gradients in the same
steps, so their moments cannot lie 20 orders of magnitude apart, and it says so where they do.

  /usr/bin/python3 bench/dead_units.py runs/a/last.h5 runs/b/last.h5 [--json]
"""
import argparse
import json
import sys

import h5py
import numpy as np

THRESHOLD = 1e-20
TRAINABLE = {"conv": ("kernel", "bias"), "dense": ("kernel", "bias"), "batchnorm": ("gamma", "beta")}


def layers_with_parameters(spec):
    """(name, kind) of each layer holding trainable parameters, in spec order (conv_1, dense_2...)."""
    counts, out = {}, []
    for line in spec.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] == "input":
            continue
        kind = words[0]
        counts[kind] = counts.get(kind, 0) + 1
        if kind in TRAINABLE:
            out.append((f"{kind}_{counts[kind]}", kind))
    return out


def census(path):
    with h5py.File(path, "r") as f:
        optimizer = json.loads(f.attrs["optimizer"])
        name = optimizer.get("name", "") if isinstance(optimizer, dict) else str(optimizer)
        if name != "adam":
            raise SystemExit(f"{path}: trained with '{name}'; the census reads Adam's first moment")
        spec = f.attrs["spec"]
        spec = spec.decode() if isinstance(spec, bytes) else spec
        m = f["optimizer/slot0"][:]
        offset, rows = 0, []
        for layer, kind in layers_with_parameters(spec):
            blocks = {}
            for pname in TRAINABLE[kind]:
                shape = f[f"weights/{layer}/{pname}"].shape
                n = int(np.prod(shape))
                blocks[pname] = np.abs(m[offset:offset + n]).reshape(shape)
                offset += n
            if kind == "batchnorm":
                continue  # no ReLU of its own: a channel's fate shows in the conv or dense before it
            kernel, bias = blocks["kernel"], blocks["bias"]
            # conv kernels are (out, kh, kw, in); dense kernels are (in, out)
            per_unit = kernel.reshape(kernel.shape[0], -1).max(1) if kind == "conv" else kernel.max(0)
            dead = np.maximum(per_unit, bias) < THRESHOLD
            # Kernel and bias get their gradients in the same steps, so their moments fall together;
            # 20 orders of magnitude apart (~440 steps of decay) means the layout was misread.
            apart = ((per_unit < 1e-30) & (bias > 1e-10)) | ((bias < 1e-30) & (per_unit > 1e-10))
            rows.append({"layer": layer, "units": int(bias.size), "dead": int(dead.sum()), "disagree": int(apart.sum())})
        if offset != m.size:
            raise SystemExit(f"{path}: the spec's parameters cover {offset} of {m.size} optimizer entries")
        return {"checkpoint": path, "step": int(f.attrs["step"]), "layers": rows}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--json", action="store_true", help="print the census as JSON")
    args = ap.parse_args()
    try:
        results = [census(p) for p in args.checkpoints]
    except OSError as e:
        raise SystemExit(f"dead_units.py: {e}")
    if args.json:
        json.dump(results, sys.stdout, indent=1)
        print()
        return
    for r in results:
        parts = [f"{l['layer']} {l['dead']}/{l['units']}" for l in r["layers"]]
        print(f"{r['checkpoint']} (step {r['step']}): dead " + ", ".join(parts))
        for l in r["layers"]:
            if l["disagree"]:
                print(f"  warning: {l['layer']}: {l['disagree']} units whose kernel and bias moments lie 20 orders"
                      " of magnitude apart: this script misreads the checkpoint's layout")


if __name__ == "__main__":
    main()
