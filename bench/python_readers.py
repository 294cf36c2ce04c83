#!/usr/bin/env python3
"""How fast the usual Python ways read batches from one make_knots HDF5 file: the baselines that
knotnet's batch reader is compared against (scripts/reader-compare runs both on the same file in
one call). Three methods, each for about --seconds after a --warmup of the same work:

  h5py_in_order   ds[i:i+batch] slices in file order (wrapping round at the end)
  h5py_random     ds[idx] with `batch` random distinct rows, sorted (h5py's fancy indexing needs
                  increasing indices), a fresh draw per batch
  dataloader      torch DataLoader(shuffle=True, num_workers=--workers, batch_size=--batch) over a
                  map-style dataset that opens the file lazily in each worker and returns one
                  image and its label per __getitem__; pin_memory when --device is cuda

  /usr/bin/python3 bench/python_readers.py --data FILE [--batch 128] [--seconds 20] [--warmup 3]
      [--workers 12] [--device cpu|cuda] [--methods h5py_in_order,h5py_random,dataloader] [--json OUT]

--device cpu: a batch counts once its uint8 images and labels are in host memory (numpy arrays
or collated tensors), as knotnet's bench_reader counts batches in its host ring.
--device cuda: each batch is also delivered to device memory, as training would take it: the
images (NHWC uint8, as stored) and labels are copied with .to("cuda", non_blocking=True) (from
pinned memory for the DataLoader, from pageable numpy memory for h5py), the images converted to
float32 /255 on the GPU, and torch.cuda.synchronize() is called once PER BATCH, so a batch
counts only when it is on the device and converted (knotnet's bench_delivery likewise waits
once per batch). Time spent in the warm-up (worker start-up, first reads) is not counted.

The h5py file is opened with h5py's defaults (1 MiB chunk cache), as people open it. A method
that cannot run (torch missing, CUDA missing) reports why in its row; the others still run.
Exit status: 0 when at least one method was measured, 1 otherwise, 2 for bad arguments.
"""
import argparse
import datetime
import json
import os
import platform
import sys
import time

METHODS = ("h5py_in_order", "h5py_random", "dataloader")


class LazyH5Images:
    """Map-style dataset, the common pattern: the HDF5 file is opened on first use in each
    DataLoader worker (an h5py handle must not cross a fork), one image and label per item."""

    def __init__(self, path, data_name, label_name):
        import h5py
        self.path, self.data_name, self.label_name = path, data_name, label_name
        with h5py.File(path, "r") as f:
            self.n = f[data_name].shape[0]
        self.file = None

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        import h5py
        import torch
        if self.file is None:
            self.file = h5py.File(self.path, "r")
            self.images, self.labels = self.file[self.data_name], self.file[self.label_name]
        return torch.from_numpy(self.images[i]), torch.as_tensor(self.labels[i])

    def __getstate__(self):  # for start methods that pickle the dataset: never an open handle
        state = dict(self.__dict__)
        state["file"] = None
        state.pop("images", None)
        state.pop("labels", None)
        return state


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def timed(step, seconds, warmup):
    """Runs step() (returns the images it delivered) for `warmup` seconds (at least once), then
    counts images for about `seconds`. Returns the row's measurements."""
    start = time.perf_counter()
    while True:
        step()
        if time.perf_counter() - start >= warmup:
            break
    images = batches = 0
    start = time.perf_counter()
    while True:
        images += step()
        batches += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    return {"images_per_s": images / elapsed, "images": images, "batches": batches, "seconds": elapsed}


def make_delivery(device):
    """Returns (deliver(images, labels) -> n, why) where `why` explains a device that cannot be
    used (deliver is then None). images/labels: numpy arrays or torch tensors."""
    if device == "cpu":
        return (lambda x, y: len(x)), None
    try:
        import torch
    except ImportError as e:
        return None, f"delivery to the GPU needs torch, which is not importable ({e})"
    if not torch.cuda.is_available():
        return None, f"torch {torch.__version__} sees no CUDA device (torch.version.cuda = {torch.version.cuda})"
    dev = torch.device("cuda")

    def deliver(x, y):
        xt = torch.from_numpy(x) if not isinstance(x, torch.Tensor) else x
        yt = torch.from_numpy(y) if not isinstance(y, torch.Tensor) else y
        xd = xt.to(dev, non_blocking=True).float().div_(255)  # (n, H, W, C) float32 on the GPU
        yd = yt.to(dev, non_blocking=True)
        torch.cuda.synchronize()  # once per batch: the batch counts when it is there
        del xd, yd
        return len(xt)
    return deliver, None


def run_h5py_in_order(args, deliver):
    import h5py
    with h5py.File(args.data, "r") as f:
        images, labels = f[args.data_name], f[args.label_name]
        n = images.shape[0]
        pos = 0

        def step():
            nonlocal pos
            if pos + args.batch > n:
                pos = 0
            x, y = images[pos:pos + args.batch], labels[pos:pos + args.batch]
            pos += args.batch
            return deliver(x, y)
        return timed(step, args.seconds, args.warmup)


def run_h5py_random(args, deliver):
    import h5py
    import numpy as np
    rng = np.random.default_rng(args.seed)
    with h5py.File(args.data, "r") as f:
        images, labels = f[args.data_name], f[args.label_name]
        n = images.shape[0]

        def step():
            idx = np.sort(rng.choice(n, size=min(args.batch, n), replace=False))
            return deliver(images[idx], labels[idx])
        return timed(step, args.seconds, args.warmup)


def run_dataloader(args, deliver):
    try:
        import torch
        from torch.utils.data import DataLoader
    except ImportError as e:
        raise RuntimeError(f"torch is not importable ({e})")
    torch.manual_seed(args.seed)
    loader = DataLoader(LazyH5Images(args.data, args.data_name, args.label_name), batch_size=args.batch,
                        shuffle=True, num_workers=args.workers, pin_memory=args.device == "cuda",
                        drop_last=True, persistent_workers=args.workers > 0)

    def endless():
        while True:
            yield from loader
    batches = endless()

    def step():
        x, y = next(batches)
        return deliver(x, y)
    row = timed(step, args.seconds, args.warmup)
    row.update(workers=args.workers, pin_memory=args.device == "cuda")
    batches.close()
    del loader  # stops the persistent workers
    return row


def file_facts(args):
    import h5py
    with h5py.File(args.data, "r") as f:
        d, lab = f[args.data_name], f[args.label_name]
        return {"path": args.data, "bytes": os.path.getsize(args.data), "images": d.shape[0],
                "shape": list(d.shape), "dtype": str(d.dtype), "chunks": list(d.chunks) if d.chunks else None,
                "compression": d.compression, "labels": {"shape": list(lab.shape), "dtype": str(lab.dtype)}}


def versions():
    out = {"python": platform.python_version()}
    try:
        import h5py
        out["h5py"], out["hdf5"] = h5py.version.version, h5py.version.hdf5_version
    except ImportError as e:
        out["h5py"] = f"not importable ({e})"
    try:
        import numpy
        out["numpy"] = numpy.__version__
    except ImportError as e:
        out["numpy"] = f"not importable ({e})"
    try:
        import torch
        out["torch"] = torch.__version__
        out["torch_cuda"] = torch.version.cuda
    except ImportError as e:
        out["torch"] = f"not importable ({e})"
    return out


def gpu_name(device):
    if device != "cuda":
        return None
    try:
        import torch
        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="HDF5 file (a make_knots file)")
    p.add_argument("--data-name", default="train_data")
    p.add_argument("--label-name", default="train_label")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--seconds", type=float, default=20, help="measured seconds per method")
    p.add_argument("--warmup", type=float, default=3, help="uncounted seconds of the same work first")
    p.add_argument("--workers", type=int, default=12, help="DataLoader workers")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ", ".join(METHODS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or args.batch < 1 or args.seconds <= 0 or args.warmup < 0 or args.workers < 0:
        p.error(f"bad arguments (unknown methods: {unknown})" if unknown else "batch >= 1, seconds > 0, "
                "warmup >= 0, workers >= 0")
    if not os.path.isfile(args.data):
        print(f"python_readers: {args.data}: no such file", file=sys.stderr)
        return 1
    try:
        facts = file_facts(args)
    except Exception as e:  # h5py missing, not HDF5, datasets missing: nothing can run
        print(f"python_readers: cannot read {args.data}: {e}", file=sys.stderr)
        return 1

    deliver, why = make_delivery(args.device)
    runners = {"h5py_in_order": run_h5py_in_order, "h5py_random": run_h5py_random, "dataloader": run_dataloader}
    rows = []
    for m in methods:
        row = {"method": m, "device": args.device, "batch": args.batch}
        if deliver is None:
            row["error"] = why
        else:
            try:
                row.update(runners[m](args, deliver))
            except Exception as e:
                row["error"] = f"{type(e).__name__}: {e}"
        rows.append(row)
        if "error" in row:
            print(f"{m:14s} not measured: {row['error']}", flush=True)
        else:
            print(f"{m:14s} {row['images_per_s']:12,.0f} images/s  ({row['batches']} batches of {args.batch} "
                  f"in {row['seconds']:.1f} s, device {args.device})", flush=True)

    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
                    "gpu": gpu_name(args.device), "host": platform.node()},
        "versions": versions(), "file": facts,
        "settings": {"batch": args.batch, "seconds": args.seconds, "warmup": args.warmup, "workers": args.workers,
                     "device": args.device, "sync": "torch.cuda.synchronize() once per batch" if args.device == "cuda"
                     else "none (host memory)"},
        "rows": rows,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if any("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
