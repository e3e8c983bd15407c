"""Simulator conv throughput (GMAC/s) vs torch fp32 conv2d and the torch int64 integer reference.

Layers: a CIFAR ResNet-20 stage-1 conv (16x32x32 -> 16, 3x3, s1, p1) and a ResNet-18 stage-3 conv
(256x14x14 -> 256, 3x3, s1, p1), batch --batch (default 8), 8-bit activation codes and 8-bit weights
(the worst case for the 2^24 bound: max|x|*max|w| = 255*127 gives element-bound fp32 K chunks of 518,
which the Cauchy-Schwarz and centred plan lengthens to the full K here, and direct flushes every 57
channels). Six paths, timed interleaved round by round (in a new random order each
round: a path ran measurably slower right after torch int64) so machine noise hits them alike; the median of
--repeats rounds is reported. numba compiles (and torch warms up) before timing. "sim (auto)" is
conv2d_acc's default (the direct conv on the small layer, the fp32-chunked GEMM on the large one), "sim
direct" and "sim fp32 (GEMM)" force the two, "sim int8 (old)" is the int8 GEMM, which auto never
picks: timing it beside fp32 shows why. The torch int64 reference is F.conv2d on int64 tensors, the
route quantnet/intref.py takes.
Every simulator result is checked against the int64 reference before timing. Thread counts are set
explicitly for all three pools (numba, OpenBLAS via its C API, torch) and printed.

    .venv/bin/python bench/sim_throughput.py [--batch 8] [--repeats 15] [--threads 2] [--json out.json]
"""
from __future__ import annotations

import argparse
import ctypes
import glob
import json
import os
import statistics
import sys
import time

# Three thread pools share the cores (numba's OpenMP layer, OpenBLAS, torch's OpenMP). Spinning idle
# workers (OpenMP's default wait policy, Intel OpenMP's 200 ms block time) steal the cores from the next
# path in the interleaved rounds: measured 5-15x slowdowns of every path at 2 threads. Passive waits, set
# before any of them loads (the caller's environment wins):
WAIT_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}
for _k, _v in WAIT_ENV.items():
    os.environ.setdefault(_k, _v)

import numba  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from hwsim.kernels import conv2d_acc  # noqa: E402

LAYERS = {  # name: (C, H, W, O, k, stride, padding)
    "resnet20 layer1 16x32x32->16 3x3": (16, 32, 32, 16, 3, 1, 1),
    "resnet18 layer3 256x14x14->256 3x3": (256, 14, 14, 256, 3, 1, 1),
}


def _openblas_threads(n: int | None) -> int | None:
    """Set (if n) and return numpy's OpenBLAS thread count through its C API; None if not found."""
    for lib in glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "*openblas*")):
        dll = ctypes.CDLL(lib)
        for pre in ("scipy_openblas", "openblas"):
            for suf in ("64_", ""):
                get = getattr(dll, f"{pre}_get_num_threads{suf}", None)
                if get is not None:
                    if n:
                        getattr(dll, f"{pre}_set_num_threads{suf}")(n)
                    return get()
    return None


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_layer(spec, batch: int, repeats: int, seed: int = 0) -> dict:
    C, H, W, O, k, s, p = spec
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (batch, C, H, W), dtype=np.uint8)          # 8-bit activation codes
    w = rng.integers(-127, 128, (O, C, k, k), dtype=np.int64).astype(np.int8)   # 8-bit weight codes
    xf, wf = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(w.astype(np.float32))
    xi, wi = torch.from_numpy(x.astype(np.int64)), torch.from_numpy(w.astype(np.int64))
    ho, wo = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    macs = batch * O * ho * wo * C * k * k
    paths = {
        "sim (auto)": lambda: conv2d_acc(x, w, s, p, 1),
        "sim direct": lambda: conv2d_acc(x, w, s, p, 1, "direct"),
        "sim fp32 (GEMM)": lambda: conv2d_acc(x, w, s, p, 1, "fp32"),
        "sim int8 (old)": lambda: conv2d_acc(x, w, s, p, 1, "int8"),
        "torch fp32": lambda: F.conv2d(xf, wf, None, s, p),
        "torch int64 (ref)": lambda: F.conv2d(xi, wi, None, s, p),
    }
    with torch.inference_mode():
        ref = paths["torch int64 (ref)"]().numpy()
        for fn in paths.values():            # warm up: numba JIT/cache load, torch kernel selection
            fn()
        for name in ("sim (auto)", "sim direct", "sim fp32 (GEMM)", "sim int8 (old)"):
            if not np.array_equal(paths[name](), ref):
                raise SystemExit(f"{name} disagrees with the torch int64 reference")
        times = {name: [] for name in paths}
        order = list(paths.items())
        shuffle = np.random.default_rng(seed + 1)
        for _ in range(repeats):       # a new order each round: a path ran measurably slower after torch int64
            for i in shuffle.permutation(len(order)):
                name, fn = order[i]
                times[name].append(_timed(fn))
    med = {name: statistics.median(ts) for name, ts in times.items()}
    gmacs = {name: macs / t / 1e9 for name, t in med.items()}
    sim, old = gmacs["sim (auto)"], gmacs["sim int8 (old)"]
    return {"macs": macs, "median_s": med, "min_s": {name: min(ts) for name, ts in times.items()},
            "gmac_per_s": gmacs, "sim_vs_fp32": sim / gmacs["torch fp32"],
            "sim_vs_int64_ref": sim / gmacs["torch int64 (ref)"], "int8_vs_fp32": old / gmacs["torch fp32"],
            "direct_vs_fp32": gmacs["sim direct"] / gmacs["torch fp32"],
            "gemm_vs_fp32": gmacs["sim fp32 (GEMM)"] / gmacs["torch fp32"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--blas-threads", type=int, help="OpenBLAS threads (default: --threads)")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    # numba's first parallel call resets torch's thread count: set all explicitly, after a numba warm-up.
    numba.set_num_threads(args.threads)
    for method in ("direct", "fp32", "int8"):
        conv2d_acc(np.zeros((1, 1, 3, 3), np.uint8), np.zeros((1, 1, 3, 3), np.int8), 1, 1, 1, method)
    torch.set_num_threads(args.threads)
    blas = _openblas_threads(args.blas_threads or args.threads)
    print(f"batch {args.batch}, {args.repeats} interleaved rounds (median), threads: torch "
          f"{torch.get_num_threads()}, numba {numba.get_num_threads()}, OpenBLAS {blas}; 8-bit codes; "
          + ", ".join(f"{k}={os.environ[k]}" for k in WAIT_ENV))
    results = {}
    for name, spec in LAYERS.items():
        r = bench_layer(spec, args.batch, args.repeats)
        results[name] = r
        g = r["gmac_per_s"]
        print(f"{name}  ({r['macs'] / 1e6:.1f} MMAC)")
        for path, v in g.items():
            print(f"  {path:<19} {v:7.2f} GMAC/s  (median {r['median_s'][path] * 1e3:8.2f} ms, "
                  f"min {r['min_s'][path] * 1e3:8.2f} ms)")
        print(f"  sim / fp32 = {r['sim_vs_fp32']:.2f}x   sim / int64 ref = {r['sim_vs_int64_ref']:.2f}x   "
              f"(direct / fp32 = {r['direct_vs_fp32']:.2f}x, GEMM / fp32 = {r['gemm_vs_fp32']:.2f}x, "
              f"old int8 / fp32 = {r['int8_vs_fp32']:.2f}x)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"batch": args.batch, "repeats": args.repeats, "threads": args.threads, "openblas_threads": blas,
                       "env": {k: os.environ[k] for k in WAIT_ENV},
                       "layers": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
