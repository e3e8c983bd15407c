"""The end-to-end demo: train a meta-network on digits (the default recipe), verify bit-exactness on a
sample of configs, estimate and simulate on every accelerator, run the pareto and runtime-switch
studies, and write one report over all of it. Each step calls the library, as a script would."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from hwsim import typed_yaml
from hwsim.dataflow.estimate import estimate_configs
from hwsim.errors import UserError
from hwsim.hwconfig import load_hw_config
from hwsim.ir_io import save_ir
from hwsim.pe.simulate import simulate_configs
from quantnet.checkpoint import load_checkpoint
from quantnet.config_spec import ir_bit_configs
from quantnet.data import dataset_for_checkpoint
from quantnet.export import export_model
from quantnet.train import TrainConfig, train
from quantnet.verify import verify_checkpoint
from studies import pareto, plots, runtime_switch
from studies.hw import hw_config_paths, load_accelerators
from studies.network import load_metanet, torch_threads
from studies.output import StudyOutput
from studies.report import write_report
from studies.runner import PACKAGE_DIR as STUDIES_DIR, load_study_config
from studies.schema import to_plain

from .commands import estimate, simulate
from .commands.common import write_json


class DemoConfigError(UserError):
    """A demo config file with a missing, unknown, mistyped or invalid key."""


@dataclass(frozen=True)
class VerifySection:
    random_configs: int = 6
    samples: int = 200


@dataclass(frozen=True)
class SimulateSection:
    configs: str = "uniform"
    samples: int = 32


@dataclass(frozen=True)
class DemoConfig:
    train: TrainConfig = field(default_factory=TrainConfig)
    verify: VerifySection = field(default_factory=VerifySection)
    simulate: SimulateSection = field(default_factory=SimulateSection)
    pareto: str = "pareto.yaml"
    runtime_switch: str = "runtime-switch.yaml"
    # the pareto study's FracBits searches on these accelerators only (empty: as its config says); one search
    # on the 12-layer default takes 30-40 s, three budgets on each of six designs would double the demo
    fracbits_accelerators: tuple[str, ...] = ()


def load_demo_config(path: str | Path | None = None) -> DemoConfig:
    """The demo YAML (default: the packaged demo.yaml), every section checked here, before any step runs."""
    path = Path(path) if path else Path(__file__).parent / "demo.yaml"
    data = typed_yaml.read_yaml(path, DemoConfigError, "demo config")
    cfg = typed_yaml.build(DemoConfig, {} if data is None else data, path.name, DemoConfigError)
    cfg.train.check(f"{path.name}: train")
    known = {p.stem for p in hw_config_paths()}
    unknown = sorted(set(cfg.fracbits_accelerators) - known)
    if unknown:
        raise DemoConfigError(f"{path.name}: fracbits_accelerators: {unknown} are not in hw_configs/ "
                              f"(known: {sorted(known)})")
    return cfg


def _study_cfg(name: str, ref: str, checkpoint: Path):
    p = Path(ref)
    path = p if p.is_file() else STUDIES_DIR / ref
    if not path.is_file():
        raise UserError(f"demo config: study config {ref!r} is neither a file nor in {STUDIES_DIR}")
    cfg = load_study_config(name, path)
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, checkpoint=str(checkpoint)))


class _Steps:
    """Prints each step with its wall time."""

    def __init__(self):
        self.t0 = time.perf_counter()
        self.times: list[dict] = []

    @contextlib.contextmanager
    def __call__(self, what: str):
        print(f"[demo] {what} ...", flush=True)
        t = time.perf_counter()
        yield
        dt = time.perf_counter() - t
        self.times.append({"step": what, "seconds": round(dt, 1)})
        print(f"[demo] {what}: {dt:.1f} s", flush=True)


def run_demo(out: str | Path = "runs/demo", config: str | Path | None = None, retrain: bool = False,
             progress: bool = True) -> Path:
    cfg = load_demo_config(config)
    out = Path(out)
    run_dir, ckpt = out / "train", out / "train" / "checkpoint.pt"
    p_cfg = _study_cfg("pareto", cfg.pareto, ckpt)
    if cfg.fracbits_accelerators:
        p_cfg = dataclasses.replace(p_cfg, fracbits=dataclasses.replace(
            p_cfg.fracbits, accelerators=tuple(cfg.fracbits_accelerators)))
    r_cfg = _study_cfg("runtime-switch", cfg.runtime_switch, ckpt)
    out.mkdir(parents=True, exist_ok=True)
    step = _Steps()
    doc = StudyOutput(out, "demo", "Bit-Mixer end-to-end demo",
                      "One meta-network trained on the bundled digits, checked bit for bit against its integer "
                      "model, and costed on every accelerator in hw_configs/.")
    doc.resolved_config(to_plain(cfg))

    # 1. train
    if retrain and run_dir.exists():
        shutil.rmtree(run_dir)
    with step("train the meta-network"):
        if ckpt.is_file():
            print(f"[demo] reusing {ckpt} (pass --retrain to train afresh)")
        else:
            train(cfg.train, run_dir, progress=progress)
    _training_section(doc, run_dir)
    model, extra = load_checkpoint(ckpt)

    # 2. export + verify
    with step("export the integer model and verify bit-exactness"):
        ir = export_model(model, {"checkpoint": str(ckpt)})
        save_ir(ir, out / "model.npz")
        bad = _verify_section(doc, ckpt, out / "model.npz", cfg.verify, progress)
    # 3. estimate and simulate on every accelerator
    with step("estimate and simulate on every accelerator"):
        _hardware_section(doc, out, ir, cfg.simulate, dataset_for_checkpoint(extra), progress)
    # 4. studies
    with step("pareto study"):
        net = load_metanet(p_cfg.model)
        net.ir = ir if net.source == "simulator" else None
        accels = load_accelerators(ir, p_cfg.hardware)
        p_out = StudyOutput(out / "pareto", "pareto", pareto.TITLE)
        res = pareto.run(p_cfg, net, accels, p_out, progress)
        p_out.finish()
    with step("runtime-switch study"):
        (accel,) = [a for a in load_accelerators(ir, [r_cfg.accelerator] if r_cfg.accelerator else [])][:1]
        r_out = StudyOutput(out / "runtime-switch", "runtime-switch", runtime_switch.TITLE)
        # the demo switches along the front the pareto study just measured (its `front` section is unused)
        runtime_switch.run(r_cfg, net, accel, r_out, pareto=res, progress=progress)
        r_out.finish()
    doc.table("timings", step.times, "Demo steps and wall time", "Seconds each step of this demo took.")
    doc.finish(write_index=False)
    index = write_report(out, "Bit-Mixer end-to-end demo")
    if bad:
        print(f"[demo] WARNING: {bad} integer mismatches between the torch reference and the simulator")
    print(f"[demo] total {time.perf_counter() - step.t0:.0f} s")
    return index


def _training_section(doc: StudyOutput, run_dir: Path) -> None:
    recs = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines() if l.strip()]
    keys = sorted({k for r in recs for k in r if k.startswith("test_acc/")})
    fig, ax = plots.plt.subplots(figsize=(7, 3.4), layout="constrained")
    for k in keys:
        pts = [(r["epoch"], r[k]) for r in recs if k in r]
        ax.plot(*zip(*pts), marker=".", label=k.split("/", 1)[1])
    for r0, r1 in zip(recs, recs[1:]):
        if r1["stage"] != r0["stage"]:
            ax.axvline(r0["epoch"] + 0.5, c="k", lw=0.6, ls=":")
    ax.set_xlabel("epoch (dotted lines: stage boundaries)")
    ax.set_ylabel("test top-1")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    doc.figure("training", fig, "Training curve",
               "Test accuracy during the staged training (float, activations only, uniform bits, mixed per-layer "
               "bits; every eval_every epochs and at each stage's end), for the float network and each whole-network "
               "bit-width.")
    last = recs[-1]
    doc.table("training_final", [{"network": k.split("/", 1)[1], "test_top1": last[k]} for k in keys if k in last],
              "Accuracy after training", f"Test accuracy at the end of training ({last['epoch']} epochs).")


def _verify_section(doc, ckpt: Path, ir_path: Path, v: VerifySection, progress: bool) -> int:

    with torch_threads(1):
        s = verify_checkpoint(ckpt, ir_path, v.random_configs, seed=0, samples=v.samples, progress=progress)
    keep = ("config", "avg_w_bits", "avg_a_bits", "integer_mismatches", "code_agreement", "top1_agreement",
            "accuracy_fake_quant", "accuracy_int_reference", "accuracy_simulator")
    doc.table("verify", [{k: r[k] for k in keep} for r in s["configs"]], "Bit-exactness of the integer model",
              f"{s['configs_checked']} configs x {s['samples']} samples: the torch int64 reference and the numba "
              f"simulator differ in {s['integer_mismatches']} values (must be 0); fake-quant and integer models "
              f"agree on {100 * s['code_agreement']:.2f}% of activation codes and {100 * s['top1_agreement']:.1f}% "
              f"of top-1 predictions.")
    return int(s["integer_mismatches"])


def _hardware_section(doc, out: Path, ir, sim: SimulateSection, data, progress: bool) -> None:
    """Estimates from the dataflow cost model and functional simulation through each PE kind (per-layer
    tables as the estimate and simulate commands print them go to logs/, the totals are tabulated here)."""

    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    model = str(out / "model.npz")
    x, y = data.x_test[:sim.samples], data.y_test[:sim.samples]
    est_rows, sim_rows = [], []
    for path in tqdm(hw_config_paths(), desc="hardware", leave=False, disable=not progress):
        hw = load_hw_config(path)
        est = estimate_configs(ir, hw, ir_bit_configs(ir, "uniform"))
        sims = simulate_configs(ir, hw, ir_bit_configs(ir, sim.configs), x, y, progress=False)
        (logs / f"estimate_{path.stem}.txt").write_text(estimate.text(hw, est) + "\n")
        write_json(logs / f"estimate_{path.stem}.json", estimate.payload(model, hw, est))
        (logs / f"simulate_{path.stem}.txt").write_text(simulate.text(hw, sims) + "\n")
        write_json(logs / f"simulate_{path.stem}.json", simulate.payload(model, hw, data.name, sims))
        for c in est:
            t = c["total"]
            est_rows.append({"accelerator": hw.name, "config": c["config"], "cycles": t["cycles"],
                             "latency_us": t["latency_s"] * 1e6, "energy_nj": t["energy_pj"] / 1e3})
        for r in sims:
            t = r["total"]
            sim_rows.append({"accelerator": hw.name, "config": r["config"], "samples": r["samples"],
                             "top1": r["accuracy"], "counted_cycles": t["counted"],
                             "model_cycles": t["model_compute"], "no_skip_cycles": t["no_skip"],
                             "psum_overflows": t["psum_overflows"], "acc_overflows": t["acc_overflows"]})
    doc.table("estimate", est_rows, "Analytic estimates per accelerator",
              "Cycles, latency and energy per sample of each uniform config from the dataflow cost model "
              "(per-layer tables in logs/estimate_*.txt).")
    doc.table("simulate", sim_rows, "Functional simulation through each PE kind",
              "Test samples run through each design's own arithmetic (bit-planes, bricks); `counted_cycles` are "
              "the cycles the simulator spent, `model_cycles` the analytic compute cycles for the same samples "
              "(equal unless the design skips zero bit-planes).")
