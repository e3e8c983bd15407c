"""A baseline read from published per-layer figures instead of a model: the Eyeriss figures the Bit Fusion
authors divided by (studies/papers_data/README.md), priced as their notebook prices them
(github.com/hsharma35/bitfusion, bitfusion-generate-graphs.ipynb, get_eyeriss_energy and the Eyeriss time):
  energy = (ALU + 0.15 x DRAM + Buffer + Array + RF) x 3.2 pJ      (MAC-normalised units; DRAM scaled 0.15)
  cycles = the `time(ms)` column, at 500 MHz
summed over every row of a benchmark, pools included, as the notebook sums them."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from hwsim.errors import UserError

PJ_PER_UNIT = 16 * 0.2          # notebook: eyeriss_energy_per_mac = 16 * 0.2 * 1.e-3 nJ
DRAM_SCALE = 0.15               # notebook: "Scaling due to technology"
CLOCK_HZ = 500e6                # notebook: eyeriss_time = cycles / 500.e3 (ms)
COLUMNS = ("Benchmark", "Layer", "ALU", "DRAM", "Buffer", "Array", "RF", "time(ms)")
ROOT = Path(__file__).resolve().parents[1]

# the artifact's benchmark names (benchmarks.py benchlist) for the zoo's networks
BENCHMARKS = {"bitfusion-alexnet": "AlexNet", "bitfusion-svhn": "SVHN", "bitfusion-cifar10": "CIFAR10",
              "bitfusion-lenet5": "LeNet-5", "bitfusion-vgg7": "VGG-7", "bitfusion-resnet18": "RESNET-18",
              "bitfusion-rnn": "RNN", "bitfusion-lstm": "LSTM"}


# the csv's layer names where the zoo's (benchmarks.py scope names) differ
LAYER_NAMES = {("RESNET-18", "conv1"): "conv1_a", ("RESNET-18", "pool1"): "pool1_a",
               ("AlexNet", "pool3_a"): "pool5_a", ("AlexNet", "pool3_b"): "pool5_b",
               ("RNN", "rnn:fc"): "matmul", ("LSTM", "LSTM:fc"): "matmul"}
# a model's energy parts (hwsim.dataflow.costmodel) for the csv's columns; "buffers": all its buffer levels
PARTS = {"mac": ("ALU",), "pe_local": ("RF",), "buffers": ("Buffer", "Array"), "dram": ("DRAM",)}


@dataclass(frozen=True)
class PublishedBaseline:
    """What a study needs of a side: a name, a clock, and per network (cycles, energy in pJ, MAC energy share)."""
    name: str
    path: Path
    clock_hz: float = CLOCK_HZ
    area = None

    def _bench_rows(self, zoo_name: str) -> list[dict]:
        bench = BENCHMARKS.get(zoo_name)
        rows = [r for r in _rows(self.path) if r["Benchmark"] == bench]
        if not rows:
            raise UserError(f"{self.path}: no rows for {zoo_name!r} (benchmark {bench!r}); it has "
                            f"{sorted({r['Benchmark'] for r in _rows(self.path)})}")
        return rows

    def network(self, zoo_name: str) -> dict:
        rows = self._bench_rows(zoo_name)
        energy = sum(_units(r) for r in rows)
        return {"hw": self, "cycles": int(sum(r["time(ms)"] for r in rows)), "energy_pj": energy * PJ_PER_UNIT,
                "memory_bound_share": None, "mac_energy_share": sum(r["ALU"] for r in rows) / energy,
                "layers": len(rows)}

    def layers(self, zoo_name: str) -> dict[str, dict]:
        """Zoo layer name -> cycles and energy (pJ) in total and by part (PARTS), one entry per csv row."""
        out = {}
        for r in self._bench_rows(zoo_name):
            name = LAYER_NAMES.get((r["Benchmark"], r["Layer"]), r["Layer"])
            parts = {k: PJ_PER_UNIT * sum(r[c] * (DRAM_SCALE if c == "DRAM" else 1) for c in cols)
                     for k, cols in PARTS.items()}
            out[name] = {"cycles": int(r["time(ms)"]), "energy_pj": PJ_PER_UNIT * _units(r), "energy_by": parts}
        return out


def _units(r: dict) -> float:
    """A row's energy in MAC-normalised units, as get_eyeriss_energy sums it."""
    return r["ALU"] + DRAM_SCALE * r["DRAM"] + r["Buffer"] + r["Array"] + r["RF"]


def load(path: str) -> PublishedBaseline:
    p = Path(path) if Path(path).is_absolute() else ROOT / path
    _rows(p)
    return PublishedBaseline(f"published:{p.stem}", p)


def _rows(path: Path) -> list[dict]:
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise UserError(f"{path}: missing column(s) {missing}; expected {list(COLUMNS)}")
            out = []
            for i, r in enumerate(reader, start=2):
                try:
                    out.append({**r, **{c: float(r[c]) for c in COLUMNS[2:]}})
                except (TypeError, ValueError):
                    raise UserError(f"{path}: line {i}: a figure is not a number: {r}") from None
            return out
    except OSError as e:
        raise UserError(f"published baseline {path}: {e.strerror}") from None
