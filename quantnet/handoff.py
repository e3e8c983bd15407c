"""Hand-off to hardware tools: one bit config of a checkpoint (or exported .npz) as an integer-only ONNX
model or as golden `$readmemh` test vectors. The writers are torch-free (hwsim); this module resolves the
model, the one config and the test samples."""
from __future__ import annotations

from pathlib import Path

from hwsim.bits import BitConfig, BitConfigError, LayerTable

from .config_spec import parse_config_spec
from .data import load_dataset, test_split
from .export import load_int_model


def one_config(table: LayerTable, spec: str) -> tuple[str, BitConfig]:
    """The single quantised config SPEC names for a network's layer table (a hand-off file holds one)."""
    configs = parse_config_spec(spec, table)
    if any(cfg is None for _, cfg in configs):
        raise BitConfigError(f"--config {spec!r}: fp is the float network; give a quantised config, e.g. w4a4")
    if len(configs) != 1:
        raise BitConfigError(f"--config {spec!r} names {len(configs)} configs ({', '.join(n for n, _ in configs[:4])}"
                             f"{', ...' if len(configs) > 4 else ''}); give exactly one, e.g. w4a4 or a YAML file")
    return configs[0]


def export_onnx_file(model_path, spec: str, output, all_tensors: bool = False) -> dict:
    """Write the integer-only ONNX graph of one config; returns what was written."""
    from hwsim.onnx_export import build_onnx, save_onnx
    ir = load_int_model(model_path)
    name, cfg = one_config(ir.table, spec)
    model = build_onnx(ir, cfg, all_tensors)
    save_onnx(model, output)
    ops: dict[str, int] = {}
    for n in model.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    return {"output": str(output), "config": name, "nodes": len(model.graph.node), "op_types": ops,
            "bytes": Path(output).stat().st_size}


def write_vectors_dir(model_path, spec: str, samples: int, out_dir, data: str | None = None,
                      data_dir: str | None = None) -> dict:
    """Golden vectors of one config on the first `samples` test samples; returns the manifest."""
    from hwsim.vectors import write_vectors
    ir = load_int_model(model_path)
    _, cfg = one_config(ir.table, spec)
    x, y = test_split(load_dataset(data or ir.source.get("data") or "digits", data_dir), samples)
    return write_vectors(ir, cfg, x, out_dir, y)
