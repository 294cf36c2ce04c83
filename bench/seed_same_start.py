#!/usr/bin/python3
"""knotnet and PyTorch training the `seed` model from the same start on the same batches.

The question (docs/quality_bar.md): with Adam at Keras's defaults, `seed` sometimes dies in its
first steps (every dense_1 unit pushed negative, the loss stuck at ln 3). Does knotnet's `seed`
die more often than PyTorch's? Here both engines start from the same weights (knotnet's, read
from a checkpoint), see the same batches in the same order (a file rendered in shuffled order,
read with --shuffle none and --split 100,0,0) and the same dropout masks (knotnet's counter-based
RNG, engine/rng.h, reimplemented as in tests/golden/make_golden.py), with Keras 3's Adam
(engine/optimizers/adam.cpp) and batch norm (epsilon 1e-3) in float32 on the CPU. If the two
loss curves follow each other, a run that dies does so in both, and the death rate is the
model's and the optimizer's, not the engine's.

For each seed: a knotnet run of STEPS updates, PyTorch's STEPS updates from knotnet's initial
weights (a one-step SGD run at lr 1e-30 writes them), and a line per seed: both losses at a few
steps, the largest difference over the first 20 steps, and whether each run ended stuck at ln 3.

  /usr/bin/python3 bench/seed_same_start.py --train-knots build/bin/train_knots \
      --make-knots build/bin/make_knots --work /tmp/same --seeds 1,2,3 --steps 300
"""
import argparse
import csv
import math
import os
import subprocess
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

LN3 = math.log(3.0)
M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def mix64(z):
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def fnv1a64(name):
    h = 0xCBF29CE484222325
    for b in name.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def dropout_keep(seed, stream, count, rate):
    """engine/rng.h's random_uniform(seed, stream, k) >= rate for k < count (24-bit uniforms)."""
    with np.errstate(over="ignore"):
        base = mix64(np.uint64(seed) ^ mix64(np.uint64(stream)))
        bits = mix64(base + np.arange(count, dtype=np.uint64))
    u = (bits >> np.uint64(40)).astype(np.float64) / 16777216.0
    return u >= rate


SPEC64 = ("input 64 64 3\nconv 64 3 valid\nbatchnorm\nrelu\nmaxpool 2\nconv 96 3 same\nrelu\nmaxpool 2\n"
          "conv 128 3 valid\nrelu\nmaxpool 2\nflatten\ndense 128\nrelu\ndropout 0.5\ndense 3\nsoftmax\n")


def forward(x_nhwc, p, seed, step):
    h = x_nhwc.permute(0, 3, 1, 2)
    h = F.conv2d(h, p["conv_1/kernel"].permute(0, 3, 1, 2), p["conv_1/bias"])
    h = F.batch_norm(h, None, None, p["batchnorm_1/gamma"], p["batchnorm_1/beta"], training=True, eps=1e-3)
    h = F.max_pool2d(F.relu(h), 2)
    h = F.conv2d(h, p["conv_2/kernel"].permute(0, 3, 1, 2), p["conv_2/bias"], padding=1)
    h = F.max_pool2d(F.relu(h), 2)
    h = F.conv2d(h, p["conv_3/kernel"].permute(0, 3, 1, 2), p["conv_3/bias"])
    h = F.max_pool2d(F.relu(h), 2)
    h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)  # Keras's flatten order (h, w, c)
    h = F.relu(h @ p["dense_1/kernel"] + p["dense_1/bias"])
    keep = dropout_keep(seed, (fnv1a64("dropout_1") + step) & 0xFFFFFFFFFFFFFFFF, h.numel(), 0.5)
    h = h * torch.from_numpy(keep.reshape(h.shape)).to(h.dtype) / 0.5
    return h @ p["dense_2/kernel"] + p["dense_2/bias"]


def pytorch_run(init, data, labels, seed, steps, batch, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
    with h5py.File(init, "r") as f:
        w = f["weights"]
        p = {f"{layer}/{name}": torch.tensor(w[layer][name][()], requires_grad=True)
             for layer in w for name in w[layer] if not name.startswith("moving_")}
    m = {k: torch.zeros_like(v) for k, v in p.items()}
    v = {k: torch.zeros_like(t) for k, t in p.items()}
    losses = []
    for t in range(steps):
        rows = slice(t * batch, (t + 1) * batch)
        x = torch.from_numpy(data[rows].astype(np.float32)) * np.float32(1.0 / 255.0)
        y = torch.from_numpy(labels[rows].astype(np.int64))
        loss = F.cross_entropy(forward(x, p, seed, t), y)
        for g in p.values():
            g.grad = None
        loss.backward()
        losses.append(loss.item())
        alpha = lr * math.sqrt(1.0 - b2 ** (t + 1)) / (1.0 - b1 ** (t + 1))
        with torch.no_grad():
            for k, q in p.items():
                m[k].mul_(b1).add_(q.grad, alpha=1 - b1)
                v[k].mul_(b2).addcmul_(q.grad, q.grad, value=1 - b2)
                q.sub_(alpha * m[k] / (v[k].sqrt() + eps))
    return losses


def stuck(losses, window=50):
    tail = losses[-window:]
    return math.sqrt(sum((x - LN3) ** 2 for x in tail) / len(tail)) < 0.005


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train-knots", required=True)
    ap.add_argument("--make-knots", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--seeds", default="1,2,3,4,5,6")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--per-class", type=int, default=3400)
    a = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() // 2))
    os.makedirs(a.work, exist_ok=True)
    data_file = os.path.join(a.work, "knots64_shuffled.h5")
    if not os.path.exists(data_file):
        subprocess.run([a.make_knots, "--per-class", str(a.per_class), "--out", data_file, "--size", "64", "--seed", "7",
                        "--order", "shuffled"], check=True, stdout=subprocess.DEVNULL)
    with h5py.File(data_file, "r") as f:
        data, labels = f["train_data"][: a.steps * a.batch], f["train_label"][: a.steps * a.batch]
    assert len(data) == a.steps * a.batch, "the file is too small for --steps at --batch"
    spec = os.path.join(a.work, "seed64.spec")
    with open(spec, "w") as f:
        f.write(SPEC64)
    common = ["fit", "--data", data_file, "--model", spec, "--split", "100,0,0", "--shuffle", "none",
              "--batch", str(a.batch), "--device", "cpu", "--epochs", "1"]
    print(f"{'seed':>4}  {'step':>16}  {'knotnet':>9} {'pytorch':>9}  max|diff| 1-20  stuck: knotnet pytorch")
    for seed in (int(s) for s in a.seeds.split(",")):
        init, run = os.path.join(a.work, f"init_{seed}"), os.path.join(a.work, f"knotnet_{seed}")
        subprocess.run([a.train_knots, *common, "--seed", str(seed), "--steps-per-epoch", "1", "--optimizer", "sgd",
                        "--lr", "1e-30", "--out", init], check=True, capture_output=True)
        subprocess.run([a.train_knots, *common, "--seed", str(seed), "--steps-per-epoch", str(a.steps), "--out", run],
                       check=True, capture_output=True)
        with open(os.path.join(run, "batches.csv")) as f:
            kn = [float(r["loss"]) for r in csv.DictReader(f)]
        pt = pytorch_run(os.path.join(init, "last.h5"), data, labels, seed, a.steps, a.batch)
        early = max(abs(x - y) for x, y in zip(kn[:20], pt[:20]))
        for t in sorted({t for t in (0, 1, 2, 9, 49, a.steps - 1) if t < a.steps}):
            print(f"{seed:>4}  {t + 1:>16}  {kn[t]:9.5f} {pt[t]:9.5f}")
        print(f"{seed:>4}  {'':>16}  {'':>9} {'':>9}  {early:.2e}      {str(stuck(kn)):>7} {str(stuck(pt)):>7}",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
