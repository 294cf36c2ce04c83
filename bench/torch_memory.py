#!/usr/bin/env python3
"""PyTorch's GPU memory for the seed model at several batch sizes: peak allocated, peak reserved
and the whole process's device memory, for memcap's sweep (docs/memcap.md).

  /usr/bin/python3 bench/torch_memory.py [--batches 32 64 128] [--steps 10] [--optimizer adagrad]
                                         [--lr 0.01] [--cudnn-benchmark] [--json out.json]

For each batch size: a fresh model (bench/torch_step.py's build: the original question's Keras
CNN on 128x128x3 images), strict fp32 (TF32 off), cudnn.benchmark off unless --cudnn-benchmark
(benchmarking tries algorithms with large workspaces, which raises the peak), N training steps on
random data already on the GPU; then torch.cuda.max_memory_allocated (tensors) and
max_memory_reserved (what the caching allocator took from the card), and the process's device
memory: the card's used memory at the end of the steps (after the caching allocator has kept
everything it took) less the card's used memory before this process touched the GPU, both read
through NVML (which needs no CUDA context). When NVML cannot be loaded, both are read with
torch.cuda.mem_get_info, the baseline just after the CUDA context was made, and process_bytes
then excludes the context (the JSON says which). Between batch sizes the cache is emptied, so each figure is that
batch size's own, plus what cuDNN and cuBLAS keep once loaded.

Exits 2 with a message on stderr when PyTorch is not importable or sees no CUDA device.
"""
import argparse
import ctypes
import gc
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


class NvmlMemory(ctypes.Structure):
    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]


def nvml_used_bytes():
    """The card's used memory via NVML (no CUDA context), or None. The card is the first one in
    CUDA_VISIBLE_DEVICES when that holds an index, else index 0 (memcap runs on one-card machines)."""
    try:
        nvml = ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return None
    index = 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    if visible.isdigit():
        index = int(visible)
    handle = ctypes.c_void_p()
    mem = NvmlMemory()
    if nvml.nvmlInit_v2() != 0:
        return None
    try:
        if nvml.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(index), ctypes.byref(handle)) != 0:
            return None
        if nvml.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(mem)) != 0:
            return None
        return mem.used
    finally:
        nvml.nvmlShutdown()


def measure(torch, build, batch, steps, optimizer, lr, baseline_used, used_now):
    dev = torch.device("cuda")
    torch.manual_seed(0)
    model = build(torch).to(dev)
    if optimizer == "adagrad":
        opt = torch.optim.Adagrad(model.parameters(), lr=lr)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.rand(batch, 3, 128, 128, device=dev)
    y = torch.randint(0, 3, (batch,), device=dev)
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    result = {"batch": batch, "steps": steps,
              "peak_allocated_bytes": torch.cuda.max_memory_allocated(),
              "peak_reserved_bytes": torch.cuda.max_memory_reserved(),
              "process_bytes": used_now() - baseline_used,
              "images_per_s": batch * steps / seconds}
    del model, opt, x, y, loss
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[32, 64, 128, 256, 512, 1024])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--optimizer", choices=["adagrad", "adam"], default="adagrad")
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN benchmark algorithms (off by default)")
    ap.add_argument("--json", help="write the results here as JSON")
    args = ap.parse_args()
    if any(b <= 0 for b in args.batches) or args.steps <= 0:
        print("torch_memory: --batches and --steps must be positive", file=sys.stderr)
        return 1
    try:
        import torch
    except ImportError:
        print("torch_memory: PyTorch is not importable by %s" % sys.executable, file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("torch_memory: no CUDA device visible to PyTorch %s" % torch.__version__, file=sys.stderr)
        return 2
    from torch_step import build

    # Before anything below makes a CUDA context.
    before = nvml_used_bytes()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    torch.cuda.init()
    # Both ends read the same way: NVML's "used" counts the driver's reserved memory, which
    # mem_get_info's total leaves out, so mixing the two would be off by that reserve.
    if before is None:
        def used_now():
            free, total = torch.cuda.mem_get_info()
            return total - free
        before = used_now()
        baseline = "after the CUDA context was made (NVML not loadable): process_bytes excludes the context"
    else:
        used_now = nvml_used_bytes
        baseline = "NVML, before this process touched the GPU: process_bytes includes the CUDA context"
    results = []
    for b in args.batches:
        r = measure(torch, build, b, args.steps, args.optimizer, args.lr, before, used_now)
        results.append(r)
        print("batch %5d  allocated %8.1f MiB  reserved %8.1f MiB  process %8.1f MiB  %7.0f img/s" %
              (b, r["peak_allocated_bytes"] / 2**20, r["peak_reserved_bytes"] / 2**20, r["process_bytes"] / 2**20,
               r["images_per_s"]), flush=True)
    out = {"card": torch.cuda.get_device_name(0), "torch": torch.__version__, "cudnn": torch.backends.cudnn.version(),
           "date": time.strftime("%Y-%m-%d"), "precision": "fp32, TF32 off", "optimizer": args.optimizer,
           "lr": args.lr, "cudnn_benchmark": args.cudnn_benchmark, "baseline": baseline, "results": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
