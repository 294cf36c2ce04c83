#!/usr/bin/env python3
"""The seed model (DESIGN.md: the original question's Keras CNN) in PyTorch: whole training-step
images/s at batch 50, 128 and 256, fp32 with TF32 off and on, and the peak GPU memory of each,
data already on the GPU (so the step, not the input pipeline, is measured). The baseline
knotnet's step is compared against on the same card in the same run (scripts/gpu-check).

  /usr/bin/python3 bench/torch_step.py [--batches 50 128 256] [--steps 60] [--json out.json]

Keras's BatchNormalization(momentum=0.99, epsilon=1e-3) is PyTorch's BatchNorm2d(momentum=0.01,
eps=1e-3). Optimizer: Adagrad lr 0.01, as in the original question.
"""
import argparse
import json
import sys
import time


def build(torch, classes=3):
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 64, 3), nn.BatchNorm2d(64, eps=1e-3, momentum=0.01), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 96, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(96, 128, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(128 * 14 * 14, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, classes))


def measure(torch, batch, tf32, steps, warmup):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    torch.manual_seed(0)
    model = build(torch).to(dev)
    opt = torch.optim.Adagrad(model.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.rand(batch, 3, 128, 128, device=dev)
    y = torch.randint(0, 3, (batch,), device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20
    del model, opt, x, y
    torch.cuda.empty_cache()
    return {"batch": batch, "mode": "fp32 TF32 on" if tf32 else "fp32 TF32 off", "tf32": tf32,
            "images_per_s": batch * steps / seconds, "step_ms": 1e3 * seconds / steps, "peak_mib": peak}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[50, 128, 256])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=15)
    ap.add_argument("--json", help="write the results here as JSON")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("torch_step: PyTorch is not importable by %s" % sys.executable, file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("torch_step: no CUDA device visible to PyTorch", file=sys.stderr)
        return 2
    card = torch.cuda.get_device_name(0)
    results = []
    for tf32 in (False, True):
        for b in args.batches:
            r = measure(torch, b, tf32, args.steps, args.warmup)
            results.append(r)
            print("batch %4d  %-14s %9.0f img/s  %7.2f ms/step  peak %7.0f MiB" %
                  (r["batch"], r["mode"], r["images_per_s"], r["step_ms"], r["peak_mib"]), flush=True)
    out = {"card": card, "torch": torch.__version__, "cudnn": torch.backends.cudnn.version(),
           "date": time.strftime("%Y-%m-%d"), "results": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
