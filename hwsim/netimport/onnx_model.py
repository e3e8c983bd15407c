"""The conv and GEMM layers of an ONNX model, with the adds and pools between them, as a network.

The model is parsed (protobuf; nothing in it is run) and its shapes inferred with onnx.shape_inference. A
symbolic leading (batch) dimension of the input takes `batch`; any other unknown dimension is an error.
Costed: Conv, Gemm, MatMul with a constant second operand. Element-wise: Add of two activations (a residual),
MaxPool, AveragePool, GlobalAveragePool. Free (fused into the layer before them, or a view): the ops in
PASS_THROUGH; an Add or Mul with a constant operand (a bias or a scale). Any other op is an error that
lists every unsupported op by type and node name.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError, excerpt
from ..zoo import check_batch
from ..zoo.builder import NetBuilder
from ..zoo.network import ZooNet

PASS_THROUGH = {"Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "BatchNormalization",
                "Flatten", "Reshape", "Identity", "Dropout", "Squeeze", "Unsqueeze", "QuantizeLinear",
                "DequantizeLinear", "Softmax", "Cast"}
MAX_BYTES = 1 << 31


class OnnxImportError(UserError):
    """An ONNX model this importer cannot turn into layer shapes: names the file, the node and the value."""


def _attrs(node) -> dict:
    import onnx
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _dims(vi, where: str) -> list:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        raise OnnxImportError(f"{where}: tensor {vi.name!r} has no inferred shape")
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]


def read_onnx(path: str | Path, batch: int = 1) -> ZooNet:
    try:
        import onnx
        from onnx import shape_inference
    except ImportError:
        raise OnnxImportError("reading an ONNX model needs the 'onnx' package (pip install onnx)") from None
    path = Path(path)
    check_batch(batch, str(path))
    try:
        if path.stat().st_size > MAX_BYTES:
            raise OnnxImportError(f"{path}: larger than {MAX_BYTES >> 30} GiB")
        model = onnx.load(str(path), load_external_data=False)
    except OnnxImportError:
        raise
    except Exception as e:          # a protobuf decode error has no common base class
        raise OnnxImportError(f"{path}: not a readable ONNX model: {excerpt(str(e), 200)}") from None
    g = model.graph
    consts = {i.name for i in g.initializer} | {n.output[0] for n in g.node if n.op_type == "Constant"}
    inputs = [i for i in g.input if i.name not in consts]
    if len(inputs) != 1:
        raise OnnxImportError(f"{path}: expected one (non-constant) graph input, got {[i.name for i in inputs]}")
    dims = _dims(inputs[0], str(path))
    if dims and not isinstance(dims[0], int):
        inputs[0].type.tensor_type.shape.dim[0].dim_value = batch    # the batch dimension
        dims[0] = batch
    bad = [d for d in dims if not isinstance(d, int) or d < 1]
    if bad or len(dims) not in (2, 4):
        raise OnnxImportError(f"{path}: input {inputs[0].name!r} has shape {dims}; expected [N, C, H, W] or [N, K] "
                              f"with known sizes (dynamic dimensions other than the batch are not supported)")
    unsupported = [f"{n.op_type} ({n.name or f'node {i}'})" for i, n in enumerate(g.node)
                   if n.op_type not in _HANDLERS and n.op_type not in PASS_THROUGH and n.op_type != "Constant"]
    if unsupported:
        raise OnnxImportError(f"{path}: unsupported op(s): {', '.join(unsupported[:20])}"
                              f"{' ...' if len(unsupported) > 20 else ''}; supported: {sorted(_HANDLERS)} "
                              f"and pass-through {sorted(PASS_THROUGH)}")
    try:
        model = shape_inference.infer_shapes(model, strict_mode=True)
    except Exception as e:
        raise OnnxImportError(f"{path}: shape inference failed: {excerpt(str(e), 300)}") from None
    shapes = {vi.name: vi for vi in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output)}
    shapes.update({i.name: i for i in g.initializer})
    n_batch = dims[0]
    b = NetBuilder(dims[1], (dims[2], dims[3]) if len(dims) == 4 else 1, n_batch)
    ctx = _Context(path, b, {inputs[0].name: "input"}, consts, shapes, {t.name: list(t.dims) for t in g.initializer})
    for i, node in enumerate(model.graph.node):
        if node.op_type == "Constant":
            continue
        where = f"{path}: node {node.name or i} ({node.op_type})"
        if node.op_type in PASS_THROUGH:
            src = [t for t in node.input if t in ctx.tensor]
            if src:
                ctx.tensor[node.output[0]] = ctx.tensor[src[0]]
            continue
        _HANDLERS[node.op_type](ctx, node, node.name or f"{node.op_type.lower()}{i}", where)
    if not b.graph().nodes or not b.graph().shapes:
        raise OnnxImportError(f"{path}: no Conv, Gemm or MatMul layer to cost")
    return ZooNet(path.stem, b.graph(), b.table(), f"ONNX model {path}", None,
                  "an ONNX model's float graph gives no bit-widths")


@dataclass
class _Context:
    """What the op handlers share while the model's nodes are read in order."""
    path: Path
    b: NetBuilder
    tensor: dict          # ONNX tensor name -> the builder's tensor it is (views and fused ops alias)
    consts: set           # names of initializers and Constant outputs
    shapes: dict          # ONNX tensor name -> its (inferred) value info
    init_dims: dict       # initializer name -> its dimensions

    def act(self, name: str, where: str) -> str:
        if name not in self.tensor:
            raise OnnxImportError(f"{where}: input {name!r} is not an activation this importer follows "
                                  f"(made by an unsupported op, or a constant where an activation belongs)")
        return self.tensor[name]

    def dims(self, name: str, where: str) -> list[int]:
        if name in self.init_dims:
            return self.init_dims[name]
        if name not in self.shapes:
            raise OnnxImportError(f"{where}: no inferred shape for {name!r}")
        d = _dims(self.shapes[name], where)
        if not all(isinstance(x, int) for x in d):
            raise OnnxImportError(f"{where}: tensor {name!r} has a dynamic shape {d}")
        return d


def _conv(ctx: _Context, node, name: str, where: str) -> None:
    a = _attrs(node)
    w = ctx.dims(node.input[1], where)
    kh, kw = a.get("kernel_shape", w[2:4])
    strides, pads = a.get("strides", [1, 1]), a.get("pads", [0, 0, 0, 0])
    if any(d != 1 for d in a.get("dilations", [1, 1])):
        raise OnnxImportError(f"{where}: dilations {a['dilations']} are not supported (only 1)")
    if len(set(strides)) != 1 or len(set(pads)) != 1 or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise OnnxImportError(f"{where}: strides {list(strides)} and pads {list(pads)} must be the same on every "
                              f"side (auto_pad unset)")
    out = ctx.b.conv(name, ctx.act(node.input[0], where), w[0], (kh, kw), strides[0], pads[0], a.get("group", 1))
    _expect(ctx, out, node.output[0], where)
    ctx.tensor[node.output[0]] = out


def _gemm(ctx: _Context, node, name: str, where: str) -> None:
    a = _attrs(node) if node.op_type == "Gemm" else {}
    if a.get("transA", 0):
        raise OnnxImportError(f"{where}: transA=1 is not supported")
    if node.input[1] not in ctx.consts:
        raise OnnxImportError(f"{where}: the second operand {node.input[1]!r} must be a constant (weights); "
                              f"a product of two activations is not supported")
    wd = ctx.dims(node.input[1], where)
    if len(wd) != 2:
        raise OnnxImportError(f"{where}: weights {node.input[1]!r} have shape {wd}; expected 2-D")
    n_out = wd[0] if a.get("transB", 0) else wd[1]
    src = ctx.act(node.input[0], where)
    xd = ctx.dims(node.input[0], where)
    if len(xd) > 2:           # [N, rows..., K]: the same weights on every row, as a 1x1 conv over the rows
        rows, k = int(np.prod(xd[1:-1])), xd[-1]
        c, h, w = ctx.b.shape(src)
        if c * h * w != rows * k:
            raise OnnxImportError(f"{where}: input of shape {xd} does not match the tensor followed ({c}x{h}x{w})")
        view = ctx.b.fresh_input(f"{name}.rows", (k, rows, 1)) if (c, h, w) != (k, rows, 1) else src
        out = ctx.b.conv(name, view, n_out, 1)
    else:
        out = ctx.b.linear(name, src, n_out)
    ctx.tensor[node.output[0]] = out


def _add(ctx: _Context, node, name: str, where: str) -> None:
    acts = [t for t in node.input if t in ctx.tensor]
    if len(acts) == 2:
        x, y = (ctx.act(t, where) for t in acts)
        if ctx.b.shape(x) != ctx.b.shape(y):
            raise OnnxImportError(f"{where}: adds tensors of shapes {ctx.b.shape(x)} and {ctx.b.shape(y)} "
                                  f"(broadcasting is not supported)")
        ctx.tensor[node.output[0]] = ctx.b.add(name, x, y)
    elif len(acts) == 1:                         # a bias or a scale: folded into the layer before it
        ctx.tensor[node.output[0]] = ctx.tensor[acts[0]]
    else:
        raise OnnxImportError(f"{where}: reads no activation this importer follows")


def _scale(ctx: _Context, node, name: str, where: str) -> None:
    """A Mul by a constant (a folded scale) is free; a product of two activations is not supported."""
    acts = [t for t in node.input if t in ctx.tensor]
    if len(acts) != 1:
        raise OnnxImportError(f"{where}: only a Mul by a constant is supported")
    ctx.tensor[node.output[0]] = ctx.tensor[acts[0]]


def _pool(ctx: _Context, node, name: str, where: str) -> None:
    src = ctx.act(node.input[0], where)
    if node.op_type == "GlobalAveragePool":
        out = ctx.b.avgpool(name, src)
    else:
        a = _attrs(node)
        k, s, p = a.get("kernel_shape", [1, 1]), a.get("strides", [1, 1]), a.get("pads", [0, 0, 0, 0])
        if len(set(k)) != 1 or len(set(s)) != 1 or len(set(p)) != 1:
            raise OnnxImportError(f"{where}: kernel {list(k)}, strides {list(s)}, pads {list(p)} must be square")
        if node.op_type == "MaxPool":
            out = ctx.b.maxpool(name, src, k[0], s[0], p[0])
        elif ctx.b.shape(src)[1:] == tuple(k) and p[0] == 0:
            out = ctx.b.avgpool(name, src)
        else:
            raise OnnxImportError(f"{where}: only a global AveragePool is supported (kernel {list(k)})")
    _expect(ctx, out, node.output[0], where)
    ctx.tensor[node.output[0]] = out


def _expect(ctx: _Context, made: str, onnx_name: str, where: str) -> None:
    """The builder's shape of `made` must be ONNX's inferred shape of `onnx_name` (past the batch)."""
    want = ctx.dims(onnx_name, where)[1:] if onnx_name in ctx.shapes else None
    if want is not None and tuple(want) != ctx.b.shape(made):
        raise OnnxImportError(f"{where}: output shape {want} differs from the layer's {list(ctx.b.shape(made))}")


_HANDLERS = {"Conv": _conv, "Gemm": _gemm, "MatMul": _gemm, "Add": _add, "MaxPool": _pool,
             "AveragePool": _pool, "GlobalAveragePool": _pool, "Mul": _scale}
