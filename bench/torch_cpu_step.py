#!/usr/bin/env python3
"""The seed model's whole training step on the CPU in PyTorch (Adagrad 0.01, batch 32, data in
memory): the baseline for knotnet's bench_cpu_step on the same machine in the same run.

  /usr/bin/python3 bench/torch_cpu_step.py [--batch 32] [--size 128] [--steps 8] [--threads N]

The model is bench/torch_step.py's build(): the same layers as knotnet's `seed` spec.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_step import build  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="intra-op threads (default: all cores)")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build(torch)
    if args.size != 128:  # the flattened size follows the input; rebuild the first dense layer
        feat = model[:11](torch.zeros(1, 3, args.size, args.size)).shape[1]
        model[11] = torch.nn.Linear(feat, 128)
    opt = torch.optim.Adagrad(model.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.rand(args.batch, 3, args.size, args.size)
    y = torch.randint(0, 3, (args.batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    dt = (time.perf_counter() - t0) / args.steps
    print(f"torch {torch.__version__} cpu threads={torch.get_num_threads()} seed batch={args.batch} "
          f"size={args.size}: {dt * 1e3:.0f} ms/step, {args.batch / dt:.1f} img/s")


if __name__ == "__main__":
    main()
