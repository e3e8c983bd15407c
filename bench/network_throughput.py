"""Whole-network images/s of the bit-exact simulator (`hwsim.executor.execute`) against torch fp32 eval.

Networks (random weights, quantiser steps and BN statistics calibrated by one training-mode pass per
benchmarked config on the benchmark's random input codes, exported to the integer IR by quantnet.export,
candidate bits 2..8 so that every uniform config exists): the digits meta-network (1x8x8 inputs, the default architecture) and a ResNet-20
CIFAR-10-shape meta-network (3x32x32, 3x3 BasicBlocks at 16/32/64). Configs: uniform W8A8, W4A4, W3A3,
W2A2 (the stem and the classifier stay at 8 bits, as the model is built) and one random mixed config.
The torch yardstick is a plain float nn.Module of the same shapes (conv, BatchNorm, ReLU, residual adds,
average pool, linear) in eval mode under inference_mode, not the fake-quant model.

For each (network, config) the two run interleaved, round by round (sim, torch, sim, torch, ...), after
a warm-up that compiles every numba kernel; medians with min and max are reported. Thread counts are set
explicitly for numba, torch and OpenBLAS (`--threads`), OpenMP waits made passive. `--breakdown` runs five
more timed passes (execute(timed=True)) and prints the median time of each part (op kinds; the conv's
kernel and its requantisation apart). The PE
simulator (hwsim/pe: the design's digit-plane arithmetic, counting cycles) is timed against the direct
integer path the same way, at `--pe-batch` images; `--pe-fast` adds its proven shortcut (exact_stats=False).

    PYTHONPATH=. .venv/bin/python bench/network_throughput.py [--batch 64] [--repeats 7] [--threads 1]
        [--networks digits resnet20] [--configs W8A8 W4A4 W3A3 W2A2 mixed] [--pe-hw stripes] [--pe-fast] [--json out.json]
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import sys
import time

WAIT_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}
for _k, _v in WAIT_ENV.items():
    os.environ.setdefault(_k, _v)

import numba  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bench.sim_throughput import _openblas_threads  # noqa: E402
from hwsim.bits import BitConfig  # noqa: E402
from hwsim.executor import execute  # noqa: E402
from hwsim.hwconfig import load_hw_config  # noqa: E402
from hwsim.pe.simulate import run_on_pe  # noqa: E402
from quantnet.export import export_model  # noqa: E402
from quantnet.models import ResNetArch, build_model  # noqa: E402

NETWORKS = {"digits": "digits_resnet", "resnet20": "resnet20"}
CANDIDATES = tuple(range(2, 9))


def cpu_model() -> str:
    """`lscpu`'s model name and the vector extensions that matter to the kernels."""
    name, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and name == "unknown CPU":
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    want = ("avx2", "fma", "bmi2", "popcnt", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_vpopcntdq")
    return f"{name} ({', '.join(x for x in want if x in flags) or 'no AVX2'})"


class PlainBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                                  nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else \
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


class PlainResNet(nn.Module):
    """The float network of a ResNetArch: the shapes `execute` computes, in torch fp32."""
    def __init__(self, a: ResNetArch):
        super().__init__()
        layers = [nn.Conv2d(a.in_channels, a.stem_channels, a.stem_kernel, a.stem_stride, a.stem_kernel // 2, bias=False),
                  nn.BatchNorm2d(a.stem_channels), nn.ReLU()] + ([nn.MaxPool2d(3, 2, 1)] if a.stem_maxpool else [])
        cin = a.stem_channels
        for width, count, stride in zip(a.widths, a.blocks, a.strides):
            for j in range(count):
                layers.append(PlainBlock(cin, width, stride if j == 0 else 1))
                cin = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, a.num_classes)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def configs(spec, names, seed: int) -> list[tuple[str, BitConfig]]:
    out = []
    for name in names:
        if name == "mixed":
            out.append((name, BitConfig.random(spec, np.random.default_rng(seed))))
        else:
            w, a = (int(v) for v in name[1:].split("A"))
            out.append((name, BitConfig.uniform(spec, w, a)))
    return out


def calibrate(model, x: np.ndarray, cfgs) -> None:
    """Quantiser steps and BN statistics from one training-mode pass per config (random weights, no
    training): uncalibrated steps quantise the stem's weights to all zeros, and every later code with them."""
    model.train()
    with torch.no_grad():
        for cfg in cfgs:
            model.configure(cfg)
            model(torch.from_numpy(x))
    model.eval()


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved(paths: dict, repeats: int) -> dict[str, list[float]]:
    """Seconds of each path per round, the paths run in turn within every round."""
    times = {k: [] for k in paths}
    for _ in range(repeats):
        for k, fn in paths.items():
            times[k].append(_timed(fn))
    return times


def summary(ts: list[float], n: int) -> dict:
    """images/s: the median round and the slowest and fastest."""
    return {"images_per_s": n / statistics.median(ts), "min_images_per_s": n / max(ts), "max_images_per_s": n / min(ts)}


def breakdown(ir, cfg, x, passes: int = 5) -> dict[str, float]:
    """Median seconds per part over `passes` timed executes; 'python and glue' is what the parts do not cover."""
    rows = []
    for _ in range(passes):
        t0 = time.perf_counter()
        res = execute(ir, cfg, x, timed=True)
        total = time.perf_counter() - t0
        sec = dict(res.seconds)
        conv = sec.pop("conv", 0.0)
        sec["conv: python and glue"] = conv - sum(v for k, v in sec.items() if k.startswith("conv: "))
        sec["executor: python and glue"] = total - conv - sum(v for k, v in sec.items() if not k.startswith("conv"))
        rows.append({"total": total, **sec})
    return {k: statistics.median(r.get(k, 0.0) for r in rows) for k in rows[0]}


def bench_network(key: str, args, rows: list, progress) -> None:
    torch.manual_seed(args.seed)
    model = build_model(NETWORKS[key], candidate_bits=CANDIDATES)
    a = model.arch
    rng = np.random.default_rng(args.seed)
    x = rng.integers(0, 256, (args.batch, a.in_channels, a.input_size, a.input_size), dtype=np.uint8)
    calibrate(model, x, [cfg for _, cfg in configs(model.spec, sorted(set(args.configs + args.pe_configs)), args.seed)])
    ir = export_model(model)
    ref = PlainResNet(a).eval()
    xf = torch.from_numpy(x.astype(np.float32) / 255.0)
    print(f"\n{key}: {len(ir.ops)} ops, batch {args.batch}")
    with torch.inference_mode():
        for name, cfg in configs(model.spec, args.configs, args.seed):
            sim, tor = (lambda: execute(ir, cfg, x)), (lambda: ref(xf))
            sim()
            tor()                                              # warm-up: numba compiles, torch picks kernels
            t = interleaved({"sim": sim, "torch": tor}, args.repeats)
            s, f = summary(t["sim"], args.batch), summary(t["torch"], args.batch)
            ratio = [b / a_ for a_, b in zip(t["sim"], t["torch"])]
            row = {"network": key, "config": name, "batch": args.batch, "threads": args.threads,
                   "sim_images_per_s": s["images_per_s"], "sim_min_max": [s["min_images_per_s"], s["max_images_per_s"]],
                   "torch_fp32_images_per_s": f["images_per_s"],
                   "torch_min_max": [f["min_images_per_s"], f["max_images_per_s"]],
                   "ratio_vs_torch_fp32": s["images_per_s"] / f["images_per_s"],
                   "ratio_per_round_median": statistics.median(ratio), "ratio_per_round_min_max": [min(ratio), max(ratio)],
                   "cpu_model": cpu_model()}
            if args.breakdown:
                row["sim_seconds_by_part"] = breakdown(ir, cfg, x)
            rows.append(row)
            print(f"  {name:<6} sim {s['images_per_s']:8.1f} images/s ({s['min_images_per_s']:.1f}-"
                  f"{s['max_images_per_s']:.1f})   torch fp32 {f['images_per_s']:8.1f} images/s "
                  f"({f['min_images_per_s']:.1f}-{f['max_images_per_s']:.1f})   sim/torch {row['ratio_vs_torch_fp32']:.2f}x "
                  f"(per round {min(ratio):.2f}-{max(ratio):.2f})")
            if args.breakdown:
                parts = row["sim_seconds_by_part"]
                print("         where the sim's time goes (ms): " + ", ".join(
                    f"{k} {v * 1e3:.1f}" for k, v in sorted(parts.items(), key=lambda kv: -kv[1])))
            progress.update()
        if args.pe_hw:
            pe_rows(key, ir, model.spec, x[:args.pe_batch], args, rows)


def pe_rows(key, ir, spec, x, args, rows) -> None:
    """The PE simulator (the design's digit arithmetic, cycles counted) against the direct integer path; with
    --pe-fast also its proven shortcut (exact_stats=False: max |psum| / |acc| then bounds), in the same rounds."""
    hw = load_hw_config(args.pe_hw)
    for name, cfg in configs(spec, args.pe_configs, args.seed):
        paths = {"pe": lambda: run_on_pe(ir, hw, cfg, x)[0]}
        if args.pe_fast:
            paths["pe_fast"] = lambda: run_on_pe(ir, hw, cfg, x, exact_stats=False)[0]
        paths["direct"] = lambda: execute(ir, cfg, x)
        want = paths["direct"]().logits
        for k in paths:
            if not np.array_equal(paths[k]().logits, want):
                raise SystemExit(f"{key} {name}: the PE simulator's ({k}) logits differ from the direct path's")
        t = interleaved(paths, args.repeats)
        d = summary(t["direct"], len(x))
        row = {"network": key, "config": name, "pe_hw": args.pe_hw, "batch": len(x),
               "direct_images_per_s": d["images_per_s"], "direct_min_max": [d["min_images_per_s"], d["max_images_per_s"]],
               "cpu_model": cpu_model()}
        for k, label in (("pe", "pe_sim"), ("pe_fast", "pe_fast")):
            if k in t:
                p = summary(t[k], len(x))
                ratio = [b / a for a, b in zip(t[k], t["direct"])]
                row.update({f"{label}_images_per_s": p["images_per_s"],
                            f"{label}_min_max": [p["min_images_per_s"], p["max_images_per_s"]],
                            f"{label}_ratio_vs_direct": p["images_per_s"] / d["images_per_s"],
                            f"{label}_ratio_per_round_min_max": [min(ratio), max(ratio)]})
                what = "PE sim, exact stats" if k == "pe" else "PE sim, shortcut (bounds for max |psum|/|acc|)"
                print(f"  {what} ({args.pe_hw}) {name:<6} {p['images_per_s']:8.1f} images/s ({p['min_images_per_s']:.1f}-"
                      f"{p['max_images_per_s']:.1f})   direct {d['images_per_s']:8.1f} images/s   PE/direct "
                      f"{row[f'{label}_ratio_vs_direct']:.2f}x (per round {min(ratio):.2f}-{max(ratio):.2f}; batch {len(x)})")
        row["pe_ratio_vs_direct"], row["pe_min_max"] = row["pe_sim_ratio_vs_direct"], row["pe_sim_min_max"]
        rows.append(row)


def steady_malloc() -> str:
    """Pin glibc's malloc thresholds so that neither side's allocations depend on what the other freed.

    glibc raises its mmap threshold each time a large mmapped block is freed. Simulator code that frees
    large arrays (as before the buffer pool) thus moved torch's per-call activations onto the heap, and
    code that keeps them (the pool) left torch paying page faults on fresh mmaps: torch fp32 ResNet-20 ran
    ~100-120 ms per batch of 64 beside the one and ~200 ms beside the other, ~120-130 ms beside either once
    pinned (AMD EPYC, 1 thread)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(-3, 32 << 20) and libc.mallopt(-1, 1 << 30)   # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        ok = False
    return "glibc malloc: mmap threshold 32 MiB, trim threshold 1 GiB" if ok else "malloc thresholds: left as they are"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
    ap.add_argument("--configs", nargs="+", default=["W8A8", "W4A4", "W3A3", "W2A2", "mixed"])
    ap.add_argument("--breakdown", action="store_true", help="also time each op kind (one extra pass)")
    ap.add_argument("--pe-hw", default="hw_configs/stripes.yaml", help="hardware config of the PE simulator ('' skips it)")
    ap.add_argument("--pe-batch", type=int, default=8)
    ap.add_argument("--pe-configs", nargs="+", default=["W4A4", "W2A2"])
    ap.add_argument("--pe-fast", action="store_true", help="also time the PE simulator's proven shortcut "
                    "(exact_stats=False: the direct conv where no partial sum can overflow; max |psum| / |acc| "
                    "are then bounds)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write one row per (network, config) to this JSON file")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    bad = [c for c in args.configs + args.pe_configs if c != "mixed" and not _is_uniform_name(c)]
    if bad:
        ap.error(f"configs must be 'mixed' or WnAm with n, m in 2..8, got {bad}")
    # numba's first parallel call resets torch's thread count: set all explicitly, numba first
    numba.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    blas = _openblas_threads(args.threads)
    heap = steady_malloc()
    print(f"{cpu_model()}; threads: numba {numba.get_num_threads()}, torch {torch.get_num_threads()}, OpenBLAS "
          f"{blas}; {heap}; {args.repeats} interleaved rounds; load average {os.getloadavg()[0]:.2f} (1 min)")
    rows: list[dict] = []
    with tqdm(total=len(args.networks) * len(args.configs), desc="networks x configs",
              disable=args.no_progress, leave=False) as progress:
        for key in args.networks:
            bench_network(key, args, rows, progress)
            torch.set_num_threads(args.threads)
    print(f"load average at the end {os.getloadavg()[0]:.2f} (1 min)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


def _is_uniform_name(c: str) -> bool:
    try:
        w, a = (int(v) for v in c[1:].split("A"))
    except ValueError:
        return False
    return c.startswith("W") and 2 <= w <= 8 and 2 <= a <= 8


if __name__ == "__main__":
    sys.exit(main())
